"""What a batch gives back: `UploadResult` (finished) and `UploadJob` (still running)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

from ._clock import Clock
from ._concurrency import Change
from ._records import FILE_STATES, FINAL_STATES, OK_STATES, Event, FileRecord, display_path

if TYPE_CHECKING:
    from datetime import timedelta

    import pandas as pd
    from matplotlib.figure import Figure

    from ._model import ProcessingTimeModel
    from ._sync import BackgroundRun

__all__ = [
    "UploadJob",
    "UploadResult",
    "concurrency_line",
    "failures_frame",
    "name_files",
    "summary_line",
]


def summary_line(records: Sequence[FileRecord], target: str, elapsed_s: float | None) -> str:
    """`37 uploaded to the emulator, 2 already uploaded (skipped), 3 invalid (see
    result.failures) in 41.2 s`: the words of `result.counts` ("uploaded" is `succeeded`,
    every other outcome is named by its state), and how many were repaired (fix=True)."""
    counts: Counter[str] = Counter(record.state for record in records)
    where = "the emulator" if target == "emulator" else ("X" if target == "x" else target)
    parts = [f"{counts['succeeded']} uploaded to {where}"]
    repaired = sum(1 for record in records if record.repaired and record.state != "skipped")
    if repaired:
        parts.append(f"{repaired} repaired")
    if counts["skipped"]:
        parts.append(f"{counts['skipped']} already uploaded (skipped)")
    bad = [
        f"{counts[state]} {state}" for state in ("failed", "invalid", "cancelled") if counts[state]
    ]
    if bad:
        bad[-1] += " (see result.failures)"
    parts += bad
    running = len(records) - sum(counts[s] for s in FINAL_STATES)
    if running:
        parts.append(f"{running} still running")
    if not records:
        parts = [f"no media files to upload to {where}"]
    text = ", ".join(parts)
    if elapsed_s is not None:
        text += f" in {elapsed_s:.1f} s"
    return text


def failures_frame(items: pd.DataFrame) -> pd.DataFrame:
    """`items`' failed, invalid and cancelled rows, led by path, state and reason."""
    import pandas as pd

    from ._snapshot import failure_reason

    bad = items[items["state"].isin(["failed", "invalid", "cancelled"])].reset_index(drop=True)
    reasons = [
        failure_reason(str(state), _text(name), _text(message))
        for state, name, message in zip(
            bad["state"], bad["error_name"], bad["error_message"], strict=True
        )
    ]
    rest = [c for c in bad.columns if c not in ("path", "state", "reason")]
    frame = bad[["path", "state"]].copy()
    frame["reason"] = pd.array(reasons, dtype="string")
    return pd.concat([frame, bad[rest]], axis=1)


def _text(value: Any) -> str | None:
    import pandas as pd

    return None if value is None or pd.isna(value) else str(value)


def concurrency_line(
    records: Sequence[FileRecord], changes: Sequence[Change], until: float | None
) -> str:
    """`up to 24 files at once (paced 31 s to the rate budget)`: what the batch chose, from
    the files' upload spans (INIT to FINALIZE answered) and the limit's changes."""
    spans = [(r.started_at, 1) for r in records if r.started_at and r.uploaded_at]
    spans += [(r.uploaded_at, -1) for r in records if r.started_at and r.uploaded_at]
    if not spans or not changes:
        return ""
    peak = running = 0
    for _, step in sorted(spans, key=lambda s: (s[0], s[1])):  # an end before a start
        running += step
        peak = max(peak, running)
    text = f"up to {peak} file{'s' if peak != 1 else ''} at once"
    ends = [c.at for c in changes[1:]] + [until if until is not None else changes[-1].at]
    paced = sum(end - c.at for c, end in zip(changes, ends, strict=True) if c.reason == "paced")
    if paced >= 0.5:
        text += f" (paced {paced:.0f} s to the rate budget)"
    return text


def name_files(records: Sequence[FileRecord], most: int = 10) -> str:
    """`a.jpg, b.mp4 and 3 more`: the files a warning is about, by name."""
    names = [display_path(r.path) for r in records[:most]]
    more = len(records) - len(names)
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


