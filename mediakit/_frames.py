"""The DataFrames of a batch, their schemas declared once, and fast builders.

`events` has one row per HTTP attempt, `responses` is its FINALIZE and STATUS rows, `items`
has one row per file (its `FileRecord` joined with its events). The schemas use nullable
integers, tz-aware UTC timestamps, explicit category lists and string ids (a 19-digit media
id does not survive a float), so that a Parquet round trip gives back an equal frame.

The builders work column-wise: one pass over the records pulls every field into one tuple per
column, then each column becomes a typed array in one vectorized call. Nothing is done per
row in pandas: 100,000 events build in about 1.5× the time `DataFrame.from_records` takes for
the same rows as plain tuples (which gives untyped columns).
"""

from __future__ import annotations

import gc
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import attrgetter
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionDtype

from ._limits import CATEGORIES
from ._records import (
    COMMANDS,
    FILE_STATES,
    PROCESSING_DONE,
    PROCESSING_STATES,
    Event,
    FileRecord,
    display_path,
)

__all__ = [
    "EVENT_SCHEMA",
    "ITEM_SCHEMA",
    "RESPONSE_COMMANDS",
    "TIMESTAMP",
    "events_frame",
    "items_frame",
    "processing_interval",
    "read_parquet",
    "responses_frame",
]

Dtype = np.dtype[Any] | ExtensionDtype

# Microseconds: what pandas 3 infers for datetimes, and finer than an epoch float carries.
TIMESTAMP = pd.DatetimeTZDtype(unit="us", tz="UTC")
_STRING = pd.StringDtype()
_FLOAT = np.dtype("float64")

RESPONSE_COMMANDS = ("FINALIZE", "STATUS")

EVENT_SCHEMA: Mapping[str, Dtype] = MappingProxyType(
    {
        "batch_id": _STRING,
        "file_id": pd.Int64Dtype(),
        "path": _STRING,
        "command": pd.CategoricalDtype(list(COMMANDS)),
        "segment_index": pd.Int32Dtype(),
        "attempt": pd.Int16Dtype(),
        "started_at": TIMESTAMP,
        "finished_at": TIMESTAMP,
        "elapsed_s": _FLOAT,
        "http_status": pd.Int16Dtype(),
        "bytes_sent": pd.Int64Dtype(),
        "ok": pd.BooleanDtype(),
        "media_id": _STRING,
        "media_key": _STRING,
        "state": pd.CategoricalDtype(list(PROCESSING_STATES)),
        "progress_percent": pd.Int16Dtype(),
        "check_after_secs": pd.Int32Dtype(),
        "size": pd.Int64Dtype(),
        "expires_after_secs": pd.Int64Dtype(),
        "expires_at": TIMESTAMP,
        "error_code": _STRING,
        "error_name": _STRING,
        "error_message": _STRING,
        "rate_limit_limit": pd.Int32Dtype(),
        "rate_limit_remaining": pd.Int32Dtype(),
        "rate_limit_reset": TIMESTAMP,
        "transaction_id": _STRING,
        "response": _STRING,
    }
)
"""`events`: one row per HTTP attempt (a retry is another row)."""

