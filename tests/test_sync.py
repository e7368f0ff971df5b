"""Sync helpers over coroutines: in scripts (no loop), in Jupyter (a loop already running).

nest-asyncio2 patches asyncio process-wide once applied, so everything that runs inside a
running loop (a simulated Jupyter cell: `asyncio.run(kernel())` calling sync code) runs in a
fresh interpreter, which also lets a test send itself SIGINT. Those scripts run with warnings
as errors and must print nothing on stderr (no "Task was destroyed but it is pending", no
unclosed loop).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import mediakit
from mediakit._sync import BackgroundRun, run_sync, start_background

ROOT = Path(mediakit.__file__).resolve().parent.parent


PRELUDE = """
import asyncio, json, os, signal, sys, threading, time
from mediakit._sync import run_sync, start_background

log = []

async def work(seconds=10.0, value="done"):
    try:
        await asyncio.sleep(seconds)
        return value
    except asyncio.CancelledError:
        log.append("cancelled")
        raise
    finally:
        await asyncio.sleep(0.01)  # cleanup that needs the loop
        log.append("finally")

async def whose_thread():
    await asyncio.sleep(0.01)
    return threading.get_ident()

def interrupt_in(seconds):
    asyncio.get_running_loop().call_later(seconds, signal.raise_signal, signal.SIGINT)
"""


def run_script(code: str) -> Any:
    """Run PRELUDE + `code` in a fresh interpreter; return the JSON it prints last."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- no running loop: a script --------------------------------------------------------------


def test_run_sync_in_plain_code() -> None:
    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    assert run_sync(add(2, 3)) == 5
    assert run_sync(add(1, 1)) == 2  # again: no loop left behind that gets in the way


def test_run_sync_raises_what_the_coroutine_raises() -> None:
    async def boom() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        run_sync(boom())


async def test_run_sync_from_a_worker_thread_while_a_loop_runs_elsewhere() -> None:
    async def where() -> int:
        return threading.get_ident()

    worker = await asyncio.to_thread(lambda: (run_sync(where()), threading.get_ident()))
    assert worker[0] == worker[1] != threading.get_ident()


def test_importing_mediakit_does_not_import_nest_asyncio2() -> None:
    loaded = run_script(
        """
        import json, sys
        import mediakit, mediakit._sync, mediakit._frames
        print(json.dumps("nest_asyncio2" in sys.modules))
        """
    )
    assert loaded is False


def test_run_sync_without_a_loop_never_imports_nest_asyncio2() -> None:
    loaded = run_script(
        """
        assert run_sync(work(0.01)) == "done"
        print(json.dumps("nest_asyncio2" in sys.modules))
        """
    )
    assert loaded is False


def test_ctrl_c_in_a_script_cancels_then_raises() -> None:
    log = run_script(
        """
        async def main():
            interrupt_in(0.1)
            return await work()
        try:
            run_sync(main())
        except KeyboardInterrupt:
            log.append("KeyboardInterrupt")
        print(json.dumps(log))
        """
    )
    assert log == ["cancelled", "finally", "KeyboardInterrupt"]


# --- a running loop: a Jupyter cell ---------------------------------------------------------


def test_run_sync_inside_a_running_loop_runs_on_the_same_thread() -> None:
    out = run_script(
        """
        def cell():  # sync code, as a notebook cell calls upload_folder(...)
            return run_sync(whose_thread())

        async def kernel():
            before = "nest_asyncio2" in sys.modules
            first = cell()
            second = cell()  # applied once; a second call just works
            return before, first, second, threading.get_ident(), "nest_asyncio2" in sys.modules

        before, first, second, kernel_thread, after = asyncio.run(kernel())
        print(json.dumps({"before": before, "same": first == second == kernel_thread,
                          "after": after, "plain": run_sync(work(0.01, "plain"))}))
        """
    )
    assert out == {"before": False, "same": True, "after": True, "plain": "plain"}


def test_the_loop_keeps_running_other_tasks_during_a_nested_run() -> None:
    out = run_script(
        """
        async def ticker(ticks, enough):
            while True:
                ticks.append(1)
                if len(ticks) == 5:
                    enough.set()
                await asyncio.sleep(0.01)

        async def cell_work(enough):
            await enough.wait()  # ends only once the kernel's task ticked: the loop ran it
            return "cell done"

        async def kernel():
            ticks, enough = [], asyncio.Event()
            task = asyncio.create_task(ticker(ticks, enough))
            done = run_sync(cell_work(enough))  # a long cell: the kernel's own tasks go on
            task.cancel()
            return done, len(ticks)

        print(json.dumps(asyncio.run(kernel())))
        """
    )
    assert out[0] == "cell done" and out[1] >= 5


