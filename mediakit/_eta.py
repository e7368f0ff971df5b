"""The dashboard's ETA: seconds until the batch's last file is done, from what is known now.

Three parts, all on the batch's clock (a scaled or manual clock in tests, never wall time):

- uploads: the files uploading hold the batch's slots, the queue takes them in the
  scheduler's order, each file taking the time this batch's latest uploads took per slot
  (overhead + seconds per MiB: the bytes left at the recent rate, per connection; before any
  upload ended, the pace of the first APPENDs; before that, a measured history or no ETA at
  all: an assumed speed is a guess, not an estimate). The aggregate byte rate alone was wrong
  both ways: 0 B/s during a long APPEND, and no account of the slots. A file's segments go
  `segment_concurrency` at a time, so its MiB are those of its busiest lane (`_lane_bytes`:
  a 4 + 0.7 MiB video takes 4 MiB's time, not 4.7), both in what the batch learns and in
  what it expects;
- X's processing of the files it holds: from their `progress_percent`, measured from FINALIZE
  to the moment that percent was *reported* (a percent seen 8 s ago says nothing about the
  8 s since: extrapolating it from now is what made the old ETA climb, then collapse), weighed
  by the percent against what a file of that category is expected to take;
- X's processing of the files still to upload, after their upload.

"Expected" processing is the processing-time model (`_model`, `_forecast.History`: a prior)
corrected by what this batch has seen: each category's processed files, and the totals the
percents of files in processing imply, shift the prior by the mean of their residuals (shrunk
toward the prior while there are few), so a batch that finds X slower or faster than the prior
says so within a file or two. Categories the batch has not
seen yet use the prior alone. Observed seconds run from FINALIZE to the answer that said done,
so they include the polling lag, as the prior's `polling_s` does; that lag is half the
interval X asks for between polls (`check_after_secs`, the median of this batch's answers:
1 s after FINALIZE in field captures), and the history's only until X has said one.

Before any processed file reports (in a short batch of small videos, the first ~30 % of its
time: STATUS answers come a poll after FINALIZE), the processing part is the prior alone,
and as wrong as the prior is for this X (bench/eta.py --trace shows it); with no history the
prior is the documented defaults.

`EtaEstimator` keeps the little state this needs (byte samples for the throughput shown, when
X reported each percent, what each file's APPENDs acknowledged: read from the batch's events
where it stopped last time); one per view. `estimate` then depends only on that, the records
and `now`.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ._forecast import (
    History,
    PlannedFile,
    UploadSpeed,
    _duration_of,
    _kind,
    _order,
    _processing,
)
from ._limits import ASYNC_CATEGORIES, MiB
from ._records import FINAL_STATES, Event, FileRecord
from ._snapshot import RATE_WINDOW_S

__all__ = ["EtaEstimator", "Expected", "RecentRate"]

# The answers of a file X is still processing: their check_after_secs is the next interval.
WAITING = frozenset({"pending", "in_progress"})

# APPENDs in flight per file: the client's default (`Client(segment_concurrency=3)`).
SEGMENT_CONCURRENCY = 3

# How many observed files weigh as much as the prior (shrinkage of the category correction).
PRIOR_WEIGHT = 1.0


def _zero() -> float:
    return 0.0


@dataclass(frozen=True)
class Expected:
    """Expected processing (+ polling) seconds per category: prior + this batch's correction."""

    history: History
    shift_s: dict[str, float]  # per category: mean residual of the batch's files, shrunk
    seen: dict[str, int]

    @classmethod
    def learn(
        cls,
        records: Sequence[FileRecord],
        history: History,
        implied: Mapping[int, tuple[float, float]] | None = None,
    ) -> Expected:
        """From the batch's processed files (each weighs 1) and, for files X is still
        processing, the total their reported percent implies, weighed by that percent
        (`implied`: file_id -> (seconds, weight))."""
        implied = implied or {}
        seen = [
            r
            for r in records
            if r.media_category in ASYNC_CATEGORIES
            and r.uploaded_at is not None
            and (
                (r.state == "succeeded" and r.finished_at is not None)
                or (r.state == "processing" and r.file_id in implied)
            )
        ]
        priors = _processing(history, [_whole(r) for r in seen])
        sums: dict[str, float] = {}
        weights: dict[str, float] = {}
        counts: dict[str, int] = {}
        for record, prior in zip(seen, priors, strict=True):
            if record.state == "succeeded":
                observed, weight = float(record.finished_at - record.uploaded_at), 1.0  # type: ignore[operator]
            else:
                observed, weight = implied[record.file_id]
            category = str(record.media_category)
            sums[category] = sums.get(category, 0.0) + weight * (observed - float(prior))
            weights[category] = weights.get(category, 0.0) + weight
            counts[category] = counts.get(category, 0) + 1
        shift = {c: sums[c] / (weights[c] + PRIOR_WEIGHT) for c in sums}
        return cls(history, shift, counts)

    def seconds(self, files: Sequence[PlannedFile]) -> list[float]:
        """Processing + polling seconds each of `files` is expected to take (0: not processed)."""
        priors = _processing(self.history, files)
        return [
            0.0 if prior <= 0 else max(0.0, float(prior) + self.shift_s.get(f.category or "", 0.0))
            for f, prior in zip(files, priors, strict=True)
        ]


