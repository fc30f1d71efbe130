"""The server side of a new connection up to a finished TLS handshake, under a PortGate's budget.

Owns: the first-byte wait, the handshake timeout and eviction of a handshake (see gate.py for
the rules). Does not own what happens after the handshake (login, registration of a site).
"""

from __future__ import annotations

import asyncio
import os
import ssl

from console.wire.gate import PortGate, Ticket
from console.wire.tls import HandshakeFailureLog
from console.within import within


class Admission:
    """``async with Admission(port_gate, writer) as ticket``: counted for the connection's life;
    ticket is None when the gate refused it (the socket is already aborted)."""

    def __init__(self, gate: PortGate, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        self.host = str(peer[0]) if peer else "?"
        self.gate = gate
        self.writer = writer
        self.ticket: Ticket | None = None

    async def __aenter__(self) -> Ticket | None:
        # Before any await: the ClientHello must stay in the kernel for the TLS layer, not be
        # read into the plain stream's buffer while we wait for it.
        self.writer.transport.pause_reading()
        task = asyncio.current_task()

        def evict() -> None:
            self.writer.transport.abort()
            if task is not None:
                task.cancel()

        self.ticket = self.gate.open(self.host, evict)
        if self.ticket is None:
            self.writer.transport.abort()
        return self.ticket

    async def __aexit__(self, *exc: object) -> None:
        if self.ticket is not None:
            self.gate.close(self.ticket)

    async def handshake(self, context: ssl.SSLContext, failures: HandshakeFailureLog) -> bool:
        """Wait for the peer's first byte, then run the TLS handshake; whether it succeeded.

        On failure the transport is closed (a TLS alert may still go out) or aborted, and the
        reason goes to the endpoint's ``failures`` log (rate-limited: floods fail here)."""
        problem = await self._handshake(context)
        if problem:
            failures.failed(self.writer.get_extra_info("peername"), problem)
        return problem is None

    async def _handshake(self, context: ssl.SSLContext) -> str | None:
        ticket, writer, limits = self.ticket, self.writer, self.gate.limits
        assert ticket is not None
        try:
            if not await _first_byte(writer, limits.first_byte_timeout):
                writer.transport.abort()
                return f"nothing received within {limits.first_byte_timeout:g} s"
            await writer.start_tls(context, ssl_handshake_timeout=limits.handshake_timeout)
            return None
        except asyncio.CancelledError:
            if not ticket.evicted:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            return "evicted: its TLS handshake was the oldest under way when the cap was reached"
        except ssl.SSLCertVerificationError as exc:
            writer.transport.close()  # close, not abort: the TLS alert goes out first
            return f"client certificate rejected: {exc.verify_message}"
        except ssl.SSLError as exc:
            writer.transport.close()
            return f"{exc.reason or exc}"
        except (ConnectionError, OSError, TimeoutError) as exc:
            writer.transport.abort()
            return f"{type(exc).__name__}: {exc}"
        finally:
            self.gate.handshake_done(ticket)


async def _first_byte(writer: asyncio.StreamWriter, timeout: float) -> bool:
    """Whether the socket became readable (data or EOF) within ``timeout`` seconds, reading nothing.

    The transport owns the socket's descriptor in the event loop, so the wait uses a duplicate
    of it; the transport is paused, hence nothing is read meanwhile."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return True
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    fd = os.dup(sock.fileno())
    try:
        loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
        try:
            await within(ready, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            loop.remove_reader(fd)
    finally:
        os.close(fd)
