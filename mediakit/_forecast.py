"""How long a batch will take: before it starts (`plan.estimated_s`) and while it runs (ETA).

Both are pure functions of what is known: the files (bytes, video seconds, category), and a
`History`, which is what past batches measured (a processing-time model, how fast a file
uploads, what polling costs) or, without any, documented defaults. The batch is simulated the
way the scheduler runs it: files in order of longest processing first (videos by size, then
GIFs, then images), `concurrency` upload slots, X processing in parallel once a file is
uploaded; a batch lasts until its last file's processing is known, and never less than the
rate-limit windows its requests need.
"""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from ._limits import ASYNC_CATEGORIES, CATEGORIES, Limits, MiB
from ._model import DEFAULTS, ProcessingTimeModel, robust_fit

if TYPE_CHECKING:
    import pandas as pd

    from ._records import FileRecord
    from ._result import UploadResult

__all__ = [
    "DEFAULT_POLLING_S",
    "DEFAULT_UPLOAD",
    "BatchEstimate",
    "History",
    "PlannedFile",
    "UploadSpeed",
    "estimate_batch",
    "eta_s",
    "load_history",
]

HistorySource: TypeAlias = (
    "UploadResult | pd.DataFrame | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]"
    " | bool | None"
)

# Polling cost without history: half of the 5 s `check_after_secs` X documents for a file in
# progress (x-media-api.md §2: docs show 5, field captures 1 for a fresh FINALIZE).
DEFAULT_POLLING_S = 2.5
_KIND_ORDER = {"video": 0, "gif": 1, "image": 2, "subtitles": 3}


@dataclass(frozen=True)
class UploadSpeed:
    """Seconds one file takes to upload: overhead_s + s_per_mib × MiB, per upload slot."""

    overhead_s: float
    s_per_mib: float
    files: int  # files it was measured on; 0 for the default
    source: str

    def seconds(self, size: float) -> float:
        return max(0.0, self.overhead_s + self.s_per_mib * size / MiB)


# Without history: 1 s of requests (INIT, FINALIZE, one APPEND round trip each way) and
# 2 MiB/s per file (about 17 Mbit/s), an assumption, not a measurement.
DEFAULT_UPLOAD = UploadSpeed(1.0, 0.5, 0, "default (assumed: 1 s per file + 2 MiB/s per file)")


@dataclass(frozen=True)
class History:
    """What past batches measured, or the defaults when there are none."""

    model: ProcessingTimeModel = DEFAULTS
    upload: UploadSpeed = DEFAULT_UPLOAD
    polling_s: float = DEFAULT_POLLING_S
    polls_per_file: float | None = None  # STATUS requests per processed file, when measured
    files: int = 0
    note: str = "no history: documented defaults"

    @classmethod
    def from_items(
        cls, items: pd.DataFrame, *, target: str | None = None, min_files: int = 8
    ) -> History:
        """From the items of past batches (one target's, when `target` is given)."""
        from ._latency import phases

        frame = items
        if target is not None and "target" in frame.columns:
            frame = frame[frame["target"] == target]
        done = frame[frame["state"] == "succeeded"]
        if done.empty:
            where = f" to {target!r}" if target is not None else ""
            return cls(note=f"no succeeded file{where} in the history: documented defaults")
        model = ProcessingTimeModel.from_items(done, states=None, min_files=min_files)
        upload = _upload_speed(done, min_files)
        table = phases(done)
        processed = table["processing_s_mid"].notna()
        polling = float(np.nanmedian(table["polling_s_mid"])) if processed.any() else math.nan
        polls = (
            float(table.loc[processed, "status_polls"].astype("float64").median())
            if processed.any()
            else None
        )
        batches = done["batch_id"].nunique() if "batch_id" in done.columns else 1
        return cls(
            model=model,
            upload=upload,
            polling_s=polling if math.isfinite(polling) else DEFAULT_POLLING_S,
            polls_per_file=polls,
            files=len(done),
            note=f"history: {len(done)} succeeded files from {batches} batch(es)",
        )


