"""One word of a command line read as its options, the way argparse reads them.

FLARE 2.9's console parses each command's arguments with argparse (``SafeArgumentParser``), so an
operator types ``list_jobs -m1``, ``list_jobs -rm 1``, ``list_jobs -m=1`` or ``monitor_job J
--timeout=30`` there; our registry's options read the same here: a value attached to its short flag
(``-m1``, ``-m=1``), single-letter flags bundled (``-dr``, ``-rm 1``, ``-rm1``), ``--opt=value``, and a
long option abbreviated to a unique prefix (``--time 30``, argparse's allow_abbrev). Parsing
(``console.shell.parse``), completion and highlighting all read options here, so they agree.

Owns only the reading of one word; what a flag means is the registry's (``console.commands``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from console.commands import CommandSpec, ParamKind

YES_FLAGS = ("--yes", "-y")


class OptionError(ValueError):
    """A word that is an option but cannot be read (a value given to a flag that takes none, an
    unknown letter in a bundle, an ambiguous abbreviation); the message names the word."""


@dataclass(frozen=True)
class Option:
    flag: str  # as the registry spells it: "-m", "--timeout"
    value: str | None = None  # given in the same word ("-m1", "--timeout=30"); None: the next word, if it takes one


def flag_table(spec: CommandSpec) -> dict[str, bool]:
    """The command's flags -> whether each takes a value (``--yes``/``-y`` on a destructive command)."""
    table = {p.flag: p.kind is not ParamKind.BOOL for p in spec.typed_params if p.flag}
    if spec.destructive:
        table.update(dict.fromkeys(YES_FLAGS, False))
    return table


def read_option(token: str, flags: Mapping[str, bool]) -> list[Option] | None:
    """The options ``token`` gives, in order; None when it is not one of ``flags`` (a positional
    value, a negative number, or an unknown option for the caller to name).

    Raises OptionError for a word that starts as an option of ``flags`` but cannot be read.
    """
    if token in flags:
        return [Option(token)]
    if not token.startswith("-") or token in ("-", "--"):
        return None
    if token.startswith("--"):
        name, equals, value = token.partition("=")
        flag = _long_flag(name, flags)
        if flag is None:
            return None
        if not equals:
            return [Option(flag)]
        if not flags[flag]:
            raise OptionError(f"{flag} takes no value (in '{token}')")
        if not value:
            raise OptionError(f"{flag} needs a value after '=' (in '{token}')")
        return [Option(flag, value)]
    found: list[Option] = []
    rest = token[1:]
    while rest:
        flag = "-" + rest[0]
        if flags.get(flag) is None:
            if not found:
                return None
            raise OptionError(f"unknown option {flag} in '{token}'")
        rest = rest[1:]
        if flags[flag]:  # the rest of the word is its value ("-m1", "-m=1"), else the next word is
            value = rest[1:] if rest.startswith("=") else rest
            if rest.startswith("=") and not value:
                raise OptionError(f"{flag} needs a value after '=' (in '{token}')")
            found.append(Option(flag, value or None))
            return found
        if rest.startswith("="):
            raise OptionError(f"{flag} takes no value (in '{token}')")
        found.append(Option(flag))
    return found


def _long_flag(name: str, flags: Mapping[str, bool]) -> str | None:
    """``--name`` as one of ``flags``: itself, or the one long flag it begins (argparse's abbreviation)."""
    if name in flags:
        return name
    if len(name) < 3:
        return None
    matches = [flag for flag in flags if flag.startswith("--") and flag.startswith(name)]
    if len(matches) > 1:
        raise OptionError(f"ambiguous option {name}: it could be {' or '.join(sorted(matches))}")
    return matches[0] if matches else None
