"""A command line → a command and its values, by the registry's parameters."""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from console.commands import NAMES, SETTINGS, CommandSpec, Engine, Param, ParamKind
from console.shell import words
from console.shell.flare_order import in_our_order
from console.shell.options import Option, OptionError, flag_table, read_option


class UsageError(ValueError):
    """The line does not fit a command; the message ends with what to type instead."""


@dataclass
class ParsedCommand:
    spec: CommandSpec
    values: dict[str, Any] = field(default_factory=dict)
    yes: bool = False
    #: Its answer goes to the terminal, not ``> FILE`` or ``| PIPELINE`` (``split_sink``): only then may it
    #: be coloured or a live view, as ``ls --color=auto`` colours a terminal only.
    to_screen: bool = True

    def wire_args(self) -> dict[str, Any]:
        return {p.name: self.values.get(p.name) for p in self.spec.params if p.wire}


def unavailable(spec: CommandSpec, engine: Engine) -> str:
    """What to tell someone who asks for a command the connected engine does not offer."""
    offered = " or ".join(e.title for e in Engine if e in spec.engines)
    return (f"{spec.name} is not available on {engine.title}: it needs {offered}; "
            "'help' lists the commands this server offers")


def not_offered(word: str, spec: CommandSpec, engine: Engine) -> str:
    """What to tell someone whose ``word`` names ``spec``, which the connected ``engine`` does not offer: by
    the command's own name, that it needs the other engine; by another engine's alias (FLARE's ``list_job``
    for list_job_components, on ours), that there is no such command here, with the nearest ones this engine
    has (``list_jobs``): the typo is likelier than the other engine's command."""
    if word.lower() != spec.name:
        return did_you_mean(word, engine)
    return unavailable(spec, engine)


#: How much less alike than the closest name another may be and still be offered (``difflib``'s ratio):
#: ``lsit_jobs`` is list_jobs (0.89), not also submit_job (0.74) nor delete_job (0.63).
_AS_CLOSE = 0.05


def close_names(word: str, names: list[str]) -> list[str]:
    """The names ``word`` is likeliest a typo of: the closest (at least 0.6 alike, ``difflib``), and those
    about as close as it (``_AS_CLOSE``), at most three; none when none is near."""
    scored = sorted(((difflib.SequenceMatcher(None, word, name).ratio(), name) for name in names), reverse=True)
    if not scored or scored[0][0] < 0.6:
        return []
    return [name for score, name in scored[:3] if score >= max(0.6, scored[0][0] - _AS_CLOSE)]


def close_hint(word: str, names: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean X?)`` for a mistyped argument word (a choice, a setting, an option) with the names
    the grammar takes there, by ``close_names``' rule; "" when none is close."""
    close = close_names(word, list(names))
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def _option_hint(token: str, spec: CommandSpec, takes: dict[str, bool]) -> str:
    """`` (did you mean -d (detailed)?)`` for an unknown option: the command's options, each also by its
    parameter's name (``--detai``: list_jobs' -d), compared without their dashes; "" when none is close."""
    shown: dict[str, str] = {}
    for param in spec.typed_params:
        if param.flag:
            shown.setdefault(param.flag.lstrip("-"), param.flag)
            spelled = param.name.replace("_", "-")
            if spelled != param.flag.lstrip("-"):
                shown.setdefault(spelled, f"{param.flag} ({spelled})")
    for flag in takes:  # --yes, -y
        shown.setdefault(flag.lstrip("-"), flag)
    typed = token.partition("=")[0].lstrip("-")
    close = list(dict.fromkeys(shown[name] for name in close_names(typed, list(shown))))
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def did_you_mean(word: str, engine: Engine | None = None) -> str:
    """"unknown command", with the nearest names the connected ``engine`` offers (any, if None)."""
    names = [name for name, spec in NAMES.items() if engine is None or spec.supports(engine)]
    low = word.lower()  # (names take any case: LIST_JOB is list_job's typo too)
    close = close_names(low, names)
    if not close:
        prefixed = [name for name in names if name.startswith(low[:3])] if len(low) >= 3 else []
        close = prefixed[:3]
    hint = f"; did you mean {' or '.join(close)}?" if close else "; type 'help' for the list of commands"
    shown = word.replace("\r", "\\r").replace("\n", "\\n")  # a quoted line end: the message stays one line
    return f"unknown command '{shown}'{hint}"


