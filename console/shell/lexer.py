"""Highlighting of the command line, by the registry's grammar (the same one completion uses).

Each word is coloured by what it is *for*: the command, an option, or the kind of the
parameter it fills (a job ID or prefix, a site or target, a number, a path), so a job-ID
prefix looks the same at 2 characters as at 36, and ``site-1`` looks the same after
``check_status client`` as after ``ls``. A first word that is still a prefix of a command
is not an error while it is being typed. Style classes are Pygments' (``pygments.keyword``,
...), so every theme file applies unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples, split_lines
from prompt_toolkit.lexers import Lexer

from console.commands import NAMES, CommandSpec, Param, ParamKind
from console.shell.arg_position import param_at
from console.shell.options import OptionError, flag_table, read_option
from console.shell.parse import command_spec, is_number, logical_lines

KEYWORD = "class:pygments.keyword"
ERROR = "class:pygments.name.exception"
OPTION = "class:pygments.name.attribute"
JOB = "class:pygments.name.constant"
PLACE = "class:pygments.name.builtin"  # sites, targets, choices
NUMBER = "class:pygments.literal.number"
STRING = "class:pygments.literal.string"
COMMENT = "class:pygments.comment"

# A word as ``words`` reads it: quoted parts, backslash escapes (``my\ jobs``), plain characters.
_PIECES = re.compile(r"""(?P<space>\s+)|(?P<comment>#.*)|(?P<sep>;)|(?P<sink>[|>][^;]*)"""
                     r"""|(?P<word>(?:\\.?|"(?:\\.?|[^"\\])*"?|'[^']*'?|[^\s;'"#|>\\]+|\#)+)""", re.DOTALL)
_KIND_STYLE = {
    ParamKind.JOB_ID: JOB, ParamKind.JOB_PREFIX: JOB, ParamKind.MONITOR: JOB,
    ParamKind.SITE: PLACE, ParamKind.TARGET: PLACE, ParamKind.CHOICE: PLACE, ParamKind.SETTING_VALUE: PLACE,
    ParamKind.THEME: PLACE, ParamKind.COMMAND: KEYWORD,
    ParamKind.INT: NUMBER, ParamKind.FLOAT: NUMBER, ParamKind.LOCAL_PATH: STRING, ParamKind.OPTIONS: OPTION,
}


def _value_style(param: Param | None, word: str) -> str:
    if param is None:
        return ERROR  # more words than the command takes
    if word[:1] in "\"'":
        return STRING
    return _KIND_STYLE.get(param.kind, "")


def highlight(line: str, at_end: bool = True) -> StyleAndTextTuples:
    """Styled fragments of one line; ``at_end``: the cursor is at its end (the last word is being typed)."""
    fragments: StyleAndTextTuples = []
    spec: CommandSpec | None = None
    words: list[str] = []
    pieces = list(_PIECES.finditer(line))
    for index, match in enumerate(pieces):
        text, kind = match.group(), match.lastgroup
        if kind == "space":
            fragments.append(("", text))
        elif kind == "comment":
            fragments.append((COMMENT, text))
        elif kind == "sink":  # > FILE, | PIPELINE: the output's way, not the command's arguments
            fragments += [(OPTION, text[:2] if text.startswith(">>") else text[0]),
                          (STRING, text[2:] if text.startswith(">>") else text[1:])]
        elif kind == "sep":
            spec, words = None, []
            fragments.append(("", text))
        elif not words:  # the command
            words.append(text)
            spec = command_spec(text)
            typing = at_end and index == len(pieces) - 1
            if spec is not None:
                fragments.append((KEYWORD, text))
            elif typing and any(name.startswith(text.lower()) for name in NAMES):
                fragments.append(("", text))  # still being typed: not an error yet
            else:
                fragments.append((ERROR, text))
        else:
            if spec is None:
                style = ""
            elif text.startswith("-") and not is_number(text) and "--" not in words[1:]:  # after --: values
                style = OPTION if _is_option(spec, text, words) else ERROR
                if at_end and index == len(pieces) - 1 and style is ERROR:
                    style = OPTION  # a flag being typed
            else:
                param = param_at(spec, words[1:])
                if param is not None and param.kind is ParamKind.COMMAND_LINE:  # watch CMD: a command again
                    fragments += highlight(line[match.start():], at_end)
                    return fragments
                style = _value_style(param, text)
            words.append(text)
            fragments.append((style, text))
    return fragments


def _is_option(spec: CommandSpec, text: str, words: list[str]) -> bool:
    if any(p.kind is ParamKind.OPTIONS for p in spec.typed_params):
        return True
    try:
        return text == "--" or read_option(text, flag_table(spec)) is not None  # -m, -rm, -m1, --timeout=5
    except OptionError:
        return False


class CommandLexer(Lexer):
    """prompt_toolkit lexer over ``highlight``, one line of the buffer at a time."""

    def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
        # By command line, not by screen line: a quoted line end continues its line ('a<Enter>b' is one word).
        pieces = logical_lines(document.text)
        at_end = document.is_cursor_at_the_end
        lines: list[StyleAndTextTuples] = []
        for index, piece in enumerate(pieces):
            lines += split_lines(highlight(piece, at_end and index == len(pieces) - 1))

        def line(number: int) -> StyleAndTextTuples:
            return lines[number] if number < len(lines) else []

        return line
