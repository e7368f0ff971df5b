"""The decodes that run after FINALIZE, as part of processing, in worker threads.

X answers the FINALIZE of a video or GIF at once (`pending`) and decodes it while it
processes; the emulator does the same: FINALIZE judges the headers, and the decode
(`_verify.verified`), whose result decides the processing plan, runs here afterwards.

While a decode runs its row names the process decoding it (`MediaRow.decoder`, the pid), so
any process sharing the state can tell a decode still running from one whose process is gone
and take the latter over. Within a process the running decodes are kept here by state and
media id, so every emulator on that state can wait for one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["Decodes", "decoder_alive", "this_decoder"]

_RUNNING: dict[tuple[str, str], Future[None]] = {}
_LOCK = threading.Lock()
_WORKERS = max(1, min(4, os.cpu_count() or 1))


def this_decoder() -> str:
    return str(os.getpid())  # at call time: a forked process is another decoder


def running(state_id: str, media_id: str) -> Future[None] | None:
    """The decode of this media running in this process, if one is."""
    with _LOCK:
        future = _RUNNING.get((state_id, media_id))
    return None if future is None or future.done() else future


def decoder_alive(decoder: str, state_id: str, media_id: str) -> bool:
    """Whether the process named `decoder` may still store this decode's result."""
    if decoder == this_decoder():
        return running(state_id, media_id) is not None
    try:
        os.kill(int(decoder), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True  # another user's process, or a name we cannot read: leave it alone
    return True


class Decodes:
    """The decodes one emulator started; `close` waits for them, so none outlives it."""

    def __init__(self, state_id: str) -> None:
        self._state_id = state_id
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def reserve(self, media_id: str) -> Future[None]:
        """Mark the decode of `media_id` running here, before its row says so."""
        future: Future[None] = Future()
        with _LOCK:
            _RUNNING[(self._state_id, media_id)] = future
        return future

    def start(self, media_id: str, future: Future[None], job: Callable[[], None]) -> None:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(_WORKERS, thread_name_prefix="mediakit-decode")
            executor = self._executor
        executor.submit(self._run, media_id, future, job)

    def run_here(self, media_id: str, job: Callable[[], None]) -> None:
        """Run a decode in the calling thread (one taken over), marked running meanwhile."""
        self._run(media_id, self.reserve(media_id), job)

    def _run(self, media_id: str, future: Future[None], job: Callable[[], None]) -> None:
        try:
            job()
        finally:
            with _LOCK:
                if _RUNNING.get((self._state_id, media_id)) is future:
                    del _RUNNING[(self._state_id, media_id)]
            future.set_result(None)  # the job stores its own result and never raises

    def running(self, media_id: str) -> Future[None] | None:
        return running(self._state_id, media_id)

    def alive(self, decoder: str, media_id: str) -> bool:
        return decoder_alive(decoder, self._state_id, media_id)

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