def _upload_speed(done: pd.DataFrame, min_files: int) -> UploadSpeed:
    mib = done["bytes"].to_numpy(dtype=np.float64, na_value=np.nan) / MiB
    seconds = done["upload_s"].to_numpy(dtype=np.float64, na_value=np.nan)
    known = np.isfinite(mib) & np.isfinite(seconds)
    design = np.column_stack([np.ones(int(known.sum())), mib[known]])
    if known.sum() < min_files or np.linalg.matrix_rank(design) < 2:
        return DEFAULT_UPLOAD
    line = robust_fit(design, seconds[known])
    overhead, per_mib = (float(v) for v in line.coefficients)
    if per_mib <= 0:  # sizes too alike to see the bandwidth: keep the median time per file
        return UploadSpeed(float(np.median(seconds[known])), 0.0, int(known.sum()), "history")
    return UploadSpeed(max(overhead, 0.0), per_mib, int(known.sum()), "history")


def load_history(source: HistorySource = None, *, target: str | None = None) -> History:
    """A `History` from a result, an items frame, journal file(s), or the default journal.

    None reads every batch of the default journal when it exists; False uses the defaults.
    """
    import pandas as pd

    from ._result import UploadResult

    if source is False:
        return History()
    if isinstance(source, UploadResult):
        return History.from_items(source.items, target=target)
    if isinstance(source, pd.DataFrame):
        return History.from_items(source, target=target)
    from ._history import open_journal
    from ._journal import default_journal_path

    if source is None or source is True:
        from ._errors import MediaError

        path = default_journal_path()
        if not path.exists():
            return History(note=f"no history yet (no journal at {path}): documented defaults")
        try:  # the implicit journal is a help, never a reason for `plan` to fail
            items = open_journal(path, batch="all").items
        except MediaError as exc:
            return History(note=f"no usable history ({exc}): documented defaults")
        return History.from_items(items, target=target)
    paths = [source] if isinstance(source, str | os.PathLike) else list(source)
    return History.from_items(
        open_journal([Path(p) for p in paths], batch="all").items, target=target
    )


# --- one batch, simulated --------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedFile:
    size: int  # bytes (still to send, for the ETA)
    category: str | None
    kind: str | None = None
    duration_s: float | None = None
    done: int = 0  # bytes already sent


def _kind(category: str | None) -> str | None:
    return Limits.kind_of(category) if category in CATEGORIES else None


def _planned(record: FileRecord, *, left: bool) -> PlannedFile:
    size = record.bytes or 0
    done = min(size, record.bytes_done) if left else 0
    return PlannedFile(
        size - done, record.media_category, _kind(record.media_category), _duration_of(record), done
    )


@dataclass(frozen=True)
class BatchEstimate:
    """How long a batch is expected to take, and on which assumptions."""

    seconds: float
    uploads_s: float  # until the last file is uploaded
    longest_processing_s: float
    rate_limit_floor_s: float
    assumptions: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        return f"about {_duration(self.seconds)}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _order(files: Iterable[PlannedFile]) -> list[PlannedFile]:
    return sorted(files, key=lambda f: (_KIND_ORDER.get(f.kind or "", 9), -(f.size or 0)))


def _processing(history: History, planned: Sequence[PlannedFile]) -> np.ndarray[Any, Any]:
    """Predicted processing + polling seconds per file (0 for what X does not process)."""
    if not planned:
        return np.zeros(0)
    sizes = np.array([f.size for f in planned], dtype=np.float64)
    durations = np.array(
        [np.nan if f.duration_s is None else f.duration_s for f in planned], dtype=np.float64
    )
    categories = np.array([f.category or "tweet_image" for f in planned], dtype=object)
    seconds = np.asarray(history.model.predict(sizes, durations, categories), dtype=np.float64)
    processed = np.array([c in ASYNC_CATEGORIES for c in categories], dtype=bool)
    return np.where(processed, seconds + history.polling_s, 0.0)


