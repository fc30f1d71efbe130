"""What a job's server app says on its stdout, read and acted on.

The child (``console.runtime.server_app``) writes one JSON line an event, each bounded
(``console.runtime.limits``): ``started`` (the job is RUNNING), ``progress`` (published to the
sessions; its round metrics go into the job's meta), ``error`` (into the job's errors) and ``task``
(a task for its sites, relayed by the job's ``Deployment``). A line past its limit stops the app;
one this server cannot read is said in the job's errors and passed over. Used by
``console.server.runner``, which starts the child and waits for its end.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from console import safe_json
from console.log_floods import per_peer
from console.runtime.limits import LineTooLong, cut, read_event_line
from console.server.deployment import Deployment
from console.server.interfaces import AppEventsHost
from console.server.job_errors import add_error
from console.server.running_job import RunningJob
from console.server.status import JobStatus

log = logging.getLogger("console.server.runner")  # the runner's lines as before: log filters and floods see one name


async def read_events(host: AppEventsHost, job: RunningJob, deployment: Deployment) -> None:
    """Act on each line of the job's server app until its stdout ends; one too long kills the app
    (the job ends FINISHED:EXECUTION_EXCEPTION, the limit in its errors)."""
    assert job.process is not None and job.process.stdout is not None
    try:
        while line := await read_event_line(job.process.stdout):
            _on_line(host, job, line, deployment)
    except LineTooLong as exc:
        why = f"the server app sent {exc}; progress events, metrics and errors have documented limits"
        log.error("job %s: %s; stopping it", job.job_id, why)
        add_error(job.errors, "server", why)
        job.forced_status = JobStatus.FINISHED_EXECUTION_EXCEPTION
        job.process.kill()


def _on_line(host: AppEventsHost, job: RunningJob, line: bytes, deployment: Deployment) -> None:
    try:
        message = safe_json.loads(line)
    except ValueError as exc:  # said in the job's errors too: whatever it carried is not silently lost
        log.warning("job %s: unreadable line from server app: %r", job.job_id, line[:200],
                    extra=per_peer(job.meta.get("submitter_name")))  # the job's code may write many
        add_error(job.errors, "server", f"the server app sent a control line this server cannot read ({exc}); "
                                        "it was ignored")
        return
    event = message.get("event") if isinstance(message, dict) else None
    if event == "started":
        start = datetime.now().astimezone().isoformat()
        host.change_status(job.job_id, JobStatus.RUNNING, start_time=start)
    elif event == "progress" and isinstance(message.get("data"), dict):
        job.last_progress = message["data"]
        _record_metrics(host, job, message["data"])
        try:
            host.publish("job_progress", {"job_id": job.job_id, "name": job.name, "data": job.last_progress})
        except Exception:  # a push that fails must not stop the job
            log.exception("job %s: progress could not be published", job.job_id)
    elif event == "error":
        add_error(job.errors, "server", cut(str(message.get("message"))))
    elif event == "task" and job.process is not None and job.process.stdin is not None:
        deployment.relay(message, job.workspace, job.process.stdin)


def _record_metrics(host: AppEventsHost, job: RunningJob, data: dict[str, Any]) -> None:
    """A round's metrics (per site and aggregated) go into the job's meta: ``round_metrics``,
    within the bounds of ``console.server.round_metrics``."""
    changed, error = job.round_metrics.add(data)
    if error is not None:
        log.warning("job %s: %s", job.job_id, error)
        add_error(job.errors, "server", error)
    if not changed:
        return
    # On the store's writer thread, in order with the job's status changes: never an fsync on the loop.
    # One write waits per job at most and writes the latest metrics when it runs: job code sending
    # rounds faster than the disk takes them (security test: 3000 events of 60 KB) queued a
    # whole-meta write each, held every other job's status changes behind them for minutes
    # and grew the server to 1 GB.
    if job.metrics_write_pending:
        return
    job.metrics_write_pending = True
    store = host.store

    def write_latest() -> None:
        job.metrics_write_pending = False  # first: metrics arriving meanwhile queue the next write
        planned = job.round_metrics.num_rounds
        store.update_meta(job.job_id, round_metrics=job.round_metrics.entries,
                          **({"num_rounds": planned} if planned else {}))

    store.write(write_latest)


__all__ = ["read_events"]
