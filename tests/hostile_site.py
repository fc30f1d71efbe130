"""A hostile site: the project's real site code with its own certificate, except in how it answers
a task. By default it answers every task with a result file far over any limit the job set (a
site with a bug, or run by someone who wants to fill the server's disk); the file is sparse: it
costs this machine no disk. With ``HOSTILE_WEIGHT`` (JSON) set, it answers with the task's own
model and that weight instead. With ``HOSTILE_ANSWER`` set, it writes that text, as it is, as the
JSON header of its answer frame (``{id}`` stands for the request's id, ``{size}`` for the model
file's size, ``{pad}`` for 1 MiB of ``x``, ``{big}`` for 300 KiB of ``E``), then the model in data
frames: what no encoder of ours would send (a bare NaN, a head that is no object, an answer
without its model, a header past the frame limit, an error text past the controller's line limit).
With ``HOSTILE_TRICKLE`` set, it answers ``get_workspace`` (when a job ends), and with
``HOSTILE_TRICKLE_TASKS`` set its tasks too, with a head announcing 1 MiB, then one byte every
``HOSTILE_TRICKLE`` seconds, for ever; it touches ``trickling`` in its kit folder when it starts.
With ``HOSTILE_MUTE_STOP`` set, it never answers ``end_job`` or ``abort_job`` (it touches ``told-to-stop``),
with ``HOSTILE_MUTE_DEPLOY`` set never ``deploy_job`` (it touches ``told-to-deploy``). With
``HOSTILE_WORKSPACE`` naming a file, it answers ``get_workspace`` with that file (read at each
request) as the job's workspace archive, and runs its tasks as the real site does. With
``HOSTILE_CLAIMS`` set to N, its login answer says it runs N made-up jobs (new IDs at each login) after
the ones it really runs.

    python tests/hostile_site.py SITE_KIT [RESULT_BYTES]
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from console.site import app
from console.wire.errors import ErrorType, RemoteError
from console.wire.frames import PREFIX, encode_frame, read_chunk
from console.wire.request_context import Download, Peer, RequestContext

RESULT_BYTES = int(sys.argv[2]) if len(sys.argv) > 2 else 256 << 20
WEIGHT = os.environ.get("HOSTILE_WEIGHT")
ANSWER = os.environ.get("HOSTILE_ANSWER")
PUSHES = int(os.environ.get("HOSTILE_PUSHES", "0"))
TRICKLE = float(os.environ.get("HOSTILE_TRICKLE", "0"))
MUTE_STOP = bool(os.environ.get("HOSTILE_MUTE_STOP"))
MUTE_DEPLOY = bool(os.environ.get("HOSTILE_MUTE_DEPLOY"))
REPLIES = os.environ.get("HOSTILE_REPLIES")
WORKSPACE = os.environ.get("HOSTILE_WORKSPACE")
CLAIMS = int(os.environ.get("HOSTILE_CLAIMS", "0"))


def made_up_replies() -> dict[str, Any]:
    """``HOSTILE_REPLIES`` names a JSON file of ``{command: answer}``, read at each request: those
    commands (``login`` too) get that answer as it is (``{"raise": MESSAGE}``: an InternalError
    with that message), the others the real site's."""
    return json.loads(Path(REPLIES).read_text()) if REPLIES else {}


