"""Running coroutines from sync code, in scripts and inside Jupyter.

Every network call is a coroutine; the sync helpers (`upload_folder`, …) run them here:

- No event loop runs in this thread (a script, a REPL, a worker thread): `run_sync` works like
  `asyncio.run`, Ctrl-C included (the work is cancelled, its cleanup awaited, then
  KeyboardInterrupt is raised).
- An event loop already runs in this thread (a Jupyter cell: ipykernel runs cells inside its
  loop): `asyncio.run` would refuse. nest-asyncio2 makes that loop re-entrant (applied the
  first time this happens, never at import) and the work runs on it, on the kernel's own
  thread, and "interrupt kernel" cancels the work and waits for its cleanup.
- `start_background` (`wait=False`): the work gets its own loop in a daemon thread, in a
  script and in Jupyter alike, so it keeps going while other cells run, blocking ones
  included. Widget updates sent from that thread reach the front end: ipykernel 7 sends every
  IOPub message through its IOPub thread, whatever thread it comes from
  (`tests/test_background_browser.py` checks it in JupyterLab).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import signal
import threading
from collections.abc import Callable, Coroutine, Generator, Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any, Generic, TypeVar

from ._errors import ConfigurationError

__all__ = ["BackgroundRun", "run_sync", "start_background"]

T = TypeVar("T")
R = TypeVar("R")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion from sync code and return its result.

    Without a running loop in this thread this is `asyncio.run`. Inside one (a Jupyter cell)
    the loop is made re-entrant and runs `coro` as a task until it is done. Either way Ctrl-C
    cancels the task, waits for its cancellation to finish, then raises KeyboardInterrupt (a
    second Ctrl-C stops waiting for a cleanup that hangs). A running loop that cannot be made
    re-entrant (uvloop) raises `ConfigurationError`: await the async API there.
    """
    loop = _running_loop()
    if loop is None:
        with asyncio.Runner() as runner:
            return runner.run(coro)
    try:
        _make_reentrant(loop)
    except BaseException:
        coro.close()
        raise
    return _drive(loop, loop.create_task(coro))


def start_background(coro: Coroutine[Any, Any, T]) -> BackgroundRun[T]:
    """Start `coro` on its own event loop in a daemon thread and return at once (`wait=False`).

    In Jupyter too: a task on the kernel's loop would only run between cells, so a cell that
    blocks (`time.sleep`, a long computation) would stall the upload. The worker thread keeps
    going whatever the kernel's thread does.
    """
    return BackgroundRun(coro)


class BackgroundRun(Generic[T]):
    """A coroutine running on its own loop in a daemon thread: poll, cancel, wait, or await it.

    Every method may be called from any thread. Waiting is not owning: a Ctrl-C during
    `result()`, or the cancellation of a coroutine awaiting the run, stops the wait and leaves
    the run going. `cancel()` stops the run.
    """

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self._coro = coro
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._cancel_requested = False
        # Settled only after the loop is closed, so `done()` means cleaned up. Running from
        # the start: cancelling a waiter (`asyncio.wrap_future`) then cannot cancel it.
        self._future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._future.set_running_or_notify_cancel()
        self._thread = threading.Thread(
            target=self._main,
            args=(contextvars.copy_context(),),
            name="mediakit-background",
            daemon=True,
        )
        self._thread.start()

    def done(self) -> bool:
        """True once the run has finished (result, error or cancelled) and cleaned up."""
        return self._future.done()

    def cancel(self) -> bool:
        """Ask the run to stop (its coroutine gets CancelledError); False if already done."""
        with self._lock:
            if self._future.done():
                return False
            self._cancel_requested = True
            loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with suppress(RuntimeError):  # the loop just closed: the run is over
                loop.call_soon_threadsafe(task.cancel)
        return True

    def result(self, timeout: float | None = None) -> T:
        """Block until the run is done and return its result (or raise its exception).

        Raises `asyncio.CancelledError` if it was cancelled, `TimeoutError` if `timeout`
        seconds pass first.
        """
        return self._future.result(timeout)

    def call(self, function: Callable[[], R]) -> R:
        """`function()` on the run's thread, between two steps of the run, and its result.

        What it reads is then never half-updated by the run. Called on the run's thread, or
        before its loop started or after it closed, `function` runs here and now.
        """
        with self._lock:
            loop = self._loop
        if loop is None or threading.current_thread() is self._thread or self._future.done():
            return function()
        answer: concurrent.futures.Future[R] = concurrent.futures.Future()

        def on_the_loop() -> None:
            if answer.set_running_or_notify_cancel():
                try:
                    answer.set_result(function())
                except BaseException as error:
                    answer.set_exception(error)

        try:
            loop.call_soon_threadsafe(on_the_loop)
        except RuntimeError:  # closed meanwhile
            return function()
        # The loop may close before it gets to the callback: then the run is done.
        pending: list[concurrent.futures.Future[Any]] = [answer, self._future]
        concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
        if not answer.done() and answer.cancel():
            return function()
        return answer.result()

    def __await__(self) -> Generator[Any, None, T]:
        return self._wait().__await__()

    async def _wait(self) -> T:
        return await asyncio.wrap_future(self._future)

    def _main(self, context: contextvars.Context) -> None:
        try:
            with asyncio.Runner() as runner:
                result = runner.run(self._body(), context=context)
        except BaseException as error:  # the run's outcome, whatever it is, goes to the caller
            self._future.set_exception(error)
        else:
            self._future.set_result(result)

    async def _body(self) -> T:
        with self._lock:
            if self._cancel_requested:  # cancelled before the thread got here
                self._coro.close()
                raise asyncio.CancelledError
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
        return await self._coro


