"""A theme's colours, checked one by one: a bad one is named with what is used instead, never dropped unsaid.

prompt_toolkit takes ``#zzzzzz`` (any six characters after '#') and then draws no colour for it, and
refuses ``reddish`` with the whole style, naming neither the theme nor the key. Here each colour of each
style string is checked as prompt_toolkit reads it (``fg:``/``bg:`` or bare; a colour name, ``ansi...``,
``#rgb`` or ``#rrggbb`` in hex, ``default`` or empty) and a bad one is replaced by the default theme's
colour for the same key and place (text or background), or left out (the terminal's own colour) where
that theme has none. A theme with no bad colour is used exactly as written. Owns that check and its
words; reading theme files and choosing one stay ``themes``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import hexdigits

from prompt_toolkit.styles.style import parse_color

#: Words of a style string that are no colour (prompt_toolkit's ``_parse_style_str`` and Pygments').
_NOT_COLOURS = frozenset({
    "noinherit", "bold", "nobold", "italic", "noitalic", "underline", "nounderline", "strike", "nostrike",
    "blink", "noblink", "reverse", "noreverse", "hidden", "nohidden", "dim", "nodim", "roman", "sans", "mono",
})

#: What a colour may be, for the message about one that is not.
COLOUR_FORMS = "#rrggbb, #rgb or a name such as red or ansired"


@dataclass(frozen=True)
class BadColour:
    """One bad colour in a theme's ``[styles]``: ``key = "value"``, its ``bad`` word, and the colour used
    instead (``"#ff5f5f"``, ``"bg:#262626"``), or None when it is left out."""

    key: str
    value: str
    bad: str
    instead: str | None

    def said(self, theme: str, default: str) -> str:
        """The line that names it: ``theme``'s name (and file), the key, the value, what is used instead."""
        used = (f"the {default} theme's {self.instead} is used instead" if self.instead
                else "it is left out (the terminal's own colour shows)")
        return f"theme {theme}: {self.key} = \"{self.value}\": '{self.bad}' is not a colour ({COLOUR_FORMS}); {used}"


def is_colour(text: str) -> bool:
    """Whether prompt_toolkit draws ``text`` as a colour (``#zzzzzz`` it accepts, and draws nothing)."""
    try:
        parse_color(text)
    except ValueError:
        return False
    if text.startswith("#") and len(text) in (4, 7):  # hex digits only (not '#ansired')
        return all(char in hexdigits for char in text[1:])
    return True


def _colour_of(part: str) -> tuple[str, str] | None:
    """(``"fg"`` or ``"bg"``, the colour) for a word of a style string that sets a colour; None otherwise."""
    if part in _NOT_COLOURS or part.startswith("border:") or (part.startswith("[") and part.endswith("]")):
        return None
    if part.startswith(("bg:", "fg:")):
        return part[:2], part[3:]
    return "fg", part


def _good_colour(value: str, place: str) -> str | None:
    """The last good colour ``value`` sets at ``place`` (``fg``/``bg``), written as in a style string."""
    found = None
    for part in value.split():
        colour = _colour_of(part)
        if colour is not None and colour[0] == place and colour[1] and is_colour(colour[1]):
            found = colour[1] if place == "fg" else f"bg:{colour[1]}"
    return found


def checked(styles: dict[str, str], default: dict[str, str]) -> tuple[dict[str, str], list[BadColour]]:
    """``styles`` with each bad colour replaced from ``default`` (the default theme's styles: same key, same
    place) or left out, and what was bad. Good styles come back unchanged, string for string."""
    fixed: dict[str, str] = {}
    bad: list[BadColour] = []
    for key, value in styles.items():
        kept, found = [], len(bad)
        for part in value.split():
            colour = _colour_of(part)
            if colour is None or is_colour(colour[1]):
                kept.append(part)
                continue
            instead = _good_colour(default.get(key, ""), colour[0])
            bad.append(BadColour(key, value, part, instead))
            if instead is not None:
                kept.append(instead)
        fixed[key] = value if len(bad) == found else " ".join(kept)
    return fixed, bad