class HostileSite(app.Site):
    def __init__(self, kit: Any) -> None:
        super().__init__(kit)
        for name, handler in list(self.handlers.items()):
            self.handlers[name] = self._made_up(name, handler)

    @staticmethod
    def _made_up(name: str, handler: Any) -> Any:
        async def answer(ctx: RequestContext, args: dict[str, Any]) -> Any:
            replies = made_up_replies()
            made_up = replies.get(name)
            if isinstance(made_up, dict) and set(made_up) == {"raise"}:  # an error answer with that message
                raise RemoteError(ErrorType.INTERNAL, str(made_up["raise"]))
            return replies[name] if name in replies else await handler(ctx, args)
        return answer

    def login(self, connection: Peer, args: dict[str, Any]) -> dict[str, Any]:
        answer = super().login(connection, args)
        if PUSHES:
            self._pusher = asyncio.get_running_loop().create_task(self._push_made_up_logs(connection))
        answer["jobs"] += [{"job_id": str(uuid.uuid4())} for _ in range(CLAIMS)]  # ~50 bytes each
        replies = made_up_replies()
        return replies["login"] if "login" in replies else answer

    async def _push_made_up_logs(self, connection: Peer) -> None:
        trigger = self.kit.root / "push-now"
        while not trigger.exists():
            await asyncio.sleep(0.05)
        for n in range(PUSHES):
            if n % 1000 == 0 and not await connection.event_room(60):
                print(f"the server stopped reading after {n} job_log events", file=sys.stderr, flush=True)
                return
            connection.push_event("job_log", {"job_id": str(uuid.uuid4()), "site": self.kit.name,
                                              "lines": [f"made-up line {n}"], "offset": 20 * (n + 1)})
        print(f"pushed {PUSHES} job_log events", file=sys.stderr, flush=True)

    async def _cmd_task(self, ctx: RequestContext, args: dict[str, Any]) -> Download:
        if PUSHES or REPLIES or WORKSPACE or CLAIMS:  # its tasks are the real site's
            return await super()._cmd_task(ctx, args)
        self._heard()
        workspace = self.jobs.workspace(args["job_id"])
        incoming = workspace / f"hostile-task-{args['task_id']}.model"
        await ctx.receive_upload(incoming, 1 << 30, sync=False)
        if TRICKLE and os.environ.get("HOSTILE_TRICKLE_TASKS"):
            await self._trickle(ctx, {"weight": 1.0, "metrics": {}})
        if ANSWER is not None:
            await self._answer_raw(ctx, incoming)
        if WEIGHT is not None:  # the model as it came, with a weight that is no weight
            return Download(incoming, {"weight": json.loads(WEIGHT), "metrics": {}})
        incoming.unlink(missing_ok=True)
        result = workspace / f"hostile-result-{args['task_id']}.model"
        with open(result, "wb") as out:
            out.truncate(RESULT_BYTES)
        return Download(result, {"weight": 1.0, "metrics": {}})

    async def _cmd_deploy_job(self, ctx: RequestContext, args: dict[str, Any]) -> None:
        if MUTE_DEPLOY:
            (self.kit.root / "told-to-deploy").touch()
            await asyncio.Event().wait()
        await super()._cmd_deploy_job(ctx, args)

    async def _cmd_end_job(self, ctx: RequestContext, args: dict[str, Any]) -> None:
        if MUTE_STOP:
            (self.kit.root / "told-to-stop").touch()
            await asyncio.Event().wait()
        await super()._cmd_end_job(ctx, args)

    async def _cmd_abort_job(self, ctx: RequestContext, args: dict[str, Any]) -> None:
        if MUTE_STOP:
            (self.kit.root / "told-to-stop").touch()
            await asyncio.Event().wait()
        await super()._cmd_abort_job(ctx, args)

    async def _cmd_get_workspace(self, ctx: RequestContext, args: dict[str, Any]) -> Download:
        if TRICKLE:
            await self._trickle(ctx, {"job_id": args["job_id"]})
        if WORKSPACE:
            out = self.kit.root / f".outgoing-made-up-{args['job_id']}.zip"
            out.write_bytes(Path(WORKSPACE).read_bytes())
            return Download(out, {"job_id": args["job_id"]})
        return await super()._cmd_get_workspace(ctx, args)

    async def _trickle(self, ctx: RequestContext, head: dict[str, Any]) -> None:
        """Answer with ``head``, announcing 1 MiB, then send one byte every ``TRICKLE`` seconds until
        the server drops the connection (this request sends nothing more)."""
        writer = ctx.connection.writer  # type: ignore[attr-defined]  (ServedConnection's)
        writer.write(encode_frame({"k": "res", "id": ctx.request_id, "ok": True, "stream": True, "size": 1 << 20,
                                   "data": head}))
        (self.kit.root / "trickling").touch()
        while not writer.is_closing():
            writer.write(encode_frame({"k": "data", "id": ctx.request_id}, b"x"))
            await writer.drain()
            await asyncio.sleep(TRICKLE)
        await asyncio.Event().wait()

    async def _answer_raw(self, ctx: RequestContext, model: Path) -> None:
        """Write the answer by hand, then wait (this request sends nothing more) until the server
        drops the connection or the job ends."""
        assert ANSWER is not None
        size = model.stat().st_size
        header = (ANSWER.replace("{id}", str(ctx.request_id)).replace("{size}", str(size))
                  .replace("{pad}", "x" * (1 << 20)).replace("{big}", "E" * (300 << 10)).encode())
        writer = ctx.connection.writer  # type: ignore[attr-defined]  (ServedConnection's)
        writer.write(PREFIX.pack(len(header), 0) + header)
        with open(model, "rb") as src:
            while chunk := read_chunk(src, size):
                writer.write(encode_frame({"k": "data", "id": ctx.request_id}, chunk))
        writer.write(encode_frame({"k": "end", "id": ctx.request_id}))
        await writer.drain()
        await asyncio.Event().wait()


if __name__ == "__main__":
    app.Site = HostileSite  # type: ignore[misc]  (run_site builds the site by this name)
    asyncio.run(app.run_site(Path(sys.argv[1])))