# --- driving a re-entrant loop from sync code ---------------------------------------------


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _make_reentrant(loop: asyncio.AbstractEventLoop) -> None:
    """Patch `loop` with nest-asyncio2, once; imported here, never at import of mediakit."""
    if getattr(loop, "_nest_patched", False):
        return
    if not isinstance(loop, asyncio.BaseEventLoop):
        raise ConfigurationError(
            f"cannot block inside a running {type(loop).__name__} (it cannot be made "
            "re-entrant): await the async function instead, e.g. `await upload_folder_async(...)`"
        )
    import nest_asyncio2

    nest_asyncio2.apply(loop)


class _Drive:
    """One nested `run_until_complete`, and what Ctrl-C does to it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        self.loop = loop
        self.task = task
        self.interrupted = False
        self.escalated = False

    def interrupt(self) -> None:
        """First Ctrl-C: cancel the task and let it clean up. Second: stop waiting for it."""
        if self.interrupted:
            self.escalated = True
            raise KeyboardInterrupt
        self.interrupted = True
        if not self.task.done():
            self.task.cancel()
            self.loop.call_soon_threadsafe(_nothing)  # wake the selector now

    def settle(self) -> None:
        """Cancel the task if it is still going and run the loop until it has finished."""
        self.interrupted = True  # from here a Ctrl-C means: stop waiting
        if not self.task.done():
            self.task.cancel()
            self.loop.run_until_complete(asyncio.wait({self.task}))
        if not self.task.cancelled():
            self.task.exception()  # retrieved: KeyboardInterrupt is what the caller gets


# Nested drives of the main thread, innermost last: Ctrl-C goes to the innermost.
_drives: list[_Drive] = []


def _drive(loop: asyncio.AbstractEventLoop, task: asyncio.Task[T]) -> T:
    """Run the re-entrant `loop` until `task` is done; Ctrl-C cancels it, waits, re-raises."""
    drive = _Drive(loop, task)
    with _receiving_sigint(drive):
        try:
            result = loop.run_until_complete(task)
        except KeyboardInterrupt:
            # Raised into the loop by another SIGINT handler or by the work itself.
            if not drive.escalated:
                drive.settle()
            raise
        except asyncio.CancelledError:
            if drive.interrupted:
                raise KeyboardInterrupt from None
            raise
    if drive.interrupted:  # the task finished anyway, but the user asked to stop
        raise KeyboardInterrupt
    return result


@contextmanager
def _receiving_sigint(drive: _Drive) -> Iterator[None]:
    """Route SIGINT to `drive` while it runs (in the main thread; the innermost drive gets it).

    Whatever Python handler was there (the default one ipykernel installs while a cell runs,
    or `asyncio.run`'s, which would only cancel the task blocked in this call) is put back
    afterwards. An ignored or C-level SIGINT stays as it is; a KeyboardInterrupt raised some
    other way is handled by `_drive`.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    installed = not _drives and callable(previous)
    if installed:
        signal.signal(signal.SIGINT, _on_sigint)
    _drives.append(drive)
    try:
        yield
    finally:
        _drives.remove(drive)
        if installed and signal.getsignal(signal.SIGINT) is _on_sigint:
            signal.signal(signal.SIGINT, previous)


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    if not _drives:
        raise KeyboardInterrupt
    _drives[-1].interrupt()


def _nothing() -> None:
    pass
