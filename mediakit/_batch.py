"""The batch scheduler: many files through one `MediaClient`, politely and to the end.

- As many files upload at once (INIT to FINALIZE) as `_concurrency.Controller` decides from
  the rate budget, the measured round trips, memory and open files (`concurrency=N` is its
  ceiling); every change is in `concurrency_log`. A file waiting for X to process it holds no
  upload slot: one poller honours each `check_after_secs` and the STATUS budget.
- Longest processing first (videos by size, then GIFs, then images): X processes in parallel,
  so the batch ends when the longest processing does, not after the sum of uploads.
- One file's failure never stops the others; every file ends in exactly one final state.
- Cancelling the batch stops new requests at once and ends unfinished files `cancelled`.
- A server that never answered (connection refused, unknown host, a refused certificate)
  stops the whole batch at once: every other file would meet the same wall.
- The same file given twice is uploaded once; the copy ends with the original's outcome.
- A file that must be prepared first (repaired, with fix=True: `_fix`) joins the upload queue
  as soon as it is ready, while the others upload: the first uploads never wait for the last
  repair.
- Files another process is uploading through the same journal are not uploaded twice:
  `claims` (`_lease.Leases`) makes the batch wait for them and report their outcome.
- Each file is checked again just before its first request: one gone, changed or unreadable
  since it was inspected (a folder deleted mid-batch) ends `invalid` without an INIT.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ._client import INLINE_READ_BYTES, MediaClient, RequestContext
from ._concurrency import Change
from ._errors import APIError, MediakitError, ProcessingError, TLSError, TransportError
from ._failures import answer_lost, processing_error
from ._media import FileCheck, recheck
from ._protocol import MediaState
from ._records import OK_STATES, Event, FileRecord
from ._slots import Admission

__all__ = ["Batch", "BatchInput", "Claims", "Prepare", "Resume", "new_batch_id"]

log = logging.getLogger("mediakit")

_KIND_ORDER = {"video": 0, "gif": 1, "image": 2, "subtitles": 3}
MAX_POLLS_IN_FLIGHT = 16


def new_batch_id() -> str:
    return secrets.token_hex(6)


@dataclass(frozen=True)
class Resume:
    """Where a journaled upload stopped: poll its processing, continue its APPENDs, or (done)
    only what comes after X's FINALIZE said the media was ready (the alt text)."""

    kind: str  # "poll" | "append" | "done"
    media_id: str
    done_segments: frozenset[int] = frozenset()
    # What the session was sending when it was a repaired copy: an "append" continues only
    # with that very copy (the same path and size), never with other bytes.
    repaired_path: str | None = None
    size: int | None = None
    expires_at: float | None = None


class Claims(Protocol):
    """Who may upload a file when several processes share a journal (see `_lease.Leases`)."""

    def take(self, item: BatchInput) -> object | None:
        """Claim the file: None when it is this batch's now, else who holds it."""

    async def settle(self, item: BatchInput, holder: Any, now: float) -> None:
        """Wait for the holder; end the record with its outcome, or leave it to resume."""

    def release(self, record: FileRecord) -> None:
        """The file's outcome is recorded: give it up."""


@dataclass
class BatchInput:
    check: FileCheck
    record: FileRecord
    resume: Resume | None = None
    same_as: int | None = None  # the file_id of an earlier input that is the same file
    repair: bool = False  # to be repaired (fix=True) by the batch's `Prepare` before upload


class Prepare(Protocol):
    """What readies an input marked `repair` for upload (`_fix.RepairStage`).

    Awaited once per such input, while the other files upload; it may change the input's
    `check` (the file to send) and `resume`, and the record's non-final state. Returns None
    when the input is ready to upload, or the reason it cannot be sent (the file ends
    `invalid` with it). Never raises but for cancellation.
    """

    async def __call__(self, item: BatchInput) -> str | None: ...


