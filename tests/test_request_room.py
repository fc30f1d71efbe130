"""Security report 9, finding 6: a site's heartbeat has its own room on the connection its server
serves it on: with every in-flight place taken by slow requests, a heartbeat is still answered,
while any other request is refused for "too many requests in flight". A real ``ServedConnection``
and a real ``Requester`` on loopback (no TLS: what is tested is the counting, not the handshake)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from console.commands.site_link import SITE_COMMANDS
from console.wire.exceptions import InternalError
from console.wire.request_context import Peer, RequestContext, User
from console.wire.requesting import Requester
from console.wire.serving import ServedConnection


class _Site:
    """A host with the site's own rule: ``always_served`` heartbeat; ``end_job`` waits until released."""

    specs = SITE_COMMANDS
    max_in_flight = 2
    always_served = frozenset({"heartbeat"})

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.handlers = {"heartbeat": self._heartbeat, "end_job": self._slow}

    def login(self, connection: Peer, args: dict[str, Any]) -> dict[str, Any]:
        connection.user = User("server", "example", "server")
        return {}

    def authorize(self, connection: Peer, spec: Any) -> None:
        pass

    async def _heartbeat(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        return {}

    async def _slow(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        await self.release.wait()
        return {}


@pytest.mark.timeout(30)
def test_a_heartbeat_is_answered_with_every_in_flight_place_taken() -> None:
    async def scenario() -> None:
        site = _Site()
        served: list[asyncio.Task[None]] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            served.append(asyncio.current_task())  # type: ignore[arg-type]
            await ServedConnection(reader, writer, site).serve()

        listener = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        link = Requester(peer="site-1")
        try:
            link.attach(*await asyncio.open_connection("127.0.0.1", port))
            await link.request("login", {"username": "server"}, timeout=10)
            job = {"job_id": "00000000-0000-4000-8000-000000000001"}
            slow = [asyncio.ensure_future(link.request("end_job", job, timeout=20)) for _ in range(2)]
            await asyncio.sleep(0.2)  # both taken up by the site (a third is refused below)
            with pytest.raises(InternalError, match=r"too many requests in flight on this connection \(limit 2\)"):
                await link.request("end_job", job, timeout=10)
            for _ in range(3):
                assert await link.request("heartbeat", timeout=5) == {}
            site.release.set()
            assert await asyncio.gather(*slow) == [{}, {}]
        finally:
            await link.close()
            listener.close()
            for task in served:
                task.cancel()
            await asyncio.gather(*served, return_exceptions=True)

    asyncio.run(scenario())
