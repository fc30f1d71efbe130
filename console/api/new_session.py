"""The ways FLARE 2.9's flare_api makes a logged-in Session, name for name: ``new_session``,
``new_secure_session``, ``new_insecure_session``; and its example monitor callback.

Each works with our admin kit and with NVIDIA FLARE's (``Session`` picks the engine's class).
"""

from __future__ import annotations

from typing import Any

from console.api.arguments import UnreadableKit
from console.api.session import Session
from console.api.spec import DEFAULT_STUDY


def new_session(
    username: str,
    startup_kit_location: str,
    secure_mode: bool = True,
    debug: bool = False,
    timeout: float = 10.0,
    study: str = DEFAULT_STUDY,
    command_timeout: float | None = None,
    auto_login_max_tries: int | None = None,
) -> Session:
    """A logged-in Session, as FLARE 2.9's ``new_session``: ``Session(...)`` then ``try_connect(timeout)``,
    closed again if that fails. Raises NoConnection, AuthenticationError, AssertionError (a bad argument),
    KitError; with FLARE's kit and no ``[nvflare]`` extra, MissingExtra saying what to install."""
    try:
        session = Session(username, startup_kit_location, secure_mode=secure_mode, debug=debug, study=study,
                          timeout=timeout)
    except UnreadableKit as exc:
        raise exc.named("startup_kit_location") from None
    try:
        session._prepare(command_timeout, auto_login_max_tries)
        session.try_connect(timeout)
    except BaseException:
        session.close()
        raise
    return session


def new_secure_session(
    username: str,
    startup_kit_location: str,
    debug: bool = False,
    timeout: float = 10.0,
    study: str = DEFAULT_STUDY,
    command_timeout: float | None = None,
    auto_login_max_tries: int | None = None,
) -> Session:
    """Log in with an admin startup kit (ours or NVIDIA FLARE's, told apart as ``--kit`` does:
    ``console.backends.kits``); raises NoConnection or AuthenticationError on failure (``new_session``)."""
    return new_session(username, startup_kit_location, True, debug, timeout, study=study,
                       command_timeout=command_timeout, auto_login_max_tries=auto_login_max_tries)


def new_insecure_session(startup_kit_location: str, debug: bool = False, timeout: float = 10.0,
                         study: str = DEFAULT_STUDY) -> Session:
    """FLARE 2.9's insecure session: the user is the kit certificate's (``secure_mode=False``)."""
    return new_session("", startup_kit_location, False, debug, timeout, study=study)


def basic_cb_with_print(session: Session, job_id: str, job_meta: dict[str, Any], *cb_args: Any,
                        **cb_kwargs: Any) -> bool:
    """FLARE's example callback: prints the meta the first times, then dots while running."""
    counter = cb_kwargs.setdefault("cb_run_counter", {"count": 0})
    if job_meta["status"] == "RUNNING":
        if counter["count"] < 3:
            print(job_meta)
        else:
            print(".", end="")
    else:
        print("\n" + str(job_meta))
    counter["count"] += 1
    return True


__all__ = ["basic_cb_with_print", "new_insecure_session", "new_secure_session", "new_session"]
