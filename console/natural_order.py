"""Names in the order people count them: ``site-2`` before ``site-10``, as sites are listed everywhere.

A sort key only; nothing here knows what a site is. Text sorting put ``site-10`` .. ``site-19``
between ``site-1`` and ``site-2`` in ``check_status`` and ``top`` with 40 sites (a tester's finding).
"""

from __future__ import annotations

import re

_RUNS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[tuple[int, int | str], ...], str]:
    """A key sorting ``name`` by its text with each run of digits taken as a number (``site-2`` <
    ``site-10``; ``a01`` and ``a1`` side by side, ``a01`` first, then by the text as it is)."""
    parts: list[tuple[int, int | str]] = []
    for i, part in enumerate(_RUNS.split(name)):
        if i % 2:
            parts.append((0, int(part)))
        elif part:
            parts.append((1, part.casefold()))
    return tuple(parts), name  # equal as counted ("a01", "a1"): by the text itself, so the order is total
