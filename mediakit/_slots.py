"""Upload slots whose number can change while files wait for them, and that count bytes.

`Admission` is what the batch scheduler asks for a slot: it keeps what each file still has
to send, feeds every answer to the `_concurrency.Controller`, applies its decisions to the
`Slots` and records each change (`log`) for the result and the dashboard.

An `asyncio.Semaphore` has a fixed size; the batch's concurrency is decided as it goes
(`_concurrency`). `Slots` grants in arrival order (the scheduler's longest-processing-first
order), at most `limit` at once, and within `byte_budget` of buffers: a file is let in when
what it will hold fits beside what the files in flight hold (or when nothing is in flight,
so a file larger than the budget still goes, alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections import Counter, deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ._concurrency import MEMORY_BUDGET, UPLOAD_COMMANDS, Change, Controller, Demand
from ._media import FileCheck
from ._records import Event

if TYPE_CHECKING:
    from ._batch import Resume
    from ._client import MediaClient

__all__ = ["Admission", "Slots"]


class Slots:
    def __init__(self, limit: int, byte_budget: int | None = None) -> None:
        self.limit = max(1, limit)
        self.byte_budget = byte_budget
        self.used = 0
        self.bytes_used = 0
        self._waiters: deque[tuple[asyncio.Future[None], int]] = deque()
        # Kept as files come and go, not counted from `_waiters`: the controller asks on every
        # answer, and a 5,000-file batch has thousands of waiters.
        self._waiting = 0
        self._waiting_sizes: Counter[int] = Counter()
        self._largest: list[int] = []  # a max-heap (negated) of sizes, pruned lazily

    @property
    def waiting(self) -> int:
        return self._waiting

    def waiting_bytes(self) -> int:
        """The most bytes one waiting file will hold (0 when none waits)."""
        while self._largest and not self._waiting_sizes[-self._largest[0]]:
            heapq.heappop(self._largest)
        return -self._largest[0] if self._largest else 0

    def _stop_waiting(self, size: int) -> None:
        self._waiting -= 1
        self._waiting_sizes[size] -= 1
        if not self._waiting_sizes[size]:
            del self._waiting_sizes[size]

    def set_limit(self, limit: int) -> None:
        """A new limit: more waiters go in now, or fewer once the files in flight end."""
        self.limit = max(1, limit)
        self._grant()

    def _fits(self, size: int) -> bool:
        if self.used >= self.limit:
            return False
        if self.byte_budget is None or self.used == 0:
            return True
        return self.bytes_used + size <= self.byte_budget

    def _grant(self) -> None:
        while self._waiters:
            future, size = self._waiters[0]
            if future.done():  # cancelled while waiting
                self._waiters.popleft()
                continue
            if not self._fits(size):
                return
            self._waiters.popleft()
            self._stop_waiting(size)
            self.used += 1
            self.bytes_used += size
            future.set_result(None)

    async def acquire(self, size: int = 0) -> None:
        """Wait for a slot for a file that will hold `size` bytes of buffers."""
        if not self._waiters and self._fits(size):
            self.used += 1
            self.bytes_used += size
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((future, size))
        self._waiting += 1
        self._waiting_sizes[size] += 1
        heapq.heappush(self._largest, -size)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted, then cancelled
                self.release(size)
            else:
                self._stop_waiting(size)
                self._grant()  # it may have been the head that blocked the others
            raise

    def release(self, size: int = 0) -> None:
        self.used -= 1
        self.bytes_used -= size
        self._grant()


class Admission:
    """The batch's upload slots, as many as the controller decides (see the module docstring)."""

    def __init__(self, client: MediaClient, ceiling: int | None) -> None:
        self.client = client
        # Requests each file still has to send (INIT, APPEND, FINALIZE), and their sum.
        self._left: dict[int, dict[str, int]] = {}
        self._need: dict[str, int] = dict.fromkeys(UPLOAD_COMMANDS, 0)
        self._processed_waiting = 0  # videos and GIFs not yet given a slot
        self.controller = Controller(ceiling=ceiling, open_files=_open_file_limit())
        self.slots = Slots(1, byte_budget=MEMORY_BUDGET - 2 * client.chunk_size)
        first = self.controller.decide(client.clock.now(), self._demand(), {})
        self.slots.set_limit(first.limit)
        self.log: list[Change] = []
        self._note(first.limit, first.reason, first.detail)

    def plan(self, file_id: int, check: FileCheck, resume: Resume | None) -> None:
        """The requests a file will send before it is done uploading."""
        if resume is not None and resume.kind in ("poll", "done"):
            return
        left = {"INIT": 0 if resume is not None else 1, "FINALIZE": 1}
        done = len(resume.done_segments) if resume is not None else 0
        left["APPEND"] = max(0, (check.segments or 1) - done)
        self._left[file_id] = left
        self._processed_waiting += _processed(check)
        for command, count in left.items():
            self._need[command] += count

    def observe(self, event: Event) -> None:
        self.controller.observe(event)
        left = self._left.get(event.file_id) if event.file_id is not None else None
        if event.ok and left is not None and left.get(event.command, 0) > 0:
            left[event.command] -= 1
            self._need[event.command] -= 1
        self.decide()

    def ended(self, file_id: int) -> None:
        """The file is final: what it did not send, it never will."""
        for command, count in self._left.pop(file_id, {}).items():
            self._need[command] -= count

    def _holds(self, check: FileCheck) -> int:
        """Bytes of buffers the file holds while it uploads: its segments in flight."""
        chunk = check.chunk_size or self.client.chunk_size
        in_flight = min(self.client.segment_concurrency, check.segments or 1)
        return in_flight * min(chunk, check.size or chunk)

    def _demand(self) -> Demand:
        return Demand(
            requests=dict(self._need),
            files_waiting=self.slots.waiting,
            files_uploading=self.slots.used,
            file_bytes=self.slots.waiting_bytes(),
            chunk_size=self.client.chunk_size,
            segments_per_file=self.client.segment_concurrency,
            processed_waiting=self._processed_waiting,
        )

    def decide(self) -> None:
        decision = self.controller.decide(
            self.client.clock.now(), self._demand(), self.client.budget.snapshot()
        )
        last = self.log[-1]
        paced_changed = (decision.reason == "paced") != (last.reason == "paced")
        if decision.limit != last.limit or paced_changed:
            self._note(decision.limit, decision.reason, decision.detail)
        self.slots.set_limit(decision.limit)

    def _note(self, limit: int, reason: str, detail: str) -> None:
        self.log.append(
            Change(
                at=self.client.clock.now(),
                limit=limit,
                uploading=self.slots.used,
                waiting=self.slots.waiting,
                reason=reason,
                detail=detail,
            )
        )

    @contextlib.asynccontextmanager
    async def slot(self, check: FileCheck) -> AsyncIterator[None]:
        """Hold one upload slot (and the file's buffers' share of memory) inside the block."""
        size = self._holds(check)
        self.decide()
        await self.slots.acquire(size)
        self._processed_waiting -= _processed(check)
        try:
            yield
        finally:
            self.slots.release(size)
            self.decide()


def _processed(check: FileCheck) -> int:
    return 1 if check.kind in ("video", "gif") else 0


def _open_file_limit() -> int | None:
    try:
        import resource
    except ImportError:  # Windows: no such limit to read
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)