class RecentRate:
    """Bytes per second over the last `window_s` of the batch's clock, stretched back to the
    last `changes` moments the byte count moved: uploads advance one APPEND at a time, so a
    window that saw no APPEND end would say 0 B/s while the bytes are on their way. The time
    since the last change counts too, so a stall lowers the rate as it lasts."""

    def __init__(
        self, window_s: float = RATE_WINDOW_S, changes: int = 8, now: Callable[[], float] = _zero
    ) -> None:
        self.window_s = window_s
        self.changes = changes
        self._now = now
        self._moves: deque[tuple[float, int]] = deque()  # (when, bytes) at each change
        self._at: float | None = None

    def add(self, bytes_done: int, files_done: int = 0) -> None:
        now = self._now()
        self._at = now if self._at is None else max(self._at, now)
        if not self._moves or bytes_done != self._moves[-1][1]:
            self._moves.append((now, bytes_done))
        while len(self._moves) > self.changes + 1 and self._moves[1][0] <= now - self.window_s:
            self._moves.popleft()

    def rates(self) -> tuple[float | None, None]:
        """(bytes per second, None): None until the byte count has moved once."""
        if len(self._moves) < 2 or self._at is None:
            return None, None
        (t0, b0), (_, b1) = self._moves[0], self._moves[-1]
        span = self._at - t0
        return (max(0, b1 - b0) / span if span > 0 else None), None


