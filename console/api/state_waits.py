"""``shutdown``/``restart`` with ``wait=True``: wait, as FLARE 2.9 does, until the targets changed state.

Shut-down sites have left the connected list; a shut-down server no longer answers; a restarted
server reports a new start time; restarted sites report a new connect time. Each wait polls
``get_system_info`` every half second and raises the built-in ``TimeoutError`` (FLARE's choice)
naming what is still pending. It only reads state through the session; it sends no commands.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from console.api.client import AsyncClient
from console.api.errors import NoConnection
from console.api.spec import SystemInfo

POLL_SECONDS = 0.5
CONNECT_SECONDS = 1.0


class InfoSession(Protocol):
    """What a wait reads: the session's system info, and its client (whose connect timeout a poll
    shortens). ``console.api.async_session.AsyncSession`` is one."""

    @property
    def client(self) -> AsyncClient: ...

    async def get_system_info(self) -> SystemInfo: ...


def checked_timeout(timeout: Any) -> float:
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        value = 0.0
    if value <= 0:
        raise ValueError("timeout must be a positive number when wait=True; use wait=False for no wait")
    return value


async def _until(session: InfoSession, check, timeout: float, what: str) -> None:
    """Poll ``check`` (an async callable: None when done, else what is still pending)."""
    deadline = time.monotonic() + timeout
    pending = what
    # A poll must find a stopped server quickly, not retry connecting for the session's full timeout.
    client = session.client
    saved, client.connect_timeout = client.connect_timeout, CONNECT_SECONDS
    try:
        while time.monotonic() < deadline:
            pending = await check()
            if pending is None:
                return
            await asyncio.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))
    finally:
        client.connect_timeout = saved
    raise TimeoutError(f"{what} within {timeout:g} s; still: {pending}")


async def snapshot(session: InfoSession) -> tuple[float | None, dict[str, float]]:
    """The server's start time and each connected site's connect time, before a restart."""
    info = await session.get_system_info()
    return info.server_info.start_time, {c.name: c.last_connect_time for c in info.client_info}


async def sites_gone(session: InfoSession, names: list[str] | None, timeout: float) -> None:
    async def check() -> str | None:
        connected = {c.name for c in (await session.get_system_info()).client_info}
        left = connected & set(names) if names else connected
        return f"connected: {', '.join(sorted(left))}" if left else None

    await _until(session, check, timeout, "the sites did not stop")


async def server_down(session: InfoSession, timeout: float) -> None:
    async def check() -> str | None:
        try:
            await session.get_system_info()
        except NoConnection:
            return None
        return "the server answers"

    await _until(session, check, timeout, "the server did not stop")


async def restarted(session: InfoSession, server_start: float | None, sites: dict[str, float],
                    timeout: float) -> None:
    """Until the server (if ``server_start``) and every site in ``sites`` came back anew."""
    async def check() -> str | None:
        try:
            info = await session.get_system_info()
        except NoConnection:
            return "the server is not back yet"
        if server_start is not None and info.server_info.start_time == server_start:
            return "the server has not restarted yet"
        now = {c.name: c.last_connect_time for c in info.client_info}
        waiting = sorted(name for name, before in sites.items() if now.get(name, before) <= before)
        return f"not reconnected: {', '.join(waiting)}" if waiting else None

    await _until(session, check, timeout, "the restart did not complete")
