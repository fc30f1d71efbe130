"""A job's share on its sites, seen from the server: deploy, relay tasks, stop, collect (``workspace_fetch``).

The controller (the job's server app) writes a task's model file and emits a ``task`` event;
for each target site the model file is streamed to the site as the upload of a ``task``
request, whose answer streams the trained model back into the job's ``.transfer/`` folder:
1 MiB chunks, never the whole model in memory. Every answer, or the reason there
is none, goes back to the controller as a ``result`` line: ``kind: "exception"`` when the
site's executor raised or its result broke a limit, ``kind: "timeout"`` when the site did not
answer within the task's timeout (it stays in the job), ``kind: "lost"`` when the site dropped out
and did not come back within ``connection_limits.site_reconnect_grace_seconds``: a site whose link drops mid-task (a server
frozen for longer than the site's silence limit, a network blip) keeps its client app running, and
once it is back the task is asked of it again on the new link, which hands over the result its
client app made meanwhile (``SiteJobs.receive_task``). A site whose process died (its link closed
without the ``bye`` a live site says), that shut down or restarted, or that an admin removed gets no
grace: it is lost at once (``dropped_sites``, which also says why deploy, end and collection wait for none).
An answer that breaks the protocol (a frame that is not JSON, NaN in it, a head of the wrong
shape, no data stream, an ``error`` frame by which the site drops the connection) is the site's
failure (``kind: "exception"``), said at once: the job never waits it out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from console.log_floods import per_peer
from console.runtime.limits import (
    RESULT_LIMIT_RULE,
    cut,
    expected_result_bytes,
    result_file_limit,
)
from console.runtime.transfer import result_file, task_file
from console.server.dropped_sites import Departure, LinkGone, back_in_grace, how_gone, link_words, lost_words
from console.server.interfaces import DeploymentHost
from console.server.job_errors import Supersedes, add_error
from console.server.kept_workspace import left_out_error
from console.server.running_job import RunningJob
from console.server.task_answers import task_answer
from console.server.workspace_fetch import REFUSED_ARCHIVE, fetch_workspace, refused_archive
from console.wire.errors import ErrorType, RemoteError
from console.wire.exceptions import InternalError, JobNotRunning, NoConnection
from console.wire.pace import Pace, TransferStopped, TransferTooSlow, paced
from console.wire.requesting import AnswerTooLarge, MalformedAnswer, PeerError, ProtocolViolation

log = logging.getLogger("console.server.deployment")

SITE_COMMAND_TIMEOUT = 30.0
#: The slowest pace at which a site is expected to check and unpack a deployed job (for its timeout).
DEPLOY_BYTES_PER_SECOND = 8 << 20
#: job_errors of a site away when its job ended (``dropped_sites``: collection waits for no site).
AWAY_AT_THE_END = ("its workspace was not collected: the site was away when the job ended; it is collected "
                   "when the site connects again")
#: What a note on the collection at the site's next login takes the place of (``job_errors.Supersedes``).
AWAY_SETTLED = Supersedes(AWAY_AT_THE_END, "the site was away when the job ended")
#: Seconds a job that a site's failure ends waits, once its sites have stopped the job, for the
#: answers still in flight: a site that failed at the same time is named in job_errors too.
SETTLE_SECONDS = 5.0


class Deployment:
    def __init__(self, server: DeploymentHost, job: RunningJob, task_timeout: float) -> None:
        self.server = server
        self.job = job
        self.task_timeout = task_timeout
        self.site_failed = False  # a site's executor raised: the job ends EXECUTION_EXCEPTION
        self.stopping = False  # the job is ending: answers that say so are no site's failure
        #: The sites that took the job, as their answers come: whatever ends the run (a failure after
        #: the deploy included), these are told to stop it.
        self.deployed: list[str] = []

    @property
    def abort_wait_seconds(self) -> float:
        """``connection_limits.abort_wait_seconds``: how long after abort_job the sites' answers and
        workspaces are awaited (the runner sets ``stop`` then)."""
        return self.server.kit.connection_limits.abort_wait_seconds

    @property
    def reconnect_grace(self) -> float:
        """``connection_limits.site_reconnect_grace_seconds`` (``dropped_sites``)."""
        return self.server.kit.connection_limits.site_reconnect_grace_seconds

    @property
    def pace(self) -> Pace:
        limits = self.server.kit.connection_limits
        return Pace(limits.transfer_floor_seconds, limits.min_transfer_bytes_per_second)

    def _link(self, site: str) -> Any:
        connected = self.server.sites.get(site)
        if connected is None:
            raise RemoteError(ErrorType.NO_CLIENTS_AVAILABLE, f"site {site} is not connected")
        return connected.link

    async def deploy(self, job_zip: Path, app_for: dict[str, str], stop: asyncio.Event | None = None) -> list[str]:
        """Send the job to each site; the sites that took it. When ``stop`` is set (``abort_wait_seconds``
        after abort_job), a site still taking it is cut off (its connection dropped) and named in job_errors."""

        async def one(site: str) -> str | None:
            try:
                meta = self.job.meta
                args = {"job_id": self.job.job_id, "job_name": self.job.name, "app_name": app_for[site],
                        "byoc": bool(meta.get("byoc")), "submitter_name": meta.get("submitter_name", ""),
                        "submitter_org": meta.get("submitter_org", ""), "submitter_role": meta.get("submitter_role", ""),
                        "cloned_from": meta.get("cloned_from") or "", **self.job.signature}
                # The site checks the signature over the whole archive and unpacks its app before it
                # answers: a job with a 1 GB model takes it a while on a busy machine.
                timeout = SITE_COMMAND_TIMEOUT + job_zip.stat().st_size / DEPLOY_BYTES_PER_SECOND
                await self._link(site).upload("deploy_job", args, job_zip, timeout=timeout)
                self.deployed.append(site)
                return site
            except Exception as exc:
                add_error(self.job.errors, site, f"deploy failed: {link_words(exc)}")
                log.warning("job %s: deploy to %s failed: %r", self.job.job_id, site, cut(str(exc)))
                self._tell_to_drop(site)
                return None

        tasks = {site: asyncio.create_task(one(site)) for site in self.job.sites}
        stopped = asyncio.ensure_future(stop.wait() if stop is not None else asyncio.Event().wait())
        try:
            while not stopped.done() and not all(task.done() for task in tasks.values()):
                await asyncio.wait([*(task for task in tasks.values() if not task.done()), stopped],
                                   return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        for site, task in tasks.items():
            if not task.done():
                why = f"its deploy was cut off: not done within {self.abort_wait_seconds:g} s of abort_job"
                add_error(self.job.errors, site, why)
                with contextlib.suppress(RemoteError):  # the upload's answer will not come now
                    # (its connection dropped: the site undoes a deploy whose link is gone)
                    self._link(site).refuse(RuntimeError(f"job {self.job.job_id}: {why}"))
                task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        return [site for site, task in tasks.items() if not task.cancelled() and task.result()]

    def _tell_to_drop(self, site: str) -> None:
        """A site whose deploy failed here (timed out, cut off, refused) may still take the job, its
        answer lost: it is told to abort it, so that a deploy landing after this ends there at once
        (a site remembers the jobs it was told to stop). Not awaited; a site away hears nothing (a
        deploy on a lost link is undone there)."""
        connected = self.server.sites.get(site)
        if connected is None or not connected.link.connected:
            return
        telling = asyncio.ensure_future(connected.link.request("abort_job", {"job_id": self.job.job_id},
                                                               timeout=SITE_COMMAND_TIMEOUT))
        telling.add_done_callback(lambda done: done.cancelled() or done.exception())

    def relay(self, event: dict[str, Any], workspace: Path, controller_stdin: asyncio.StreamWriter) -> None:
        """Start streaming the task's model to each target; each answer goes to ``controller_stdin``."""
        try:
            task_id = int(event["task_id"])
            # Once each: the controller is the job's code, and may name a site many times over.
            targets = list(dict.fromkeys(str(site) for site in event.get("targets", [])))
        except (KeyError, TypeError, ValueError):
            log.warning("job %s: malformed task event ignored: %.200r", self.job.job_id, event,
                        extra=per_peer(self.job.meta.get("submitter_name")))  # the job's code may send many
            return
        # Our own link to the model file: the controller may delete its name (a round that timed
        # out) while a slow site is still receiving.
        source = task_file(workspace, task_id)
        relayed = source.with_name(f"{source.name}.relay")
        try:
            os.link(source, relayed)
        except OSError as exc:
            log.error("job %s: task %s has no model file: %s", self.job.job_id, task_id, exc)
            relayed = source
        tasks = [asyncio.create_task(self._relay_one(site, task_id, event, relayed, workspace, controller_stdin))
                 for site in targets]
        for task in tasks:
            self.job.relays.add(task)
            task.add_done_callback(self.job.relays.discard)

        async def cleanup() -> None:
            await asyncio.gather(*tasks, return_exceptions=True)
            relayed.unlink(missing_ok=True)

        self.job.relays.add(cleaner := asyncio.create_task(cleanup()))
        cleaner.add_done_callback(self.job.relays.discard)

    async def _relay_one(self, site: str, task_id: int, event: dict[str, Any], model: Path, workspace: Path,
                         stdin: asyncio.StreamWriter) -> None:
        answer: dict[str, Any] = {"cmd": "result", "task_id": task_id, "site": site}
        if site not in self.deployed:  # the job's code may name any target: only the sites the job went to are asked
            answer.update(error=f"{cut(site, 64)!r} is no site this job was deployed to", kind="lost")
            await self._answer(answer, result_file(workspace, task_id, site), stdin)
            return
        timeout = float(event.get("timeout") or self.task_timeout)
        try:  # the controller's limit; without one, what the model it sent lets the job expect
            limit = int(event.get("max_result_bytes") or 0) or expected_result_bytes(os.stat(model).st_size)
        except OSError:
            limit = expected_result_bytes(0)
        target = result_file(workspace, task_id, site)
        # The task's deadline holds across reconnects: a site back after it gets no second ask.
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                await self._ask(site, task_id, event, model, target, timeout, limit, answer)
            except LinkGone as gone:
                was = gone.was or self.server.sites.last_link(site)  # (away at the ask: its last link)
                fate = how_gone(site, was)
                if fate.departure is Departure.MAY_RETURN and await self._back_in_grace(site, was, deadline):
                    log.info("job %s: %s is back; task %s asked of it again", self.job.job_id, site, task_id)
                    continue
                if fate.words:
                    log.warning("job %s: %s lost at once: %s", self.job.job_id, site, fate.words)
                self._lost(site, answer, gone.cause, fate.words)
            break
        await self._answer(answer, target, stdin)

    @staticmethod
    async def _answer(answer: dict[str, Any], target: Path, stdin: asyncio.StreamWriter) -> None:
        """A task's ``answer`` for one site to the controller (``target``: the site's result file)."""
        if "error" in answer:
            target.unlink(missing_ok=True)
            # A site's text is the site's choice: whole, it could pass the controller's line limit
            # (its app would refuse the line and the job end ABORTED, the site unnamed).
            answer["error"] = cut(str(answer["error"]))
        try:
            stdin.write(json.dumps(answer).encode() + b"\n")
            await stdin.drain()
        except (ConnectionError, OSError):
            target.unlink(missing_ok=True)  # the controller is gone; its exit code tells the story

    async def _back_in_grace(self, site: str, was: Any, deadline: float) -> bool:
        """Whether ``site``, its link dropped, is back on a new link in time (``dropped_sites``)."""
        return await back_in_grace(self.server.sites, site, was, self.reconnect_grace, deadline,
                                   lambda: not self.stopping and site in self.job.sites)

    async def _ask(self, site: str, task_id: int, event: dict[str, Any], model: Path, target: Path,
                   timeout: float, limit: int, answer: dict[str, Any]) -> None:
        """One ask of the task on the site's current link, its answer (or failure) into ``answer``.
        A link that is gone (or none) raises ``LinkGone``: the caller may wait for the site to come back."""
        link = None
        connected = self.server.sites.get(site)
        try:
            if connected is None:
                raise LinkGone(NoConnection(f"site {site} is not connected"), None)
            link = connected.link
            # The model goes out as the request's upload; the answer's head comes when the site's
            # executor is done: the task's timeout bounds that wait (the controller keeps its own
            # deadline; this one frees the relay of a site that hangs), then the result streams in.
            # Once the head has come, the result streams at the pace of connection_limits or is cut.
            target.unlink(missing_ok=True)
            download = link.download("task", {"job_id": self.job.job_id, "task_id": task_id,
                                              "round": int(event.get("round", 0)),
                                              "num_rounds": int(event.get("num_rounds", 0)),
                                              "max_result_bytes": limit}, target, upload=model,
                                     timeout=timeout + SITE_COMMAND_TIMEOUT, chunk_timeout=SITE_COMMAND_TIMEOUT,
                                     max_bytes=result_file_limit(limit))
            head = await paced(download, target, self.pace,
                               cut=lambda exc: link.refuse(RuntimeError(f"its result of task {task_id} was cut off: "
                                                                        f"{exc}")))
            try:
                weight, metrics = task_answer(head)
            except ValueError as exc:
                raise MalformedAnswer(str(exc)) from None
            answer.update(weight=weight, metrics=metrics)
        except AnswerTooLarge as exc:  # the site sends more than its executor may have made: refused
            why = (f"task {task_id} (round {event.get('round', '?')}): its result of "
                   f"{exc.size if exc.announced else f'more than {exc.limit}'} bytes exceeds this task's limit "
                   f"of {exc.limit} bytes ({RESULT_LIMIT_RULE}); refused")
            answer.update(error=f"{site}: {why}", kind="exception")
            add_error(self.job.errors, site, why)
            self.site_failed = True
        # Not JSON (NaN in it), the wrong shape, or an error frame: the site gave up on its own connection.
        except (ProtocolViolation, PeerError, MalformedAnswer) as exc:
            why = f"task {task_id}: {exc}"
            answer.update(error=f"{site}: {why}", kind="exception")
            add_error(self.job.errors, site, why)
            self.site_failed = True
        except (InternalError, ValueError) as exc:  # the site's executor raised, or its result broke a limit
            answer.update(error=str(exc), kind="exception")
            add_error(self.job.errors, site, str(exc).removeprefix(f"{site}: "))  # filed under the site already
            self.site_failed = True
        except JobNotRunning as exc:
            if self.stopping:  # the site stopped the job as told before this task was done: no failure
                answer.update(error=str(exc), kind="lost")
            else:
                self._lost(site, answer, exc)
        except TransferTooSlow as exc:  # it stays in the job: the controller counts it as no answer
            answer.update(error=f"{site}: {exc}", kind="timeout")
            add_error(self.job.errors, site, f"task {task_id}: {exc}")
        except (NoConnection, TimeoutError) as exc:
            # A result stalled mid-stream (TimeoutError) was cut off, its connection dropped: as no answer.
            if link is not None and (link.connected or isinstance(exc, TimeoutError)):
                answer.update(error=f"no result within {timeout:g} s", kind="timeout")
                add_error(self.job.errors, site, f"task {task_id}: no result within the task_timeout of {timeout:g} s")
            else:
                raise LinkGone(exc, connected) from exc
        except LinkGone:
            raise
        except OSError as exc:  # the link broke under the transfer (a broken pipe, a reset): the site may come back
            raise LinkGone(exc, connected) from exc
        except Exception as exc:
            self._lost(site, answer, exc)

    def _lost(self, site: str, answer: dict[str, Any], exc: BaseException, words: str = "") -> None:
        """``site`` is out of the job: ``words`` say why (``dropped_sites.how_gone``), else ``exc`` does."""
        why = words or lost_words(exc, self.reconnect_grace)
        answer.update(error=f"{site}: {why}", kind="lost")
        add_error(self.job.errors, site, f"lost: {why}")
        if site in self.job.sites:
            self.job.sites.remove(site)

    async def stop_sites(self, sites: list[str], *, abort: bool, stop: asyncio.Event) -> dict[str, asyncio.Task[None]]:
        """Tell ``sites`` to end (or abort) the job; each site's telling, a task done once it answered
        (or its SITE_COMMAND_TIMEOUT passed), for ``collect_workspaces``. Tasks still out are dropped
        at once, unless a site's failure ends the job: then the other sites' answers are awaited until
        the sites have stopped the job and ``SETTLE_SECONDS`` more at most, so that every site that
        failed at the same time is named in job_errors, not only the first (a site stopped mid-task
        answers JobNotRunning, which is no failure). When ``stop`` is set (``abort_wait_seconds``
        after abort_job), nothing more is awaited: a site that does not answer cannot hold the job's end."""
        self.stopping = True
        pending = [task for task in self.job.relays if not task.done()]
        if not self.site_failed:
            for task in pending:
                task.cancel()
            pending = []
        command = "abort_job" if abort else "end_job"

        async def one(site: str) -> None:
            try:
                await self._link(site).request(command, {"job_id": self.job.job_id}, timeout=SITE_COMMAND_TIMEOUT)
            except Exception as exc:
                log.info("job %s: %s on %s: %r", self.job.job_id, command, site, cut(str(exc)))

        told = {site: asyncio.create_task(one(site)) for site in sites}
        if pending and not stop.is_set():
            stopped = asyncio.ensure_future(stop.wait())
            while not stop.is_set() and not all(task.done() for task in told.values()):
                await asyncio.wait([*told.values(), stopped], return_when=asyncio.FIRST_COMPLETED)
            if not stop.is_set():
                await asyncio.wait([*pending, stopped], timeout=SETTLE_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            await asyncio.gather(stopped, return_exceptions=True)
        for task in list(self.job.relays):
            task.cancel()
        return told

    async def collect_workspaces(self, sites: list[str], target_dir: Path, stop: asyncio.Event,
                                 told: dict[str, asyncio.Task[None]] | None = None) -> None:
        """Bring each site's job workspace into the store as ``sites/<site>.zip``, each at the pace of
        ``connection_limits``, once that site has answered its ``told`` (``stop_sites``): one site
        slow to stop holds up no other. When ``stop`` is set (``abort_wait_seconds`` after abort_job),
        what has not come is cut off, its site's connection dropped (the rest of it is not read). A
        site whose workspace is cut off either way is named in job_errors."""
        target_dir.mkdir(parents=True, exist_ok=True)
        pace = self.pace
        told = told or {}

        async def one(site: str) -> None:
            target = target_dir / f"{site}.zip"
            # The site leaves out what passes the limit; a site that sends more anyway is cut off.
            limits = self.server.kit.job_limits
            limit = limits.max_workspace_bytes
            try:
                if stop.is_set():  # not asked for: nothing of it is on its way
                    raise TransferStopped(0, 0.0, "before it was asked for")
                if self.server.sites.get(site) is None:  # away: its workspace waits for it there
                    self.server.expect_collects({self.job.job_id: {site}})
                    add_error(self.job.errors, site, AWAY_AT_THE_END)
                    return
                if site in told and not told[site].done():
                    stopped = asyncio.ensure_future(stop.wait())
                    await asyncio.wait([told[site], stopped], return_when=asyncio.FIRST_COMPLETED)
                    stopped.cancel()
                    if not told[site].done():
                        raise TransferStopped(0, 0.0, "before it stopped the job")
                left_out = await fetch_workspace(self._link(site), self.job.job_id, target, limits, pace, stop,
                                                 self._why_cut, timeout=SITE_COMMAND_TIMEOUT,
                                                 submitter=self.job.meta.get("submitter_name"))
                if left_out:
                    add_error(self.job.errors, site, left_out_error(
                        left_out, f"{limit} bytes or the site's own, if smaller (job_limits.max_workspace_bytes)",
                        f"sites/{site}/"))
            except (TransferStopped, TransferTooSlow) as exc:
                why = self._why_cut(exc)
                add_error(self.job.errors, site, f"its workspace was not collected: {why}")
                log.warning("job %s: the workspace of %s was not collected: %s", self.job.job_id, site, why)
            except REFUSED_ARCHIVE as exc:
                add_error(self.job.errors, site, refused_archive(exc))
                log.warning("job %s: the workspace archive of %s was refused: %s", self.job.job_id, site,
                            cut(str(exc)))
            except Exception as exc:  # gone, or no workspace there: nothing came
                log.warning("job %s: could not collect the workspace of %s: %r", self.job.job_id, site,
                            cut(str(exc)))

        try:
            await asyncio.gather(*(one(site) for site in sites))
        finally:
            for task in told.values():
                task.cancel()
            await asyncio.gather(*told.values(), return_exceptions=True)

    def _why_cut(self, exc: TransferStopped | TransferTooSlow) -> str:
        if isinstance(exc, TransferStopped):
            return f"it was not in within {self.abort_wait_seconds:g} s of abort_job ({exc})"
        return str(exc)
