"""The shell's config (TOML in the XDG config dir) and where its history lives (XDG data dir).

The config file is written with comments on first run, so a person can open it and see
every setting; it is read with ``tomllib`` and checked, with a message naming the key.
Settings changed in the shell (``theme``, ``set``, ``timing``) are written back into it,
one line each, keeping the comments (also one at a setting's line end). User themes live in
the config dir's ``themes/``.
"""

from __future__ import annotations

import re
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path

from console.commands import CATALOG
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


class ConfigError(ValueError):
    pass


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

    def remember(self, key: str, value: str | bool) -> None:
        """Write one setting into the config file (its line rewritten keeping a trailing comment, or a line
        added: ``toml_lines.set_top_level``); a file that cannot be written leaves the setting for this
        session only."""
        if self.path is None:
            return
        try:
            text = self.path.read_text(encoding="utf-8")
            self.path.write_text(set_top_level(text, key, toml_value(value)), encoding="utf-8")
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


def load_config(path: Path | None = None, *, create: bool = True) -> ShellConfig:
    path = path or config_dir() / "config.toml"
    if not path.exists() and create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(DEFAULT_CONFIG, encoding="utf-8")
        except OSError:
            return ShellConfig(path=None)  # a read-only home: run on the defaults
    if not path.exists():
        return ShellConfig(path=None)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}; fix it or delete it to get the defaults") from None
    config = ShellConfig(path=path)
    for key, expected in (("theme", str), ("format", str), ("confirm", bool), ("kit", str), ("pager", str),
                          ("expanded", str), ("timing", bool), ("editing", str)):
        if key in data and not isinstance(data[key], expected):
            raise ConfigError(f"{path}: '{key}' must be a {expected.__name__}")
    for key, allowed in (("expanded", [e.value for e in Expanded]), ("editing", ["emacs", "vi"])):
        if key in data and data[key] not in allowed:
            raise ConfigError(f"{path}: '{key}' must be {' or '.join(allowed)}")
    config.theme = data.get("theme", config.theme)
    try:
        config.format = Format(data.get("format", config.format))
    except ValueError:
        raise ConfigError(f"{path}: 'format' must be table, json or raw") from None
    config.confirm = data.get("confirm", config.confirm)
    config.kit = data.get("kit", config.kit)
    config.pager = data.get("pager", config.pager)
    config.expanded = Expanded(data.get("expanded", config.expanded))
    config.timing = data.get("timing", config.timing)
    config.editing = data.get("editing", config.editing)
    return config
