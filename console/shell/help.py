"""``help`` and ``help COMMAND``: the registry's commands, laid out for the terminal's width.

Owns only the text; the commands, their grammar and summaries come from the registry
(``console.commands``), only those the connected engine offers.

Two columns, names and their text, as argparse lays out options: the text column starts
where the names of the group end (at most ``MAX_NAME_COLUMN``, and at most half the width);
a longer name has its text on the next line, at that column; the text wraps inside its
column. So no line passes the terminal's edge (``less -S`` cuts nothing) and no text runs
into the names' column. The usage line wraps between arguments, never inside one.
"""

from __future__ import annotations

import shutil
import textwrap

from console.commands import CATALOG, CommandSpec, Engine, Param, ParamKind, Where
from console.commands.shell_options import FILE_OPTIONS, supported_options
from console.shell.client_side import CommandFailed
from console.shell.parse import command_spec, did_you_mean, not_offered

#: The widest names' column: a longer name has its text on the next line.
MAX_NAME_COLUMN = 24
#: The narrowest text column: a narrower terminal wraps (or cuts) as it must.
MIN_TEXT = 16
INDENT = 2
GAP = 2
#: ``--yes`` of a destructive command (``console.shell.options.YES_FLAGS``): its word in the usage line and
#: its line in the option list (the terminal user of session 12: usage showed it, the list did not say it).
YES_ROW = ("[--yes]", "run without asking 'are you sure?' (also -y); a batch runs the command only with it "
                      "(default: ask)")


def columns(rows: list[tuple[str, str]], width: int) -> list[str]:
    """``rows`` of (name, text) as two aligned columns within ``width`` characters."""
    if not rows:
        return []
    name_column = min(max(len(name) for name, _ in rows), MAX_NAME_COLUMN, max(width // 2 - INDENT - GAP, 8))
    at = INDENT + name_column + GAP
    room = max(width - at, MIN_TEXT)
    out = []
    for name, text in rows:
        wrapped = textwrap.wrap(text, room, break_on_hyphens=False) or [""]
        if len(name) > name_column:
            out.append(" " * INDENT + name)
            out += [" " * at + line for line in wrapped]
        else:
            out.append(" " * INDENT + name.ljust(name_column) + " " * GAP + wrapped[0])
            out += [" " * at + line for line in wrapped[1:]]
    return out


def usage_words(spec: CommandSpec) -> list[str]:
    """The words of ``spec``'s usage line after its name, each one a line of ``option_rows``."""
    return [p.usage() for p in spec.typed_params] + ([YES_ROW[0]] if spec.destructive else [])


def usage_lines(spec: CommandSpec, width: int) -> list[str]:
    """``usage: name ARG [OPT X] ...``, wrapped between arguments."""
    head = f"usage: {spec.name} "
    words = usage_words(spec)
    # Under the first argument when the longest fits there, else a little indented.
    indent = len(head) if len(head) + max(map(len, words), default=0) <= width else 4
    lines, line = [], head.rstrip()
    for word in words:
        if len(line) + 1 + len(word) > width:
            lines.append(line)
            line = " " * indent + word
        else:
            line += " " + word
    return [*lines, line]


def _overview_text(spec: CommandSpec, engine: Engine) -> str:
    """A command's line in ``help``: its summary, and the choice it cannot run without (check_status's
    server|client: without it, the command is refused, as FLARE's "TARGET_TYPE is missing")."""
    first = next(iter(spec.typed_params), None)
    if first is not None and first.required and first.kind is ParamKind.CHOICE:
        summary = spec.summary_on(engine)
        return f"{summary[:-1]}; needs {first.usage()})" if summary.endswith(")") else f"{summary} (needs {first.usage()})"
    return spec.summary_on(engine)


def param_help(spec: CommandSpec, param: Param, engine: Engine) -> str:
    """A parameter's line in ``help COMMAND``: its text, the options our file commands take (the table
    their refusal names, ``supported_options``), and, for every optional one but a flag, its default as the
    registry states it (``Param.default_text``)."""
    text = param.help
    supported = supported_options(spec.name, flare=engine is Engine.NVFLARE)
    if param.kind is ParamKind.OPTIONS and supported is not None:
        text = f"options: {supported}"
    default = param.default_text
    return text if default is None else f"{text} (default: {default})"


def option_rows(spec: CommandSpec, engine: Engine) -> list[tuple[str, str]]:
    """``help COMMAND``'s option list: a line for each word of the usage line (``usage_words``), with its
    meaning and default; under a file command's ``[OPTIONS]`` on our engine, each option it takes with its
    meaning (``FILE_OPTIONS``: what our target commands do with it)."""
    rows = []
    for p in spec.typed_params:
        rows.append((p.usage(), param_help(spec, p, engine)))
        if p.kind is ParamKind.OPTIONS and engine is Engine.OURS and spec.name in FILE_OPTIONS:
            rows += [(f"  {flag}", text) for flag, text in FILE_OPTIONS[spec.name].rows()]
    if spec.destructive:
        rows.append(YES_ROW)
    return rows


def help_text(engine: Engine, name: str | None = None, width: int | None = None) -> str:
    """``help`` and ``help NAME`` for the connected engine: only the commands it offers; ``width``:
    the terminal's (or 80 where there is none)."""
    width = width or shutil.get_terminal_size().columns
    if name:
        spec = command_spec(name)  # any case, aliases too: '? LIST_JOBS', 'help quit'
        if spec is None:
            raise CommandFailed(did_you_mean(name, engine))  # (help lst_jobs: the nearest, as the line itself)
        if not spec.supports(engine):
            raise CommandFailed(not_offered(name, spec, engine))
        summary = spec.summary_on(engine) + ("  (asks to confirm)" if spec.destructive else "")
        lines = [*usage_lines(spec, width), "", *textwrap.wrap(summary, max(width, MIN_TEXT))]
        lines += columns(option_rows(spec, engine), width)
        if spec.aliases:
            lines.append(f"also: {', '.join(spec.aliases)}")
        if spec.help:  # the registry's longer note (what a setting's values mean, how a batch runs it)
            lines += ["", *textwrap.wrap(spec.help, max(width, MIN_TEXT), break_on_hyphens=False)]
        return "\n".join(lines)
    groups = (("server commands", Where.SERVER), ("client commands", Where.CLIENT), ("shell commands", Where.SHELL))
    lines = []
    for title, where in groups:
        lines.append(f"{title}:")
        lines += columns([(s.name, _overview_text(s, engine)) for s in CATALOG.values()
                          if s.where is where and s.supports(engine)], width)
    lines += textwrap.wrap("type 'help COMMAND' for its usage; Tab completes commands, options, job IDs and paths",
                           max(width, MIN_TEXT))
    return "\n".join(lines)