@pytest.mark.parametrize("handler", ["asyncio.run's", "the default (ipykernel's in a cell)"])
def test_ctrl_c_in_a_cell_cancels_the_work_waits_then_raises(handler: str) -> None:
    out = run_script(
        f"""
        def cell():
            interrupt_in(0.1)
            try:
                run_sync(work())
            except KeyboardInterrupt:
                log.append("KeyboardInterrupt")

        async def kernel():
            if {handler.startswith("the default")!r}:
                signal.signal(signal.SIGINT, signal.default_int_handler)
            previous = signal.getsignal(signal.SIGINT)
            started = time.monotonic()
            cell()
            elapsed = time.monotonic() - started
            again = run_sync(work(0.01, "next cell"))  # the kernel carries on
            return elapsed, again, signal.getsignal(signal.SIGINT) is previous

        elapsed, again, handler_after = asyncio.run(kernel())
        print(json.dumps({{"log": log, "elapsed": elapsed, "again": again,
                          "handler": handler_after}}))
        """
    )
    assert out["log"][:3] == ["cancelled", "finally", "KeyboardInterrupt"]
    assert out["elapsed"] < 5
    assert out["again"] == "next cell"
    assert out["handler"] is True  # the previous handler is back


def test_a_keyboard_interrupt_raised_by_the_work_cancels_the_rest() -> None:
    log = run_script(
        """
        async def main():
            async def boom():
                await asyncio.sleep(0.05)
                raise KeyboardInterrupt
            child = asyncio.create_task(boom())
            try:
                return await work()
            finally:
                child.cancel()

        async def kernel():
            try:
                run_sync(main())
            except KeyboardInterrupt:
                log.append("KeyboardInterrupt")

        asyncio.run(kernel())
        print(json.dumps(log))
        """
    )
    assert log == ["cancelled", "finally", "KeyboardInterrupt"]


def test_a_second_ctrl_c_stops_waiting_for_a_slow_cleanup() -> None:
    out = run_script(
        """
        async def stubborn():
            try:
                await asyncio.sleep(30)
            finally:
                log.append("cleanup started")
                await asyncio.sleep(30)

        async def kernel():
            interrupt_in(0.1)
            interrupt_in(0.3)
            started = time.monotonic()
            try:
                run_sync(stubborn())
            except KeyboardInterrupt:
                log.append("KeyboardInterrupt")
            return time.monotonic() - started

        elapsed = asyncio.run(kernel())
        print(json.dumps({"log": log, "elapsed": elapsed}))
        """
    )
    assert out["log"] == ["cleanup started", "KeyboardInterrupt"]
    assert out["elapsed"] < 5


def test_background_in_a_running_loop_keeps_going_while_the_cell_blocks() -> None:
    # A cell that blocks the kernel's thread (no await, as `time.sleep` does) until the run
    # has made progress: a run on the kernel's loop could never get there.
    out = run_script(
        """
        progressed = threading.Event()

        async def steps():
            for _ in range(3):
                await asyncio.sleep(0.01)
            progressed.set()
            return threading.get_ident()

        async def kernel():
            run = start_background(steps())
            returned_at_once = not run.done()
            progressed_while_blocked = progressed.wait(60)  # the blocking cell
            return (returned_at_once, progressed_while_blocked,
                    run.result(timeout=60) != threading.get_ident(),
                    await start_background(work(0.01, "awaited")))

        print(json.dumps([*asyncio.run(kernel()), log]))
        """
    )
    assert out == [True, True, True, "awaited", ["finally"]]


def test_background_result_timeout_and_cancel_in_a_running_loop() -> None:
    out = run_script(
        """
        async def kernel():
            run = start_background(work())
            try:
                run.result(timeout=0.05)
            except TimeoutError:
                log.append("TimeoutError")
            log.append(f"done={run.done()}")
            log.append(f"cancel={run.cancel()}")
            try:
                run.result()
            except asyncio.CancelledError:
                log.append("CancelledError")
            log.append(f"cancel again={run.cancel()}")

        asyncio.run(kernel())
        print(json.dumps(log))
        """
    )
    assert out[:2] == ["TimeoutError", "done=False"]
    # The job's own "cancelled" and "finally" come from its thread: they may land before or
    # after this thread logs what cancel() returned, but always in their order, and always
    # before result() raised (it waits for the job to end).
    middle = out[2:5]
    assert sorted(middle) == ["cancel=True", "cancelled", "finally"]
    assert middle.index("cancelled") < middle.index("finally")
    assert out[5:] == ["CancelledError", "cancel again=False"]


def test_ctrl_c_while_waiting_for_a_background_run_stops_the_wait_not_the_run() -> None:
    out = run_script(
        """
        release = threading.Event()

        async def held():
            await asyncio.to_thread(release.wait, 60)  # cannot end before the Ctrl-C
            return "still here"

        async def kernel():
            signal.signal(signal.SIGINT, signal.default_int_handler)  # as ipykernel in a cell
            run = start_background(held())
            try:
                # As "interrupt kernel" does: to the process (raise_signal would hit the thread).
                threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGINT)).start()
                run.result()
            except KeyboardInterrupt:
                log.append(f"KeyboardInterrupt done={run.done()}")
            release.set()
            log.append(run.result(timeout=60))

        asyncio.run(kernel())
        print(json.dumps(log))
        """
    )
    assert out == ["KeyboardInterrupt done=False", "still here"]


