"""start_now (console.shell.eager): a coroutine run at once up to its first wait, then as a task would run it."""

from __future__ import annotations

import asyncio

import pytest

from console.shell.eager import start_now


def run(main):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(main(), 10))


def test_runs_up_to_its_first_wait_before_returning_then_to_its_end() -> None:
    async def main() -> None:
        steps: list[str] = []
        gate = asyncio.get_running_loop().create_future()

        async def work() -> str:
            steps.append("sent")
            await gate
            steps.append("answered")
            await asyncio.sleep(0)  # a bare yield
            return "answer"

        future = start_now(work())
        assert steps == ["sent"] and not future.done()
        gate.set_result(None)
        assert await future == "answer"
        assert steps == ["sent", "answered"]
    run(main)


@pytest.mark.parametrize("where", ["before", "after"])
def test_an_error_before_or_after_the_first_wait_is_the_futures(where: str) -> None:
    async def main() -> None:
        async def work() -> None:
            if where == "after":
                await asyncio.sleep(0.01)
            raise ValueError(where)

        future = start_now(work())
        assert future.done() is (where == "before")
        with pytest.raises(ValueError, match=where):
            await future
    run(main)


def test_a_coroutine_that_never_waits_gives_a_done_future() -> None:
    async def main() -> None:
        async def work() -> int:
            return 7

        future = start_now(work())
        assert future.done() and future.result() == 7
    run(main)


def test_cancel_reaches_the_coroutine_where_it_waits_and_cancels_what_it_waits_for() -> None:
    async def main() -> None:
        seen: list[str] = []
        gate = asyncio.get_running_loop().create_future()

        async def work() -> None:
            try:
                await gate
            except asyncio.CancelledError:
                seen.append("cancelled at its wait")
                raise

        future = start_now(work())
        await asyncio.sleep(0)
        future.cancel()
        with pytest.raises(asyncio.CancelledError):
            await future
        assert seen == ["cancelled at its wait"] and gate.cancelled() and future.cancelled()
    run(main)


def test_a_coroutine_may_answer_a_cancel_and_go_on() -> None:
    """As FLARE's backend does for a call already sent: it waits for the call and says it went on."""
    async def main() -> None:
        async def work() -> str:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                await asyncio.sleep(0.01)  # the outcome of what was sent
                return "went on"
            return "not cancelled"

        future = start_now(work())
        await asyncio.sleep(0)
        future.cancel()
        assert await future == "went on"
    run(main)


def test_a_cancel_after_its_wait_was_answered_still_reaches_it() -> None:
    """As with a task: the cancel comes out of the wait that was answered, before anything after it runs."""
    async def main() -> None:
        steps: list[str] = []
        gate = asyncio.get_running_loop().create_future()

        async def work() -> None:
            await gate
            steps.append("after its wait")

        future = start_now(work())
        gate.set_result(None)  # done, but the task has not resumed yet: the cancel comes first
        future.cancel()
        with pytest.raises(asyncio.CancelledError):
            await future
        assert steps == [] and future.cancelled()
    run(main)


# -- Arrival (console.shell.early): who shows a read-only command's answer, FLARE's worker or the shell --


def _arrival(shown: list[object], can_show: bool = True):  # type: ignore[no-untyped-def]
    from console.shell.early import Arrival

    def show(outcome) -> bool:  # type: ignore[no-untyped-def]
        shown.append(outcome.result)
        return can_show

    return Arrival(show)


def test_the_worker_shows_the_answer_once_the_line_is_back_on_the_screen() -> None:
    import threading

    shown: list[object] = []
    arrival = _arrival(shown)
    worker = threading.Thread(target=arrival.arrived, args=({"status": "ok"},))
    worker.start()
    arrival.may_show.set()  # the accepted line is back on the screen
    worker.join(5)
    assert shown == [{"status": "ok"}]
    assert arrival.settle() is True  # the shell does not show it again


def test_an_answer_that_comes_before_the_prompt_is_put_away_says_so_and_waits_for_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """EarlySend._hold_for waits ``ON_THE_WIRE`` before putting the prompt away, or until ``came``: a fast
    answer ends that wait, then is shown once the line is back on the screen, never before."""
    import threading

    from console.shell import early

    monkeypatch.setattr(early, "SHOW_WAIT", 30.0)  # (a loaded machine: the worker waits as long as needed)
    shown: list[object] = []
    arrival = _arrival(shown)
    worker = threading.Thread(target=arrival, args=({"status": "ok"},))  # (``on_answer``: the Arrival itself)
    worker.start()
    try:
        assert arrival.came.wait(20)  # the hold stops waiting: it puts the prompt away now
        assert shown == [] and not arrival.handled.is_set()
        arrival.may_show.set()
        assert arrival.handled.wait(20) and shown == [{"status": "ok"}] and arrival.settle() is True
    finally:
        arrival.may_show.set()
        worker.join(20)


def test_the_shell_keeps_the_answer_it_settled_first() -> None:
    """A Ctrl-C or an error settled first: the worker shows nothing, even once allowed."""
    shown: list[object] = []
    arrival = _arrival(shown)
    assert arrival.settle() is False
    arrival.may_show.set()
    arrival.arrived({"status": "ok"})
    assert shown == []


def test_the_shell_shows_what_the_worker_could_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not allowed in time (the prompt still being put away), or the answer needs the pager."""
    from console.shell import early

    shown: list[object] = []
    arrival = _arrival(shown)
    monkeypatch.setattr(early, "SHOW_WAIT", 0.01)
    arrival.arrived({"status": "ok"})  # may_show never set
    assert shown == [] and arrival.settle() is False
    paged: list[object] = []
    arrival = _arrival(paged, can_show=False)
    arrival.may_show.set()
    arrival.arrived({"rows": 500})
    assert paged == [{"rows": 500}] and arrival.settle() is False


def test_one_context_for_the_whole_run_as_a_task_has() -> None:
    """What the coroutine sets before its first wait is its own, and still set after it (a token made
    there resets there): the shell's USER_COMMAND of a file command started from Enter."""
    import contextvars

    var: contextvars.ContextVar[str | None] = contextvars.ContextVar("var", default=None)

    async def main() -> None:
        gate = asyncio.get_running_loop().create_future()

        async def work() -> str | None:
            token = var.set("cat")
            await gate
            seen = var.get()
            var.reset(token)  # raised ValueError (another Context) when the first step ran in the caller's
            return seen

        future = start_now(work())
        assert var.get() is None  # the caller's context is left as it was
        gate.set_result(None)
        assert await future == "cat"
    run(main)
