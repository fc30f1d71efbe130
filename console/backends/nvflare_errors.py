"""FLARE's failures as ours: the same exception classes (``console.api.errors``), in our words.

Owns two steps. ``translate`` turns an exception FLARE's ``flare_api`` raised into ours, name for
name, its text as FLARE's server wrote it, out of the flare_api's own wrapping where that wrapping
garbles it (``flare_text``; the worker threads call it: ``nvflare_worker``). ``reworded`` then
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
from collections.abc import Callable
from pathlib import Path

from console.api import errors
from console.backends.nvflare_orphans import NOT_RUNNING
from console.backends.nvflare_sites import IN_OUR_WORDS, in_our_words, no_answer
from console.commands.shell_options import FLARE_FILE_OPTIONS
from console.stop_refusals import jobs_still_running
from console.wire.kit import KitError

#: Commands that change a job: after a lost answer, whether they were done is not known.
_CHANGES = ("submit_job", "clone_job", "abort_job", "delete_job", "shutdown", "restart", "remove_client",
            "disable_client", "enable_client")

#: FLARE 2.9's texts that say nothing beyond the class (flare_api.py ``_do_command``).
#: FLARE 2.9's refusal of delete_job for a job still running: its job ID.
_STILL_RUNNING = re.compile(r"job (\S+) is still running")
_BARE = re.compile(r"(one or more clients are still running|no clients available|no_clients|"
                   r"the session is closed on server|session closed|cannot connect to server(\.|: ERROR_SERVER_CONNECTION)?|"
                   r"user not authorized for the action '[^']*')", re.I)

#: FLARE 2.9's flare_api wraps the server's words (a reply meta's ``info``) in its own sentence per
#: status (``_do_command``). Where the server's info is itself a sentence, the wrapping garbles it:
#: "job There are still jobs running. Please let them finish or abort_job before restart. is still
#: running" (restart's JOB_RUNNING), "user not authorized for the action 'ls server: user 'lead@x.com' is
#: not authorized for 'ls''" (every refusal the server words). Class name, then FLARE's template.
_WRAPPED: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("AuthorizationError", re.compile(r"user not authorized for the action '[^:']*: (?P<info>.+)'", re.S)),
    ("JobNotDone", re.compile(r"job (?P<info>.+) is still running", re.S)),
    ("JobNotRunning", re.compile(r"job (?P<info>.+) is not running", re.S)),
    ("InternalError", re.compile(r"server internal error: (?P<info>.+)", re.S)),  # "could not run X" says it
)

#: What a job ID in FLARE's wrapping looks like (its info is then an ID, and the wrapping reads well).
_JOB_ID_LIKE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]*")


def flare_text(exc: BaseException) -> str:
    """What FLARE's server said in ``exc``: its text, out of flare_api's wrapping where the wrapping holds
    a sentence of the server's rather than a job ID or a command; one sentence, never nested quotes."""
    text = str(exc).strip()
    for name, template in _WRAPPED:
        found = template.fullmatch(text) if type(exc).__name__ == name else None
        if found is None:
            continue
        info = found["info"].strip()
        if name in ("AuthorizationError", "InternalError") or not _JOB_ID_LIKE.fullmatch(info):
            return info
    return text


def translate(exc: BaseException) -> BaseException:
    """FLARE's exception as ours (``console.api.errors``), same class name and message."""
    from nvflare.fuel.flare_api import api_spec as flare_errors

    if isinstance(exc, flare_errors.NoConnection | ConnectionError):
        return errors.NoConnection(str(exc) or "cannot connect to the FLARE server")
    if type(exc).__name__ == "FLCommunicationError":  # a connection that failed: NoConnection, as ours raises
        return errors.NoConnection(str(exc))
    ours = getattr(errors, type(exc).__name__, None)
    if ours is errors.CommandError and type(exc).__module__.startswith("nvflare"):  # FLARE's code and hint kept
        return errors.CommandError(str(getattr(exc, "error_code", "")), flare_text(exc), str(getattr(exc, "hint", "")),
                                   int(getattr(exc, "exit_code", 1)))
    if isinstance(ours, type) and issubclass(ours, Exception) and type(exc).__module__.startswith("nvflare"):
        return ours(flare_text(exc))
    if type(exc).__name__ == "ConfigError":
        return KitError(f"FLARE cannot read this admin kit: {exc}")
    argument = errors.argument_error(exc)  # its builtin class kept: a FLARE script's ``except ValueError``
    if argument is not None:
        return argument
    if type(exc) is RuntimeError:  # FLARE 2.9: "runtime error encountered: STATUS: details" (an unknown status)
        return errors.InternalError(str(exc))
    return exc


def server_address(kit_root: Path) -> str:
    """The FLARE server's address as the admin kit names it (fed_admin.json's host:port), for messages."""
    found = server_host_port(kit_root)
    return f"{found[0]}:{found[1]}" if found else "the address in its kit"


def server_host_port(kit_root: Path) -> tuple[str, int] | None:
    """(host, port) of the FLARE server as the admin kit names it; None when the kit does not say."""
    with contextlib.suppress(OSError, ValueError, AttributeError, KeyError, TypeError):
        admin = json.loads((kit_root / "startup" / "fed_admin.json").read_text()).get("admin", {})
        return str(admin["host"]), int(admin["port"])
    return None