ITEM_SCHEMA: Mapping[str, Dtype] = MappingProxyType(
    {
        "path": _STRING,
        "bytes": pd.Int64Dtype(),
        "media_type": _STRING,
        "media_category": pd.CategoricalDtype(list(CATEGORIES)),
        "segments": pd.Int32Dtype(),
        "target": _STRING,
        "api": pd.CategoricalDtype(["v2", "v1.1"]),
        "media_id": _STRING,
        "media_key": _STRING,
        "state": pd.CategoricalDtype(list(FILE_STATES)),
        "attempts": pd.Int32Dtype(),
        "retries": pd.Int32Dtype(),
        "started_at": TIMESTAMP,
        "finished_at": TIMESTAMP,
        # Waiting for an upload slot: from the batch's first start to this file's.
        "queued_s": _FLOAT,
        "upload_s": _FLOAT,
        "processing_s": _FLOAT,
        # The interval polling allows for X's processing time (see `items_frame`).
        "processing_s_min": _FLOAT,
        "processing_s_max": _FLOAT,
        "total_s": _FLOAT,
        "throughput_mb_s": _FLOAT,  # MB/s (10^6 bytes), as the dashboard says it
        "status_polls": pd.Int32Dtype(),
        "expires_at": TIMESTAMP,
        "expired": pd.BooleanDtype(),
        # fix=True: whether a repaired copy was uploaded, what was done in words ("120 fps →
        # 60 fps; 3840×2160 → 1280×720"), where the copy is; `source_bytes` is the original's
        # size, `bytes` what was uploaded.
        "repaired": pd.BooleanDtype(),
        "repair": _STRING,
        "repaired_path": _STRING,
        "source_bytes": pd.Int64Dtype(),
        "error_code": _STRING,
        "error_name": _STRING,
        "error_message": _STRING,
        # Which batch and which file of it: joins items to events even across batches.
        "batch_id": _STRING,
        "file_id": pd.Int64Dtype(),
        # The file name's exact bytes: `path` is readable text, which a name that is not
        # valid UTF-8 cannot be exactly (its bad bytes show as \xNN there).
        "path_bytes": np.dtype(object),
    }
)
"""`items`: one row per file; the user's own columns (alt_text, campaign, …) follow."""

# Every Event field the events frame shows, in schema order; elapsed_s is computed.
_EVENT_FIELDS = tuple(name for name in EVENT_SCHEMA if name != "elapsed_s")
_get_event_fields = attrgetter(*_EVENT_FIELDS)
_FILE_FIELDS = (
    "batch_id",
    "file_id",
    "path",
    "bytes",
    "media_type",
    "media_category",
    "segments",
    "target",
    "api",
    "media_id",
    "media_key",
    "state",
    "started_at",
    "uploaded_at",
    "finished_at",
    "expires_at",
    "error_code",
    "error_name",
    "error_message",
    "repaired",
    "repair",
    "repaired_path",
    "source_bytes",
)
_get_file_fields = attrgetter(*_FILE_FIELDS)


def events_frame(events: Sequence[Event]) -> pd.DataFrame:
    """One row per HTTP attempt, typed as `EVENT_SCHEMA` (empty input: no rows, same dtypes)."""
    with _gc_paused():
        columns = _transpose([_get_event_fields(e) for e in events], len(_EVENT_FIELDS))
    values: dict[str, Any] = dict(zip(_EVENT_FIELDS, columns, strict=True))
    values["path"] = _readable(values["path"])
    started = _floats(values["started_at"])
    finished = _floats(values["finished_at"])
    values["started_at"] = started
    values["finished_at"] = finished
    values["elapsed_s"] = finished - started
    return _frame(values, EVENT_SCHEMA)


def responses_frame(events: Sequence[Event] | pd.DataFrame) -> pd.DataFrame:
    """The FINALIZE and STATUS rows of `events` (records or an events frame), index reset."""
    if isinstance(events, pd.DataFrame):
        rows = events[events["command"].isin(RESPONSE_COMMANDS)]
        return rows.reset_index(drop=True)
    return events_frame([event for event in events if event.command in RESPONSE_COMMANDS])


