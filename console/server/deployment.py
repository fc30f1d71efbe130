"""A job's share on its sites, seen from the server: deploy, relay tasks, stop, collect.

The controller (the job's server app) emits ``task`` events; each becomes one ``task``
request per site, and every answer, or the reason there is none, goes back to the
controller as a ``result`` line: ``kind: "exception"`` when the site's executor raised,
``kind: "lost"`` when the site dropped out or did not answer in time.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.api.errors import InternalError
from console.wire.errors import ErrorType, RemoteError

if TYPE_CHECKING:
    from console.server.app import Server
    from console.server.runner import RunningJob

log = logging.getLogger("console.server.deployment")

SITE_COMMAND_TIMEOUT = 30.0


class Deployment:
    def __init__(self, server: Server, job: RunningJob, task_timeout: float) -> None:
        self.server = server
        self.job = job
        self.task_timeout = task_timeout

    def _link(self, site: str) -> Any:
        connected = self.server.sites.get(site)
        if connected is None:
            raise RemoteError(ErrorType.NO_CLIENTS_AVAILABLE, f"site {site} is not connected")
        return connected.link

    async def deploy(self, job_zip: Path, app_for: dict[str, str]) -> list[str]:
        """Send the job to each site; the sites that took it."""

        async def one(site: str) -> str | None:
            try:
                meta = self.job.meta
                args = {"job_id": self.job.job_id, "job_name": self.job.name, "app_name": app_for[site],
                        "byoc": bool(meta.get("byoc")), "submitter_name": meta.get("submitter_name", ""),
                        "submitter_org": meta.get("submitter_org", ""), "submitter_role": meta.get("submitter_role", ""),
                        **self.job.signature}
                await self._link(site).upload("deploy_job", args, job_zip, timeout=SITE_COMMAND_TIMEOUT)
                return site
            except Exception as exc:
                self.job.errors.setdefault(site, []).append(f"deploy failed: {exc}")
                log.warning("job %s: deploy to %s failed: %s", self.job.job_id, site, exc)
                return None

        done = await asyncio.gather(*(one(site) for site in self.job.sites))
        return [site for site in done if site]

    def relay(self, event: dict[str, Any], controller_stdin: asyncio.StreamWriter) -> None:
        for site in event.get("targets", []):
            task = asyncio.create_task(self._relay_one(site, event, controller_stdin))
            self.job.relays.add(task)
            task.add_done_callback(self.job.relays.discard)

    async def _relay_one(self, site: str, event: dict[str, Any], stdin: asyncio.StreamWriter) -> None:
        answer: dict[str, Any] = {"cmd": "result", "task_id": event.get("task_id"), "site": site}
        try:
            result = await self._link(site).request(
                "task", {"job_id": self.job.job_id, "task_id": event.get("task_id"), "round": event.get("round", 0),
                         "num_rounds": event.get("num_rounds", 0), "model": event.get("model")},
                timeout=self.task_timeout)
            answer.update(model=result["model"], weight=result.get("weight", 1.0), metrics=result.get("metrics", {}))
        except InternalError as exc:  # the site's executor raised
            answer.update(error=str(exc), kind="exception")
            self.job.errors.setdefault(site, []).append(str(exc))
        except Exception as exc:
            answer.update(error=f"{type(exc).__name__}: {exc}", kind="lost")
            self.job.errors.setdefault(site, []).append(f"lost: {exc}")
            if site in self.job.sites:
                self.job.sites.remove(site)
        try:
            stdin.write(json.dumps(answer).encode() + b"\n")
            await stdin.drain()
        except (ConnectionError, OSError):
            pass  # the controller is gone; its exit code tells the story

    async def stop_sites(self, sites: list[str], *, abort: bool) -> None:
        for task in list(self.job.relays):
            task.cancel()
        command = "abort_job" if abort else "end_job"

        async def one(site: str) -> None:
            try:
                await self._link(site).request(command, {"job_id": self.job.job_id}, timeout=SITE_COMMAND_TIMEOUT)
            except Exception as exc:
                log.info("job %s: %s on %s: %s", self.job.job_id, command, site, exc)

        await asyncio.gather(*(one(site) for site in sites))

    async def collect_workspaces(self, sites: list[str], target_dir: Path) -> None:
        """Bring each site's job workspace into the store as ``sites/<site>.zip``."""
        target_dir.mkdir(parents=True, exist_ok=True)

        async def one(site: str) -> None:
            try:
                # The site leaves out what passes the limit; a site that sends more anyway is cut off.
                limit = self.server.kit.job_limits.max_workspace_bytes
                await self._link(site).download("get_workspace", {"job_id": self.job.job_id, "max_bytes": limit},
                                                target_dir / f"{site}.zip", timeout=SITE_COMMAND_TIMEOUT,
                                                max_bytes=limit + (1 << 20))
            except Exception as exc:
                (target_dir / f"{site}.zip").unlink(missing_ok=True)
                log.warning("job %s: could not collect the workspace of %s: %s", self.job.job_id, site, exc)

        await asyncio.gather(*(one(site) for site in sites))
