"""How a served request ended, told to a host that keeps an audit trail (the server's ``audit_request``).

Owns when and with what a request is reported: the command, its arguments, what its handler noted
(``RequestContext.notes``) and the error, if any; a cancelled request whose handler reached an effect
that runs to its end (``RequestContext.finish``) is reported once that effect ended, as its outcome.
A failing audit never fails the request. Must not keep the trail itself (the host does) nor answer
the peer (``serving`` does).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from console.provision.certs import CertIdentity
from console.wire.request_context import FINISHING

log = logging.getLogger("console.wire.serving")  # (the serving end's log, as before this module was split off)


class Audited(Protocol):
    """The served connection a request came on (``serving.ServedConnection``), handed on to the host."""

    server: Any
    identity: CertIdentity


def audit_when_finished(conn: Audited, cmd: Any, header: dict[str, Any], notes: dict[str, Any],
                        cancelled: asyncio.CancelledError) -> None:
    """A cancelled request's audit: as cancelled, unless its handler had reached an effect that
    runs to its end whatever happens (``RequestContext.finish``): then, once that has ended, as
    its outcome (done, the answer undelivered; or its error), with what it noted (``new_job_id``)."""
    effect = notes.get(FINISHING)
    if effect is None:
        audit(conn, cmd, header, notes, cancelled)
        return

    def record(done: asyncio.Future[Any]) -> None:
        error: BaseException | None = cancelled if done.cancelled() else done.exception()
        if error is None:
            notes["answer"] = "not delivered: the connection closed before it"
        audit(conn, cmd, header, notes, error)

    if effect.done():
        record(effect)
    else:
        effect.add_done_callback(record)


def audit(conn: Audited, cmd: Any, header: dict[str, Any], notes: dict[str, Any], error: BaseException | None) -> None:
    """Tell a host that keeps an audit trail (the server: ``audit_request``) how a request ended;
    its failure never fails the request."""
    record = getattr(conn.server, "audit_request", None)
    if record is None:
        return
    notes = {key: value for key, value in notes.items() if key != FINISHING}
    try:
        record(conn, cmd, header.get("args"), notes, error)
    except Exception:
        log.exception("audit of %s from %s failed", cmd, conn.identity.cn)