def items_frame(
    files: Sequence[FileRecord], events: Sequence[Event], *, now: float
) -> pd.DataFrame:
    """One row per file, typed as `ITEM_SCHEMA`, then the user's columns in first-seen order.

    `attempts`, `retries` (attempts after the first) and `status_polls` count the file's
    events; `processing_s` runs from FINALIZE answered to the STATUS answer that ended
    processing (alt text set afterwards does not count), for files X processed (a STATUS poll
    or a processing state in an answer); `processing_s_min` / `processing_s_max` bound X's
    own processing time from the events' sent and answered times (see `processing_interval`);
    `queued_s` is how long the file waited for an upload slot, from the batch's first request
    (or first file started) to this file's start; `expired` compares `expires_at` with
    `now` (epoch seconds of the batch's clock). A user column whose name the schema already
    uses is kept as `<name>_user`.
    """
    tallies_by_file: dict[tuple[str, int], _Tally] = {}
    first_start: dict[str, float] = {}  # per batch: its first request sent
    for event in events:
        if event.file_id is None:
            continue
        tally = tallies_by_file.get((event.batch_id, event.file_id))
        if tally is None:
            tally = tallies_by_file[(event.batch_id, event.file_id)] = _Tally()
        tally.add(event)
        if event.started_at < first_start.get(event.batch_id, math.inf):
            first_start[event.batch_id] = event.started_at

    with _gc_paused():
        rows = [_get_file_fields(record) for record in files]
        values = dict(zip(_FILE_FIELDS, _transpose(rows, len(_FILE_FIELDS)), strict=True))
        empty = _Tally()
        tallies = [tallies_by_file.get((row[0], row[1]), empty).row() for row in rows]
        (
            attempts,
            retries,
            polls,
            processed,
            processed_at,
            finalize_sent,
            finalize_answered,
            pending_sent,
            done_answered,
        ) = _transpose(tallies, _Tally.WIDTH)

    started = _floats(values["started_at"])
    uploaded = _floats(values["uploaded_at"])
    finished = _floats(values["finished_at"])
    expires = _floats(values["expires_at"])
    upload_s = uploaded - started
    with np.errstate(divide="ignore", invalid="ignore"):
        throughput = _floats(values["bytes"]) / upload_s / 1e6
    throughput[~(upload_s > 0)] = np.nan
    was_processed = np.asarray(processed, dtype=bool)
    ended = np.asarray(processed_at, dtype=float)
    ended = np.where(ended > 0, ended, finished)
    processing_s = np.where(was_processed, ended - uploaded, np.nan)
    low, high = processing_interval(
        was_processed,
        _floats(finalize_sent),
        _floats(finalize_answered),
        _floats(pending_sent),
        _floats(done_answered),
    )
    for batch_id, at in zip(values["batch_id"], values["started_at"], strict=True):
        if at is not None and at < first_start.get(batch_id, math.inf):
            first_start[batch_id] = at
    batch_start = _floats([first_start.get(b) for b in values["batch_id"]])

    columns: dict[str, Any] = {name: values[name] for name in ITEM_SCHEMA if name in values}
    columns["path"] = _readable(values["path"])
    columns["path_bytes"] = [os.fsencode(path) for path in values["path"]]
    columns["repaired_path"] = _readable(values["repaired_path"])
    # Journals from before fix=True have no source_bytes: nothing was repaired, so it is bytes.
    columns["source_bytes"] = [
        size if source is None else source
        for source, size in zip(values["source_bytes"], values["bytes"], strict=True)
    ]
    columns.update(
        attempts=attempts,
        retries=retries,
        status_polls=polls,
        started_at=started,
        finished_at=finished,
        expires_at=expires,
        queued_s=started - batch_start,
        upload_s=upload_s,
        processing_s=processing_s,
        processing_s_min=low,
        processing_s_max=high,
        total_s=finished - started,
        throughput_mb_s=throughput,
        expired=pd.arrays.BooleanArray(expires <= now, np.isnan(expires)),
    )
    arrays = _arrays(columns, ITEM_SCHEMA)
    for name, array in _user_columns(files).items():
        arrays[f"{name}_user" if name in ITEM_SCHEMA else name] = array
    return pd.DataFrame(arrays, copy=False)


_PENDING = ("pending", "in_progress")


