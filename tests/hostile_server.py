"""A hostile server on a project's admin port, for tests of what a console does with its answers.

It holds the project's real server certificate (a stolen key, or a bug on the server), speaks our
frames, answers ``login`` with whatever the test gives and every other request with an empty
list, or with a JSON answer that never ends (``flood``), or with the frames ``answers`` gives for
its command (headers without ``id``, with bodies; a number among them: a pause of that many
seconds, which holds up that connection's later requests too, unless ``concurrent``: then each
request is answered in a task of its own; a ``threading.Event``: set when the frames before it are
sent, so a test knows the request came). Frames other than requests (an upload's, a cancel) are
not answered; ``received`` collects the header of every frame that came. With the login answer of
an older server (``login_answer()``: no ``features``) it plays one. Runs in a thread with its own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from console.wire.frames import encode_frame, read_frame
from console.wire.kit import ServerKit
from console.wire.tls import server_context


@contextlib.contextmanager
def hostile_server(server_kit: Path, login: Any, flood: bool = False,
                   answers: dict[str, Sequence[tuple[dict[str, Any], bytes] | float | threading.Event]] | None = None,
                   concurrent: bool = False, received: list[dict[str, Any]] | None = None) -> Iterator[None]:
    async def answer(writer: asyncio.StreamWriter, request_id: Any, cmd: Any) -> None:
        assert answers is not None
        with contextlib.suppress(Exception):
            for item in answers[cmd]:
                if isinstance(item, threading.Event):  # the test learns that the request came
                    item.set()
                    continue
                if isinstance(item, float | int):
                    await asyncio.sleep(item)
                    continue
                header, body = item
                writer.write(encode_frame({**header, "id": request_id}, body))
                await writer.drain()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks: set[asyncio.Task[None]] = set()
        with contextlib.suppress(Exception):
            while (frame := await read_frame(reader)) is not None:
                if received is not None:
                    received.append(dict(frame.header))
                if frame.header.get("k") != "req":
                    continue
                request_id, cmd = frame.header.get("id"), frame.header.get("cmd")
                if cmd == "login":
                    writer.write(encode_frame({"k": "res", "id": request_id, "ok": True, "data": login}))
                elif answers and cmd in answers and concurrent:
                    tasks.add(task := asyncio.create_task(answer(writer, request_id, cmd)))
                    task.add_done_callback(tasks.discard)
                elif answers and cmd in answers:
                    await answer(writer, request_id, cmd)
                elif flood:
                    writer.write(encode_frame({"k": "res", "id": request_id, "ok": True, "stream": True,
                                               "json": True, "size": 1 << 40}))
                    chunk = b" " * (1 << 20)
                    for _ in range(4096):  # 4 GiB unless the console hangs up first
                        writer.write(encode_frame({"k": "data", "id": request_id}, chunk))
                        await writer.drain()
                else:
                    writer.write(encode_frame({"k": "res", "id": request_id, "ok": True, "data": []}))
                await writer.drain()
        for task in list(tasks):
            task.cancel()
        writer.close()

    with serving(server_kit, serve):
        yield


@contextlib.contextmanager
def serving(server_kit: Path, handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
            ) -> Iterator[None]:
    """``handler`` for each TLS connection to the project's admin port (the server's own certificate),
    on a loop in a thread of its own, from when it listens until the block ends."""
    kit = ServerKit.load(server_kit)
    ctx = server_context(kit.tls.cert, kit.tls.key, kit.tls.ca)
    ready, stop = threading.Event(), None
    loop = asyncio.new_event_loop()

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        listener = await asyncio.start_server(handler, kit.host, kit.admin_port, ssl=ctx)
        ready.set()
        await stop.wait()
        listener.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(10), "the hostile server did not start"
        yield
    finally:
        loop.call_soon_threadsafe(lambda: stop.set() if stop else None)
        thread.join(10)


def login_answer(**changes: Any) -> dict[str, Any]:
    """A well-formed login answer of a server before ``features`` (console.wire.features), with
    ``changes`` applied (``user`` replaced whole)."""
    answer = {"protocol": 1, "server": "server", "project": "test_project",
              "user": {"name": "admin@example.com", "org": "example", "role": "project_admin"},
              "rights": {}, "server_start_time": 1.0}
    answer.update(changes)
    return json.loads(json.dumps(answer))
