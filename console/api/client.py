"""The asyncio client core: an admin's mTLS connection, opened and reopened with a kit.

``AsyncClient`` is the requesting end of ``console.wire.requesting`` (concurrent requests,
pushes, transfers) that connects by itself from an admin kit, checks its own certificate and
logs in (``login``). With ``heartbeat`` set (the console sets it), a server that answers nothing,
not even a ping, is taken as gone and its connection dropped (``console.wire.heartbeat``). Used directly by the shell and, through a background event loop, by the
synchronous ``Session``. A lost connection fails the requests in flight with ``NoConnection``;
the next request reconnects (with back-off, within the connect timeout) and logs in again.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

from console.api.login import LoginInfo, check_own_certificate, parse_login_answer, tls_refusal
from console.wire.answers import ProtocolViolation
from console.wire.exceptions import NoAnswer, NoConnection, SessionClosed
from console.wire.features import HEARTBEAT
from console.wire.heartbeat import Heartbeat
from console.wire.kit import AdminKit
from console.wire.refusal import accepts, is_refused, refused_message, silent_message
from console.wire.requesting import Requester
from console.wire.tls import client_context
from console.within import within


class AsyncClient(Requester):
    """An admin's session: with a kit it connects (and reconnects) by itself and logs in as
    ``username``; without one it serves a stream opened elsewhere, as a ``Requester``."""

    def __init__(self, kit: AdminKit | None, username: str, *, connect_timeout: float = 10.0,
                 peer: str = "the server") -> None:
        super().__init__(peer=peer)
        self.kit = kit
        self.username = username
        self.connect_timeout = connect_timeout
        self.after_no_answer = "; the session goes on: try again, or see the server's log"
        self.login_info: LoginInfo | None = None
        self._connect_lock: asyncio.Lock | None = None
        #: (every, lost_after) seconds of ``console.wire.heartbeat`` for the connections opened from now
        #: on, None for none (a script's session: its requests keep their own deadlines only).
        self.heartbeat: tuple[float, float] | None = None
        self._watch: Heartbeat | None = None
        self._silence_listeners: list[Callable[[], None]] = []

    @property
    def silent(self) -> bool:
        """Whether the server has answered nothing, not even a heartbeat, for a while (connected still:
        it is not taken as gone yet). Always False without ``heartbeat``."""
        return self.connected and self._watch is not None and self._watch.waiting

    @property
    def silent_for(self) -> int | None:
        """Whole seconds the server, connected still, has answered nothing, once a heartbeat went unanswered
        past ``console.wire.heartbeat.NOTICE_SECONDS``; None otherwise (and always without ``heartbeat``)."""
        return self._watch.silent_for if self.connected and self._watch is not None else None

    def add_silence_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` (on the loop) whenever ``silent_for`` changes; returns its remover."""
        self._silence_listeners.append(listener)
        return lambda: self._silence_listeners.remove(listener)

    def _silence_changed(self) -> None:
        for listener in list(self._silence_listeners):
            listener()

    def where(self) -> str:
        return f"the server at {self.kit.host}:{self.kit.port}" if self.kit is not None else self.peer

    async def connect(self, *, refused_is_final: bool = False) -> LoginInfo:
        """Connect and log in, retrying for up to ``connect_timeout`` s (a server still starting, one
        restarting). ``refused_is_final``: a refused connection (nothing listens on the port) raises
        NoConnection at once instead, as psql does: for a console's first connection, where a person waits."""
        if self.closed:
            raise SessionClosed("session closed")
        if self.kit is None:
            return await super().connect()
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self.connected and self.login_info is not None:
                return self.login_info
            return await self._connect_with_retries(refused_is_final)

    async def _connect_with_retries(self, refused_is_final: bool = False) -> LoginInfo:
        assert self.kit is not None
        self.kit.tls.check()
        check_own_certificate(self.kit.tls.cert, self.kit.tls.ca, self.kit.tls.key)
        ctx = client_context(self.kit.tls.cert, self.kit.tls.key, self.kit.tls.ca, self.kit.tls.crl)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout
        delay = 0.05
        timed_out = False
        where = f"{self.kit.host}:{self.kit.port}"
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                if timed_out and await asyncio.to_thread(accepts, self.kit.host, self.kit.port):
                    raise NoConnection(silent_message(where, self.connect_timeout))
                raise NoConnection(
                    f"cannot connect to the server at {where} within {self.connect_timeout:g} s; "
                    "is the server running and is the kit's host/port right?"
                )
            try:
                reader, writer = await within(
                    asyncio.open_connection(
                        self.kit.host, self.kit.port, ssl=ctx, server_hostname=self.kit.server_identity,
                        ssl_handshake_timeout=max(remaining, 0.1), limit=1 << 22,
                    ),
                    remaining,
                )
            except ssl.SSLError as exc:
                raise tls_refusal(exc) from None
            except (OSError, TimeoutError) as exc:
                # A handshake that never ended (a server that takes the connection, then says nothing).
                timed_out = isinstance(exc, TimeoutError) or "handshake" in str(exc)
                if refused_is_final and is_refused(exc):
                    raise NoConnection(refused_message(where)) from None
                await asyncio.sleep(min(delay, max(deadline - loop.time(), 0)))
                delay = min(delay * 2, 1.0)
                continue
            return await self._login(reader, writer)

    async def _login(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> LoginInfo:
        self.attach(reader, writer)
        try:
            data = await self._roundtrip("login", {"username": self.username, "client": "flare-console"},
                                         timeout=self.connect_timeout)
        except NoAnswer:
            await self._drop_connection()
            raise NoConnection(f"{self.where()} took the connection (TLS handshake done) but did not answer login "
                               f"within {self.connect_timeout:g} s (--timeout); is it a flare-console server, and "
                               "is it overloaded? See the server's log") from None
        except (NoConnection, ssl.SSLError) as exc:
            await self._drop_connection()
            cause = exc.__cause__ or exc
            if isinstance(cause, ssl.SSLError):  # a TLS alert: the server refused our certificate
                raise tls_refusal(cause) from None
            if isinstance(exc, ProtocolViolation):  # it answered, but not in our protocol: no certificate issue
                raise NoConnection(
                    f"the server at {self.kit.host}:{self.kit.port} does not speak flare-console's protocol ({cause}); "
                    "is the kit's host/port that of a flare-console server? An NVIDIA FLARE server (its admin "
                    "port answers like this) is driven with FLARE's admin kit: point --kit at that kit") from None
            # Closed without a word (a server going down, say): worth another try later.
            raise NoConnection(f"the server closed the connection during login ({exc}); if it keeps doing so, "
                               "it may refuse this kit's certificate (revoked by a newer provisioning?): "
                               "see the server's log") from None
        except BaseException:
            await self._drop_connection()
            raise
        try:
            self.login_info = parse_login_answer(data)
            self.peer_features = self.login_info.features
        except (TypeError, ValueError, AttributeError) as exc:
            await self._drop_connection()
            raise NoConnection(f"the server's answer to login is malformed ({exc}): is this a flare-console "
                               "server?") from None
        if self.command_timeout is not None:  # the server keeps it per connection: in force on this one too
            try:
                await self._roundtrip("set_timeout", {"value": self.command_timeout})
            except BaseException:
                await self._drop_connection()
                raise
        self._watch_connection()
        self._notify_state(True)
        return self.login_info

    def _watch_connection(self) -> None:
        """Start the heartbeat on the connection just logged in, ended with it."""
        self._watch = None
        read_task = self._read_task
        if self.heartbeat is None or HEARTBEAT not in self.peer_features or read_task is None:
            return
        watch = self._watch = Heartbeat(self, *self.heartbeat, on_silence=self._silence_changed)
        task = asyncio.get_running_loop().create_task(watch.run())
        read_task.add_done_callback(lambda _: task.cancel())