def short_for(word: str, spec: CommandSpec, engine: Engine | None) -> str:
    """For a ``word`` that names ``spec`` by another name (FLARE's ``list_job`` for list_job_components)
    and is also a likely typo of another command (``list_jobs``): "list_job is short for
    list_job_components; did you mean list_jobs?", said with a refusal of its arguments; "" otherwise."""
    low = word.lower()
    if low == spec.name or not low.isidentifier():
        return ""
    others = [name for name, other in NAMES.items()
              if other is not spec and (engine is None or other.supports(engine))]
    close = close_names(low, others)
    said = "is short for" if spec.name.startswith(low) else "is another name for"
    return f"{low} {said} {spec.name}; did you mean {' or '.join(close)}?" if close else ""


def _convert(param: Param, token: str, spec: CommandSpec) -> Any:
    kind = param.kind
    try:
        if kind is ParamKind.INT:
            value: Any = int(token)
        elif kind is ParamKind.FLOAT:
            value = float(token)
        else:
            value = token
    except ValueError:
        raise UsageError(f"{spec.name}: {param.name} must be a number, not '{token}'; usage: {spec.usage()}") from None
    if kind is ParamKind.CHOICE and value not in param.choices:
        raise UsageError(
            f"{spec.name}: {param.name} must be one of {', '.join(param.choices)}, not '{token}'"
            f"{close_hint(token, param.choices)}; usage: {spec.usage()}"
        )
    if param.minimum is not None and isinstance(value, int | float) and value < param.minimum:
        raise UsageError(f"{spec.name}: {param.name} must be at least {param.minimum:g}; usage: {spec.usage()}")
    return value


def split_line(line: str) -> list[str]:
    """The words of one command, read as a POSIX shell reads them (``words``)."""
    try:
        return words.split(line)
    except ValueError as exc:
        if str(exc) == "No escaped character":  # a trailing backslash, no quote
            raise UsageError("cannot read the line: it ends in a backslash, which continues it on the next "
                             "line; give the rest of the command or remove the backslash") from None
        raise UsageError(f"cannot read the line: {exc} (close the quote)") from None


def split_commands(text: str) -> list[str]:
    """The commands in ``text``: one per line (a paste of several lines) and per unquoted ``;``.

    Quotes, backslashes and comments are respected (as ``words`` reads them): ``grep server 'a;b' log.txt``
    and ``submit_job jobs/a\\;b`` stay one command and a ``;`` after ``#`` is part of the comment. A line
    end inside quotes, or after a backslash, is part of the command (bash's continuation lines).
    Blank pieces are dropped.
    """
    return [c for c in map(_stripped, _pieces(text, at_semicolons=True)) if c]


def _stripped(piece: str) -> str:
    r"""``piece`` without the blanks around it, nor a backslash whose line end led into a blank line (bash:
    ``echo x \``, Enter, Enter runs ``echo x``): stripping the line end must not leave the backslash open."""
    body = piece.strip()
    ending = words.scan(body).words
    if ending and ending[-1].open == "\\" and "\n" in piece[piece.rindex("\\"):]:
        return body[:-1].rstrip()
    return body


def logical_lines(text: str) -> list[str]:
    """``text`` cut at its line ends that end a command line: not one inside quotes or after a backslash
    (``grep server 'a`` and ``b' log.txt`` on two screen lines are one line). As typed, blank ones kept."""
    return _pieces(text, at_semicolons=False)


def line_continues(text: str) -> bool:
    """Whether Enter after ``text`` continues it on a new line, as bash and psql do: a quote is open at its
    end, or it ends in a backslash (outside a comment)."""
    found = words.scan(text)
    return not found.comment and bool(found.words) and bool(found.words[-1].open)


def _pieces(text: str, at_semicolons: bool) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    quote = ""
    comment = escaped = False
    for char in text:
        if char in "\r\n" and not quote and not escaped:
            pieces.append("".join(current))
            current, comment = [], False
            continue
        if comment or escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quote != "'":  # the next character is literal (in "...": a quote or backslash)
            current.append(char)
            escaped = True
        elif quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            current.append(char)
        elif char == "#" and (not current or current[-1].isspace()):
            comment = True
            current.append(char)
        elif char == ";" and at_semicolons:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return pieces


