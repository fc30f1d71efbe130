"""Zero-width joiners that are part of the text: ZWJ (U+200D) and ZWNJ (U+200C) in their contexts.

Names and text shown to admins refuse or show visibly every invisible format character (they can
hide text or make two names look alike: ``console.shell.safe_text``, ``console.jobdef.bounds``).
Two of them are needed to write some text at all: ZWJ joins an emoji sequence (👩‍💻, a family) and
after a virama selects a conjunct's form (Devanagari, Bengali, Malayalam ...); ZWNJ after a virama
or between two letters of a joining script (Persian ``می‌خواهم``, Arabic, Syriac) keeps letters apart.
Those contexts are the ones IDNA allows them in (RFC 5892 appendix A.1, A.2: after a virama, or
between joining letters) plus emoji ZWJ sequences (UTS #51); anywhere else a joiner stays a hidden
character. Bidi overrides, isolates and marks are never allowed here (``docs/security.md``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

ZWNJ = "\u200c"
ZWJ = "\u200d"

#: Extended_Pictographic, approximately (the blocks emoji come from; Python has no such property).
_PICTOGRAPHIC = ((0x1F000, 0x1FAFF), (0x2600, 0x27BF), (0x2300, 0x23FF), (0x2B00, 0x2BFF), (0x2190, 0x21FF),
                 (0x1FC00, 0x1FFFD), (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C), (0x2049, 0x2049),
                 (0x2122, 0x2122), (0x2139, 0x2139))
#: Scripts whose letters join (Joining_Type D/L/R): Arabic with its supplements and presentation forms,
#: Syriac, NKo, Mandaic, Mongolian, Phags-pa.
_JOINING = ((0x0600, 0x06FF), (0x0700, 0x074F), (0x0750, 0x077F), (0x07C0, 0x07FF), (0x0840, 0x085F),
            (0x0860, 0x086F), (0x0870, 0x08FF), (0x1800, 0x18AF), (0xA840, 0xA87F), (0xFB50, 0xFDFF),
            (0xFE70, 0xFEFF), (0x10D00, 0x10D3F))
_VIRAMA = 9  # canonical combining class of a virama


def _within(char: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in ranges)


def _pictographic(char: str) -> bool:
    return _within(char, _PICTOGRAPHIC)


def _emoji_part(char: str) -> bool:
    """What may follow an emoji inside its sequence: the emoji presentation selector, a skin tone."""
    return char == "\ufe0f" or 0x1F3FB <= ord(char) <= 0x1F3FF


def _joining_letter(char: str) -> bool:
    return unicodedata.category(char).startswith("L") and _within(char, _JOINING)


def _neighbour(text: str, at: int, step: int, skip: Callable[[str], bool]) -> str:
    """The character next to ``at`` going ``step`` (-1, 1), over those ``skip`` passes; "" at an end."""
    i = at + step
    while 0 <= i < len(text) and skip(text[i]):
        i += step
    return text[i] if 0 <= i < len(text) else ""


def _transparent(char: str) -> bool:
    return unicodedata.category(char) == "Mn"  # a mark between joining letters (Joining_Type T)


def joiner_in_context(text: str, at: int, emoji: bool = True) -> bool:
    """Whether the ZWJ or ZWNJ at ``text[at]`` is part of the text (see the module): after a virama,
    in an emoji ZWJ sequence (ZWJ; not when ``emoji`` is false), or between letters of a joining
    script (ZWNJ)."""
    char = text[at]
    if char not in (ZWJ, ZWNJ) or at == 0:
        return False
    if unicodedata.combining(text[at - 1]) == _VIRAMA:
        return True
    if char == ZWJ:
        if not emoji:
            return False
        before = _neighbour(text, at, -1, _emoji_part)
        after = text[at + 1] if at + 1 < len(text) else ""
        return bool(before and after) and _pictographic(before) and _pictographic(after)
    before, after = _neighbour(text, at, -1, _transparent), _neighbour(text, at, 1, _transparent)
    return bool(before and after) and _joining_letter(before) and _joining_letter(after)


__all__ = ["ZWJ", "ZWNJ", "joiner_in_context"]
