"""FlareWorker (console.backends.nvflare_worker): the thread FLARE's blocking calls run on, off the loop.

Plain callables stand in for FLARE's Session methods: what is tested is the hand-over, the order,
cancels and shutdown, which do not depend on what the call does.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from console.api import errors
from console.backends.nvflare_worker import FlareWorker

pytestmark = pytest.mark.timeout(60)


def _worker() -> FlareWorker:
    return FlareWorker("test-flare", lambda exc: errors.InternalError(f"translated: {exc}"))


def test_calls_run_in_order_on_one_thread_off_the_loop() -> None:
    async def main() -> None:
        worker = _worker()
        ran: list[tuple[int, str]] = []

        def call(n: int) -> int:
            ran.append((n, threading.current_thread().name))
            return n * 10

        results = await asyncio.gather(*(worker.run(call, n) for n in range(5)))
        assert results == [0, 10, 20, 30, 40]
        assert [n for n, _ in ran] == list(range(5))
        assert len({name for _, name in ran}) == 1 and ran[0][1].startswith("test-flare")  # one thread, not the loop's
        seen: list[object] = []
        assert await worker.run(call, 7, then=seen.append) == 70
        assert seen == [70]  # ``then`` ran on the thread with the result
        worker.submit(call, 8)  # its outcome ignored (a dropped Session's close): the thread goes on
        assert await worker.run(call, 9) == 90
        assert [n for n, _ in ran][-2:] == [8, 9]
        worker.shutdown()
    asyncio.run(asyncio.wait_for(main(), 30))


def test_a_then_that_holds_its_loop_is_told_on_the_loops_thread_once_the_call_is_handed_over() -> None:
    """``early.Arrival``: the shell holds its loop from the hand-over until the answer is shown."""
    async def main() -> None:
        worker = _worker()
        seen: list[tuple[str, object]] = []

        class Shown:
            def __init__(self) -> None:
                self.answered = threading.Event()

            def __call__(self, answer: object) -> None:
                seen.append(("answer", answer))
                self.answered.set()

            def handed_over(self) -> None:
                seen.append(("handed over on the loop's thread", threading.current_thread() is loop_thread))
                assert self.answered.wait(20)  # the call goes on while the loop is held

        loop_thread = threading.current_thread()
        assert await worker.run(lambda: 5, then=Shown()) == 5
        assert seen == [("handed over on the loop's thread", True), ("answer", 5)]
        assert await worker.run(lambda: 6, then=seen.append) == 6  # (a plain ``then``: nothing else asked)
        worker.shutdown()
    asyncio.run(asyncio.wait_for(main(), 30))


def test_an_error_comes_back_translated() -> None:
    async def main() -> None:
        worker = _worker()

        def fails() -> None:
            raise ValueError("FLARE said no")

        with pytest.raises(errors.InternalError, match="translated: FLARE said no"):
            await worker.run(fails)
        assert await worker.run(lambda: "still serving") == "still serving"
        worker.shutdown()
    asyncio.run(asyncio.wait_for(main(), 30))


def test_a_cancel_stops_a_queued_call_and_a_started_change_goes_on() -> None:
    async def main() -> None:
        worker = _worker()
        release = threading.Event()
        started = threading.Event()
        ran: list[str] = []

        def held(name: str) -> str:
            started.set()
            release.wait(20)
            ran.append(name)
            return f"{name} done"

        first = asyncio.ensure_future(worker.run(held, "submit", goes_on="submit_job"))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 20)
        queued = asyncio.ensure_future(worker.run(ran.append, "queued question"))
        await asyncio.sleep(0.05)
        queued.cancel()
        first.cancel()  # FLARE's call has started: it cannot be stopped
        await asyncio.sleep(0.05)
        release.set()
        with pytest.raises(errors.CancelTooLate) as late:
            await first
        assert late.value.result == "submit done"
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert await worker.run(lambda: "next") == "next"
        assert ran == ["submit"]  # the queued question never ran
        worker.shutdown()
    asyncio.run(asyncio.wait_for(main(), 30))


def test_after_shutdown_a_call_says_the_session_is_closed() -> None:
    async def main() -> None:
        worker = _worker()
        release = threading.Event()
        running = asyncio.ensure_future(worker.run(release.wait, 20))
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(worker.run(lambda: "never"))
        await asyncio.sleep(0.05)
        worker.shutdown()
        release.set()
        assert await running is True  # the running call ran to its end
        with pytest.raises(asyncio.CancelledError):
            await queued
        with pytest.raises(errors.SessionClosed):
            await worker.run(lambda: "too late")
    asyncio.run(asyncio.wait_for(main(), 30))


def test_a_program_that_never_shut_its_worker_down_still_ends() -> None:
    """The thread is not a daemon (``console.quick_exit`` counts it): Python's exit tells an idle one to end."""
    import subprocess
    import sys

    script = ("import asyncio\n"
              "from console.backends.nvflare_worker import FlareWorker\n"
              "worker = FlareWorker('left-running', lambda exc: exc)\n"
              "print(asyncio.run(worker.run(lambda: 'answered')))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "answered"), done.stderr


@pytest.mark.timeout(60)
def test_the_program_ends_though_a_pool_made_on_a_daemon_thread_still_works() -> None:
    """FLARE's login runs on a daemon thread of ours, so the pools FLARE makes there have daemon threads; Python's
    exit joins them all the same (``concurrent.futures``), and one of them held FLARE's reconnect for the
    connection's lifetime: ``bye`` hung in Python's exit. ``console.quick_exit`` counts them: the program ends."""
    import subprocess
    import sys

    script = ("import concurrent.futures, sys, threading, types\n"
              "from console.quick_exit import end\n"
              "sys.modules['nvflare'] = types.ModuleType('nvflare')  # (as once FLARE's library is loaded)\n"
              "started, never = threading.Event(), threading.Event()\n"
              "def login():\n"
              "    pool = concurrent.futures.ThreadPoolExecutor(1)\n"
              "    pool.submit(lambda: (started.set(), never.wait()))\n"
              "threading.Thread(target=login, daemon=True).start()\n"
              "started.wait(10)\n"
              "print('done', flush=False)\n"
              "raise SystemExit(end(3))\n")
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError("the program did not end: Python's exit joined the pool's thread") from exc
    assert (done.returncode, done.stdout.strip()) == (3, "done"), done.stderr
