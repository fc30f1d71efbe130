"""Typed description of a command: parameters, right, transfer and where it runs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from console.names import is_plain_name, is_server_job_id


class Right(StrEnum):
    """FLARE's rights (SPEC section 3)."""

    SUBMIT_JOB = "submit_job"
    CLONE_JOB = "clone_job"
    MANAGE_JOB = "manage_job"
    DOWNLOAD_JOB = "download_job"
    VIEW = "view"
    OPERATE = "operate"
    SHELL_COMMANDS = "shell_commands"
    BYOC = "byoc"


#: Rights that only commands changing a job need (FLARE 2.9's submit/clone/manage categories).
_JOB_CHANGING_RIGHTS = frozenset({Right.SUBMIT_JOB, Right.CLONE_JOB, Right.MANAGE_JOB})


class ParamKind(StrEnum):
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STR = "str"
    JOB_ID = "job_id"
    SERVER_JOB_ID = "server_job_id"  # a full job ID of the server's form (a lower-case UUID): server to site
    PLAIN_NAME = "plain_name"  # one plain folder name (an app's): server to site
    JOB_PREFIX = "job_prefix"  # a job-ID prefix used as a filter (list_jobs), never resolved to one job
    JOB_NAME = "job_name"  # a job name or its prefix, as a filter
    CHOICE = "choice"
    LOCAL_PATH = "local_path"
    #: A path in the target's folder (ls, cat, head, tail, grep): completion lists that folder, asking the
    #: target itself with the command's own ``ls`` (so as confined and authorized as the command is).
    REMOTE_PATH = "remote_path"
    SITE = "site"  # a connected site's name
    TARGET = "target"  # "server" or a site name
    OPTIONS = "options"  # dash-options passed through as one string (ls -la, tail -n 20)
    COMMAND = "command"  # a command name (help)
    THEME = "theme"  # a shell theme name
    MONITOR = "monitor"  # a monitored job ID, or "all"
    COMMAND_LINE = "command_line"  # the rest of the line is another command with its arguments (watch)
    SETTING_VALUE = "setting_value"  # a value of the shell setting named before it (SETTINGS)


class JobStates(StrEnum):
    """Which jobs, by status, a job-ID argument takes: the others are refused by the command on both engines, so
    completion offers only these. Statuses as FLARE's (SPEC section 4); a job whose status is not known yet
    (``""``) is taken by every set."""

    ANY = "any"  # get_job_meta, clone_job, download_job, monitor_job, follow, plot, get_job_logs
    #: abort_job: queued or running. A FINISHED:* status is final (no later write changes it), so a job
    #: listed ended never becomes one it takes: leaving it out never hides one that could be aborted.
    NOT_ENDED = "not_ended"
    #: delete_job: refused while DISPATCHED or RUNNING (FLARE 2.9's job_cmds "is running, could not be
    #: deleted at this time", ours the same).
    NOT_RUNNING = "not_running"
    #: show_stats, show_errors, reset_errors, app_command, configure_job_log: a running job's live parts (its
    #: server app, its sites); a queued or ended job has none ("job ... is not running", both engines).
    RUNNING = "running"

    def takes(self, status: str) -> bool:
        """Whether the command acts on a job whose status is ``status``."""
        if not status or self is JobStates.ANY:
            return True
        if self is JobStates.NOT_ENDED:
            return not status.startswith("FINISHED:")
        running = status in ("DISPATCHED", "RUNNING")
        return not running if self is JobStates.NOT_RUNNING else running

    @property
    def among_active(self) -> bool:
        """Every job it takes is one not ended (few: completion finds them without a scan of every job)."""
        return self in (JobStates.NOT_ENDED, JobStates.RUNNING)


class Offer(StrEnum):
    """Which values completion offers first, of those the argument takes (``JobStates``): the likelier ones
    (a job not ended for monitor_job; a site away for enable_client: the completion data cannot tell a
    disabled site from one that is only away, so none is left out)."""

    ANY = "any"
    JOBS_NOT_ENDED = "jobs_not_ended"  # monitor_job, follow, plot: a job still going is the likelier one
    SITES_AWAY = "sites_away"  # enable_client: a disabled site is turned away, so never connected
    SITES_CONNECTED = "sites_connected"  # disable_client: the connected ones

    def first(self, status: str = "", connected: bool = False) -> bool:
        """Whether a job (by its ``status``) or a site (``connected``) is one to offer first."""
        if self is Offer.JOBS_NOT_ENDED:
            return not status.startswith("FINISHED:")
        if self is Offer.SITES_AWAY:
            return not connected
        if self is Offer.SITES_CONNECTED:
            return connected
        return True


