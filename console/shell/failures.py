"""What a failed command says to people, and what one that Ctrl-C came too late to stop says.

``explain``: one line naming what went wrong and, where we know, what to do (a server's text in it
cannot start a line that looks like the shell's). ``went_on``: the outcome of a command that went on
after Ctrl-C (``CancelTooLate``): its result, or where to see whether it was done. ``not_run``: what a
Ctrl-C left unrun, in one wording for a line's ``a; b``, a paste's lines and a batch. Used by the
interactive shell, the batch runner and the client-side commands (``console.shell.execute``); must
not run or retry anything.
"""

from __future__ import annotations

from console.api.errors import CancelTooLate, InvalidArgumentError, JobNotRunning, NoConnection
from console.commands import Engine
from console.local_paths import is_local_path_error, path_problem
from console.shell.client_side import CommandFailed
from console.shell.human import in_words, one_line
from console.shell.parse import ParsedCommand
from console.shell.safe_text import visible_line
from console.worded import for_people


def explain(exc: BaseException, parsed: ParsedCommand | None = None, engine: Engine | None = None) -> str:
    """A failed command's message for people: what went wrong and, where we know, what to do (on the
    connected ``engine``, where it differs). One line (``visible_line``): a server's text in it cannot
    start a line that looks like the shell's."""
    return visible_line(_explained(exc, parsed, engine))


def _explained(exc: BaseException, parsed: ParsedCommand | None, engine: Engine | None) -> str:
    if isinstance(exc, CommandFailed):
        return str(exc)
    if isinstance(exc, JobNotRunning) and parsed is not None and engine is not None:
        job = str(parsed.values.get("job_id", ""))
        kept = parsed.spec.not_running_on(engine, job)
        if kept:  # (show_errors, show_stats: where the registry says an ended job keeps them on this engine)
            return (f"job {job} is not running, so there are no live {parsed.spec.name.removeprefix('show_')} to "
                    f"show; once a job has ended, {kept}")
    if isinstance(exc, CancelTooLate):
        result = for_people(exc.result)  # FLARE's nothing, said as the table says it
        return went_on(exc, "", None if result is None else in_words(exc.command, result) or one_line(result))
    if isinstance(exc, NoConnection) and "the console keeps reconnecting" in str(exc):
        return str(exc)
    if is_local_path_error(exc):  # one of the user's own files or folders: named, never Python's [Errno]
        assert isinstance(exc, OSError)
        what, todo = _LOCAL_PATHS.get(parsed.spec.name if parsed is not None else "", ("", ""))
        return path_problem(exc, what, todo)
    # A bad argument is InvalidArgumentError to the console's user, whichever builtin FLARE's API raises
    # for it (InvalidValue, InvalidSyntax...: ``console.wire.exceptions``).
    kind = "InvalidArgumentError" if isinstance(exc, InvalidArgumentError) else type(exc).__name__
    return f"{kind}: {exc}" if str(exc) else kind


#: What a command's local path is for, and what to do when it cannot be used (``local_paths.path_problem``).
_LOCAL_PATHS = {
    "download_job": ("the download folder", "give a folder you can write to (it is made when missing), or none "
                     "for the kit's download folder"),
    "download_job_components": ("the download folder", "the kit's download folder must be a folder you can write to"),
    "submit_job": ("the job folder", "give a job folder you can read (one holding meta.json)"),
}


#: Where to see whether a command whose answer never came was done (its request had left: it may or may not
#: have been); the fallback says only that it is not known.
_SEE_WHETHER = {
    "submit_job": "list_jobs shows whether the job was submitted",
    "clone_job": "list_jobs shows whether the clone was made",
    "abort_job": "list_jobs shows whether the job was aborted",
    "delete_job": "list_jobs shows whether the job was deleted",
    "download_job": "the download may be incomplete: run download_job again",
}


def went_on(late: CancelTooLate, done: str, result: str | None) -> str:
    """The outcome of a command Ctrl-C came too late to stop (the shell said why at once): that it
    went on, and its result (``done`` then ``result``, as "submitted as JOB_ID") or, when its answer
    never came, that it was sent, and where to see whether it was done (never that it was)."""
    if result:
        return f"{late.command} went on after Ctrl-C: {done + ' ' if done else ''}{result}"
    see = _SEE_WHETHER.get(late.command, "whether it was done is not known")
    return f"{late.command} was sent before Ctrl-C but its answer did not come back: {see}"


#: Commands ``not_run`` names before it counts the rest.
NAMED_NOT_RUN = 3


def not_run(commands: list[str]) -> str | None:
    """What a Ctrl-C left unrun, said the same way by the shell (the rest of ``a; b``, the lines of a
    paste or typed ahead) and a batch (the rest of its line and the lines after it): the first
    commands by name, then a count, as ``not run after Ctrl-C: list_jobs; help bye; pwd server and
    2 more commands``. None when nothing was left (comments and blank lines are not commands)."""
    if not commands:
        return None
    named = "; ".join(visible_line(c) for c in commands[:NAMED_NOT_RUN])
    more = len(commands) - NAMED_NOT_RUN
    counted = f" and {more} more command{'s' if more != 1 else ''}" if more > 0 else ""
    return f"not run after Ctrl-C: {named}{counted}"
