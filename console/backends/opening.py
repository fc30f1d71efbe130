"""Open the backend a kit calls for, logged in: ours for our kits, FLARE's for FLARE's."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

from console.backends.base import Backend
from console.backends.kits import KitInfo, admin_kit
from console.commands import Engine
from console.invocation import install_extra_command
from console.wire.exceptions import NoConnection
from console.wire.heartbeat import EVERY_SECONDS, LOST_AFTER_SECONDS
from console.wire.refusal import refused_message, refuses
from console.within import within


class MissingExtra(RuntimeError):
    """The kit needs an optional extra that is not installed; the message says what to install."""


def nvflare_installed() -> bool:
    return importlib.util.find_spec("nvflare") is not None


#: Seconds a first connection may take before the console says it is connecting (psql says nothing, but it
#: fails at once on a refused port; a server that does not answer holds the terminal for the whole timeout).
SLOW_CONNECT = 0.5


async def open_backend(location: str | Path, user: str | None = None, timeout: float = 10.0,
                       on_slow: Callable[[str], None] | None = None, study: str | None = None,
                       heartbeat: bool = True) -> Backend:
    """Detect the admin kit at ``location`` and log in as ``user`` (default: the kit's user), in FLARE's
    ``study`` (default: FLARE's default study).

    A refused connection (nothing listens on the kit's port) fails at once, on both engines; a server that
    does not answer fails after ``timeout`` s. ``on_slow("HOST:PORT")`` is called once the login has
    taken ``SLOW_CONNECT`` s (the interactive console says "connecting to HOST:PORT..."). ``heartbeat``: on
    our engine, a server that answers nothing for seconds is taken as gone (``console.wire.heartbeat``).

    Raises ``KitError`` (not an admin kit, malformed), ``MissingExtra`` (a FLARE kit without
    nvflare installed), ``InvalidArgumentError`` (a study other than the default on our engine),
    ``NoConnection`` or ``AuthenticationError`` (login failed).
    """
    info = admin_kit(location)
    if info.engine is not Engine.NVFLARE and study and study != "default":
        from console.api.errors import InvalidArgumentError

        raise InvalidArgumentError(f"--study {study}: this console's own server keeps every job in FLARE's default "
                                   "study; --study is for NVIDIA FLARE's kits")
    address = kit_address(info.root)
    where = f"{address[0]}:{address[1]}" if address else "the address in its kit"
    slow = asyncio.get_running_loop().call_later(SLOW_CONNECT, on_slow, where) if on_slow else None
    try:
        if info.engine is Engine.NVFLARE:
            return await _open_nvflare(info, user or info.name, timeout, address, study)
        from console.api.async_session import AsyncSession
        from console.backends.ours import OursBackend

        session = AsyncSession(user or info.name, str(info.root), timeout=timeout)
        # A console notices a server that stopped answering in seconds, not at a command's deadline.
        session.client.heartbeat = (EVERY_SECONDS, LOST_AFTER_SECONDS) if heartbeat else None
        if not heartbeat:  # a batch: it ends with the command that failed, so no "the session goes on"
            session.client.after_no_answer = "; is it stopped or overloaded? see the server's log"
        await session.connect(refused_is_final=True)
        return OursBackend(session)
    finally:
        if slow is not None:
            slow.cancel()


def kit_address(root: Path) -> tuple[str, int] | None:
    """The server's admin address as an admin kit names it (``startup/fed_admin.json``'s admin host and port,
    in ours and FLARE's alike); None when the kit does not say (its own checks then say why)."""
    with contextlib.suppress(OSError, ValueError, AttributeError, KeyError, TypeError):
        admin = json.loads((root / "startup" / "fed_admin.json").read_text(encoding="utf-8"))["admin"]
        return str(admin["host"]), int(admin["port"])
    return None


async def _open_nvflare(info: KitInfo, user: str, timeout: float, address: tuple[str, int] | None,
                        study: str | None) -> Backend:
    if not nvflare_installed():
        raise MissingExtra(
            f"{info.root} is an NVIDIA FLARE admin kit ({info.name}); the console drives FLARE through "
            f"FLARE's own library, which is not installed here: {install_extra_command()}"
        )
    from console.backends.nvflare import FlareBackend

    backend = FlareBackend(info, user, timeout=timeout, study=study)
    login = asyncio.ensure_future(backend.connect())
    try:
        await within(asyncio.shield(login), SLOW_CONNECT)
    except TimeoutError:
        # FLARE's login retries a refused port for its whole timeout, in its own threads. One that has not
        # logged in by now is asked beside it whether anything listens (asked only then: a quick login puts no
        # extra connection on FLARE's server); a refusal ends the wait, the login's thread is left to end by
        # itself (console.quick_exit).
        if address is not None and await refuses(*address, timeout=min(timeout, 2.0)):
            login.cancel()
            raise NoConnection(refused_message(f"{address[0]}:{address[1]}")) from None
        await login
    return backend