def _flare_said(exc: BaseException) -> str:
    text = flare_text(exc)
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
    if isinstance(exc, errors.JobNotDone) and command == "delete_job" and NOT_RUNNING not in str(exc):
        running = _STILL_RUNNING.match(str(exc))  # FLARE's "job ID is still running": the command named with it
        job = running.group(1) if running else "JOB"
        return errors.JobNotDone(f"{exc}; abort it before deleting it (abort_job {job}), or wait until it ends")
    if getattr(exc, IN_OUR_WORDS, False) or (
            isinstance(exc, errors.AuthorizationError) and str(exc).startswith(f"{command} was refused by the site")):
        return exc  # a site's refusal, a site that did not answer: in our words already (nvflare_sites)
    lacking = _UNRECOGNIZED.search(str(exc)) if command in FLARE_FILE_OPTIONS else None
    if isinstance(exc, errors.InternalError) and lacking is not None:
        return errors.InvalidArgumentError(
            f"{command}: FLARE's {command} has no option {lacking['options'].strip()}; it takes "
            f"{FLARE_FILE_OPTIONS[command]}")
    if isinstance(exc, errors.JobNotDone) and command in ("shutdown", "restart") and not str(exc).startswith(command):
        return errors.JobNotDone(jobs_still_running(command, [], flare_text(exc)))
    if isinstance(exc, errors.InternalError | errors.NoReply):
        answer = _flare_answer(flare_text(exc), command)
        if answer is not None:
            return answer
    words = next((w for kind, w in _OUR_WORDS.items() if isinstance(exc, kind)), None)
    if words is None:
        return exc
    return type(exc)(words.format(command=command, where=where, said=said))


_UNRECOGNIZED = re.compile(r"unrecognized arguments: (?P<options>[^)\n]+)")


#: Answers FLARE 2.9's admin commands give for a user's error or an absent peer, which its flare_api raises as an
#: internal error (a meta status it has no class for, or its INTERNAL_ERROR): FLARE's text (``flare_text``), the
#: commands it comes from (empty: any) and what it is. From the server's handlers (``private/fed/server``:
#: shell_cmd, job_cmds, info_coll_cmd, training_cmds) and ``fuel/hci/server``.
_FLARE_ANSWERS: tuple[tuple[re.Pattern[str], tuple[str, ...], Callable[[str, re.Match[str]], Exception]], ...] = (
    # shell_cmd (ls, cat, ... on a site) and every site request: the site gave its server no reply.
    (re.compile(r"client timeout|no reply from client - timed out"), (),
     lambda command, m: no_answer(command, [])),
    # configure_job_log and the like: one "SITE: no reply" line per silent site.
    (re.compile(r"(error: )?(?P<sites>(\S+: no reply\n?)+)"), (),
     lambda command, m: no_answer(command, re.findall(r"(\S+): no reply", m["sites"]))),
    # Its argument checks (SYNTAX_ERROR): "syntax error: Usage: ...", "syntax error: missing site names".
    (re.compile(r"syntax error: (?P<info>.+)", re.S), (),
     lambda command, m: errors.InvalidArgumentError(
         f"{command}: FLARE's server refused the command's arguments ({m['info'].strip()}); help {command} shows them")),
    # app_command (job_cmds.do_app_command): the job's app has no handler for the topic, or its handler failed.
    (re.compile(r"error: rc='(?P<rc>[^']*)' reason='no app command func for topic (?P<topic>.*)'", re.S),
     ("app_command",),
     lambda command, m: errors.InvalidArgumentError(
         f"app_command: the job's app has no command {m['topic']!r} ({m['rc']}); the topics an app takes are those "
         "its components register")),
    (re.compile(r"error: rc='(?P<rc>[^']*)' reason='(?P<reason>.*)'", re.S), ("app_command",),
     lambda command, m: errors.CommandError(
         f"app_command: the job's app could not run the command: {_rc_and_reason(m)}; get_job_logs JOB shows the "
         "app's log")),
    # abort_job (job_cmds.abort_job, its JobRunner.stop_run): a job that ended or is not started, said as an
    # internal error (an orphaned job is said apart before: nvflare_commands).
    (re.compile(r"Job (?P<job>\S+) is not running\.?"), ("abort_job",),
     lambda command, m: errors.JobNotRunning(
         f"abort_job: job {m['job']} is not running (it has ended, or FLARE's server has not started it); list_jobs "
         "shows its status")),
    # configure_job_log (job_cmds) on a job not running: said as an internal error; JobNotRunning, as FLARE's
    # show_stats and app_command raise for one.
    (re.compile(r"Job (?P<job>\S+) must be running but is (?P<status>\S+?)\.?"), (),
     lambda command, m: errors.JobNotRunning(
         f"{command}: job {m['job']} is not running (it is {m['status']}); {command} works on a running job only; "
         "list_jobs shows its status")),
    (re.compile(r"(command execution error: )?no result"), ("app_command",),
     lambda command, m: errors.NoReply(
         "app_command: the job's app gave no answer in time (its server part is busy, starting or ending); try "
         "again, or with a longer set_timeout")),
)


def _rc_and_reason(found: re.Match[str]) -> str:
    return found["rc"] if found["reason"] in ("None", "") else f"{found['rc']} ({found['reason']})"


def _flare_answer(text: str, command: str) -> Exception | None:
    for pattern, commands, make in _FLARE_ANSWERS:
        found = pattern.fullmatch(text.strip())
        if found is not None and (not commands or command in commands):
            return in_our_words(make(command, found))
    return None


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
        "{command}: the FLARE server got no reply from the sites in time{said}; a site that does not answer "
        "(frozen, or its connection lost) holds up a command to every site: ask each site on its own "
        "(check_status client SITE) to find it"),
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
