"""Every command, one entry each. Adding a command starts (and mostly ends) here."""

from __future__ import annotations

from dataclasses import replace

from console.commands.spec import (
    CommandSpec,
    Engine,
    JobStates,
    Offer,
    Output,
    Param,
    Right,
    Transfer,
    Where,
    check_defaults,
)
from console.commands.spec import ParamKind as K

_JOB_ID = Param("job_id", K.JOB_ID, "job ID or a unique prefix of one", required=True)
#: A job followed as it goes (a status watch, a live log, a chart): any job is taken (an ended one gives its
#: final status, its last lines, its chart), those not ended are offered first.
_LIVE_JOB_ID = replace(_JOB_ID, offer=Offer.JOBS_NOT_ENDED)
#: A running job's live parts (stats, errors, a log level, an app's command): a queued or ended job has none.
_RUNNING_JOB_ID = replace(_JOB_ID, jobs=JobStates.RUNNING)
_SITES = Param("targets", K.SITE, "site names", many=True, unset="every connected site")
_TARGET = Param("target", K.TARGET, "'server' or a site name", required=True)
_OPTIONS = Param("options", K.OPTIONS, "options, as for the shell command", unset="none")
_FILE = Param("file", K.REMOTE_PATH, "the file", required=True)
#: On a destructive command of our server's: only the checks it makes before acting, nothing done (the
#: console asks them before "are you sure?": a refusal known then is said before the question, as FLARE's
#: console does). The server lists ``refusal_check`` among its features (``console.wire.features``).
CHECK_ONLY = Param("check_only", K.BOOL, "only check whether the server would refuse (the console's question)",
                   default=False, typed=False)
#: Commands of FLARE's admin API that our server has no counterpart for.
_FLARE_ONLY = frozenset({Engine.NVFLARE})


#: FLARE 2.9's study commands (``register_study NAME --sites A,B --site-org ORG``, as its own console).
_STUDY = Param("study", K.STR, "the study's name", required=True)
_STUDY_SITES = Param("sites", K.STR, "site names, comma-separated", flag="--sites", unset="none")
_STUDY_ORGS = Param("site_orgs", K.STR, "ORG:SITE,SITE as FLARE's (a project admin's form); several groups "
                    "separated by blanks, quoted", flag="--site-org", unset="none")
_LOG_CONFIG = Param("config", K.STR, "a log level (DEBUG, INFO, ...) or FLARE's log mode (concise, full, verbose)",
                    required=True)


def _flare_only(name: str, summary: str, right: Right, *params: Param, destructive: bool = False) -> CommandSpec:
    return CommandSpec(name, summary, right, params, destructive=destructive, engines=_FLARE_ONLY)


#: The shell's settings for ``set SETTING VALUE``, with their values (none listed: a name, as a theme's).
#: One registry: ``set``'s grammar, completion and listing (``set`` alone) come from here, and ``set`` changes
#: every setting it lists; ``timing``, ``theme`` and ``expanded`` (psql's ``\timing``, ``\x``) change one each.
SETTINGS: dict[str, tuple[str, ...]] = {
    "format": ("table", "json", "raw"),  # how results are shown
    "expanded": ("auto", "on", "off"),  # records vertically: always, never, or when a table is too wide
    "editing": ("emacs", "vi"),  # the line editor's key bindings
    "timing": ("on", "off"),  # each command's time below its answer
    "theme": (),  # the colours: a theme's name (``theme`` lists them)
}


def _server_or_client(help_text: str) -> Param:
    return Param("target_type", K.CHOICE, help_text, required=True, choices=("server", "client"))


def _server_client_or_all(help_text: str) -> Param:
    return Param("target_type", K.CHOICE, help_text, required=True, choices=("server", "client", "all"))


def _shell(name: str, summary: str, *params: Param, large_reply: bool = True) -> CommandSpec:
    return CommandSpec(name, summary, Right.SHELL_COMMANDS, (_TARGET, *params), large_reply=large_reply)

