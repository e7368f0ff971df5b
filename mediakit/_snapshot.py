"""What every progress view shows, computed once per redraw by `Snapshot.take`.

Files and bytes done, counts by state, throughput and ETA, the rate-limit budget, the files in
flight (a bounded number of them) and the failures. `_text.TextView` writes a snapshot as one
line, `_widgets.WidgetView` as the notebook dashboard, `_html.result_html` as a result's HTML.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath
from typing import TYPE_CHECKING, Protocol

from ._records import COMMANDS, FAILED_STATES, FILE_STATES, FINAL_STATES, FileRecord

if TYPE_CHECKING:
    from ._budget import Budget
    from ._eta import EtaEstimator

__all__ = [
    "BatchState",
    "BudgetLine",
    "Failure",
    "InFlight",
    "Snapshot",
    "Throughput",
    "clock_time",
    "failure_reason",
    "format_bytes",
    "format_elapsed",
]

RATE_WINDOW_S = 10.0


class BatchState(Protocol):
    """A batch as views read it (an `UploadResult`, finished or live)."""

    @property
    def records(self) -> list[FileRecord]: ...

    target: str
    api: str
    batch_id: str
    started_at: float | None
    finished_at: float | None

    @property
    def elapsed_s(self) -> float | None: ...

    def summary(self) -> str: ...


class Throughput:
    """Bytes and files per second over the last `window_s` seconds of real time."""

    def __init__(self, window_s: float = RATE_WINDOW_S, now: Callable[[], float] | None = None):
        self.window_s = window_s
        self._now = now or time.monotonic
        self._samples: deque[tuple[float, int, int]] = deque()

    def add(self, bytes_done: int, files_done: int) -> None:
        now = self._now()
        self._samples.append((now, bytes_done, files_done))
        # Keep one sample older than the window, so the rate spans the whole window.
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window_s:
            self._samples.popleft()

    def rates(self) -> tuple[float | None, float | None]:
        """(bytes per second, files per second), or None before there are two samples."""
        if len(self._samples) < 2:
            return None, None
        (t0, b0, f0), (t1, b1, f1) = self._samples[0], self._samples[-1]
        span = t1 - t0
        if span <= 0:
            return None, None
        return max(0, b1 - b0) / span, max(0, f1 - f0) / span


@dataclass(frozen=True)
class InFlight:
    """One file being worked on: `clip_07.mp4 · APPEND 3/9 · retry 1`."""

    name: str
    state: str
    phase: str | None
    segments_done: int
    segments: int | None
    progress_percent: int | None
    retries: int

    def describe(self) -> str:
        if self.state == "processing":
            step = "processing"
            if self.progress_percent is not None:
                step += f" {self.progress_percent} %"
        elif self.phase == "APPEND" and self.segments:
            step = f"APPEND {self.segments_done}/{self.segments}"
        else:
            step = self.phase or self.state
        if self.retries:
            step += (
                f" · retry {self.retries}" if self.retries == 1 else f" · {self.retries} retries"
            )
        return step


@dataclass(frozen=True)
class Failure:
    """One file that was not uploaded (failed, invalid or cancelled), and why:
    `banner.gif · invalid · 16.8 MB is over …`."""

    name: str
    state: str
    reason: str


@dataclass(frozen=True)
class BudgetLine:
    """What is left of one endpoint's rate-limit window."""

    command: str
    limit: int | None
    remaining: int | None
    reset_at: float | None

    @property
    def low(self) -> bool:
        return (
            self.limit is not None
            and self.remaining is not None
            and self.remaining <= max(1, self.limit // 10)
        )

    def describe(self) -> str:
        if self.remaining is None:
            text = f"{self.command.lower()}: ?"
        elif self.limit is None:
            text = f"{self.command.lower()}: {self.remaining:,} left"
        else:
            text = f"{self.command.lower()}: {self.remaining:,} of {self.limit:,} left"
        if self.reset_at is not None:
            text += f", resets {clock_time(self.reset_at)}"
        return text


@dataclass(frozen=True)
class Snapshot:
    """Everything a view shows, computed from the records in one pass."""

    target: str
    files_total: int
    files_done: int
    counts: Mapping[str, int]
    bytes_total: int  # of the files that are to be uploaded (not invalid, not skipped)
    bytes_done: int
    elapsed_s: float | None
    bytes_per_s: float | None
    eta_s: float | None
    in_flight: Sequence[InFlight]
    in_flight_total: int
    failures: Sequence[Failure]
    failures_total: int
    budget: Sequence[BudgetLine] = field(default_factory=tuple)
    finished: bool = False
    repaired: int = 0  # files uploaded (or to be) as a repaired copy made in this batch
    # Bytes sent, by what became of their file: the bytes bar's portions.
    bytes_by: Mapping[str, int] = field(default_factory=dict)
    # How many files may upload at once now, and why ("measured", "paced", …): None when the
    # batch has not decided (or the state read is not a live batch).
    at_once: tuple[int, str] | None = None

    @property
    def ok(self) -> bool:
        return all(self.counts.get(s, 0) == 0 for s in ("failed", "invalid", "cancelled"))

    @property
    def outcome(self) -> str:
        """ "running", or how it ended: "succeeded", "failed" or "cancelled"."""
        if not self.finished:
            return "running"
        if self.counts.get("failed", 0) or self.counts.get("invalid", 0):
            return "failed"
        if self.counts.get("cancelled", 0):
            return "cancelled"
        return "succeeded"

    @property
    def files_fraction(self) -> float:
        """The files that ended, however (succeeded, failed, cancelled…)."""
        return 1.0 if not self.files_total else self.files_done / self.files_total

    @property
    def bytes_fraction(self) -> float:
        return 1.0 if not self.bytes_total else min(1.0, self.bytes_done / self.bytes_total)

    @property
    def files_ok(self) -> int:
        """Uploaded or already uploaded: what "100 %" counts (done, not merely ended)."""
        return self.counts.get("succeeded", 0) + self.counts.get("skipped", 0)

    @property
    def ok_fraction(self) -> float:
        return 1.0 if not self.files_total else self.files_ok / self.files_total

    @property
    def bytes_ok_fraction(self) -> float:
        """Bytes sent of the files that were uploaded or still are being uploaded."""
        if not self.bytes_total:
            return 1.0 if self.ok else 0.0
        good = self.bytes_by.get("succeeded", 0) + self.bytes_by.get("active", 0)
        return min(1.0, good / self.bytes_total)

    def file_portions(self) -> list[tuple[str, int]]:
        """The files bar, stacked: how many ended in each state, in bar order."""
        order = ("succeeded", "skipped", "failed", "invalid", "cancelled")
        return [(state, self.counts[state]) for state in order if self.counts.get(state)]

    def byte_portions(self) -> list[tuple[str, int]]:
        """The bytes bar, stacked: bytes sent of files uploaded, in flight, failed, cancelled."""
        order = ("succeeded", "active", "failed", "cancelled")
        return [(kind, self.bytes_by[kind]) for kind in order if self.bytes_by.get(kind)]

    def not_uploaded_text(self) -> str:
        """`1 failed · 3 invalid · 2 cancelled`: the files that ended without an upload."""
        return " · ".join(
            f"{self.counts[state]:,} {state}"
            for state in ("failed", "invalid", "cancelled")
            if self.counts.get(state)
        )

    @classmethod
    def take(
        cls,
        result: BatchState,
        budget: Mapping[str, Budget] | None = None,
        rate: Throughput | None = None,
        *,
        eta: EtaEstimator | None = None,
        finished: bool = False,
        max_in_flight: int = 8,
        max_failures: int = 8,
    ) -> Snapshot:
        records = result.records
        counts: Counter[str] = Counter()
        bytes_total = bytes_done = 0
        uploading: list[FileRecord] = []
        processing: list[FileRecord] = []
        repairing: list[FileRecord] = []
        failed: list[FileRecord] = []
        repaired = 0
        bytes_by: Counter[str] = Counter()
        for record in records:
            state = record.state
            counts[state] += 1
            if record.repaired and state != "skipped":
                repaired += 1
            size = record.bytes or 0
            if state not in ("invalid", "skipped"):
                bytes_total += size
                sent = min(size, record.bytes_done) if size else record.bytes_done
                bytes_done += sent
                kind = state if state in ("succeeded", "failed", "cancelled") else "active"
                bytes_by[kind] += sent
            if state == "uploading":
                uploading.append(record)
            elif state == "processing":
                processing.append(record)
            elif state == "repairing":
                repairing.append(record)
            elif state in FAILED_STATES or state == "cancelled":
                failed.append(record)
        files_done = sum(counts[s] for s in FINAL_STATES)
        now = None
        if result.started_at is not None and result.elapsed_s is not None:
            now = result.started_at + result.elapsed_s  # the batch's clock, not wall time
        bytes_per_s: float | None = None
        estimate: float | None = None
        if not finished and now is not None:
            from ._eta import EtaEstimator  # numpy, via the processing-time model

            eta = eta or EtaEstimator()
            eta.observe(records, now, getattr(result, "event_log", None))
            bytes_per_s = eta.rate.rates()[0]
            estimate = eta.estimate(records, now)
        elif rate is not None:
            rate.add(bytes_done, files_done)
            bytes_per_s = rate.rates()[0]
        uploading.sort(key=lambda r: (r.started_at or 0.0, r.file_id))
        processing.sort(key=lambda r: (r.uploaded_at or 0.0, r.file_id))
        failed.sort(key=lambda r: (r.finished_at or 0.0, r.file_id))
        active = (uploading + repairing + processing)[:max_in_flight]
        return cls(
            target=result.target,
            files_total=len(records),
            files_done=files_done,
            counts={s: counts[s] for s in FILE_STATES if counts[s]},
            bytes_total=bytes_total,
            bytes_done=bytes_done,
            elapsed_s=result.elapsed_s,
            bytes_per_s=bytes_per_s,
            eta_s=0.0 if finished else estimate,
            in_flight=[_in_flight(r) for r in active],
            in_flight_total=len(uploading) + len(repairing) + len(processing),
            failures=[_failure(r) for r in failed[:max_failures]],
            failures_total=len(failed),
            budget=_budget_lines(budget or {}),
            finished=finished,
            repaired=repaired,
            bytes_by={k: v for k, v in bytes_by.items() if v},
            at_once=getattr(result, "concurrency_now", None),
        )

    # text

    def counts_text(self) -> str:
        return " · ".join(f"{state} {n:,}" for state, n in self.counts.items())

    def rate_text(self) -> str:
        """`1.6 MB/s · ETA 0:42 · 12 s elapsed`; when finished, the average throughput."""
        parts = []
        if self.finished:
            if self.elapsed_s:
                parts.append(f"{format_elapsed(self.elapsed_s)} elapsed")
                if self.bytes_done:
                    parts.append(f"{format_bytes(self.bytes_done / self.elapsed_s)}/s on average")
            return " · ".join(parts)
        if self.bytes_per_s is not None:
            parts.append(f"{format_bytes(self.bytes_per_s)}/s")
        if self.eta_s is not None:
            parts.append(f"ETA {format_elapsed(self.eta_s)}")
        if self.elapsed_s is not None:
            parts.append(f"{format_elapsed(self.elapsed_s)} elapsed")
        at_once = self.at_once_text()
        if at_once:
            parts.append(at_once)
        return " · ".join(parts)

    def at_once_text(self) -> str:
        """`up to 12 files at once`: the adaptive limit now, and what holds it when that is
        not the batch's own measure (X's rate limit, memory, open files). Empty when done."""
        if self.at_once is None or self.finished:
            return ""
        limit, reason = self.at_once
        why = {"paced": "paced by the rate limit", "memory": "memory", "open files": "open files"}
        held = f" ({why[reason]})" if reason in why else ""
        return f"up to {limit:,} file{'s' if limit != 1 else ''} at once{held}"

    def line(self) -> str:
        """The compact single line of text mode."""
        parts = [
            f"{self.files_done:,}/{self.files_total:,} files",
            f"{format_bytes(self.bytes_done)}/{format_bytes(self.bytes_total)}",
        ]
        if self.bytes_per_s is not None:
            parts.append(f"{format_bytes(self.bytes_per_s)}/s")
        if self.eta_s is not None:
            parts.append(f"ETA {format_elapsed(self.eta_s)}")
        busy = {
            s: self.counts[s]
            for s in ("repairing", "uploading", "processing")
            if self.counts.get(s)
        }
        parts += [f"{state} {n:,}" for state, n in busy.items()]
        if self.at_once is not None and not self.finished:
            limit, reason = self.at_once
            parts.append(f"≤{limit} at once" + (" (paced)" if reason == "paced" else ""))
        if self.repaired:
            parts.append(f"repaired {self.repaired:,}")
        parts += [
            f"{state} {self.counts[state]:,}"
            for state in ("failed", "invalid", "cancelled")
            if self.counts.get(state)
        ]
        low = [b for b in self.budget if b.low]
        if low:
            parts.append(low[0].describe())
        return "mediakit: " + " · ".join(parts)


def _in_flight(record: FileRecord) -> InFlight:
    return InFlight(
        name=PurePath(record.path).name,
        state=record.state,
        phase=record.phase,
        segments_done=record.segments_done,
        segments=record.segments,
        progress_percent=record.progress_percent,
        retries=record.retries,
    )


def _failure(record: FileRecord) -> Failure:
    return Failure(
        PurePath(record.path).name,
        record.state,
        failure_reason(record.state, record.error_name, record.error_message),
    )


def failure_reason(state: str, error_name: str | None, error_message: str | None) -> str:
    """Why a file was not uploaded, in one phrase; a cancelled file says it was cancelled."""
    if state == "cancelled":
        return error_message or "cancelled before it finished"
    if error_name and error_message and error_name not in error_message:
        return f"{error_name}: {error_message}"
    return error_message or error_name or "no reason recorded"


def _budget_lines(budget: Mapping[str, Budget]) -> tuple[BudgetLine, ...]:
    order = {c: i for i, c in enumerate(COMMANDS)}
    return tuple(
        BudgetLine(command, b.limit, b.remaining, b.reset_at)
        for command, b in sorted(budget.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))
    )


def format_bytes(n: float) -> str:
    """Binary units named as X names its limits (`MB` = 2**20 bytes), one decimal."""
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KB", "MB", "GB"):
        n /= 1024
        if n < 1024 or unit == "GB":
            break
    return f"{n:.1f} {unit}"


def format_elapsed(seconds: float) -> str:
    """`42 s`, `3:07`, `1:02:45`."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def clock_time(epoch_s: float) -> str:
    """A reset time as the local wall clock: `10:45:03`."""
    try:
        return datetime.fromtimestamp(epoch_s).strftime("%H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return "?"