class UploadResult:
    """Every file's outcome and every HTTP attempt of one batch, as DataFrames."""

    def __init__(
        self,
        records: Sequence[FileRecord],
        events: Sequence[Event],
        *,
        target: str,
        api: str,
        batch_id: str,
        clock: Clock,
        started_at: float | None,
        finished_at: float | None,
        warnings: Sequence[str] = (),
        not_journaled: Sequence[int] = (),
        concurrency: Sequence[Change] = (),
    ) -> None:
        self._records = records
        self._concurrency = concurrency
        self._events = events
        self._warnings = warnings
        self._not_journaled = frozenset(not_journaled)
        self.target = target
        self.api = api
        self.batch_id = batch_id
        self._clock = clock
        self.started_at = started_at
        self.finished_at = finished_at

    @property
    def records(self) -> list[FileRecord]:
        return list(self._records)

    @property
    def event_log(self) -> Sequence[Event]:
        """The HTTP attempts as records, not a frame (while the batch runs, the live list the
        batch appends to: the dashboard's ETA reads it from where it stopped)."""
        return self._events

    @property
    def items(self) -> pd.DataFrame:
        """One row per file: media id, state, timings, expiry, error, your columns."""
        from ._frames import items_frame

        return items_frame(list(self._records), list(self._events), now=self._clock.now())

    @property
    def events(self) -> pd.DataFrame:
        """One row per HTTP attempt, retries included."""
        from ._frames import events_frame

        return events_frame(list(self._events))

    @property
    def responses(self) -> pd.DataFrame:
        """Every FINALIZE and STATUS answer: size, state, progress, check_after_secs, timings,
        expires_after_secs and the absolute expires_at (the `events` schema)."""
        from ._frames import responses_frame

        return responses_frame(list(self._events))

    @property
    def concurrency_now(self) -> tuple[int, str] | None:
        """The batch's latest limit on files at once and its reason (None before it decided)."""
        if not self._concurrency:
            return None
        last = self._concurrency[-1]
        return last.limit, last.reason

    @property
    def concurrency(self) -> pd.DataFrame:
        """How many files the batch let upload at once, over time: one row per change, with
        `at`, `elapsed_s` (since the batch started), `limit`, `uploading` and `waiting` (files
        then), `reason` (ceiling, starting, measured, paced, memory, open files) and `detail`."""
        import pandas as pd

        t0 = self.started_at
        rows = [
            {
                "at": pd.Timestamp(c.at, unit="s", tz="UTC"),
                "elapsed_s": None if t0 is None else max(0.0, c.at - t0),
                "limit": c.limit,
                "uploading": c.uploading,
                "waiting": c.waiting,
                "reason": c.reason,
                "detail": c.detail,
            }
            for c in self._concurrency
        ]
        columns = ["at", "elapsed_s", "limit", "uploading", "waiting", "reason", "detail"]
        frame = pd.DataFrame(rows, columns=columns)
        return frame.astype(
            {"elapsed_s": "float64", "limit": "int64", "uploading": "int64", "waiting": "int64"}
        )

    # --- analysis: thin delegations to _latency, _model, _plots and _analysis ---------------

    def latency(
        self,
        *,
        by: str | pd.Series | Sequence[str | pd.Series] = ("media_category", "size_band"),
        estimate: str = "midpoint",
        states: Sequence[str] | None = ("succeeded",),
        metrics: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Queued, upload, processing, polling and total seconds per group: count, median,
        p90, p99, max, and STATUS polls. `by`: any column or list of them, `size_band`,
        `duration_band`, `day`, `hour`, `batch`, your columns. `estimate`: which bound of X's
        processing interval ("lower", "upper") or "midpoint"; the table says which.
        `metrics`: a subset of queued, upload, processing, polling, total (None: all)
        (see `mediakit._latency.latency`)."""
        from ._latency import latency

        return latency(self.items, by=by, estimate=estimate, states=states, metrics=metrics)

    def phases(self) -> pd.DataFrame:
        """One row per file: queued, upload, X's processing interval (min, mid, max), the
        polling cost each estimate leaves, STATUS polls, total (see `mediakit._latency`)."""
        from ._latency import phases

        return phases(self.items)

    def processing_model(
        self, *, estimate: str = "midpoint", min_files: int = 8
    ) -> ProcessingTimeModel:
        """A robust linear fit of X's processing seconds against MiB (and video seconds when
        items have `duration_s`) per category, with its residual spread: `.table`,
        `.predict(bytes, duration_s, category)`, `.band(...)` (see `mediakit._model`)."""
        from ._model import ProcessingTimeModel

        return ProcessingTimeModel.from_items(self.items, estimate=estimate, min_files=min_files)

    def expiring(self, within: str | float | timedelta = "1h") -> pd.DataFrame:
        """Uploaded media that expires within `within` ("2h", "30min", "1d", seconds) from now
        on the batch's clock, soonest first, with `expires_in`; already expired is not listed."""
        from ._analysis import expiring

        return expiring(self.items, within=within, now=self._clock.now())

    def plot_latency(self, *, by: str = "media_category", estimate: str = "midpoint") -> Figure:
        """Box plots of upload and processing seconds by `by` (needs the `plot` extra)."""
        from ._plots import plot_latency

        return plot_latency(self.items, by=by, estimate=estimate)

    def plot_timeline(self, *, max_files: int = 200) -> Figure:
        """One row per file: INIT, APPEND, FINALIZE, processing bars (needs the `plot` extra)."""
        from ._plots import plot_timeline

        items = self.items  # before the events: a live batch's events then cover its items
        return plot_timeline(items, self.events, max_files=max_files)

    def plot_processing(
        self, *, model: ProcessingTimeModel | None = None, estimate: str = "midpoint"
    ) -> Figure:
        """Processing seconds against size per category: each file's polling interval, the
        fitted line and its 90 % band (needs the `plot` extra)."""
        from ._plots import plot_processing

        return plot_processing(self.items, model=model, estimate=estimate)

    def plot_ecdf(
        self,
        *,
        metric: str = "processing",
        by: str | pd.Series | Sequence[str | pd.Series] = "media_category",
        estimate: str = "midpoint",
    ) -> Figure:
        """ECDF of a phase's seconds per group; for processing, with the ECDFs of the
        interval's bounds around it (needs the `plot` extra)."""
        from ._plots import plot_ecdf

        return plot_ecdf(self.items, metric=metric, by=by, estimate=estimate)

    # --- outcomes -------------------------------------------------------------------------

    @property
    def failures(self) -> pd.DataFrame:
        """The files not uploaded (failed, invalid, cancelled): path, state and `reason` (one
        phrase; a cancelled file's says so) first, then every other column of `items`."""
        return failures_frame(self.items)

    @property
    def counts(self) -> dict[str, int]:
        counts: Counter[str] = Counter(record.state for record in self._records)
        return {state: counts[state] for state in FILE_STATES if counts[state]}

    @property
    def ok(self) -> bool:
        """True when every file succeeded or was already uploaded."""
        return all(record.state in OK_STATES for record in self._records)

    @property
    def media_ids(self) -> dict[str, str]:
        return {r.path: r.media_id for r in self._records if r.media_id and r.state in OK_STATES}

    @property
    def elapsed_s(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else self._clock.now()
        return end - self.started_at

    @property
    def warnings(self) -> list[str]:
        """What went wrong beside the files' own outcomes, one sentence each: outcomes the
        journal could not record, upload sessions X may hold that nobody will finish."""
        found = list(self._warnings)
        orphans = [r for r in self._records if r.orphan_sessions]
        if orphans:
            count = sum(r.orphan_sessions for r in orphans)
            found.append(
                f"{count} possible orphan upload session{'s' if count != 1 else ''}: an INIT's "
                "answer was lost and INIT was sent again, so X may hold sessions nobody will "
                f"finish (they expire unused); files: {name_files(orphans)}"
            )
        return found

    @property
    def not_journaled(self) -> pd.DataFrame:
        """The `items` whose outcome the journal could not record (a full disk, say): a
        rerun would not know them. Empty when the journal has everything."""
        items = self.items
        return items[items["file_id"].isin(self._not_journaled)].reset_index(drop=True)

    def summary(self) -> str:
        """`37 uploaded to the emulator, 1 failed (see result.failures) in 41.2 s` (the words of
        `counts`), with the
        number of `warnings` when there are any."""
        text = summary_line(self._records, self.target, self.elapsed_s)
        at_once = concurrency_line(self._records, self._concurrency, self.finished_at)
        if at_once:
            text += f"; {at_once}"
        count = len(self.warnings)
        if count:
            text += f"; {count} warning{'s' if count != 1 else ''} (see result.warnings)"
        return text

    def __repr__(self) -> str:
        return f"<UploadResult {self.summary()}>"

    def _repr_html_(self) -> str:
        """In a notebook: target, counts by state, totals, the first failures and why."""
        from ._html import result_html

        return result_html(self, title="UploadResult", failures_where="result.failures")


class UploadJob:
    """A batch running in the background (`wait=False`): live frames, `cancel()`, `wait()`."""

    def __init__(self, run: BackgroundRun[UploadResult], live: Callable[[], UploadResult]) -> None:
        self._run = run
        self._live = live

    @property
    def result(self) -> UploadResult:
        """The batch as it stands now (the final result once done)."""
        return self._live()

    @property
    def items(self) -> pd.DataFrame:
        return self._live().items

    @property
    def events(self) -> pd.DataFrame:
        return self._live().events

    def done(self) -> bool:
        return self._run.done()

    def cancel(self) -> None:
        """Stop: no new requests; files in flight end `cancelled`."""
        self._run.cancel()

    def wait(self, timeout: float | None = None) -> UploadResult:
        """Block until the batch ends; a cancelled batch gives what it did before it stopped."""
        try:
            return self._run.result(timeout)
        except asyncio.CancelledError:
            if self._run.done():
                return self._live()
            raise

    def __await__(self) -> Generator[Any, None, UploadResult]:
        return self._await().__await__()

    async def _await(self) -> UploadResult:
        try:
            return await self._run
        except asyncio.CancelledError:
            if self._run.done():  # the batch was cancelled, not the task awaiting it
                return self._live()
            raise

    def __repr__(self) -> str:
        state = "done" if self.done() else "running"
        return f"<UploadJob {state}: {self._live().summary()}>"

    def _repr_html_(self) -> str:
        """In a notebook: the batch as it stands (the dashboard shows it live)."""
        from ._html import result_html

        done = self.done()
        return result_html(
            self._live(),
            title=f"UploadJob ({'done' if done else 'running'})",
            failures_where="job.result.failures",
            finished=done,
        )