class Transfer(StrEnum):
    NONE = "none"
    UPLOAD = "upload"
    DOWNLOAD = "download"


class Output(StrEnum):
    """Where a command's output goes, and so whether the shell's ``| PIPELINE`` and ``> FILE`` can take it."""

    ANSWER = "answer"  # one answer, printed once: it can go to a pipeline or a file
    SNAPSHOT = "snapshot"  # a live view on the screen; to a file or a pipeline, drawn once (top, plot)
    SCREEN = "screen"  # only redrawn on the screen until left (watch)
    BACKGROUND = "background"  # lines printed above the prompt as they come, after the command returned


class Where(StrEnum):
    SERVER = "server"  # a request the server answers
    CLIENT = "client"  # runs in the client on top of server requests (e.g. monitor_job)
    SHELL = "shell"  # the interactive shell's own commands (help, bye, theme, ...)


class Engine(StrEnum):
    """The engines a console can drive (SPEC section 11): a command lists those it works on."""

    OURS = "ours"  # our embedded server
    NVFLARE = "nvflare"  # NVIDIA FLARE 2.9, through its own flare_api Session

    @property
    def title(self) -> str:
        return "NVIDIA FLARE" if self is Engine.NVFLARE else "the flare-console server"


#: Default of ``CommandSpec.engines``: a command that works the same on both.
BOTH_ENGINES = frozenset(Engine)


