"""FLARE's failures as ours: the same exception classes (``console.api.errors``), in our words.

Owns two steps. ``translate`` turns an exception FLARE's ``flare_api`` raised into ours, name for
name, its text as FLARE wrote it (the worker threads call it: ``nvflare_worker``). ``reworded`` then
gives a failed command's error the words the console shows: what failed, and what to do. FLARE's
own texts are terse and name neither ("cannot connect to server: ERROR_SERVER_CONNECTION", "one or
more clients are still running"); what FLARE said stays in the message, after ours, where it adds
something. The class never changes: batch mode's exit codes, the monitor's and the poll's handling
go by class.

Must not: import nvflare at import time (``translate`` imports FLARE's exception module when it first
runs), or decide anything about the connection (``nvflare.py`` marks the link down and reconnects).
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

from console.api import errors
from console.wire.kit import KitError

#: Commands that change a job: after a lost answer, whether they were done is not known.
_CHANGES = ("submit_job", "clone_job", "abort_job", "delete_job", "shutdown", "restart", "remove_client",
            "disable_client", "enable_client")

#: FLARE 2.9's texts that say nothing beyond the class (flare_api.py ``_do_command``).
_BARE = re.compile(r"(one or more clients are still running|no clients available|no_clients|"
                   r"the session is closed on server|session closed|cannot connect to server(\.|: ERROR_SERVER_CONNECTION)?)", re.I)


def translate(exc: BaseException) -> BaseException:
    """FLARE's exception as ours (``console.api.errors``), same class name and message."""
    from nvflare.fuel.flare_api import api_spec as flare_errors

    if isinstance(exc, flare_errors.NoConnection | ConnectionError):
        return errors.NoConnection(str(exc) or "cannot connect to the FLARE server")
    ours = getattr(errors, type(exc).__name__, None)
    if isinstance(ours, type) and issubclass(ours, Exception) and type(exc).__module__.startswith("nvflare"):
        return ours(str(exc))
    if type(exc).__name__ == "FLCommunicationError":
        return errors.NoConnection(str(exc))
    if type(exc).__name__ == "ConfigError":
        return KitError(f"FLARE cannot read this admin kit: {exc}")
    if isinstance(exc, ValueError | SyntaxError | TypeError | AssertionError):
        return errors.InvalidArgumentError(str(exc))
    if type(exc) is RuntimeError:  # FLARE 2.9: "runtime error encountered: STATUS: details" (an unknown status)
        return errors.InternalError(str(exc))
    return exc


def server_address(kit_root: Path) -> str:
    """The FLARE server's address as the admin kit names it (fed_admin.json's host:port), for messages."""
    with contextlib.suppress(OSError, ValueError, AttributeError, KeyError, TypeError):
        admin = json.loads((kit_root / "startup" / "fed_admin.json").read_text()).get("admin", {})
        return f"{admin['host']}:{admin['port']}"
    return "the address in its kit"


def _flare_said(exc: BaseException) -> str:
    text = str(exc).strip()
    return "" if not text or _BARE.fullmatch(text) else f" (FLARE: {text})"


def reworded(exc: BaseException, command: str, where: str) -> BaseException:
    """``exc`` (ours, from ``translate``) of the call for ``command`` as the console says it: the same
    class with a message saying what failed and what to do; ``where`` is the server's address. Errors
    already in our words (the console's own, a refused login's) and those FLARE words fully (a job
    that does not exist, an argument it refused) come back as they are."""
    said = _flare_said(exc)
    if isinstance(exc, errors.NoConnection):
        unknown = (f"; whether {command} was done is not known until it answers (list_jobs and check_status show it)"
                   if command in _CHANGES else "")
        return errors.NoConnection(
            f"{command} got no answer: the connection to the FLARE server at {where} is lost{said}; is the server "
            f"still running? The console connects again once it answers{unknown}")
    if isinstance(exc, errors.SessionClosed):
        return errors.NoConnection(
            f"{command} was not done: the FLARE server at {where} ended this console's session{said}; "
            "the next command logs in again")
    if isinstance(exc, errors.JobNotDone) and command == "delete_job":
        return errors.JobNotDone(f"{exc}; abort it before deleting it (abort_job), or wait until it ends")
    words = next((w for kind, w in _OUR_WORDS.items() if isinstance(exc, kind)), None)
    if words is None:
        return exc
    return type(exc)(words.format(command=command, where=where, said=said))


#: The words for each kind FLARE refuses with: ``{command}``, ``{where}`` (the server's address) and
#: ``{said}`` (FLARE's own text where it says more) filled in. Most specific kinds first.
_OUR_WORDS: dict[type[Exception], str] = {
    errors.ClientsStillRunning: (
        "{command} server was refused: sites are still running under the FLARE server; shut them down first "
        "(shutdown client), or the server and every site at once (shutdown all)"),
    errors.NoClientsAvailable: (
        "{command}: no site is connected to the FLARE server{said}; check_status server lists the connected "
        "sites (a site that just started needs a few seconds)"),
    errors.NoReply: (
        "{command}: the FLARE server got no reply from the sites in time{said}; try again, and check_status "
        "client shows which sites answer"),
    errors.InvalidTarget: (
        "{command}: FLARE refused the target{said}; the server or a connected site (check_status server lists "
        "them)"),
    errors.AuthorizationError: (
        "{command} was refused: this admin's role on the FLARE server does not allow it{said}; ask a project "
        "admin"),
    errors.AuthenticationError: (
        "{command} was refused: the FLARE server at {where} no longer accepts this console's login{said}; is the "
        "kit's certificate still valid? Leave (bye) and start the console again"),
    errors.InternalError: "the FLARE server could not run {command}{said}; its log may say why: tail server log.txt",
}