CATALOG: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        CommandSpec("check_status", "status of the server, or of sites and their jobs", Right.VIEW,
                    (_server_client_or_all("server, client (sites) or all"), _SITES)),
        CommandSpec("sys_info", "machine and process facts of the server or of sites", Right.OPERATE,
                    (_server_or_client("server or client (sites)"), _SITES)),
        CommandSpec("show_stats", "a running job's progress on the server or its sites", Right.VIEW,
                    (_RUNNING_JOB_ID, _server_client_or_all("server, client (its sites) or all"), _SITES),
                    not_running=(
                        # ours keeps each round's metrics in the job's record (the store's round_metrics)
                        (Engine.OURS, "its per-round metrics: plot {job}, or get_job_meta {job} (round_metrics)"),
                        # FLARE 2.9 keeps no stats once its job's server app is gone: its log says the rounds
                        (Engine.NVFLARE, "its progress is in its log: get_job_logs {job}"))),
        CommandSpec("show_errors", "a running job's errors on the server or its sites", Right.VIEW,
                    (_RUNNING_JOB_ID, _server_client_or_all("server, client (its sites) or all"), _SITES),
                    not_running=(
                        # ours records every error of the job in its meta when it ends (job_errors)
                        (Engine.OURS, "its errors are in its record: get_job_meta {job} (job_errors)"),
                        # FLARE 2.9's meta has none: each participant's job workspace has error_log.txt (the
                        # provisioned log config's errorFileHandler); the sites keep theirs, the server moves its
                        # own into the job store (console.backends.nvflare_job_logs)
                        (Engine.NVFLARE, "its errors are in each participant's error log: get_job_logs {job} all "
                                         "-f error_log.txt (the server's: download_job {job})"))),
        # view, as FLARE 2.9 (security.py's COMMAND_CATEGORIES): it clears only what show_errors shows.
        CommandSpec("reset_errors", "start a running job's show_errors afresh (its record keeps them)", Right.VIEW,
                    (_RUNNING_JOB_ID,)),
        CommandSpec("get_job_logs", "a job's log from the server or a site", Right.VIEW, (
            _JOB_ID,
            Param("target", K.TARGET, "'server' or a site name", default="server"),
            Param("tail_lines", K.INT, "only the last N lines", flag="-n", minimum=0, unset="the whole log"),
            Param("grep_pattern", K.STR, "only lines containing this text", flag="-g", unset="every line"),
            Param("log_file_name", K.STR, "which log file", flag="-f", default="log.txt"),
        ), large_reply=True, aliases=("get_job_log",)),  # FLARE 2.9's console command name
        _shell("ls", "list files in the server's or a site's folder", _OPTIONS,
               Param("path", K.REMOTE_PATH, "a path inside the participant's folder", unset="that folder")),
        _shell("cat", "show a file", _OPTIONS, _FILE),
        _shell("head", "show the first lines of a file (10 unless -n N)", _OPTIONS, _FILE),
        _shell("tail", "show the last lines of a file (10 unless -n N)", _OPTIONS, _FILE),
        _shell("grep", "search a file", _OPTIONS,
               Param("pattern", K.STR, "GNU grep's basic regular expression (-E extended, -F text)", required=True),
               _FILE),
        _shell("pwd", "the server's or a site's working folder", large_reply=False),
        CommandSpec("shutdown", "stop the server, sites, or everything (refused while jobs run)", Right.OPERATE,
                    (_server_client_or_all("what to stop"), _SITES, CHECK_ONLY), destructive=True),
        CommandSpec("restart", "restart the server, sites, or everything (refused while jobs run)", Right.OPERATE,
                    (_server_client_or_all("what to restart"), _SITES, CHECK_ONLY), destructive=True),
        CommandSpec("report_version", "flare-console version of the server and sites", Right.VIEW,
                    (_server_client_or_all("server, client (sites) or all"), _SITES),
                    engine_summaries=((Engine.NVFLARE, "NVIDIA FLARE version of the server and sites"),)),
        CommandSpec("report_resources", "resources (CPUs, memory) of the server and sites", Right.OPERATE,
                    (_server_client_or_all("server, client (sites) or all"), _SITES)),
        CommandSpec("report_env", "sites' name, workspace and server address (FLARE's get_client_env)",
                    Right.OPERATE, (_SITES,)),
        CommandSpec("disable_client", "refuse a site: drop its connection and turn it away until enabled",
                    Right.OPERATE, (Param("site", K.SITE, "the site's name", required=True,
                                          offer=Offer.SITES_CONNECTED), CHECK_ONLY), destructive=True),
        CommandSpec("enable_client", "let a disabled site connect again",
                    Right.OPERATE, (Param("site", K.SITE, "the site's name", required=True, offer=Offer.SITES_AWAY),),
                    changes=True),
        CommandSpec("remove_client", "drop a site's connection (it registers again when it reconnects)",
                    Right.OPERATE, (Param("site", K.SITE, "the site", required=True), CHECK_ONLY), destructive=True),
        CommandSpec(
            "list_jobs",
            "list jobs, oldest first (-m N: the N most recent)",
            Right.VIEW,
            (
                Param("detailed", K.BOOL, "full meta of each job", flag="-d", default=False),
                Param("mine", K.BOOL, "only jobs I submitted", flag="-u", default=False),
                Param("reverse", K.BOOL, "newest first", flag="-r", default=False),
                Param("name_prefix", K.JOB_NAME, "only jobs whose name starts with this", flag="-n",
                      unset="any name"),
                Param("limit", K.INT, "only the N most recent jobs", flag="-m", minimum=0, unset="every job"),
                Param("submit_token", K.STR, "only the job my submit with this token made", flag="--submit-token",
                      unset="any job"),
                Param("id_prefix", K.JOB_PREFIX, "only jobs whose ID starts with this", unset="any ID"),
            ),
        ),
        CommandSpec(
            "deleted_jobs",
            "deleted jobs on record: which job, whose, deleted when and by whom (newest first)",
            Right.VIEW,
            (Param("limit", K.INT, "at most N records", flag="-m", minimum=1, default=100),),
            engines=frozenset({Engine.OURS}),
            help="Our server keeps a record of each delete_job in its store (kept across restarts and log "
                 "rotation; the newest 1,000 deletes of one person's jobs by one person). Shows the records of "
                 "the jobs your view covers. get_job_meta of a deleted job ID says the same of that job.",
        ),
        CommandSpec("get_job_meta", "the full meta of a job", Right.VIEW, (_JOB_ID,)),
        CommandSpec(
            "submit_job",
            "upload a job folder and queue it",
            Right.SUBMIT_JOB,
            (Param("job_folder", K.LOCAL_PATH, "the job folder (meta.json + apps)", required=True),
             Param("signature", K.STR, "the archive signed with the admin's kit key", required=True, typed=False),
             Param("submit_token", K.STR, "retry-safe token: the same token and job give the same job ID",
                   flag="--submit-token", unset="none, each submit makes a new job")),
            transfer=Transfer.UPLOAD,
        ),
        CommandSpec("clone_job", "submit a copy of an existing job", Right.CLONE_JOB, (_JOB_ID,)),
        CommandSpec(
            "abort_job",
            "stop a job that is queued or running",
            Right.MANAGE_JOB,
            (replace(_JOB_ID, jobs=JobStates.NOT_ENDED),),
            destructive=True,
        ),
        CommandSpec(
            "delete_job",
            "delete a job that is not running, with its data",
            Right.MANAGE_JOB,
            (replace(_JOB_ID, jobs=JobStates.NOT_RUNNING),),
            destructive=True,
        ),
        CommandSpec(
            "download_job",
            "download a job's definition and workspaces",
            Right.DOWNLOAD_JOB,
            (_JOB_ID, Param("destination", K.LOCAL_PATH, "local folder", wire=False, unset="the kit's transfer/")),
            transfer=Transfer.DOWNLOAD,
        ),
        CommandSpec("list_job_components", "a job's additional components (e.g. ERRORLOG_site-1), FLARE's "
                    "list_job", Right.VIEW, (_JOB_ID,), engines=_FLARE_ONLY, aliases=("list_job",)),
        CommandSpec("download_job_components", "download a job's additional components into the kit's "
                    "transfer folder", Right.DOWNLOAD_JOB, (_JOB_ID,), transfer=Transfer.DOWNLOAD,
                    engines=_FLARE_ONLY),
        CommandSpec(
            "monitor_job",
            "follow a job's status until it ends",
            Right.VIEW,
            (
                _LIVE_JOB_ID,
                Param("timeout", K.FLOAT, "stop after this many seconds", flag="--timeout", default=0.0,
                      wire=False, minimum=0, unset="0, never"),
                Param("interval", K.FLOAT, "poll interval in seconds", flag="--interval", default=2.0, wire=False,
                      minimum=0.01),
            ),
            where=Where.CLIENT, output=Output.BACKGROUND,
            help="In the console it runs in the background, a line per status change. In a batch it blocks "
                 "until the job ends and fails (exit 1) unless the job ended FINISHED:COMPLETED or when "
                 "--timeout passed first (the status is said on stderr).",
        ),
        # Live views (console.shell.live): follow/unfollow are also requests our server answers with
        # pushed log lines; FLARE's backend polls FLARE's own commands for them.
        CommandSpec("follow", "stream a job's log lines above the prompt (background), like tail -f",
                    Right.VIEW, (
                        # (none: the one job not ended, as unfollow without one takes the one followed)
                        replace(_LIVE_JOB_ID, required=False, unset="the one job not ended"),
                        Param("target", K.TARGET, "'server', a site of the job, or 'all'",
                              default="server", choices=("all",)),
                        Param("lines", K.INT, "lines of the log so far to show first", flag="-n", default=10,
                              minimum=0),
                        Param("timeout", K.FLOAT, "stop after this many seconds", flag="--timeout",
                              default=0.0, wire=False, minimum=0, unset="0, never"),
                        # Filled in by the console when it follows again after a dropped connection.
                        Param("resume", K.STR, "TARGET=OFFSET per target: go on from that byte of its log",
                              many=True, typed=False),
                    ),
                    help="In a batch it blocks until the job ends and fails (exit 1) unless the job ended "
                         "FINISHED:COMPLETED or when --timeout passed first, as monitor_job. After a dropped "
                         "connection it goes on from where the delivered log ended.",
                    output=Output.BACKGROUND),
        CommandSpec("unfollow", "stop following a job's log", Right.VIEW,
                    (Param("job_id", K.MONITOR, "a followed job ID (prefix) or 'all'", unset="the one followed"),)),
        CommandSpec("top", "full-screen live view of the sites and jobs (q leaves)", Right.VIEW,
                    where=Where.CLIENT, live_view=True, output=Output.SNAPSHOT,
                    # (the states: console.shell.top.model; the keys: console.shell.top.view)
                    help="Sites (state, last heartbeat, jobs, CPU, memory) and jobs (status, round, sites, elapsed "
                         "time, latest metrics), redrawn as they change. A site's state: connected; no reply (listed by "
                         "the server but not answering: stopped, killed or frozen; it may come back); gone (no "
                         "longer listed: its link closed, it left or was removed); disabled (by disable_client). "
                         "Keys: Up/Down (or k/j) choose a job; Enter shows its details (PgUp/PgDn scroll them, "
                         "Enter or Esc hides them); a aborts it (after y); l leaves top and follows its log; q, "
                         "Esc or Ctrl-C leave. 'top > FILE' (or 'top | PIPELINE') writes one snapshot of the "
                         "view instead, as text."),
        CommandSpec("plot", "a job's per-round metrics as a chart, redrawn as rounds finish", Right.VIEW, (
            _LIVE_JOB_ID,
            Param("metric", K.STR, "which metric", unset="every one the job records"),
            Param("format", K.CHOICE, "chart, or json: the series as data", flag="--format",
                  choices=("chart", "json"), wire=False, unset="chart"),
        ), where=Where.CLIENT, engines=frozenset({Engine.OURS}), live_view=True, output=Output.SNAPSHOT),
        _flare_only("list_studies", "the studies on FLARE's server", Right.VIEW),
        _flare_only("show_study", "a study's sites and users", Right.VIEW, _STUDY),
        _flare_only("register_study", "create a study of sites (project admin)", Right.OPERATE, _STUDY, _STUDY_SITES,
                    _STUDY_ORGS),
        _flare_only("add_study_site", "add sites to a study", Right.OPERATE, _STUDY, _STUDY_SITES, _STUDY_ORGS),
        _flare_only("remove_study_site", "take sites out of a study", Right.OPERATE, _STUDY, _STUDY_SITES,
                    _STUDY_ORGS, destructive=True),
        _flare_only("remove_study", "remove a study", Right.OPERATE, _STUDY, destructive=True),
        _flare_only("add_study_user", "let a user work in a study", Right.OPERATE, _STUDY,
                    Param("user", K.STR, "the user's name (their certificate's)", required=True)),
        _flare_only("remove_study_user", "take a user out of a study", Right.OPERATE, _STUDY,
                    Param("user", K.STR, "the user's name", required=True), destructive=True),
        _flare_only("app_command", "ask a running job's app to run a command of its own (FLARE's app_command)",
                    Right.OPERATE, _RUNNING_JOB_ID, Param("topic", K.STR, "the command's topic, as the job's app names it",
                                                  required=True),
                    Param("data", K.STR, "the command's data: JSON text (quoted)", unset="none")),
        _flare_only("configure_job_log", "set a running job's log level or mode", Right.OPERATE, _RUNNING_JOB_ID,
                    _LOG_CONFIG,
                    Param("target", K.TARGET, "'all', 'server' or a site name", default="all")),
        _flare_only("configure_site_log", "set the server's or the sites' own log level or mode", Right.OPERATE,
                    _LOG_CONFIG, Param("target", K.CHOICE, "all, server, or client (every site): FLARE's "
                                       "API names no single site here", default="all", choices=("all", "server", "client"))),
        CommandSpec(
            "set_timeout",
            "set this session's command timeout: the server waits this long for sites, the console 50 s more",
            Right.OPERATE,
            (Param("value", K.FLOAT, "seconds", required=True, minimum=0.001),),
            # (ours: console.server.targets.DEFAULT_SITE_TIMEOUT; FLARE 2.9's session: its timeout, 10 s)
            help="Without it the server waits 10 s for sites (the default). It lasts until unset_timeout, "
                 "which returns to the default, or until the session ends.",
        ),
        CommandSpec("unset_timeout", "return to the default command timeout (10 s) set_timeout changed",
                    Right.OPERATE, help="The server then waits 10 s for sites again (the default), as before any set_timeout."),
        # The shell's own commands: no server handler, no right.
        CommandSpec("help", "list commands, or show one command's usage", None,
                    (Param("command", K.COMMAND, "a command name", unset="the list of commands"),), where=Where.SHELL,
                    aliases=("?", "\\?")),
        CommandSpec("bye", "stop monitors, close the session and leave", None, where=Where.SHELL,
                    aliases=("exit", "quit", "\\q")),
        CommandSpec("monitors", "list the background monitors", None, where=Where.SHELL),
        CommandSpec("unmonitor", "stop one background monitor, or all of them", None,
                    (Param("job_id", K.MONITOR, "a monitored job ID (prefix) or 'all'", unset="the one running"),),
                    where=Where.SHELL),
        CommandSpec("theme", "show the themes, or switch to one", None, (Param("name", K.THEME, "a theme name", unset="list the themes"),),
                    where=Where.SHELL),
        CommandSpec("set", "change a shell setting (kept in the config file); alone: list the settings", None,
                    (Param("setting", K.CHOICE, ", ".join(SETTINGS), choices=tuple(SETTINGS),
                           unset="list every setting and its value"),
                     Param("value", K.SETTING_VALUE, "its value", unset="show it")),
                    where=Where.SHELL,
                    help="format: table (for people), json (exact JSON; submit_job and clone_job give "
                         "{\"job_id\", \"message\"}, download_job {\"path\", \"message\"}) or raw (the engine's "
                         "answer as it came, unformatted: submit_job's is the job ID alone). expanded: records "
                         "vertically (auto: when a table is too wide). editing: emacs or vi keys. timing: each "
                         "command's time. theme: the colours ('theme' lists them)."),
        CommandSpec("refresh", "fetch completion data (the newest 5000 jobs, sites) from the server again", None, where=Where.SHELL),
        CommandSpec("watch", "run a command every few seconds, redrawn in place, until Ctrl-C", None,
                    (Param("interval", K.FLOAT, "seconds between runs", flag="-n", default=2.0, minimum=0.5),
                     Param("command", K.COMMAND_LINE, "the command to repeat, with its arguments", required=True)),
                    where=Where.SHELL, output=Output.SCREEN),
        CommandSpec("timing", "show how long each command takes (no argument: switch it)", None,
                    (Param("state", K.CHOICE, "on or off", choices=("on", "off"), unset="switch to the other one"),),
                    where=Where.SHELL, aliases=("\\timing",)),
        CommandSpec("expanded", "show records vertically, as psql's \\x (no argument: switch on/off)", None,
                    (Param("state", K.CHOICE, "on, off or auto (when a table is wider than the terminal)",
                           choices=SETTINGS["expanded"], unset="switch between on and off"),),
                    where=Where.SHELL, aliases=("\\x",)),
    )
}

check_defaults(CATALOG.values())  # help says every optional argument's default: none may lack one

#: Every name a command answers to, aliases included.
NAMES: dict[str, CommandSpec] = {
    name: spec for spec in CATALOG.values() for name in (spec.name, *spec.aliases)
}