class _Tally:
    """What a file's events say, gathered in one pass (times are epoch seconds)."""

    WIDTH = 9
    __slots__ = (
        "attempts",
        "done_answered",
        "finalize_answered",
        "finalize_sent",
        "pending_sent",
        "polls",
        "processed",
        "processed_at",
        "retries",
    )

    def __init__(self) -> None:
        self.attempts = self.retries = self.polls = self.processed = 0
        self.processed_at = 0.0  # the last STATUS that ended processing answered; 0: none
        self.finalize_sent = math.inf  # the first FINALIZE attempt sent
        self.finalize_answered = -math.inf  # the last successful FINALIZE answered
        self.pending_sent = -math.inf  # the last STATUS that said "not yet" sent
        self.done_answered = math.inf  # the first answer that said done answered

    def add(self, event: Event) -> None:
        # Called once per event of the batch: plain comparisons, no builtins (bench/frames.py).
        self.attempts += 1
        if event.attempt > 1:
            self.retries += 1
        command = event.command
        if command == "APPEND":
            return
        state, answered = event.state, event.finished_at
        if command == "STATUS":
            self.polls += 1
            self.processed = 1
            if answered is not None and (state == "succeeded" or state == "failed"):
                self.processed_at = answered
        elif state is not None:
            self.processed = 1
        if command == "FINALIZE":
            if event.started_at < self.finalize_sent:
                self.finalize_sent = event.started_at
            if event.ok and answered is not None and answered > self.finalize_answered:
                self.finalize_answered = answered
        elif command != "STATUS":
            return
        if state is None or not event.ok:
            return
        # An error in processing_info is final whatever the state says (X sent in_progress
        # with an error); the FINALIZE answer's "pending" says nothing about when X finished.
        if state in PROCESSING_DONE or event.error_name is not None or event.error_code is not None:
            if answered is not None and answered < self.done_answered:
                self.done_answered = answered
        elif command == "STATUS" and event.started_at > self.pending_sent:
            self.pending_sent = event.started_at

    def row(self) -> tuple[float, ...]:
        return (
            self.attempts,
            self.retries,
            self.polls,
            self.processed,
            self.processed_at,
            self.finalize_sent,
            self.finalize_answered,
            self.pending_sent,
            self.done_answered,
        )


def processing_interval(
    processed: np.ndarray[Any, np.dtype[np.bool_]],
    finalize_sent: np.ndarray[Any, np.dtype[np.float64]],
    finalize_answered: np.ndarray[Any, np.dtype[np.float64]],
    pending_sent: np.ndarray[Any, np.dtype[np.float64]],
    done_answered: np.ndarray[Any, np.dtype[np.float64]],
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]]:
    """The seconds X processed a file lie in [low, high], whatever the network's latency.

    X started processing during the successful FINALIZE (after the first attempt was sent,
    before that one was answered) and finished after judging the last STATUS that said "not
    yet" (sent before X judged it) and before the first answer that said done was received:
    low = last "not yet" STATUS sent - FINALIZE answered (0 when no STATUS said "not yet"),
    high = first "done" answered - first FINALIZE sent. NaN where the events do not show it:
    not processed, no FINALIZE in the batch (a resumed poll), or (high) not done yet.
    """
    known = processed & np.isfinite(finalize_answered)
    done = known & np.isfinite(done_answered) & np.isfinite(finalize_sent)
    with np.errstate(invalid="ignore"):  # inf - inf where unknown: masked just below
        waited = np.where(np.isfinite(pending_sent), pending_sent - finalize_answered, 0.0)
        low = np.where(known, np.maximum(waited, 0.0), np.nan)
        high = np.where(done, done_answered - finalize_sent, np.nan)
    return low, high


def read_parquet(path: str | os.PathLike[str]) -> pd.DataFrame:
    """`pd.read_parquet`, then the declared schema restored where Parquet lost it.

    A non-empty frame round-trips as is; an empty one loses its category lists (Parquet keeps
    a column's dictionary only with its data), which this puts back. Frames that are neither
    `events`/`responses` nor `items` come back untouched.
    """
    frame = pd.read_parquet(path)
    names = list(frame.columns)
    if names == list(EVENT_SCHEMA):
        return _conform(frame, EVENT_SCHEMA)
    if names[: len(ITEM_SCHEMA)] == list(ITEM_SCHEMA):
        return _conform(frame, ITEM_SCHEMA)
    return frame