def commands_only(pieces: list[str]) -> list[str]:
    """The pieces of ``split_commands`` that are commands (not a comment alone): what would run."""
    return [c for c in pieces if not c.startswith("#")]


@dataclass(frozen=True)
class Sink:
    """Where a command's output goes instead of the screen: ``> FILE``, ``>> FILE`` or ``| PIPELINE``."""

    kind: str  # ">", ">>" or "|"
    target: str  # a file name, or a shell pipeline (run by /bin/sh, the user's own line)


def unquoted(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """Each character of ``text`` from ``start`` that stands outside quotes and is not escaped by a backslash
    (as the line's words are read: a backslash escapes nothing inside single quotes), with its index."""
    quote, escaped = "", False
    for i in range(start, len(text)):
        char = text[i]
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        else:
            yield i, char


def split_sink(line: str) -> tuple[str, Sink | None]:
    """``list_jobs -m 5 | grep RUNNING`` -> (``list_jobs -m 5``, Sink("|", "grep RUNNING")).

    Only an unquoted, unescaped ``|`` or ``>`` outside a comment counts (quote a pattern that holds one).
    """
    for i, char in unquoted(line):
        if char == "#" and (i == 0 or line[i - 1].isspace()):
            return line, None
        elif char in "|>":
            kind = ">>" if line.startswith(">>", i) else char
            target = line[i + len(kind):].strip()
            if not target:
                raise UsageError(f"'{kind}' needs {'a command to pipe into' if kind == '|' else 'a file name'} "
                                 f"after it, e.g. list_jobs {kind} {'grep RUNNING' if kind == '|' else 'jobs.txt'}")
            if kind != "|":
                words = split_line(target)
                if len(words) != 1:
                    raise UsageError(f"'{kind}' takes one file name, not '{target}' (quote a name with spaces)")
                target = words[0]
            return line[:i].rstrip(), Sink(kind, target)
    return line, None


def command_spec(word: str) -> CommandSpec | None:
    """The command a typed word names: any case, aliases included (``QUIT``, ``?``, ``\\q``)."""
    return NAMES.get(word) or NAMES.get(word.lower())


def parse_command(line: str, engine: Engine | None = None) -> ParsedCommand | None:
    """``None`` for a blank or comment-only line. With ``engine`` (the connected one), a command it
    does not offer is refused as such before its arguments are read."""
    stripped = line.strip()
    # psql's \q: the line's reading would eat the backslash. A backslash before a line end is bash's line
    # continuation instead (a line that is only "\", then the command): the reading below removes it.
    if stripped.startswith("\\") and stripped[1:2] not in ("", "\r", "\n"):
        word, _, remainder = stripped.partition(" ")
        spec = command_spec(word)
        if spec is None:
            raise UsageError(did_you_mean(word, engine))
        line = f"{spec.name} {remainder}"
    tokens = split_line(line)
    if not tokens:
        return None
    name, *rest = tokens
    spec = command_spec(name)
    if spec is None:
        raise UsageError(did_you_mean(name, engine))
    if engine is not None and not spec.supports(engine):
        raise UsageError(not_offered(name, spec, engine))
    try:
        rest = in_our_order(spec.name, rest)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        return _parsed(spec, rest)
    except UsageError as exc:
        also = short_for(name, spec, engine)
        raise UsageError(f"{also} ({exc})" if also else str(exc)) from None


def _parsed(spec: CommandSpec, rest: list[str]) -> ParsedCommand:
    """``spec``'s arguments read from ``rest`` (the words after its name)."""
    parsed = ParsedCommand(spec)
    params = spec.typed_params
    flags = {p.flag: p for p in params if p.flag}
    takes = flag_table(spec)
    options_bag = next((p for p in params if p.kind is ParamKind.OPTIONS), None)
    positionals = [p for p in params if not p.flag and p is not options_bag]
    index = 0
    bag: list[str] = []
    only_values = False  # after "--", as argparse: every word is a value
    while rest:
        token = rest.pop(0)
        options = None
        if only_values:
            pass
        elif options_bag is not None:  # a shell command's own options are its, whole (below)
            options = [Option(token)] if token in takes else None
        else:
            try:
                options = read_option(token, takes)
            except OptionError as exc:
                raise UsageError(f"{spec.name}: {exc}; usage: {spec.usage()}") from None
        if token == "--" and not only_values:  # a shell command's too, as coreutils' and grep's
            only_values = True
        elif options is not None:
            for option in options:
                _apply(parsed, flags.get(option.flag), option, rest)
        elif not only_values and options_bag is not None and token.startswith("-") and len(token) > 1:
            # Options of a shell command pass through whole; "-n 20" keeps its number.
            bag.append(token)
            if len(token) == 2 and rest and rest[0].isdigit():
                bag.append(rest.pop(0))
        elif index < len(positionals) and positionals[index].many and (only_values or not token.startswith("-")):
            parsed.values.setdefault(positionals[index].name, []).append(token)
        elif not only_values and token.startswith("-") and len(token) > 1 and not is_number(token):
            # Options are case-sensitive, as in a Unix shell and FLARE's console (only command names
            # take any case): the one meant is named.
            typed = token.partition("=")[0] if token.startswith("--") else token[:2]  # "-M1": -M
            other = next((f for f in takes if f.lower() == typed.lower()), None)
            hint = f" (options are case-sensitive: {other})" if other else _option_hint(token, spec, takes)
            raise UsageError(f"{spec.name}: unknown option {token}{hint}; usage: {spec.usage()}")
        elif index < len(positionals) and positionals[index].kind is ParamKind.COMMAND_LINE:
            parsed.values[positionals[index].name] = shlex.join([token, *rest])  # parsed when it runs
            rest.clear()
            index += 1
        elif index < len(positionals):
            parsed.values[positionals[index].name] = _convert(positionals[index], token, spec)
            index += 1
        else:
            raise UsageError(f"{spec.name}: unexpected argument '{token}'; usage: {spec.usage()}")
    if options_bag is not None and bag:
        parsed.values[options_bag.name] = " ".join(bag)
    setting = parsed.values.get("setting")
    if SETTINGS.get(setting) and parsed.values.get("value") not in (None, *SETTINGS[setting]):
        raise UsageError(f"{spec.name}: {setting} must be one of {', '.join(SETTINGS[setting])}, "
                         f"not '{parsed.values['value']}'{close_hint(parsed.values['value'], SETTINGS[setting])}; "
                         f"usage: {spec.usage()}")
    for param in params:
        if param.name not in parsed.values:
            if param.required:
                raise UsageError(f"{spec.name}: {param.name.upper()} is missing{_taken_for(parsed, param)}; "
                                 f"usage: {spec.usage()}")
            parsed.values[param.name] = param.default
    return parsed


def _taken_for(parsed: ParsedCommand, missing: Param) -> str:
    """For a missing choice (show_stats' server|client|all) whose value was likely mistyped and so read as an
    earlier argument ('show_stats serer': the job ID): that, with the close name; "" otherwise."""
    if missing.kind is not ParamKind.CHOICE:
        return ""
    for param in parsed.spec.typed_params:
        if param is missing:
            break
        value = parsed.values.get(param.name)
        if not isinstance(value, str) or param.flag:
            continue
        if value in missing.choices:  # 'show_stats server': the job ID left out
            return f"; '{value}' was read as {param.name.upper()}: give the {param.name.upper()} before it"
        hint = close_hint(value, missing.choices)
        if hint:
            return f"; '{value}' was read as {param.name.upper()}{hint}"
    return ""


def _apply(parsed: ParsedCommand, param: Param | None, option: Option, rest: list[str]) -> None:
    """One option read from the line: a flag set, or its value (given in its word, else the next word)."""
    spec = parsed.spec
    if param is None:  # --yes / -y
        parsed.yes = True
    elif param.kind is ParamKind.BOOL:
        parsed.values[param.name] = True
    elif option.value is not None:
        parsed.values[param.name] = _convert(param, option.value, spec)
    elif not rest:
        raise UsageError(f"{spec.name}: {option.flag} needs a value; usage: {spec.usage()}")
    else:
        parsed.values[param.name] = _convert(param, rest.pop(0), spec)


def is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True
