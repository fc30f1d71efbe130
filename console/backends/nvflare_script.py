"""FLARE API scripts on an NVIDIA FLARE deployment: ``console.flare_api.new_secure_session`` with FLARE's kit.

A script written for ``nvflare.fuel.flare_api`` runs against flare-console by changing its import;
given FLARE's admin kit instead of ours, the same import drives the FLARE deployment. The Session is
then FLARE's own (its library, its wire, its behaviour: the reference a FLARE script author has), with
three things of ours: the login (``nvflare_login``: the kit's user checked, ``timeout`` a bound on the
wall time), our exception classes (``console.api.errors``, so ``except NoConnection`` written against
``console.flare_api`` catches what FLARE raised), and ``monitor_job``'s callback getting this session.

Must not: reimplement anything FLARE's Session does, or import nvflare before a FLARE kit is seen
(``console.api.session`` imports this module only then).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.api.spec import MonitorReturnCode
from console.backends.nvflare_commands import submit_a_copy
from console.backends.nvflare_errors import translate
from console.backends.opening import MissingExtra, nvflare_installed
from console.invocation import install_extra_command

#: Marks an exception the script's own callback raised (passed through untranslated).
_SCRIPTS_OWN = "_flare_console_scripts_own"


class FlareScriptSession:
    """FLARE's ``Session``, method for method (``__getattr__``), raising our exception classes."""

    def __init__(self, flare_session: Any) -> None:
        self._flare = flare_session

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._flare, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            except Exception as exc:
                ours = exc if getattr(exc, _SCRIPTS_OWN, False) else translate(exc)
                if ours is exc:
                    raise
                raise ours from exc

        return call

    def __repr__(self) -> str:
        return f"<FLARE Session for {getattr(self._flare, 'username', '?')} via flare-console>"

    def _with_us(self, cb: Callable[..., bool] | None) -> Callable[..., bool] | None:
        """FLARE calls ``cb(its_session, ...)``: the script gets this session, the one it holds."""
        if cb is None:
            return None

        def with_us(_flare: Any, *args: Any, **kwargs: Any) -> bool:
            try:
                return cb(self, *args, **kwargs)
            except Exception as exc:  # the script's own: reaches it as raised, not as one of FLARE's
                setattr(exc, _SCRIPTS_OWN, True)
                raise

        return with_us

    def monitor_job_and_return_job_meta(self, job_id: str, timeout: float = 0.0, poll_interval: float = 2.0,
                                        cb: Callable[..., bool] | None = None, *cb_args: Any,
                                        **cb_kwargs: Any) -> tuple[MonitorReturnCode, dict[str, Any] | None]:
        run = self.__getattr__("monitor_job_and_return_job_meta")
        code, meta = run(job_id, timeout, poll_interval, self._with_us(cb), *cb_args, **cb_kwargs)
        return MonitorReturnCode(int(code)), meta

    def monitor_job(self, job_id: str, timeout: float = 0.0, poll_interval: float = 2.0,
                    cb: Callable[..., bool] | None = None, *cb_args: Any, **cb_kwargs: Any) -> MonitorReturnCode:
        run = self.__getattr__("monitor_job")
        return MonitorReturnCode(int(run(job_id, timeout, poll_interval, self._with_us(cb), *cb_args, **cb_kwargs)))

    def submit_job(self, job_definition_path: str, submit_token: str | None = None) -> str:
        """FLARE's submit_job on a copy of a job folder: FLARE signs the folder it submits in place
        (``.__nvfl_*`` files in every folder), and the user's folder, often under version control, stays
        as it was, as the console's submit_job keeps it. Anything else (a name in the kit's upload folder,
        a bad path) goes to FLARE as given."""
        run = self.__getattr__("submit_job")
        if isinstance(job_definition_path, str | os.PathLike) and os.path.isdir(job_definition_path):
            return str(submit_a_copy(_Submitting(run), {"folder": Path(job_definition_path).resolve(),
                                                        "token": submit_token}))
        return str(run(job_definition_path, submit_token))

    def close(self) -> None:
        self._flare.close()

    def __enter__(self) -> FlareScriptSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Submitting:
    """What ``submit_a_copy`` calls ``submit_job`` on: FLARE's, with our exception classes."""

    def __init__(self, submit: Callable[..., str]) -> None:
        self.submit_job = submit


def new_flare_session(username: str, kit_root: Path, timeout: float = 10.0, **options: Any) -> FlareScriptSession:
    """Log in to FLARE with its admin kit at ``kit_root``, as FLARE's ``new_secure_session`` does
    (``options``: its ``debug``, ``study``, ``command_timeout``, ``auto_login_max_tries``).

    Raises MissingExtra (nvflare not installed: what to install), AuthenticationError (``username`` is not
    the kit certificate's), NoConnection (no login within ``timeout`` s of wall time), KitError."""
    if not nvflare_installed():
        raise MissingExtra(f"{kit_root} is an NVIDIA FLARE admin kit; flare_api drives FLARE through FLARE's own "
                           f"library, which is not installed here: {install_extra_command()}")
    from console.backends.nvflare_login import login

    try:
        return FlareScriptSession(login(username, kit_root, timeout, **options))
    except Exception as exc:
        ours = translate(exc)
        if ours is exc:
            raise
        raise ours from exc