# --- background in a running loop, without nesting (same process) ---------------------------


async def test_background_run_has_its_own_thread_even_inside_a_running_loop() -> None:
    async def where() -> int:
        await asyncio.sleep(0.01)
        return threading.get_ident()

    run = start_background(where())
    assert isinstance(run, BackgroundRun)
    ident = await run
    assert ident != threading.get_ident()
    assert run.done()
    assert run.result() == ident  # done: no waiting


async def test_call_runs_on_the_runs_thread_between_its_steps() -> None:
    import time

    release = threading.Event()
    state = {"steps": 0}

    async def counting() -> int:
        while not release.is_set():
            # Two halves of one step, the GIL released between them: a reader on another
            # thread could see them apart, a reader between two steps of the loop never.
            state["steps"] += 1
            time.sleep(0.0002)
            state["steps"] += 1
            await asyncio.sleep(0)
        return state["steps"]

    run = start_background(counting())
    while state["steps"] == 0:  # the run's loop is up (before it, `call` runs here: by design)
        time.sleep(0.001)
    seen: list[int] = []
    readers: set[int] = set()

    def read() -> int:
        readers.add(threading.get_ident())
        return state["steps"]

    while len(set(seen)) < 20 and not run.done():
        seen.append(run.call(read))
    release.set()
    total = await run
    assert len(set(seen)) == 20
    assert all(steps % 2 == 0 for steps in seen), seen
    assert threading.get_ident() not in readers  # on the run's thread while it ran
    assert run.call(read) == total  # done: here and now
    assert threading.get_ident() in readers


async def test_cancelling_a_background_task_runs_its_finally() -> None:
    log: list[str] = []

    started = threading.Event()

    async def work() -> None:
        try:
            started.set()
            await asyncio.sleep(10)
        finally:
            log.append("finally")

    run = start_background(work())
    assert await asyncio.to_thread(started.wait, 60)
    assert run.cancel() is True
    with pytest.raises(asyncio.CancelledError):
        await run
    assert log == ["finally"]
    assert run.done()
    with pytest.raises(asyncio.CancelledError):
        run.result()


async def test_cancelling_an_awaiter_leaves_the_background_task_running() -> None:
    release = threading.Event()

    async def held() -> str:
        await asyncio.to_thread(release.wait, 60)
        return "finished"

    run = start_background(held())

    async def waiter() -> str:
        return await run

    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not run.done()
    release.set()
    assert await run == "finished"


# --- background without a running loop: a thread --------------------------------------------


def test_background_in_a_script_runs_in_a_daemon_thread() -> None:
    returned = threading.Event()

    async def where() -> tuple[bool, int, str, bool]:
        # Goes on only once start_background has returned: it returns at once.
        at_once = await asyncio.to_thread(returned.wait, 60)
        thread = threading.current_thread()
        return at_once, thread.ident or 0, thread.name, thread.daemon

    run = start_background(where())
    returned.set()
    at_once, ident, name, daemon = run.result(timeout=120)
    assert at_once
    assert ident != threading.get_ident()
    assert name == "mediakit-background"
    assert daemon
    assert run.done()


def test_background_thread_cancel_runs_finally_before_result_raises() -> None:
    log: list[str] = []

    async def work() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            log.append("cancelled")
            raise
        finally:
            await asyncio.sleep(0.01)
            log.append("finally")

    run = start_background(work())
    with pytest.raises(TimeoutError):
        run.result(timeout=0.05)
    assert run.cancel() is True
    with pytest.raises(asyncio.CancelledError):
        run.result(timeout=5)
    assert log == ["cancelled", "finally"]
    assert run.done()
    assert run.cancel() is False


def test_background_thread_cancelled_at_once_never_leaves_a_coroutine_unawaited() -> None:
    for _ in range(20):
        run = start_background(asyncio.sleep(10))
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            run.result(timeout=5)


def test_background_thread_raises_what_the_coroutine_raises() -> None:
    async def boom() -> None:
        raise ValueError("bad")

    run = start_background(boom())
    with pytest.raises(ValueError, match="bad"):
        run.result(timeout=5)


def test_background_thread_sees_the_callers_context() -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("caller")

    async def read() -> str:
        return var.get()

    assert start_background(read()).result(timeout=5) == "caller"


def test_background_thread_is_awaitable_from_async_code() -> None:
    run = start_background(asyncio.sleep(0.05, "from the thread"))

    async def main() -> str:
        return await run

    assert asyncio.run(main()) == "from the thread"


def test_cancelling_an_awaiter_leaves_the_background_thread_running() -> None:
    release = threading.Event()

    async def held() -> str:
        await asyncio.to_thread(release.wait, 60)  # runs until the test lets it end
        return "finished"

    run = start_background(held())

    async def main() -> None:
        async def waiter() -> str:
            return await run

        waiting = asyncio.create_task(waiter())
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(main())
    assert not run.done()
    release.set()
    assert run.result(timeout=60) == "finished"
