"""The dashboard's ETA: seconds until the batch's last file is done, from what is known now.

Three parts, all on the batch's clock (a scaled or manual clock in tests, never wall time):

- bytes still to send (files uploading, then the queue in the scheduler's order) at the
  batch's recent byte rate; before there is a rate (the first requests), on the upload speed
  a history measured, or no ETA at all (an assumed speed is a guess, not an estimate);
- X's processing of the files it holds: from their `progress_percent`, measured from FINALIZE
  to the moment that percent was *reported* (a percent seen 8 s ago says nothing about the
  8 s since: extrapolating it from now is what made the old ETA climb, then collapse), weighed
  against what a file of that category is expected to take;
- X's processing of the files still to upload, after their upload.

"Expected" processing is the processing-time model (`_model`, `_forecast.History`: a prior)
corrected by what this batch has seen: each category's processed files shift the prior by the
mean of their residuals (shrunk toward the prior while there are few), so a batch that finds X
slower or faster than the prior says so within a file or two. Categories the batch has not
seen yet use the prior alone. Observed seconds run from FINALIZE to the answer that said done,
so they include the polling lag, as the prior's `polling_s` does.

`EtaEstimator` keeps the little state this needs (recent byte samples, when each file's
percent changed); one per view. `estimate` is a pure function of the records and `now`.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from ._forecast import History, PlannedFile, _duration_of, _kind, _order, _processing
from ._limits import ASYNC_CATEGORIES
from ._records import FINAL_STATES, FileRecord
from ._snapshot import RATE_WINDOW_S, Throughput

__all__ = ["EtaEstimator", "Expected"]

# How many observed files weigh as much as the prior (shrinkage of the category correction).
PRIOR_WEIGHT = 1.0


@dataclass(frozen=True)
class Expected:
    """Expected processing (+ polling) seconds per category: prior + this batch's correction."""

    history: History
    shift_s: dict[str, float]  # per category: mean residual of the batch's files, shrunk
    seen: dict[str, int]

    @classmethod
    def learn(cls, records: Sequence[FileRecord], history: History) -> Expected:
        done = [
            r
            for r in records
            if r.state == "succeeded"
            and r.media_category in ASYNC_CATEGORIES
            and r.uploaded_at is not None
            and r.finished_at is not None
        ]
        priors = _processing(history, [_whole(r) for r in done])
        residuals: dict[str, list[float]] = {}
        for record, prior in zip(done, priors, strict=True):
            observed = float(record.finished_at - record.uploaded_at)  # type: ignore[operator]
            residuals.setdefault(str(record.media_category), []).append(observed - float(prior))
        shift = {c: sum(v) / (len(v) + PRIOR_WEIGHT) for c, v in residuals.items()}
        return cls(history, shift, {c: len(v) for c, v in residuals.items()})

    def seconds(self, files: Sequence[PlannedFile]) -> list[float]:
        """Processing + polling seconds each of `files` is expected to take (0: not processed)."""
        priors = _processing(self.history, files)
        return [
            0.0 if prior <= 0 else max(0.0, float(prior) + self.shift_s.get(f.category or "", 0.0))
            for f, prior in zip(files, priors, strict=True)
        ]


class EtaEstimator:
    """The ETA of one batch as a view sees it, redraw after redraw (see the module doc)."""

    def __init__(
        self,
        history: History | None = None,
        *,
        window_s: float = RATE_WINDOW_S,
        concurrency: int = 4,
    ) -> None:
        self.history = history or History()
        self.concurrency = concurrency
        self._now: float = 0.0
        self.rate = Throughput(window_s, now=lambda: self._now)
        # file_id -> (percent, when it was first seen at that percent)
        self._percent_at: dict[int, tuple[int, float]] = {}
        self.last: dict[str, float] = {}  # the parts of the last estimate, for bench/ and tests

    def observe(self, records: Sequence[FileRecord], now: float) -> None:
        """Take the records as they stand at `now` (each redraw): byte samples, new percents."""
        self._now = max(self._now, now)
        sent = 0
        for record in records:
            if record.state not in ("invalid", "skipped"):
                size = record.bytes or 0
                sent += min(size, record.bytes_done) if size else record.bytes_done
            percent = record.progress_percent
            if record.state == "processing" and percent is not None:
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
        expected = Expected.learn(records, self.history)
        bytes_per_s, _ = self.rate.rates()
        parts = {"processing_s": 0.0, "uploads_s": 0.0, "queue_s": 0.0}

        processing = [r for r in records if r.state == "processing"]
        for record, full in zip(
            processing, expected.seconds([_whole(r) for r in processing]), strict=True
        ):
            left = self._processing_left(record, full, now)
            parts["processing_s"] = max(parts["processing_s"], left)

        uploading = [r for r in records if r.state in ("uploading", "repairing")]
        queued = [r for r in records if r.state == "queued"]
        to_upload = [*(_left(r) for r in uploading), *_order(_left(r) for r in queued)]
        after = expected.seconds(
            [PlannedFile(f.size + f.done, f.category, f.kind, f.duration_s) for f in to_upload]
        )
        if bytes_per_s:
            sent = 0.0
            for planned, seconds in zip(to_upload, after, strict=True):
                sent += planned.size
                uploaded = sent / bytes_per_s
                parts["uploads_s"] = max(parts["uploads_s"], uploaded)
                parts["queue_s"] = max(parts["queue_s"], uploaded + seconds)
        elif to_upload and not self.history.upload.files:
            # No rate yet and no measured speed: an assumed speed would be a guess shown as a
            # figure ("ETA 2.5 s" at 0 B/s). Nothing is said until there is something to say.
            self.last = parts
            return None
        else:  # no rate yet: the measured history's speed on the scheduler's slots
            busy = len(uploading)
            slots = [0.0] * max(1, self.concurrency, busy)
            for planned, seconds in zip(to_upload, after, strict=True):
                start = heapq.heappop(slots)
                uploaded = start + self.history.upload.seconds(planned.size)
                heapq.heappush(slots, uploaded)
                parts["uploads_s"] = max(parts["uploads_s"], uploaded)
                parts["queue_s"] = max(parts["queue_s"], uploaded + seconds)
        self.last = parts
        return max(parts.values())

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


def _whole(record: FileRecord) -> PlannedFile:
    category = record.media_category
    return PlannedFile(record.bytes or 0, category, _kind(category), _duration_of(record))


def _left(record: FileRecord) -> PlannedFile:
    size = record.bytes or 0
    done = min(size, record.bytes_done)
    category = record.media_category
    return PlannedFile(size - done, category, _kind(category), _duration_of(record), done)