def _conform(frame: pd.DataFrame, schema: Mapping[str, Dtype]) -> pd.DataFrame:
    for name, dtype in schema.items():
        column = frame[name]
        if isinstance(dtype, pd.CategoricalDtype) and isinstance(column.dtype, pd.CategoricalDtype):
            declared = list(dtype.categories)
            seen = set(declared)
            extra = [c for c in column.cat.categories if c not in seen]
            wanted = pd.CategoricalDtype([*declared, *extra], ordered=dtype.ordered)
            if column.dtype != wanted:
                frame[name] = column.cat.set_categories(wanted.categories)
        elif column.dtype != dtype:
            frame[name] = column.astype(dtype)
    return frame


def _frame(values: Mapping[str, Any], schema: Mapping[str, Dtype]) -> pd.DataFrame:
    return pd.DataFrame(_arrays(values, schema), copy=False)


def _arrays(values: Mapping[str, Any], schema: Mapping[str, Dtype]) -> dict[str, Any]:
    return {name: _array(values[name], dtype) for name, dtype in schema.items()}


def _array(values: Sequence[Any], dtype: Dtype) -> Any:
    """One column as a typed array, in one vectorized call."""
    if isinstance(dtype, pd.CategoricalDtype):
        return _categorical(values, dtype)
    if isinstance(dtype, pd.DatetimeTZDtype):
        seconds = values if isinstance(values, np.ndarray) else _floats(values)
        return pd.to_datetime(seconds, unit="s", utc=True).as_unit(dtype.unit).array
    if isinstance(dtype, np.dtype):
        return np.asarray(values, dtype=dtype)
    if isinstance(values, pd.api.extensions.ExtensionArray) and values.dtype == dtype:
        return values
    return pd.array(values, dtype=dtype)  # type: ignore[call-overload]


def _categorical(values: Sequence[Any], dtype: pd.CategoricalDtype) -> pd.Categorical:
    """The declared categories, then any value outside them (sorted): a value is never lost."""
    array = pd.Categorical(values, ordered=dtype.ordered)  # one factorize, categories inferred
    known = list(dtype.categories)
    seen = set(known)
    extra = sorted((c for c in array.categories if c not in seen), key=str)
    return array.set_categories([*known, *extra])


def _readable(paths: Sequence[str | None]) -> list[str | None]:
    """Paths as text any frame (and Parquet) can hold: see `display_path`."""
    return [None if path is None else display_path(path) for path in paths]


def _floats(values: Sequence[Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Numbers with None as NaN."""
    return np.asarray(values, dtype=np.float64)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic collection while a pass allocates one tuple per record.

    The tuples hold only field values and cannot form cycles; a collection triggered by their
    allocation would only walk them (and every record) again: a third of the build time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _transpose(rows: Sequence[Sequence[Any]], width: int) -> list[tuple[Any, ...]]:
    """Rows to columns in C (`zip`); no rows gives `width` empty columns."""
    if not rows:
        return [() for _ in range(width)]
    return list(zip(*rows, strict=True))


def _user_columns(files: Sequence[FileRecord]) -> dict[str, Any]:
    """The user's own columns, in first-seen order; `alt_text` is a string column."""
    names: dict[str, None] = {}
    for record in files:
        if record.alt_text is not None:
            names.setdefault("alt_text", None)
        for name in record.user_columns:
            names.setdefault(name, None)
    columns: dict[str, Any] = {}
    for name in names:
        if name == "alt_text":
            texts = [
                r.alt_text if r.alt_text is not None else r.user_columns.get("alt_text")
                for r in files
            ]
            columns[name] = pd.array(texts, dtype=_STRING)
        else:
            columns[name] = _inferred([r.user_columns.get(name) for r in files])
    return columns


def _inferred(values: list[Any]) -> Any:
    """Values as given, in the nullable dtype pandas infers (Int64 keeps ints exact)."""
    try:
        return pd.array(values)
    except (TypeError, ValueError):
        objects = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):
            objects[i] = value
        return objects


# ---------------------------------------------------------------------------------------------
# Preflight and repair
