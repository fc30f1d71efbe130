"""Commands the server sends a site over the site's connection (not typed by people).

Their parameters are checked on the site exactly as admin commands are on the server.
"""

from __future__ import annotations

from console.commands.spec import CommandSpec, Param, Transfer
from console.commands.spec import ParamKind as K

#: A site names the job's workspace folder by it: only the server's own form is taken.
_JOB = Param("job_id", K.SERVER_JOB_ID, "full job ID", required=True)

#: The job's submitter, who can make job lives at will (clone_job + delete_job): the site's log lines
#: about the job are summed up per submitter (``console.log_floods.per_peer``). "" when unknown.
_SUBMITTER = Param("submitter_name", K.STR, "the job's submitter", default="")


def _who(prefix: str) -> tuple[Param, ...]:
    """Who asked (name, org, role): the site applies its own policy to them."""
    return tuple(Param(f"{prefix}_{part}", K.STR, f"{prefix}'s {part}", default="") for part in ("name", "org", "role"))


def _link(name: str, summary: str, *params: Param, transfer: Transfer = Transfer.NONE) -> CommandSpec:
    return CommandSpec(name, summary, None, tuple(params), transfer=transfer)


SITE_COMMANDS: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        _link("heartbeat", "the server is alive and so is the site"),
        _link("deploy_job", "receive a job's archive and start its client app", _JOB,
              Param("job_name", K.STR, "job name", default=""),
              Param("app_name", K.PLAIN_NAME, "the app deployed to this site", required=True),
              Param("byoc", K.BOOL, "the job ships custom code", default=False),
              Param("signature", K.STR, "the submitter's signature of the archive", required=True),
              Param("signed_by", K.STR, "who signed it", required=True),
              Param("signer_pem", K.STR, "the signer's certificate", required=True),
              Param("cloned_from", K.STR, "the job this one is a clone of: its signer is that job's", default=""),
              *_who("submitter"), transfer=Transfer.UPLOAD),
        # A task's model is streamed as the upload (a model file); the answer, once the client app
        # is done, streams the trained model file back, with weight and metrics in its head: one
        # request per task, so a result leaves the site the moment it is written.
        _link("task", "run a task: receive its model, hand it to the job's client app, stream back the result",
              _JOB, Param("task_id", K.INT, "task number", required=True),
              Param("round", K.INT, "round number", default=0),
              Param("num_rounds", K.INT, "rounds in all", default=0),
              Param("max_result_bytes", K.INT, "the largest result model the server takes", default=0),
              transfer=Transfer.UPLOAD),
        _link("end_job", "the job ended: stop its client app", _JOB),
        _link("follow_log", "push the job's log lines on this site as they are written (job_log events)", _JOB,
              Param("lines", K.INT, "lines of the log so far to push first", default=10, minimum=0),
              Param("offset", K.INT, "resume: push the lines from this byte of the log instead", minimum=0),
              *_who("user")),
        _link("read_log", "the job's log lines on this site from a byte offset, a bounded part per answer "
                          "(a resumed follow)",
              _JOB, Param("offset", K.INT, "byte of the log to start at", required=True, minimum=0),
              Param("end", K.INT, "byte to stop at (default: the log's end, its unfinished last line too)",
                    minimum=0),
              *_who("user")),
        _link("unfollow_log", "stop pushing the job's log lines", _JOB),
        _link("abort_job", "the job was aborted: stop its client app now", _JOB),
        _link("get_workspace", "the job's workspace on this site, as a zip", _JOB,
              Param("max_bytes", K.INT, "leave files out past this many bytes (named in the zip)", minimum=1),
              Param("max_entries", K.INT, "leave files out past this many entries (named in the zip)", minimum=2),
              _SUBMITTER, transfer=Transfer.DOWNLOAD),
        _link("delete_workspace", "the job was deleted: remove its workspace on this site", _JOB, _SUBMITTER),
        _link("status", "the jobs running on this site"),
        _link("stats", "a running job's state on this site", _JOB),
        _link("sys_info", "this site's machine and process"),
        _link("env", "this site's name, workspace and server address"),
        _link("shell", "a read-only shell command in the site's folder",
              Param("command", K.STR, "ls, cat, head, tail, grep or pwd", required=True),
              Param("options", K.STR, "its options"), Param("path", K.STR, "a path in the site's folder"),
              Param("pattern", K.STR, "grep pattern"), *_who("user"),
              Param("right", K.STR, "the right the server checked (a job log needs only view)",
                    default="shell_commands"),
              Param("job_id", K.SERVER_JOB_ID, "confine the command to this job's workspace (a job log)"),
              Param("answer_within", K.FLOAT, "seconds the server waits for the answer: the site's grep "
                                              "limit fits in them (answer_budget)", minimum=0.001)),
        _link("shutdown", "stop the site process"),
        _link("restart", "restart the site process"),
    )
}
