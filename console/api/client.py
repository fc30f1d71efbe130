"""The asyncio client core: an admin's mTLS connection, opened and reopened with a kit.

``AsyncClient`` is the requesting end of ``console.wire.requesting`` (concurrent requests,
pushes, transfers) that connects by itself from an admin kit, checks its own certificate and
logs in (``login``). Used directly by the shell and, through a background event loop, by the
synchronous ``Session``. A lost connection fails the requests in flight with ``NoConnection``;
the next request reconnects (with back-off, within the connect timeout) and logs in again.
"""

from __future__ import annotations

import asyncio
import ssl

from console.api.login import LoginInfo, check_own_certificate, parse_login_answer, tls_refusal
from console.wire.answers import ProtocolViolation
from console.wire.exceptions import NoConnection, SessionClosed
from console.wire.kit import AdminKit
from console.wire.requesting import Requester
from console.wire.tls import client_context


class AsyncClient(Requester):
    """An admin's session: with a kit it connects (and reconnects) by itself and logs in as
    ``username``; without one it serves a stream opened elsewhere, as a ``Requester``."""

    def __init__(self, kit: AdminKit | None, username: str, *, connect_timeout: float = 10.0,
                 peer: str = "the server") -> None:
        super().__init__(peer=peer)
        self.kit = kit
        self.username = username
        self.connect_timeout = connect_timeout
        self.login_info: LoginInfo | None = None
        self._connect_lock: asyncio.Lock | None = None

    async def connect(self) -> LoginInfo:
        if self.closed:
            raise SessionClosed("session closed")
        if self.kit is None:
            return await super().connect()
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self.connected and self.login_info is not None:
                return self.login_info
            return await self._connect_with_retries()

    async def _connect_with_retries(self) -> LoginInfo:
        assert self.kit is not None
        self.kit.tls.check()
        check_own_certificate(self.kit.tls.cert)
        ctx = client_context(self.kit.tls.cert, self.kit.tls.key, self.kit.tls.ca, self.kit.tls.crl)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout
        delay = 0.05
        where = f"{self.kit.host}:{self.kit.port}"
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise NoConnection(
                    f"cannot connect to the server at {where} within {self.connect_timeout:g} s; "
                    "is the server running and is the kit's host/port right?"
                )
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        self.kit.host, self.kit.port, ssl=ctx, server_hostname=self.kit.server_identity,
                        ssl_handshake_timeout=max(remaining, 0.1), limit=1 << 22,
                    ),
                    remaining,
                )
            except ssl.SSLError as exc:
                raise tls_refusal(exc) from None
            except (OSError, TimeoutError):
                await asyncio.sleep(min(delay, max(deadline - loop.time(), 0)))
                delay = min(delay * 2, 1.0)
                continue
            return await self._login(reader, writer)

    async def _login(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> LoginInfo:
        self.attach(reader, writer)
        try:
            data = await self._roundtrip("login", {"username": self.username, "client": "flare-console"},
                                         timeout=self.connect_timeout)
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
        self._notify_state(True)
        return self.login_info