class EtaEstimator:
    """The ETA of one batch as a view sees it, redraw after redraw (see the module doc)."""

    def __init__(
        self,
        history: History | None = None,
        *,
        window_s: float = RATE_WINDOW_S,
        concurrency: int = 4,
        segment_concurrency: int = SEGMENT_CONCURRENCY,
    ) -> None:
        self.history = history or History()
        self.concurrency = concurrency
        self.segment_concurrency = segment_concurrency
        self._now: float = 0.0
        self.rate = RecentRate(window_s, now=lambda: self._now)
        # file_id -> (percent, when it was first seen at that percent)
        self._percent_at: dict[int, tuple[int, float]] = {}
        self.last: dict[str, float] = {}  # the parts of the last estimate, for bench/ and tests
        self._events: Sequence[Event] | None = None
        self._read = 0  # events already read
        # file_id -> (bytes X acknowledged, when the last APPEND answered), from the events
        self._appended: dict[int, tuple[int, float]] = {}
        # the poll intervals X asked for in this batch: seconds -> answers (a few values)
        self._check_after: Counter[int] = Counter()

    def expected_history(self) -> History:
        """The prior for this batch: the history, with the polling lag this batch's answers
        imply. X is seen done by the first poll after it finishes, on average half an
        interval later, and X says how long each interval is (`check_after_secs`): 1 s
        after FINALIZE in field captures, where the documented 5 s gave the default 2.5 s."""
        if not self._check_after:
            return self.history
        return replace(self.history, polling_s=_median(self._check_after) / 2)

    def observe(
        self, records: Sequence[FileRecord], now: float, events: Sequence[Event] | None = None
    ) -> None:
        """Take the batch as it stands at `now` (each redraw): byte samples, new percents.

        `events` (the batch's growing list of HTTP attempts, read from where the last call
        stopped) say when X reported each percent; without them a new percent counts from the
        first redraw that sees it, up to a redraw late."""
        self._now = max(self._now, now)
        if events is not None:
            if events is not self._events or len(events) < self._read:
                self._events, self._read = events, 0
            for event in events[self._read :]:
                if (
                    event.command == "APPEND"
                    and event.ok
                    and event.bytes_sent
                    and event.file_id is not None
                    and event.finished_at is not None
                ):
                    acked, _ = self._appended.get(event.file_id, (0, 0.0))
                    self._appended[event.file_id] = (acked + event.bytes_sent, event.finished_at)
                if event.file_id is None or event.finished_at is None:
                    continue
                if event.progress_percent is not None:
                    self._percent_at[event.file_id] = (event.progress_percent, event.finished_at)
                if event.check_after_secs is not None and event.state in WAITING:
                    self._check_after[max(1, event.check_after_secs)] += 1  # as the poller
            self._read = len(events)
        sent = 0
        for record in records:
            if record.state not in ("invalid", "skipped"):
                size = record.bytes or 0
                sent += min(size, record.bytes_done) if size else record.bytes_done
            percent = record.progress_percent
            if record.state == "processing" and percent is not None and events is None:
                known = self._percent_at.get(record.file_id)
                if known is None or known[0] != percent:
                    self._percent_at[record.file_id] = (percent, now)
        done = sum(1 for r in records if r.state in FINAL_STATES)
        self.rate.add(sent, done)

    def estimate(self, records: Sequence[FileRecord], now: float) -> float | None:
        """Seconds until the last file is done; 0 when every file is; None before anything
        is known to estimate from (no rate, no file uploading yet)."""
        if all(r.state in FINAL_STATES for r in records):
            return 0.0
        expected = Expected.learn(records, self.expected_history(), self._implied(records))
        parts = {"processing_s": 0.0, "uploads_s": 0.0, "queue_s": 0.0}

        processing = [r for r in records if r.state == "processing"]
        for record, full in zip(
            processing, expected.seconds([_whole(r) for r in processing]), strict=True
        ):
            left = self._processing_left(record, full, now)
            parts["processing_s"] = max(parts["processing_s"], left)

        uploading = [r for r in records if r.state in ("uploading", "repairing")]
        plans = {r.file_id: _whole(r) for r in records if r.state == "queued"}
        by_plan = {id(p): r for r in records if (p := plans.get(r.file_id)) is not None}
        queued = _order(plans.values())
        lanes = self.segment_concurrency
        if uploading or queued:
            speed = (
                _batch_speed(records, lanes)
                or self._partial_speed(uploading)
                or (self.history.upload if self.history.upload.files else None)
            )
            if speed is None:
                # Nothing uploaded yet, no measured history: an assumed speed would be a
                # guess shown as a figure ("ETA 2.5 s" at 0 B/s). Nothing until it is known.
                self.last = parts
                return None
            # The files uploading hold the slots: each is free when its upload is expected to
            # end; the queue then takes the first free slot, in the scheduler's order.
            slots = []
            for record in uploading:
                started = record.started_at if record.started_at is not None else now
                slots.append(max(0.0, speed.seconds(_lane_bytes(record, lanes)) - (now - started)))
            ends = list(slots)  # one per file: those uploading, then the queue's
            slots = slots or [0.0] * max(1, self.concurrency)
            heapq.heapify(slots)
            holding = [_whole(r) for r in uploading]
            for planned in queued:
                start = heapq.heappop(slots)
                end = start + speed.seconds(_lane_bytes(by_plan[id(planned)], lanes))
                heapq.heappush(slots, end)
                ends.append(end)
            for end, seconds in zip(ends, expected.seconds([*holding, *queued]), strict=True):
                parts["uploads_s"] = max(parts["uploads_s"], end)
                parts["queue_s"] = max(parts["queue_s"], end + seconds)
        self.last = parts
        return max(parts.values())

    def _partial_speed(self, uploading: Sequence[FileRecord]) -> UploadSpeed | None:
        """Before any upload ended: the pace of the APPENDs that did (seconds per MiB)."""
        paces = []
        for record in uploading:
            acked = self._appended.get(record.file_id)
            if acked is None or record.started_at is None or acked[1] <= record.started_at:
                continue
            paces.append((acked[1] - record.started_at) / (acked[0] / MiB))
        if not paces:
            return None
        return UploadSpeed(0.0, float(np.median(paces)), 0, "this batch's first APPENDs")

    def _implied(self, records: Sequence[FileRecord]) -> dict[int, tuple[float, float]]:
        """file_id -> (total processing seconds its last reported percent implies, weight)."""
        implied: dict[int, tuple[float, float]] = {}
        for record in records:
            known = self._percent_at.get(record.file_id)
            if record.state != "processing" or known is None or record.uploaded_at is None:
                continue
            percent, reported_at = known
            measured = reported_at - record.uploaded_at
            if 0 < percent < 100 and measured > 0:
                implied[record.file_id] = (measured * 100 / percent, 1.0)
        return implied

    def _processing_left(self, record: FileRecord, expected_s: float, now: float) -> float:
        """What X's processing of `record` has left: the reported percent's extrapolation,
        trusted more as the percent grows, and the expectation's remainder."""
        since = record.uploaded_at if record.uploaded_at is not None else now
        elapsed = max(0.0, now - since)
        by_expectation = max(0.0, expected_s - elapsed)
        known = self._percent_at.get(record.file_id)
        percent = record.progress_percent
        if not percent or percent <= 0:
            return by_expectation
        reported_at = known[1] if known is not None and known[0] == percent else now
        measured = max(0.0, reported_at - since)
        if measured <= 0:
            return by_expectation
        total = measured * 100 / min(percent, 100)
        by_percent = max(0.0, total - elapsed)
        weight = min(percent, 100) / 100
        return weight * by_percent + (1 - weight) * by_expectation


