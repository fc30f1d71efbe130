"""Followed log lines out to their followers, and a site's log pushes in.

Each live follower of a job's target gets that target's new lines once (by offset), held back
while its gap is sent (``Subscription.holding``), or left to the paced catch-up of
``console.server.log_pacing`` when its connection has no room; then the ``job_log_end``. A
site's ``job_log``/``job_log_end`` pushes come in here and go to the followers of that log
only: a push for a log nobody follows (a made-up job ID, say) is dropped, nothing of it kept.

A part of ``console.server.log_relay.LogRelay`` (it owns the subscriptions and streams this
reads, and stops a stream nobody follows); owns nothing itself.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from console.log_floods import per_peer
from console.server.log_follows import Subscription, offset_of
from console.server.log_pacing import MAX_HELD_BYTES, LogPacing

log = logging.getLogger("console.server.log_relay")


class LogFanOut(LogPacing):
    """The sending half of ``LogRelay``."""

    _site_streams: set[tuple[str, str]]
    _site_at: dict[tuple[str, str], int]

    # -- provided by LogRelay ---------------------------------------------------------------
    async def _release(self, job_id: str) -> None: ...

    def _send(self, sub: Subscription, target: str, lines: list[str], offset: int | None = None,
              direct: bool = False, shared: dict[str, bytes] | None = None) -> None:
        """Lines of ``target``'s log to one follower; ``offset``: the bytes of the log up to their end.
        ``direct``: read for this follower (its last lines, a part of its gap): not held back while
        other pushes of ``target`` wait; lines it has already (by offset) are never sent again.
        ``shared``: the event's encoded frame, kept for the other followers of the same lines."""
        if not direct:
            if target in sub.lagging:  # its catch-up reads these from the log when there is room
                return
            if target in sub.holding:
                held = sub.holding[target]
                first = next((entry[1] for entry in held if entry is not None and entry[1] is not None), None)
                if lines and offset is not None and first is not None and offset - first >= MAX_HELD_BYTES:
                    # not kept in memory: read from the log (by offset) once the gap is sent, paced
                    sub.holding[target] = [entry for entry in held if entry is None]
                    sub.lagging.add(target)
                else:
                    held.append((lines, offset))
                return
            if lines and offset is not None and sub.live and sub.pending is None and \
                    not sub.connection.has_event_room():
                self._lag(sub, target, lines, offset)
                return
        if offset is not None:
            had = sub.offsets.get(target)
            if had is not None and offset <= had and lines:
                return  # it has these lines already (pushed while it resumed, or twice by a site)
            sub.offsets[target] = offset
        if (lines or offset is not None) and sub.live:  # no lines yet: where the log is, for a resume
            event = {"job_id": sub.job_id, "target": target, "lines": lines}
            if offset is not None:
                event["offset"] = offset
            self._push(sub, "job_log", event, shared)

    @staticmethod
    def _push(sub: Subscription, topic: str, event: dict[str, Any], shared: dict[str, bytes] | None = None) -> None:
        if sub.pending is not None:
            sub.pending.append((topic, event))
        elif sub.live:
            sub.connection.push_event(topic, event, shared)

    def _end(self, sub: Subscription, target: str) -> None:
        if target in sub.holding or target in sub.lagging:  # after the lines being read for it
            sub.holding.setdefault(target, []).append(None)
            return
        sub.ended.add(target)
        self._push(sub, "job_log_end", {"job_id": sub.job_id, "target": target})
        if sub.ended >= sub.targets and sub in self.subscriptions:
            self.subscriptions.remove(sub)

    def _fan_out(self, job_id: str, target: str, lines: list[str], offset: int | None = None) -> bool:
        """Lines of one stream to each live follower; False when nobody follows it any more."""
        self.subscriptions = [s for s in self.subscriptions if s.live]
        followers = [s for s in self.subscriptions if s.job_id == job_id and target in s.targets - s.ended]
        shared: dict[str, bytes] = {}  # the same lines to each: one frame of them, encoded once
        for sub in followers:
            self._send(sub, target, lines, offset, shared=shared)
        return bool(followers)

    def on_site_event(self, site: str, topic: str, data: dict[str, Any]) -> None:
        """A site's ``job_log``/``job_log_end`` push (``SiteRegistry`` hands them here)."""
        try:
            self._site_event(site, topic, data)
        except Exception:  # a bad push from a site never breaks its link, nor writes a traceback each
            log.exception("site %s: log push %s not relayed", site, topic, extra=per_peer(site))

    def _site_event(self, site: str, topic: str, data: dict[str, Any]) -> None:
        job_id = data.get("job_id")
        if not isinstance(job_id, str):
            return
        if topic == "job_log" and isinstance(data.get("lines"), list):
            lines = [str(line) for line in data["lines"]]
            # Only for a log someone follows there: a site pushing made-up job IDs grew this map
            # without bound (security test: 2 million pushes, 450 MB kept).
            # (A push for a log nobody follows raised UnboundLocalError here, and each logged a
            # traceback: 8 lines of the server's log per push.)
            at = offset_of(data)
            followed = (job_id, site) in self._site_streams or any(
                sub.job_id == job_id and site in sub.targets for sub in self.subscriptions)
            if followed and at is not None:
                self._site_at[(job_id, site)] = at
            if not self._fan_out(job_id, site, lines, at) and (job_id, site) in self._site_streams:
                asyncio.get_running_loop().create_task(self._release(job_id))
        elif topic == "job_log_end":
            self._site_streams.discard((job_id, site))
            for sub in [s for s in self.subscriptions if s.job_id == job_id and site in s.targets]:
                self._end(sub, site)

    def _release_held(self, sub: Subscription, target: str) -> None:
        """The lines (and the end) that came while ``target``'s gap was sent, after it; those the
        follower has by now (by offset) are not sent again."""
        held = sub.holding.pop(target, None) or []
        if target in sub.lagging and target not in sub.pacing:  # too many came while held: left out
            sub.holding[target] = [entry for entry in held if entry is None]  # the end, after them
            self._pace(sub, target, sub.offsets.get(target))
            return
        for entry in held:
            if entry is None:
                self._end(sub, target)
            else:
                self._send(sub, target, *entry)

