"""What the serving end of a connection says it understands beyond protocol 1's first frames.

The login answer is the hello: the server's answer to an admin's ``login``, and a site's answer
to its server's, carry ``features``, a list of names. A requester uses a feature only with a
peer that listed it. Peers of an older version list none (the field is new): to them nothing
new is sent. A requester of an older version ignores the field (it reads the answer's known
fields only), so nothing changes for it either (docs/protocol.md, "Features").

- ``download_cancel``: a ``cancel`` frame naming a download under way stops its stream (the
  serving end drops what it still does for it). An older serving end took a ``cancel`` for
  anything but an upload as a protocol error and dropped the connection, every other request
  on it failing: to such a peer a download given up on is not cancelled; what still comes of
  it is read and dropped.
- ``heartbeat``: a logged-in peer's ``{"k": "ping", "id": N}`` is answered at once with
  ``{"k": "pong", "id": N}``, by the reading loop itself (no handler, no right, no audit line): a
  requester that heard nothing for a while asks, and a peer that answers nothing is taken as gone
  (``console.wire.heartbeat``). An older serving end drops the connection at a ``ping``: it is not
  sent to one that did not list this.
- ``refusal_check``: a destructive command with ``check_only`` true (``console.commands.catalog.CHECK_ONLY``)
  makes the checks it would make before acting and answers ``{"check_only": true}`` or the refusal,
  doing nothing: the console asks before "are you sure?". An older serving end refuses the unknown
  argument: it is not sent to one that did not list this.
- ``answer_within`` (a site's only): the server's ``shell`` request to a site carries the seconds it
  waits for the answer, and the site fits its own limits (grep's) in them
  (``console.answer_deadline.answer_budget``). An older site refuses the unknown argument:
  it is not sent to one that did not list this (its grep keeps its own 10 s).
"""

from __future__ import annotations

from typing import Any

DOWNLOAD_CANCEL = "download_cancel"
HEARTBEAT = "heartbeat"
REFUSAL_CHECK = "refusal_check"
#: Listed by a site only (the server's admin commands take no such argument).
ANSWER_WITHIN = "answer_within"
#: The features this version's serving end has, in its login answer.
FEATURES = (DOWNLOAD_CANCEL, HEARTBEAT, REFUSAL_CHECK)
#: Names read from a peer's list, at most (the rest is ignored), each at most this long.
MAX_FEATURES, MAX_FEATURE_CHARS = 64, 64


def peer_features(value: Any) -> frozenset[str]:
    """The features a login answer's ``features`` names (absent: none, an older peer). Raises
    TypeError for a value of another shape than a list of strings."""
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise TypeError("'features' must be a list of strings")
    return frozenset(name for name in value[:MAX_FEATURES] if len(name) <= MAX_FEATURE_CHARS)
