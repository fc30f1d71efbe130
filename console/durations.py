"""A job's ``duration`` as seconds: the one reading of it both the shell and the backends use.

FLARE and our server write a job's ``duration`` as Python's ``str(timedelta)``: ``0:00:12.345678``,
``1 day, 2:03:04.5``, ``-1 day, 23:59:59`` (one second less than none). Some answers carry it as a
number of seconds instead. The shell shows it (``shell.human``, ``top``) and the FLARE backend's
poll paces itself by it (``backends.nvflare_pace``); backends must not import the shell, so the
reading lives here, below both. It must not touch anything but reading a duration.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: Python's ``timedelta`` text: optional ``N day[s], ``, then ``H:MM:SS`` with an optional fraction.
#: Digits are bounded (timedelta's own limit is 999,999,999 days) so a long run of digits from an
#: answer is refused here rather than by ``int``'s 4300-digit limit.
TIMEDELTA_TEXT = re.compile(r"^(?:(-?\d{1,9}) days?, )?(\d{1,9}):(\d\d):(\d\d(?:\.\d{1,9})?)\Z")


def duration_seconds(value: Any) -> float | None:
    """Seconds of a duration given as a finite number or as ``timedelta`` text (surrounding blanks
    ignored); None for anything else (``None``, ``"N/A"``, a bool, NaN, ``"12 s"``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int past a float's range
            return None
        return number if math.isfinite(number) else None
    match = TIMEDELTA_TEXT.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        return None
    days, hours, minutes, secs = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(secs)
