"""Where in a command's grammar the word being typed falls: which parameter, option value or target.

Owns the reading of the words typed so far against a ``CommandSpec`` (positionals, flags with values,
options written together as ``-rm``, ``--``); what is then offered stays ``completion.py``'s, how the
word is coloured ``lexer.py``'s. Never parses for running a command (``parse.py`` does).
"""

from __future__ import annotations

from console.commands import CommandSpec, Param, ParamKind
from console.shell.options import YES_FLAGS, Option, OptionError, flag_table, read_option


def command_line_start(spec: CommandSpec, done: list[str]) -> int | None:
    """Index in ``done`` (the words after the command) where a COMMAND_LINE parameter starts, if reached."""
    if not any(p.kind is ParamKind.COMMAND_LINE for p in spec.typed_params):
        return None
    for k in range(len(done) + 1):
        param = param_at(spec, done[:k])
        if param is not None and param.kind is ParamKind.COMMAND_LINE and (k == len(done) or done[k][:1] != "-"):
            return k
    return None


def options_in(token: str, takes: dict[str, bool]) -> list[Option] | None:
    """The options a typed word gives (as ``console.shell.options`` reads them); None for a word that
    is not one, or that cannot be read (the parse will say why, completion goes on)."""
    try:
        return read_option(token, takes)
    except OptionError:
        return None


def target_in(spec: CommandSpec, done: list[str]) -> str | None:
    """The value typed for the command's TARGET parameter (``ls server ...``: "server"), if any yet, wherever
    it stands among the options (``tail -n 2 site-1 ...``: "site-1", not the option's value "2")."""
    filled, _ = _read(spec, done)
    return next((token for token, param in zip(done, filled, strict=True)
                 if param is not None and param.kind is ParamKind.TARGET), None)


def attached_value(spec: CommandSpec, word: str) -> tuple[Param, str] | None:
    """The parameter and the value being typed in an option's own word (``-nhel``, ``--format=j``)."""
    options = options_in(word, flag_table(spec)) if word.startswith("-") else None
    if not options or options[-1].value is None:
        return None
    param = next((p for p in spec.typed_params if p.flag == options[-1].flag), None)
    return (param, options[-1].value) if param is not None else None


def param_at(spec: CommandSpec, done: list[str]) -> Param | None:
    """The parameter the next word fills, given the words already typed after the command."""
    return _read(spec, done)[1]


def _read(spec: CommandSpec, done: list[str]) -> tuple[list[Param | None], Param | None]:
    """Each word of ``done`` read against the grammar: the parameter it fills as a value (a positional, an
    option's value) or None (an option itself, ``--``, a shell command's passed-through option); then the
    parameter the next word fills. One reading for every question completion asks, whatever the order of
    options and positionals."""
    params = spec.typed_params
    flags = {p.flag: p for p in params if p.flag}
    takes = flag_table(spec)
    takes_options = any(p.kind is ParamKind.OPTIONS for p in params)
    positionals = [p for p in params if not p.flag and p.kind is not ParamKind.OPTIONS]
    filled: list[Param | None] = []
    index = 0
    expecting: Param | None = None
    previous = ""
    only_values = False  # after "--"
    for token in done:
        options = None if only_values or takes_options else options_in(token, takes)
        filling: Param | None = None
        if expecting is not None:
            filling, expecting = expecting, None
        elif token == "--" and not only_values:
            only_values = True
        elif token in flags:
            if flags[token].kind is not ParamKind.BOOL:
                expecting = flags[token]
        elif token in YES_FLAGS:
            pass
        elif options:  # -rm (then -m's value), -m1, --timeout=5
            last = options[-1]
            if last.flag in flags and flags[last.flag].kind is not ParamKind.BOOL and last.value is None:
                expecting = flags[last.flag]
        elif takes_options and not only_values and (token.startswith("-") or (token.isdigit() and len(previous) == 2
                                                             and previous.startswith("-"))):
            pass  # a shell command's options, passed through ("-n 20")
        elif index < len(positionals):
            filling = positionals[index]
            if not positionals[index].many:
                index += 1
        else:
            index += 1
        filled.append(filling)
        previous = token
    if expecting is not None:
        return filled, expecting
    return filled, positionals[index] if index < len(positionals) else None