class ArgError(ValueError):
    """Arguments do not fit the command; the message names the argument and the usage."""


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: ParamKind
    help: str
    flag: str | None = None  # e.g. "-m"; None means positional
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    wire: bool = True  # False: only the client uses it (a local destination, a poll interval)
    minimum: float | None = None
    many: bool = False  # takes every remaining word (a list of sites)
    typed: bool = True  # False: the client fills it in (a signature); never part of the grammar
    offer: Offer = Offer.ANY  # completion: the values to offer first
    jobs: JobStates = JobStates.ANY  # a job ID's: the jobs, by status, the command takes (completion offers only those)
    #: What the command does without it, where ``default`` (None) cannot say: "every job", "the whole log".
    unset: str = ""

    @property
    def default_text(self) -> str | None:
        """What the command takes when this argument is not given, as ``help COMMAND`` says it
        ("(default: ...)"): ``unset``, else ``default`` ("2" for 2.0); None for a required argument, a flag
        (off unless given) and one the client fills in."""
        if self.required or self.kind is ParamKind.BOOL or not self.typed:
            return None
        if self.unset:
            return self.unset
        if self.default is None:
            return None
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)

    @property
    def default_unsaid(self) -> bool:
        """Optional and typed by people, yet no default to say (``default_text``): not allowed in the
        command registry (``check_defaults``)."""
        return self.typed and not self.required and self.kind is not ParamKind.BOOL and self.default_text is None

    def coerce(self, value: Any, command: str) -> Any:
        """Check a value that arrived over the wire (JSON types) against this parameter."""
        where = f"{command}: argument '{self.name}'"
        if value is None:
            if self.required:
                raise ArgError(f"{where} is required")
            return self.default
        if self.many:
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ArgError(f"{where} must be a list of names, not {value!r}")
            return value
        kind = self.kind
        if kind is ParamKind.BOOL:
            if not isinstance(value, bool):
                raise ArgError(f"{where} must be true or false, not {value!r}")
            return value
        if kind in (ParamKind.INT, ParamKind.FLOAT):
            numeric_ok = isinstance(value, int) if kind is ParamKind.INT else isinstance(value, int | float)
            if isinstance(value, bool) or not numeric_ok:
                raise ArgError(f"{where} must be a number ({kind.value}), not {value!r}")
            if self.minimum is not None and value < self.minimum:
                raise ArgError(f"{where} must be at least {self.minimum:g}, not {value}")
            return value
        if not isinstance(value, str):
            raise ArgError(f"{where} must be a string, not {value!r}")
        if kind is ParamKind.CHOICE and value not in self.choices:
            raise ArgError(f"{where} must be one of {', '.join(self.choices)}, not {value!r}")
        if kind is ParamKind.JOB_ID and not value.strip():
            raise ArgError(f"{where} must be a job ID or a unique prefix of one")
        # Such a value names a folder on the participant (its kit's startup/ and local/ are folders too).
        if kind is ParamKind.SERVER_JOB_ID and not is_server_job_id(value):
            raise ArgError(f"{where} must be a job ID as the server makes them (a lower-case UUID), "
                           f"not {value[:80]!r}")
        if kind is ParamKind.PLAIN_NAME and not is_plain_name(value):
            raise ArgError(f"{where} must be a plain folder name (letters, digits, '.', '_', '-'), not {value[:80]!r}")
        return value

    def usage(self) -> str:
        shown = self.name.upper()
        if self.kind is ParamKind.CHOICE and len(self.choices) <= 4:  # more: named, its help lists them (fits 40 cols)
            shown = "|".join(self.choices)
        if self.flag:
            shown = self.flag if self.kind is ParamKind.BOOL else f"{self.flag} {shown}"
        if self.many:
            shown = f"{shown} ..."
        return shown if self.required else f"[{shown}]"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    summary: str
    right: Right | None
    params: tuple[Param, ...] = ()
    destructive: bool = False
    #: It changes something though not destructive (enable_client); destructive commands and those
    #: needing a job-changing right count as changing without it (``changes_state``).
    changes: bool = False
    transfer: Transfer = Transfer.NONE
    where: Where = Where.SERVER
    help: str = ""
    aliases: tuple[str, ...] = ()
    #: Engines that offer this command; help and completion show it only when connected to one of them.
    engines: frozenset[Engine] = BOTH_ENGINES
    #: Its answer may be megabytes (a job's log, a file): our server bounds how many are built at
    #: once per identity and in total (``console/wire/budget.py``).
    large_reply: bool = False
    #: A live view the user leaves when done (``top``, ``plot``): how long it stayed open is no
    #: command's time, so ``timing`` shows none for it (nor for the shell's own commands).
    live_view: bool = False
    #: What its output is (``Output``): only an answer can go to ``| PIPELINE`` or ``> FILE``.
    output: Output = Output.ANSWER
    #: The summary on an engine where it reads otherwise (report_version: FLARE's version on FLARE).
    engine_summaries: tuple[tuple[Engine, str], ...] = ()
    #: A command on a running job only (show_errors): where, on each engine, a job that is not running keeps
    #: what it shows, as "what: command" with ``{job}`` for the job's ID; said when it refuses such a job.
    not_running: tuple[tuple[Engine, str], ...] = ()

    @property
    def changes_state(self) -> bool:
        """It changes a job, a site or the federation (submit, clone, abort, delete, shutdown, site
        admin), not only reads: the server's audit trail writes each one done in full, whatever the
        identity's allowance for reading (``console.server.audit``)."""
        return self.destructive or self.changes or self.right in _JOB_CHANGING_RIGHTS

    @property
    def timed(self) -> bool:
        """``timing`` shows how long this command's requests took."""
        return self.where is not Where.SHELL and not self.live_view

    def supports(self, engine: Engine) -> bool:
        return engine in self.engines

    def summary_on(self, engine: Engine) -> str:
        """The one-line summary as help and completion show it on ``engine``."""
        return dict(self.engine_summaries).get(engine, self.summary)

    def not_running_on(self, engine: Engine, job: str) -> str | None:
        """Where ``job``, not running, keeps what this command shows on ``engine`` (``not_running``); None
        when the registry says nothing of it."""
        text = dict(self.not_running).get(engine)
        return text.replace("{job}", job) if text else None

    @property
    def typed_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.typed)

    def usage(self) -> str:
        words = [self.name, *(p.usage() for p in self.typed_params)]
        if self.destructive:
            words.append("[--yes]")
        return " ".join(words)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def validate_wire_args(self, args: Any) -> dict[str, Any]:
        """Coerce the ``args`` object of a request; unknown names are an error, not ignored."""
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ArgError(f"{self.name}: arguments must be an object; usage: {self.usage()}")
        wire_params = {p.name: p for p in self.params if p.wire}
        unknown = sorted(set(args) - set(wire_params))
        if unknown:
            raise ArgError(f"{self.name}: unknown argument(s) {', '.join(unknown)}; usage: {self.usage()}")
        return {name: p.coerce(args.get(name), self.name) for name, p in wire_params.items()}


def check_defaults(specs: Iterable[CommandSpec]) -> None:
    """Raise ValueError naming each optional argument of ``specs`` whose default help cannot say (no
    ``default``, no ``unset``): the twelfth user found --timeout, -m and -n without one. Run on the command
    registry as it is built, so a command added later cannot lack it."""
    missing = [f"{spec.name} {p.usage()}" for spec in specs for p in spec.typed_params if p.default_unsaid]
    if missing:
        raise ValueError(f"optional arguments without a stated default (give Param a default or an 'unset' "
                         f"text: what the command does without it): {', '.join(missing)}")