def estimate_batch(
    files: Sequence[PlannedFile],
    history: History | None = None,
    *,
    concurrency: int = 4,
    rate_limit_floor_s: float = 0.0,
) -> BatchEstimate:
    """Simulate the batch: `concurrency` slots upload in scheduler order, X processes each
    file once it is uploaded; the batch ends with the last answer that says done."""
    known = history or History()
    planned = _order(files)
    slots = [0.0] * max(1, concurrency)
    extra = _processing(known, planned)
    uploads_end = 0.0
    end = 0.0
    for planned_file, processing in zip(planned, extra, strict=True):
        start = heapq.heappop(slots)
        uploaded = start + known.upload.seconds(planned_file.size)
        heapq.heappush(slots, uploaded)
        uploads_end = max(uploads_end, uploaded)
        end = max(end, uploaded + float(processing))
    model = known.model
    assumptions = (
        known.note,
        f"upload per file: {known.upload.overhead_s:.2g} s + {known.upload.s_per_mib:.2g} s/MiB "
        f"({known.upload.source}), {concurrency} file{'s' if concurrency != 1 else ''} at once",
        f"processing: {model.summary()}",
        f"polling adds {known.polling_s:.2g} s per processed file after X finishes",
        "files whose video duration is unknown use the bytes-only model"
        if any(f.duration_s is None and f.category in ASYNC_CATEGORIES for f in planned)
        else "video durations known for every processed file",
        "no retries, no processing failures; rate-limit windows as plan.windows",
    )
    return BatchEstimate(
        seconds=max(end, rate_limit_floor_s),
        uploads_s=uploads_end,
        longest_processing_s=float(extra.max()) if len(extra) else 0.0,
        rate_limit_floor_s=rate_limit_floor_s,
        assumptions=assumptions,
    )


# --- while it runs ---------------------------------------------------------------------------


def _duration_of(record: FileRecord) -> float | None:
    value = getattr(record, "duration_s", None)
    if value is None:
        value = record.user_columns.get("duration_s")
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def eta_s(
    records: Sequence[FileRecord],
    now: float,
    *,
    history: History | None = None,
    bytes_per_s: float | None = None,
    concurrency: int = 4,
) -> float:
    """Seconds until the batch's last file is done, from its records as they stand at `now`.

    Files X is processing: what their predicted processing (+ polling) has left after the time
    since FINALIZE (never below 0: a file late on its prediction is due any moment). Files
    still to upload: their bytes left, in scheduler order, at `bytes_per_s` (the batch's
    recent aggregate rate) when given, else on `concurrency` slots at the history's speed;
    then their predicted processing. Finished files count for nothing. Pure: the dashboard
    calls it with its own measured rate.
    """
    known = history or History()
    ends = [0.0]
    processing = [r for r in records if r.state == "processing"]
    planned = [_planned(r, left=False) for r in processing]
    for record, seconds in zip(processing, _processing(known, planned), strict=True):
        since = record.uploaded_at if record.uploaded_at is not None else now
        ends.append(max(0.0, float(seconds) - (now - since)))

    # In flight first (they hold the slots), then the queue in the scheduler's order.
    uploading = [_planned(r, left=True) for r in records if r.state == "uploading"]
    queued = _order(_planned(r, left=True) for r in records if r.state == "queued")
    to_upload = [*uploading, *queued]
    whole = [PlannedFile(f.size + f.done, f.category, f.kind, f.duration_s) for f in to_upload]
    after = _processing(known, whole)
    slots = [0.0] * max(1, concurrency)
    sent = 0.0
    for left, seconds in zip(to_upload, after, strict=True):
        if bytes_per_s:
            sent += left.size
            uploaded = sent / bytes_per_s
        else:
            start = heapq.heappop(slots)
            uploaded = start + known.upload.seconds(left.size)
            heapq.heappush(slots, uploaded)
        ends.append(uploaded + float(seconds))
    return max(ends)
