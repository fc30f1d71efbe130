"""Themes: TOML data files in ``themes/`` turned into prompt_toolkit styles.

Themes are found in the user's config folder (``~/.config/flare-console/themes``), beside the source tree (a checkout or an editable install) and in
``<prefix>/share/flare-console/themes`` where a regular install puts them. A theme may
take its highlighting from a Pygments style (``pygments_style = "monokai"``).
"""

from __future__ import annotations

import functools
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from prompt_toolkit.styles import Style, merge_styles, style_from_pygments_cls
from pygments.styles import get_style_by_name
from pygments.util import ClassNotFound

from console.local_paths import reason
from console.shell.parse import close_hint
from console.shell.safe_text import visible_line
from console.shell.theme_colours import BadColour, checked
from console.user_dirs import config_dir

DEFAULT_THEME = "dark"


class ThemeError(ValueError):
    pass


@dataclass(frozen=True)
class Theme:
    name: str
    description: str
    styles: dict[str, str] = field(default_factory=dict)
    pygments_style: str | None = None
    #: Colours of the file that cannot be drawn, each replaced in ``styles`` (``theme_colours``).
    bad_colours: tuple[BadColour, ...] = ()
    path: Path | None = None

    def notes(self) -> list[str]:
        """A line per bad colour: the theme (its name and file), the key, the value and what is used instead."""
        where = f"'{self.path.stem}' ({self.path})" if self.path is not None else f"'{self.name}'"
        return [visible_line(bad.said(where, DEFAULT_THEME)) for bad in self.bad_colours]

    def to_style(self) -> Style:
        parts = []
        if self.pygments_style:
            parts.append(style_from_pygments_cls(get_style_by_name(self.pygments_style)))
        parts.append(Style.from_dict(self.styles))
        return merge_styles(parts)  # type: ignore[return-value]


def theme_dirs(*, users: bool = True) -> list[Path]:
    """Where themes are found, first wins: the user's (config dir, unless ``users`` is false), then the
    shipped ones."""
    here = Path(__file__).resolve()
    candidates = [config_dir() / "themes"] if users else []
    candidates += [here.parent.parent.parent / "themes", Path(sys.prefix) / "share" / "flare-console" / "themes"]
    return [d for d in candidates if d.is_dir()]


def load_theme_file(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))  # TOML is UTF-8, whatever the locale
    except (OSError, UnicodeError, tomllib.TOMLDecodeError) as exc:
        said = reason(exc) if isinstance(exc, OSError) else exc
        raise ThemeError(f"theme file {path} cannot be read: {said}") from None
    styles = data.get("styles", {})
    if not isinstance(styles, dict) or not all(isinstance(v, str) for v in styles.values()):
        raise ThemeError(f"theme file {path}: [styles] must map style classes to style strings")
    pygments_style = data.get("pygments_style")
    if pygments_style is not None:
        try:
            get_style_by_name(pygments_style)
        except ClassNotFound:
            raise ThemeError(f"theme file {path}: no Pygments style named {pygments_style!r}") from None
    styles, bad = checked(styles, _default_styles())
    theme = Theme(str(data.get("name", path.stem)), str(data.get("description", "")), styles, pygments_style,
                  tuple(bad), path)
    try:
        theme.to_style()
    except (ValueError, AssertionError) as exc:
        raise ThemeError(f"theme file {path}: bad style: {exc}") from None
    return theme


def _default_styles() -> dict[str, str]:
    """The shipped default theme's ``[styles]``, where a bad colour of another theme takes its replacement
    from (the user's own ``dark.toml`` may be the broken one); empty when it cannot be read."""
    path = available_themes(users=False).get(DEFAULT_THEME)
    return dict(_styles_in(path)) if path is not None else {}


@functools.cache
def _styles_in(path: Path) -> tuple[tuple[str, str], ...]:
    try:
        styles = tomllib.loads(path.read_text(encoding="utf-8")).get("styles", {})
    except (OSError, UnicodeError, tomllib.TOMLDecodeError):
        return ()
    return tuple((k, v) for k, v in styles.items() if isinstance(v, str)) if isinstance(styles, dict) else ()


def available_themes(*, users: bool = True) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in theme_dirs(users=users):
        for path in sorted(folder.glob("*.toml")):
            found.setdefault(path.stem, path)
    return found


def load_theme(name: str) -> Theme:
    themes = available_themes()
    if name not in themes:
        problems = theme_problems()
        usable = [known for known in sorted(themes) if known not in problems]
        unusable = f" (and {', '.join(sorted(problems))}, which cannot be used: see theme)" if problems else ""
        raise ThemeError(f"no theme named '{name}'{close_hint(name, usable)}; available: {', '.join(usable) or 'none installed'}{unusable}")
    return load_theme_file(themes[name])


def fallback_style() -> Style:
    """The style used when the configured theme cannot be: the default theme, the shipped file if the
    user's own of that name is broken too, and no colours at all if even that cannot be read."""
    for users in (True, False):
        path = available_themes(users=users).get(DEFAULT_THEME)
        if path is not None:
            try:
                return load_theme_file(path).to_style()
            except ThemeError:
                continue
    return Style([])


def theme_problems() -> dict[str, str]:
    """Each available theme that cannot be used, with why (the ThemeError's message); the others are absent.
    Reads every theme file: for the ``theme`` listing, not for each keystroke."""
    problems = {}
    for name, path in available_themes().items():
        try:
            load_theme_file(path)
        except ThemeError as exc:
            problems[name] = str(exc)
    return problems


def theme_listing(names: list[str], current: str) -> str:
    """What ``theme`` alone prints: a line per theme, ``*`` on the one in use, and a theme that cannot be
    used said so with why (it may be the one the config file names: the default is then in use); one
    with bad colours names their keys (``theme NAME`` says what replaces them)."""
    themes = available_themes()
    lines = []  # a theme file's text reaches the terminal only escaped
    for name in names:
        problem, note = None, ""
        try:
            bad = load_theme_file(themes[name]).bad_colours if name in themes else ()
        except ThemeError as exc:
            problem = str(exc)
        else:
            keys = ", ".join(dict.fromkeys(b.key for b in bad))
            note = f"  (bad colours replaced: {keys}; 'theme {name}' says with what)" if bad else ""
        mark = "*" if name == current and problem is None else " "
        lines.append(f"{mark} {name}" + (f"  (cannot be used: {problem})" if problem else note))
    return "\n".join(visible_line(line) for line in lines)