class Batch:
    """One run over a list of files; `records` and `events` grow as it goes."""

    def __init__(
        self,
        client: MediaClient,
        inputs: Sequence[BatchInput],
        *,
        batch_id: str,
        concurrency: int | None = None,
        status_deadline_s: float | None = None,
        on_change: Callable[[FileRecord], None] | None = None,
        on_event: Callable[[Event], None] | None = None,
        prepare: Prepare | None = None,
        claims: Claims | None = None,
    ) -> None:
        self.client = client
        self._prepare = prepare
        self.batch_id = batch_id
        self.inputs = list(inputs)
        self.records = [item.record for item in self.inputs]
        self.events: list[Event] = []
        self.concurrency = concurrency
        self.status_deadline_s = status_deadline_s or client.status_deadline_s
        self._on_change = on_change
        self._on_event = on_event
        self._claims = claims
        self._admission = Admission(client, concurrency)
        self._waiting: list[tuple[float, int, int, MediaState]] = []  # (due, seq, file_id, state)
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._uploads_left = 0
        self.started_at: float | None = None
        self.finished_at: float | None = None
        # Raised by `run` once the batch stopped: a server that cannot be reached at all.
        self.stopped_by: TransportError | None = None
        self._uploads: list[asyncio.Task[None]] = []
        # Beside the client's own `on_event` (the user's), never instead of it.
        self._unsubscribe = client.subscribe(self._event)

    @property
    def concurrency_log(self) -> list[Change]:
        """Every change of how many files may upload at once, and why."""
        return self._admission.log

    # records and events

    def _event(self, event: Event) -> None:
        self.events.append(event)
        self._admission.observe(event)
        record = self._record_for(event.file_id)
        if record is not None:
            if event.attempt > 1:
                record.retries += 1
            if event.command == "STATUS":
                record.status_polls += 1
            if event.command == "INIT" and answer_lost(event):
                # X may have opened a session whose id never reached us: nobody will finish
                # it (it expires unused). Counted, so the result can say so.
                record.orphan_sessions += 1
        if self._on_event is not None:
            self._on_event(event)

    def _record_for(self, file_id: int | None) -> FileRecord | None:
        if file_id is None or not 0 <= file_id < len(self.records):
            return None
        return self.records[file_id]

    def _changed(self, record: FileRecord) -> None:
        if self._on_change is not None:
            self._on_change(record)

    def _finish(self, record: FileRecord, state: str, error: BaseException | None = None) -> None:
        record.state = state  # type: ignore[assignment]
        record.phase = None
        record.finished_at = self.client.clock.now()
        self._admission.ended(record.file_id)
        if error is not None:
            record.error_message = _message(error)
            lost = isinstance(error, APIError) and error.after_lost_answer
            if _not_found(error) and record.media_id and not lost:
                record.error_message = (
                    f"X no longer knows media id {record.media_id} (expired or removed): "
                    f"{record.error_message}"
                )
            if isinstance(error, APIError):
                record.error_code = None if error.code is None else str(error.code)
                record.error_name = error.name
        self._changed(record)  # journaled before the lease goes: a waiting process reads it
        if self._claims is not None:
            self._claims.release(record)

    # the run

    async def run(self) -> None:
        """Upload every input to its end; raises `TransportError` if the server was unreachable."""
        clock = self.client.clock
        self.started_at = clock.now()
        runnable: list[BatchInput] = []
        staged: list[BatchInput] = []  # to be prepared (repaired) first
        copies: list[BatchInput] = []
        for item in self.inputs:
            record = item.record
            if record.final:  # already decided (skipped by resume, invalid)
                continue
            if item.repair and self._prepare is not None:
                (copies if item.same_as is not None else staged).append(item)
                continue
            if not item.check.ok:
                record.error_message = item.check.problem
                self._finish(record, "invalid")
                continue
            if item.same_as is not None:
                copies.append(item)
                continue
            runnable.append(item)
        runnable.sort(key=_longest_processing_first)
        staged.sort(key=_longest_processing_first)
        for item in [*runnable, *staged]:
            self._admission.plan(item.record.file_id, item.check, item.resume)
        self._uploads_left = len(runnable) + len(staged)
        poller = asyncio.create_task(self._poller(), name="mediakit-poller")
        self._uploads = [
            asyncio.create_task(self._upload(item), name=f"mediakit-upload-{item.record.file_id}")
            for item in runnable
        ] + [
            asyncio.create_task(
                self._prepared_upload(item), name=f"mediakit-repair-{item.record.file_id}"
            )
            for item in staged
        ]
        try:
            await asyncio.gather(*self._uploads, return_exceptions=True)
            if self.stopped_by is None:
                await poller
        except BaseException:
            for task in [*self._uploads, poller]:
                task.cancel()
            await asyncio.gather(*self._uploads, poller, return_exceptions=True)
            raise
        finally:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
            for record in self.records:
                if not record.final and not self._is_copy(record):
                    if self.stopped_by is not None:
                        self._finish(record, "failed", self.stopped_by)
                    else:
                        self._finish(record, "cancelled")
            for item in copies:
                self._copy_outcome(item)
            self.finished_at = clock.now()
            self._unsubscribe()
        if self.stopped_by is not None:
            raise self.stopped_by

    def _is_copy(self, record: FileRecord) -> bool:
        return self.inputs[record.file_id].same_as is not None

    def _copy_outcome(self, item: BatchInput) -> None:
        """A file given twice ends as the first one did (uploaded once, never twice)."""
        record = item.record
        assert item.same_as is not None
        original = self.records[item.same_as]
        record.media_id, record.media_key = original.media_id, original.media_key
        record.expires_at = original.expires_at
        record.started_at, record.uploaded_at = original.started_at, original.uploaded_at
        reason = f"same file as row {item.same_as}"
        if original.state in OK_STATES:
            record.error_message = reason
            self._finish(record, "skipped")
            return
        state = original.state if original.final else "cancelled"
        record.error_code, record.error_name = original.error_code, original.error_name
        record.error_message = f"{reason}, which ended {state}: {original.error_message or state}"
        self._finish(record, state)

    def _stop(self, error: TransportError) -> None:
        """The server cannot be reached: stop every other upload now."""
        if self.stopped_by is None:
            self.stopped_by = error
            current = asyncio.current_task()
            for task in self._uploads:
                if task is not current:
                    task.cancel()

    async def _prepared_upload(self, item: BatchInput) -> None:
        """Prepare (repair) the input, then upload it like any other; or end it `invalid`."""
        assert self._prepare is not None
        record = item.record
        try:
            reason = await self._prepare(item)
        except Exception as exc:  # a bug of ours: the file ends, the batch goes on
            reason = None
            self._failed(record, exc, "repairing")
        if record.final or reason is not None:
            if reason is not None:
                record.error_message = reason
                self._finish(record, "invalid")
            self._uploads_left -= 1
            self._wake.set()
            return
        await self._upload(item)

    async def _upload(self, item: BatchInput) -> None:
        record = item.record
        ctx = RequestContext(self.batch_id, record.file_id, record.path)
        try:
            while True:
                if item.resume is not None and item.resume.kind in ("poll", "done"):
                    holder = self._take(item)
                    if holder is None and record.final:  # another process finished it
                        self._finish(record, record.state)
                        return
                    if holder is None:
                        if item.resume.kind == "done":
                            await self._finished_before(item, ctx)
                        else:
                            self._poll_again(item)
                        return
                else:
                    async with self._admission.slot(item.check):
                        holder = self._take(item)
                        if holder is None and record.final:  # another process finished it
                            self._finish(record, record.state)
                            return
                        if (
                            holder is None
                            and item.resume is not None
                            and item.resume.kind
                            in (
                                "poll",
                                "done",
                            )
                        ):
                            continue  # it finalized it since: poll or finish, holding no slot
                        if holder is None:
                            state = await self._send(item, ctx)
                            if state is None:
                                return
                            break
                # Another process is uploading this file: wait for it, holding no slot.
                assert self._claims is not None
                await self._claims.settle(item, holder, self.client.clock.now())
                if record.final:  # it finished the file: report its outcome
                    self._finish(record, record.state)
                    return
            await self._conclude(record, state, ctx)
        except Exception as exc:
            self._failed(record, exc, "uploading")
            if isinstance(exc, TransportError) and (not exc.reached or isinstance(exc, TLSError)):
                self._stop(exc)
        finally:
            self._uploads_left -= 1
            self._wake.set()

    def _take(self, item: BatchInput) -> object | None:
        """Claim the file for this batch: None when it is ours, else who holds it."""
        return None if self._claims is None else self._claims.take(item)

    async def _finished_before(self, item: BatchInput, ctx: RequestContext) -> None:
        """X's FINALIZE said ready before the last run stopped: finish what came after."""
        record = item.record
        assert item.resume is not None
        record.media_id = item.resume.media_id
        record.expires_at = item.resume.expires_at
        record.started_at = record.uploaded_at = self.client.clock.now()
        await self._succeed(record, ctx)

    def _poll_again(self, item: BatchInput) -> None:
        """FINALIZE was answered before the last run stopped: only processing is left."""
        record = item.record
        assert item.resume is not None
        record.state, record.phase = "processing", "STATUS"
        record.media_id = item.resume.media_id
        record.started_at = record.uploaded_at = self.client.clock.now()
        self._changed(record)
        self._schedule(record, MediaState(item.resume.media_id, state="pending"), due_now=True)

    async def _send(self, item: BatchInput, ctx: RequestContext) -> MediaState | None:
        """INIT (or the resumed session), APPENDs, FINALIZE; None if the file ended first."""
        record, check, resume = item.record, item.check, item.resume
        # Checked again just before the first request: a file (or its folder) gone since it
        # was inspected must not cost an INIT, which would be an orphan.
        if (check.size or 0) <= INLINE_READ_BYTES:
            problem = recheck(check)
        else:
            problem = await asyncio.to_thread(recheck, check)
        if problem is not None:
            record.error_message = problem
            self._finish(record, "invalid")
            return None
        record.state = "uploading"
        record.phase = "INIT"
        record.started_at = self.client.clock.now()
        self._changed(record)

        def media_id_known(state: MediaState) -> None:
            record.media_id, record.media_key = state.media_id, state.media_key
            record.expires_at = state.expires_at_s
            record.phase = "APPEND"
            self._changed(record)

        def segment_done(_index: int, size: int) -> None:
            record.segments_done += 1
            record.bytes_done += size
            if record.segments_done == record.segments:
                record.phase = "FINALIZE"
            self._changed(record)

        done = resume.done_segments if resume is not None else frozenset()
        record.segments_done = len(done)
        record.bytes_done = sum(
            min(check.chunk_size or 0, (check.size or 0) - i * (check.chunk_size or 0))
            for i in done
        )
        state = await self.client.send_file(
            check,
            ctx=ctx,
            on_segment=segment_done,
            on_media_id=media_id_known,
            resume_media_id=resume.media_id if resume is not None else None,
            done_segments=done,
        )
        record.uploaded_at = self.client.clock.now()
        self._absorb(record, state)
        return state

    async def _conclude(self, record: FileRecord, state: MediaState, ctx: RequestContext) -> None:
        """What a FINALIZE or STATUS answer means for the file: fail, wait, or succeed."""
        if state.failed:
            raise processing_error(state)
        if state.processing:
            if record.state != "processing":
                record.state, record.phase = "processing", "STATUS"
                self._changed(record)
            self._schedule(record, state)
            return
        await self._succeed(record, ctx)

    def _failed(self, record: FileRecord, error: Exception, doing: str) -> None:
        """One file's failure, whatever it was, ends that file only."""
        if not isinstance(error, MediakitError | OSError):  # a bug of ours: say so in the log
            log.error("unexpected error %s %s", doing, record.path, exc_info=error)
        self._finish(record, "failed", error)

    def _absorb(self, record: FileRecord, state: MediaState) -> None:
        if record.media_id != state.media_id:  # else keep the string its events share
            record.media_id = state.media_id
        if state.media_key and state.media_key != record.media_key:
            record.media_key = state.media_key
        if state.expires_at is not None:
            record.expires_at = state.expires_at_s
        if state.progress_percent is not None:
            record.progress_percent = state.progress_percent

    async def _succeed(self, record: FileRecord, ctx: RequestContext) -> None:
        if record.alt_text:
            record.phase = "METADATA"
            self._changed(record)
            assert record.media_id is not None
            try:
                await self.client.set_alt_text(record.media_id, record.alt_text, ctx=ctx)
            except MediakitError as exc:
                record.error_message = f"uploaded, but setting the alt text failed: {_message(exc)}"
                if isinstance(exc, APIError):
                    record.error_code = None if exc.code is None else str(exc.code)
                    record.error_name = exc.name
                self._finish(record, "failed")
                return
        record.progress_percent = 100 if record.progress_percent is not None else None
        self._finish(record, "succeeded")

    # processing: one poller for every waiting file

    def _schedule(self, record: FileRecord, state: MediaState, *, due_now: bool = False) -> None:
        now = self.client.clock.now()
        due = now if due_now else now + max(1, state.check_after_secs or 1)
        heapq.heappush(self._waiting, (due, next(self._seq), record.file_id, state))
        self._wake.set()

    def _poll_spacing(self) -> float:
        """Seconds between polls so the STATUS budget lasts until its window resets."""
        budget = self.client.budget.snapshot().get("STATUS")
        if budget is None or budget.remaining is None or budget.reset_at is None:
            return 0.0
        waiting = len(self._waiting)
        if budget.remaining > waiting * 2:
            return 0.0
        left = budget.reset_at - self.client.clock.now()
        return max(0.0, left / max(1, budget.remaining))

    async def _poller(self) -> None:
        clock = self.client.clock
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while self._uploads_left > 0 or self._waiting or in_flight:
                if not self._waiting:
                    self._wake.clear()
                    if self._uploads_left > 0 or in_flight:
                        waiters = [asyncio.create_task(self._wake.wait())]
                        await asyncio.wait(
                            [*waiters, *in_flight], return_when=asyncio.FIRST_COMPLETED
                        )
                        for waiter in waiters:
                            waiter.cancel()
                    in_flight = {t for t in in_flight if not t.done()}
                    continue
                due = self._waiting[0][0]
                delay = due - clock.now()
                if delay > 0:
                    self._wake.clear()
                    sleeper = asyncio.create_task(clock.sleep(delay))
                    waker = asyncio.create_task(self._wake.wait())
                    await asyncio.wait([sleeper, waker], return_when=asyncio.FIRST_COMPLETED)
                    sleeper.cancel()
                    waker.cancel()
                    continue
                if len(in_flight) >= MAX_POLLS_IN_FLIGHT:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    in_flight = {t for t in in_flight if not t.done()}
                    continue
                _, _, file_id, state = heapq.heappop(self._waiting)
                task = asyncio.create_task(self._poll(self.records[file_id], state))
                in_flight.add(task)
                spacing = self._poll_spacing()
                if spacing > 0:
                    await clock.sleep(spacing)
                in_flight = {t for t in in_flight if not t.done()}
        finally:
            for task in in_flight:
                task.cancel()
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)

    async def _poll(self, record: FileRecord, state: MediaState) -> None:
        ctx = RequestContext(self.batch_id, record.file_id, record.path)
        try:
            deadline = (record.uploaded_at or 0) + self.status_deadline_s
            if self.client.clock.now() > deadline:
                raise ProcessingError(
                    f"processing did not finish within {self.status_deadline_s:.0f} s "
                    f"(last state {state.state}, {state.progress_percent or 0} %)",
                    name="Timeout",
                )
            state = await self.client.status(state.media_id, ctx=ctx)
            self._absorb(record, state)
            self._changed(record)
            await self._conclude(record, state, ctx)
        except Exception as exc:
            self._failed(record, exc, "polling")
        finally:
            self._wake.set()


def _longest_processing_first(item: BatchInput) -> tuple[int, int]:
    return (_KIND_ORDER.get(item.check.kind or "", 9), -(item.check.size or 0))


def _not_found(error: BaseException) -> bool:
    return (
        isinstance(error, APIError)
        and error.status_code in (400, 404)
        and ("not found" in error.message.lower() or "does not exist" in error.message.lower())
    )


def _message(error: BaseException) -> str:
    if isinstance(error, APIError | TransportError):
        return error.message
    return str(error) or type(error).__name__
