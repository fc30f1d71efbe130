"""When a host's answer must be on its way, for a request whose asker waits a known time.

The server's ``shell`` request to a site carries ``answer_within`` (the seconds the server waits for
the answer). Everything the site does for that request (waiting for a large-answer slot, for a
grep slot, running the grep) must fit in that wait with room for the way back, so the site's own
refusal ("the pattern ran longer than ...", "busy sending ...") always reaches the admin before the
server gives up with NoReply (security tester, session 11, finding 2). The site's waits used to be
counted each from its own start: a request that first waited for a slot then ran its grep for the
whole budget was answered after the server had stopped waiting (session 12's CI run).

Owns only the rule and the deadline of the request being served; the serving connection
(``console.wire.serving``) sets it when the request arrives, the waits read it.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar

#: The event loop's time by which the answer to the request being served must be sent; None when
#: its asker said nothing of its wait.
ANSWER_BY: ContextVar[float | None] = ContextVar("answer_by", default=None)


def answer_budget(wait: float) -> float:
    """Seconds a host may spend on a command (queueing included) when its asker waits ``wait`` s for
    the answer: a quarter of the wait, at most 2 s, is kept for the answer's way back."""
    return wait - min(2.0, wait / 4)


def answer_by(wait: object) -> None:
    """Sets the deadline of the request being served (in its task) from the asker's wait in seconds;
    a wait that is no positive number sets none."""
    if isinstance(wait, int | float) and not isinstance(wait, bool) and wait > 0:
        ANSWER_BY.set(asyncio.get_running_loop().time() + answer_budget(float(wait)))


def seconds_left(default: float) -> float:
    """Seconds until the deadline of the request being served (at least 0.1), at most ``default``."""
    by = ANSWER_BY.get()
    if by is None:
        return default
    return max(0.1, min(default, by - asyncio.get_running_loop().time()))
