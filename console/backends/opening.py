"""Open the backend a kit calls for, logged in: ours for our kits, FLARE's for FLARE's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from console.backends.base import Backend
from console.backends.kits import KitInfo, admin_kit
from console.commands import Engine
from console.invocation import install_extra_command


class MissingExtra(RuntimeError):
    """The kit needs an optional extra that is not installed; the message says what to install."""


def nvflare_installed() -> bool:
    return importlib.util.find_spec("nvflare") is not None


async def open_backend(location: str | Path, user: str | None = None, timeout: float = 10.0) -> Backend:
    """Detect the admin kit at ``location`` and log in as ``user`` (default: the kit's user).

    Raises ``KitError`` (not an admin kit, malformed), ``MissingExtra`` (a FLARE kit without
    nvflare installed), ``NoConnection`` or ``AuthenticationError`` (login failed).
    """
    info = admin_kit(location)
    if info.engine is Engine.NVFLARE:
        return await _open_nvflare(info, user or info.name, timeout)
    from console.api.async_session import AsyncSession
    from console.backends.ours import OursBackend

    session = AsyncSession(user or info.name, str(info.root), timeout=timeout)
    await session.connect()
    return OursBackend(session)


async def _open_nvflare(info: KitInfo, user: str, timeout: float) -> Backend:
    if not nvflare_installed():
        raise MissingExtra(
            f"{info.root} is an NVIDIA FLARE admin kit ({info.name}); the console drives FLARE through "
            f"FLARE's own library, which is not installed here: {install_extra_command()}"
        )
    from console.backends.nvflare import FlareBackend

    backend = FlareBackend(info, user, timeout=timeout)
    await backend.connect()
    return backend
