"""Lines of followed job logs out to the sessions that follow them: every live subscription,
what each has had of each target's log (by offset, so no line goes twice), the lines held back
while a follower's gap is being sent, and each target's end.

Used by ``console.server.log_relay``, which decides what to read and from where, and by
``console.server.log_gaps``, which sends a resumed follower's gap. Nothing here reads a log or
asks a site: it only sends what it is given, to whom follows it.
"""

from __future__ import annotations

from typing import Any

from console.server.log_follows import Subscription


class Followers:
    """The live ``follow`` subscriptions and how lines reach them."""

    def __init__(self) -> None:
        self.subscriptions: list[Subscription] = []

    def send(self, sub: Subscription, target: str, lines: list[str], offset: int | None = None,
             direct: bool = False) -> None:
        """Lines of ``target``'s log to one follower; ``offset``: the bytes of the log up to their end.
        ``direct``: read for this follower (its last lines, a part of its gap): not held back while
        other pushes of ``target`` wait; lines it has already (by offset) are never sent again."""
        if target in sub.holding and not direct:
            sub.holding[target].append((lines, offset))
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
            self.push(sub, "job_log", event)

    @staticmethod
    def push(sub: Subscription, topic: str, event: dict[str, Any]) -> None:
        """One event to one follower, or kept until all its targets accepted the follow (``pending``)."""
        if sub.pending is not None:
            sub.pending.append((topic, event))
        elif sub.live:
            sub.connection.push_event(topic, event)

    def end(self, sub: Subscription, target: str) -> None:
        """``target``'s log has no more lines for this follower (after any it holds); a follower
        whose every target has ended is forgotten."""
        if target in sub.holding:  # after the lines a site is being asked for
            sub.holding[target].append(None)
            return
        sub.ended.add(target)
        self.push(sub, "job_log_end", {"job_id": sub.job_id, "target": target})
        if sub.ended >= sub.targets and sub in self.subscriptions:
            self.subscriptions.remove(sub)

    def release_held(self, sub: Subscription, target: str) -> None:
        """The lines (and the end) that came while ``target``'s gap was sent, after it; those the
        follower has by now (by offset) are not sent again."""
        held = sub.holding.pop(target, None) or []
        for entry in held:
            if entry is None:
                self.end(sub, target)
            else:
                self.send(sub, target, *entry)

    def fan_out(self, job_id: str, target: str, lines: list[str], offset: int | None = None) -> bool:
        """Lines of one stream to each live follower; False when nobody follows it any more."""
        self.subscriptions = [s for s in self.subscriptions if s.live]
        followers = [s for s in self.subscriptions if s.job_id == job_id and target in s.targets - s.ended]
        for sub in followers:
            self.send(sub, target, lines, offset)
        return bool(followers)