RECENT_UPLOADS = 16  # the speed is learned from the last uploads: "recent", not since the start


def _lane_bytes(record: FileRecord, lanes: int) -> int:
    """The bytes on the busiest of a file's `lanes` connections: its segments go `lanes` at a
    time (the client's `segment_concurrency`), each to the first lane free, so a file's upload
    lasts as long as its busiest lane's bytes take, not its total's (a 4.7 MiB video of a
    4 MiB and a 0.7 MiB segment is uploaded when its 4 MiB are)."""
    size, chunk = record.bytes or 0, record.chunk_size or 0
    if chunk <= 0 or size <= chunk or lanes <= 1:
        return size
    free = [0] * min(lanes, -(-size // chunk))
    for start in range(0, size, chunk):
        heapq.heappush(free, heapq.heappop(free) + min(chunk, size - start))
    return max(free)


def _batch_speed(records: Sequence[FileRecord], lanes: int = 1) -> UploadSpeed | None:
    """How long one file takes to upload in this batch, per slot, from its latest uploads:
    overhead_s + s_per_mib × MiB on its busiest lane (a least-squares line when sizes differ
    enough to see the bandwidth, else proportional to size). None before any upload ended."""
    done = sorted(
        (r for r in records if r.started_at is not None and r.uploaded_at is not None),
        key=lambda r: r.uploaded_at or 0.0,
    )[-RECENT_UPLOADS:]
    if not done:
        return None
    mib = np.array([_lane_bytes(r, lanes) / MiB for r in done])
    seconds = np.array([(r.uploaded_at or 0.0) - (r.started_at or 0.0) for r in done])
    seconds = np.maximum(seconds, 0.0)
    if len(done) >= 3 and np.ptp(mib) > 0.25 * max(float(mib.mean()), 1e-9):
        slope, intercept = (float(v) for v in np.polyfit(mib, seconds, 1))
        if slope > 0 and intercept >= 0:
            return UploadSpeed(intercept, slope, len(done), "this batch")
        if slope > 0:
            return UploadSpeed(
                0.0, float(seconds.sum() / max(mib.sum(), 1e-9)), len(done), "this batch"
            )
        return UploadSpeed(float(np.median(seconds)), 0.0, len(done), "this batch")
    if mib.sum() <= 0:
        return UploadSpeed(float(np.median(seconds)), 0.0, len(done), "this batch")
    return UploadSpeed(0.0, float(seconds.sum() / mib.sum()), len(done), "this batch")


def _median(counts: Counter[int]) -> float:
    """The median of values given as value -> how many times (the lower middle, when even)."""
    middle, seen = (counts.total() - 1) // 2, 0
    for value in sorted(counts):
        seen += counts[value]
        if seen > middle:
            return float(value)
    raise ValueError("no values")


def _whole(record: FileRecord) -> PlannedFile:
    category = record.media_category
    return PlannedFile(record.bytes or 0, category, _kind(category), _duration_of(record))
