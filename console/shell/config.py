"""The shell's config (TOML in the XDG config dir) and where its history lives (XDG data dir).

The config file is written with comments on first run, so a person can open it and see
every setting; it is read with ``tomllib`` and checked, each problem (a bad value, an unknown key) said
with the file and key and the default used instead: a mistake in it never keeps the console from starting.
Settings changed in the shell (``theme``, ``set``, ``timing``) are written back into it,
one line each, keeping the comments (also one at a setting's line end). User themes live in
the config dir's ``themes/``.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
import textwrap
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from console.commands import CATALOG
from console.local_paths import reason
from console.own_files import open_private, private_file, private_folder
from console.shell.output import DEFAULT_PAGER, Expanded, Format
from console.shell.themes import DEFAULT_THEME
from console.shell.toml_lines import set_top_level
from console.user_dirs import config_dir, data_dir


def _asking() -> str:
    """The comment over ``confirm``: every command that asks, from the registry's destructive flag."""
    names = [name for name, spec in CATALOG.items() if spec.destructive]
    text = f"Ask before {', '.join(names[:-1])} and {names[-1]} (--yes on the line skips the question)."
    return "\n".join(textwrap.wrap(text, 92, initial_indent="# ", subsequent_indent="# "))


DEFAULT_CONFIG = f"""\
# flare-console settings. Delete this file to get the defaults back.

# Colour theme: dark, light, high-contrast, monokai (or any file in the themes folder).
# The NO_COLOR environment variable turns colour off whatever this says.
theme = "{DEFAULT_THEME}"

# How results are shown: "table" (tables and aligned records), "json" or "raw".
format = "table"

# Records shown vertically: "auto" (when a table is wider than the terminal), "on" or "off".
expanded = "auto"

# Show how long each command's requests took.
timing = false

# Line editing keys: "emacs" or "vi".
editing = "emacs"

{_asking()}
confirm = true

# Admin startup kit used when neither --kit nor $FLARE_KIT is given.
kit = ""

# Pager for output taller than the screen (interactive shell only); $PAGER wins if set.
pager = "{DEFAULT_PAGER}"
"""


def history_path() -> Path:
    return data_dir() / "history"


@dataclass
class ShellConfig:
    theme: str = DEFAULT_THEME
    format: Format = Format.TABLE
    confirm: bool = True
    kit: str = ""
    pager: str = DEFAULT_PAGER
    expanded: Expanded = Expanded.AUTO
    timing: bool = False
    editing: str = "emacs"
    path: Path | None = None
    #: What was wrong in the file and what is used instead, one sentence each, for the console to say at start.
    notes: list[str] = field(default_factory=list)

    def remember(self, key: str, value: str | bool) -> None:
        """Write one setting into the config file (its line rewritten keeping a trailing comment, or a line
        added: ``toml_lines.set_top_level``); a file that cannot be written leaves the setting for this
        session only."""
        if self.path is None:
            return
        try:
            text = self.path.read_text(encoding="utf-8")
            with open_private(self.path) as out:
                out.write(set_top_level(text, key, toml_value(value)))
        except (OSError, UnicodeError):
            pass


#: TOML's short escapes; any other control character is written as \uXXXX (TOML 1.0, "Basic strings").
_TOML_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_TOML_ESCAPED = re.compile('[\x00-\x1f\x7f"\\\\]')


def toml_value(value: str | bool) -> str:
    """``value`` as a TOML literal: ``true``/``false``, or a basic string escaped by TOML's rules, which
    are not JSON's (JSON writes a character outside the BMP as a surrogate pair, which TOML refuses).
    Other characters stay as they are: the file is UTF-8."""
    if isinstance(value, bool):
        return "true" if value else "false"
    escaped = _TOML_ESCAPED.sub(lambda m: _TOML_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), value)
    return f'"{escaped}"'


#: Each setting of the file: the type its value must have and, for a word, the words it may be.
_SETTINGS: dict[str, tuple[type, tuple[str, ...] | None]] = {
    "theme": (str, None), "format": (str, tuple(f.value for f in Format)), "confirm": (bool, None),
    "kit": (str, None), "pager": (str, None), "expanded": (str, tuple(e.value for e in Expanded)),
    "timing": (bool, None), "editing": (str, ("emacs", "vi")),
}
_TYPE_WORDS = {str: "a string in quotes", bool: "true or false"}


def _problem(value: object, expected: type, allowed: tuple[str, ...] | None) -> str | None:
    """What is wrong with a setting's ``value``, in words (None: nothing)."""
    if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
        return f"must be {_TYPE_WORDS[expected]}"
    if allowed is not None and value not in allowed:
        return f"must be {', '.join(allowed[:-1])} or {allowed[-1]}"
    return None


def load_config(path: Path | None = None, *, create: bool = True) -> ShellConfig:
    """The settings of ``path`` (the config dir's ``config.toml``, written with the defaults when missing).

    A file that cannot be read, a bad value or an unknown key never stops the console (as a bad theme
    colour does not): ``notes`` says each one (the file, the key, the value, what is used instead) and the
    default is used for it. A file that cannot be read as TOML is not written back into (``path`` None)."""
    own = path is None  # the console's own file: 0600 in a 0700 folder (console.own_files); a named one as it is
    path = path or config_dir() / "config.toml"
    if not path.exists() and create:
        try:
            if own:
                private_folder(path.parent)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
            with open_private(path) as out:
                out.write(DEFAULT_CONFIG)
        except OSError:
            return ShellConfig(path=None)  # a read-only home: run on the defaults
    elif own and path.exists() and create:  # found readable by others (an older console made it so)
        with contextlib.suppress(OSError):
            private_file(path)
    if not path.exists():
        return ShellConfig(path=None)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, tomllib.TOMLDecodeError) as exc:
        said = reason(exc) if isinstance(exc, OSError) else exc
        return ShellConfig(path=None, notes=[f"{path}: {said}; using the default settings (fix the file, or "
                                             "delete it to have one with the defaults written)"])
    config = ShellConfig(path=path)
    for key, value in data.items():
        if key not in _SETTINGS:
            close = difflib.get_close_matches(key, list(_SETTINGS), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else f"; the settings are {', '.join(_SETTINGS)}"
            config.notes.append(f"unknown setting '{key}' in {path}{hint}")
            continue
        expected, allowed = _SETTINGS[key]
        problem = _problem(value, expected, allowed)
        if problem is not None:
            default = getattr(config, key)
            config.notes.append(f"{path}: '{key}' {problem}, not {_shown(value)}; using {_shown(default)}")
            continue
        setattr(config, key, value)
    config.format, config.expanded = Format(config.format), Expanded(config.expanded)
    return config


def _shown(value: object) -> str:
    """A setting's value as the file spells it (``"yaml"``, ``true``, ``3``)."""
    if isinstance(value, Format | Expanded):
        value = value.value
    if isinstance(value, str | bool):
        return toml_value(value)
    return json.dumps(value, default=str, ensure_ascii=False)
