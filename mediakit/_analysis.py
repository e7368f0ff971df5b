"""Analysis over the frames of `_frames`: size bands, per-file phases, expiry windows, CSV.

Pure functions of DataFrames (and, for expiry, of a `now`), so they work the same on a live
batch, a finished one, or a journal opened days later. Latency tables are in `_latency`, the
processing-time model in `_model`, plots in `_plots`.

Size bands use the binary megabyte X writes its limits in, as `_media.format_size` does
("5 MB" = 5 × 2**20 bytes): "< 1 MB" is below 1 MiB, and every other band includes its upper
bound, so a file at exactly X's limit for its category (a 5 MB image, a 15 MB GIF) falls in the
band named after that limit.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._errors import ConfigurationError
from ._frames import EVENT_SCHEMA, ITEM_SCHEMA, Dtype, processing_interval
from ._limits import MiB
from ._records import OK_STATES, PROCESSING_DONE

__all__ = [
    "SIZE_BANDS",
    "SIZE_BAND_DTYPE",
    "epoch_seconds",
    "expiring",
    "file_phases",
    "join_phases",
    "parse_window",
    "read_csv",
    "size_band",
    "to_csv",
]

SIZE_BANDS = ("< 1 MB", "1–5 MB", "5–15 MB", "15–100 MB", "> 100 MB")
SIZE_BAND_DTYPE = pd.CategoricalDtype(list(SIZE_BANDS), ordered=True)
# searchsorted(side="left") counts the edges strictly below a size: 1 MiB - 1 as the first edge
# puts exactly 1 MiB (and no smaller integer) in "1–5 MB"; the others include their bound.
_BAND_EDGES = np.array([MiB - 1, 5 * MiB, 15 * MiB, 100 * MiB], dtype=np.float64)

_PENDING = ("pending", "in_progress")


# --- size bands ------------------------------------------------------------------------------


def size_band(sizes: pd.Series | Sequence[int | None] | np.ndarray[Any, Any]) -> pd.Categorical:
    """Each size in bytes as its band (ordered categorical of `SIZE_BANDS`); unknown is NaN."""
    values = pd.to_numeric(pd.Series(sizes, dtype="Float64"), errors="coerce")
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    codes = np.searchsorted(_BAND_EDGES, numbers, side="left").astype(np.int8)
    codes[np.isnan(numbers)] = -1
    return pd.Categorical.from_codes(codes, dtype=SIZE_BAND_DTYPE)


# --- per-file phases from the events ---------------------------------------------------------


def epoch_seconds(column: pd.Series) -> np.ndarray[Any, np.dtype[np.float64]]:
    """UTC timestamps as epoch seconds (NaT as NaN)."""
    stamps = pd.to_datetime(column, utc=True)
    nanos = stamps.astype("int64").to_numpy(dtype=np.float64)
    nanos[stamps.isna().to_numpy()] = np.nan
    unit = stamps.dt.unit
    return nanos / {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[unit]


def file_phases(events: pd.DataFrame) -> pd.DataFrame:
    """One row per file of an events frame: when each phase started and ended (epoch seconds).

    Indexed by (batch_id, file_id), with `path`; `<COMMAND>_start` / `<COMMAND>_end` for each
    command seen (first attempt sent, last answer received); `first_start` and `last_end` over
    all of the file's attempts; `upload_start` (first INIT or one-shot UPLOAD sent),
    `uploaded_at` (the successful FINALIZE, or one-shot UPLOAD, answered), and `processed_at`
    (the STATUS that said succeeded or failed answered, or the last STATUS while it runs);
    `status_polls`; `processing_s_min` / `processing_s_max`, the interval polling allows for
    X's processing time, by the rule of `_frames.processing_interval`.
    """
    rows = events[events["file_id"].notna()]
    data = pd.DataFrame(
        {
            "batch_id": rows["batch_id"].to_numpy(dtype=object),
            "file_id": rows["file_id"].to_numpy(dtype=np.int64),
            "path": rows["path"].to_numpy(dtype=object),
            "command": rows["command"].astype("string").to_numpy(dtype=object),
            "start": epoch_seconds(rows["started_at"]),
            "end": epoch_seconds(rows["finished_at"]),
            "ok": rows["ok"].fillna(False).to_numpy(dtype=bool),
            "terminal": rows["state"].isin(list(PROCESSING_DONE)).to_numpy(dtype=bool),
            "pending": rows["state"].isin(_PENDING).to_numpy(dtype=bool),
            "stated": rows["state"].notna().to_numpy(dtype=bool),
            "error": (rows["error_name"].notna() | rows["error_code"].notna()).to_numpy(dtype=bool),
        }
    )
    keys = ["batch_id", "file_id"]
    files = data.groupby(keys, sort=False).agg(
        path=("path", "last"), first_start=("start", "min"), last_end=("end", "max")
    )
    spans = data.groupby([*keys, "command"], sort=False).agg(
        start=("start", "min"), end=("end", "max")
    )
    wide = pd.DataFrame(spans.unstack("command"))
    names: list[str] = [f"{pair[1]}_{pair[0]}" for pair in wide.columns.to_flat_index()]
    wide.columns = pd.Index(names)
    phases = files.join(wide)

    sent = data[data["command"].isin(("INIT", "UPLOAD"))]
    phases["upload_start"] = sent.groupby(keys)["start"].min()
    answered = data[data["ok"] & data["command"].isin(("FINALIZE", "UPLOAD"))]
    phases["uploaded_at"] = answered.groupby(keys)["end"].max()
    status = data[data["command"] == "STATUS"]
    final = status[status["terminal"]].groupby(keys)["end"].min()
    processed = status.groupby(keys)["end"].max()
    phases["processed_at"] = final.reindex(phases.index).fillna(processed.reindex(phases.index))

    # The processing interval, by the same rule as `items_frame`'s.
    is_status = data["command"] == "STATUS"
    answers = data[data["ok"] & data["stated"] & data["command"].isin(("FINALIZE", "STATUS"))]
    done = answers[answers["terminal"] | answers["error"]]
    not_yet = answers[(answers["command"] == "STATUS") & answers["pending"] & ~answers["error"]]
    finalize = data[data["command"] == "FINALIZE"]
    finalize_ok = finalize[finalize["ok"]]
    was_processed = data[is_status | data["stated"]].groupby(keys).size().reindex(phases.index)
    phases["status_polls"] = data[is_status].groupby(keys).size().reindex(phases.index).fillna(0)

    def per_file(frame: pd.DataFrame, column: str, how: str, fill: float) -> Any:
        values = frame.groupby(keys)[column].agg(how).reindex(phases.index)
        return values.fillna(fill).to_numpy(dtype=np.float64)

    low, high = processing_interval(
        (was_processed.fillna(0) > 0).to_numpy(dtype=bool),
        per_file(finalize, "start", "min", math.inf),
        per_file(finalize_ok, "end", "max", -math.inf),
        per_file(not_yet, "start", "max", -math.inf),
        per_file(done, "end", "min", math.inf),
    )
    phases["processing_s_min"] = low
    phases["processing_s_max"] = high
    return phases


def join_phases(items: pd.DataFrame, phases: pd.DataFrame) -> pd.DataFrame:
    """`phases` aligned with the rows of `items` (NaN where a file has no events).

    By (batch_id, file_id) when `items` has both columns, else by path, where a path uploaded
    in several batches takes its latest upload's phases.
    """
    if {"batch_id", "file_id"} <= set(items.columns):
        keys = pd.MultiIndex.from_arrays(
            [items["batch_id"].astype(object), items["file_id"].astype("Int64").astype(object)]
        )
        aligned = phases.reindex(keys)
    else:
        latest = phases.sort_values("first_start", kind="stable", na_position="first")
        by_path = latest.drop_duplicates("path", keep="last").set_index("path")
        aligned = by_path.reindex(items["path"].astype(object).to_numpy())
    aligned.index = items.index
    return aligned


# --- expiry ----------------------------------------------------------------------------------


_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
    "w": 604800.0,
    "week": 604800.0,
    "weeks": 604800.0,
}
_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]+)\s*,?")


def parse_window(within: str | float | pd.Timedelta | dt.timedelta) -> float:
    """A time window in seconds: "2h", "30min", "1d", "1 day 2 hours", "1h30m", 90 (seconds),
    "90", a timedelta, or anything `pd.Timedelta` reads ("01:30:00")."""
    seconds: float
    if isinstance(within, bool):
        raise ConfigurationError(f"not a time window: {within!r}")
    if isinstance(within, dt.timedelta):  # pd.Timedelta is one too
        seconds = within.total_seconds()
    elif isinstance(within, int | float):
        seconds = float(within)
    elif isinstance(within, str):
        seconds = _parse_text(within)
    else:
        raise ConfigurationError(f"not a time window: {within!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigurationError(f"a time window must be a positive duration, not {within!r}")
    return seconds


def _parse_text(text: str) -> float:
    wording = text.strip().lower()
    try:
        return float(wording)
    except ValueError:
        pass
    parts = _PART.findall(wording)
    if parts and not _PART.sub("", wording).strip() and all(u in _UNITS for _, u in parts):
        return sum(float(number) * _UNITS[unit] for number, unit in parts)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas deprecates some unit spellings
            return float(pd.Timedelta(wording).total_seconds())
    except (ValueError, TypeError):
        raise ConfigurationError(
            f"not a time window: {text!r} (try '2h', '30min', '1d' or seconds)"
        ) from None


def expiring(
    items: pd.DataFrame,
    *,
    within: str | float | pd.Timedelta | dt.timedelta,
    now: float,
) -> pd.DataFrame:
    """Uploaded media still valid at `now` that expires within the window, soonest first.

    Files that succeeded (or were skipped as already uploaded) whose `expires_at` lies in
    (now, now + within]; media already expired is not listed (`items["expired"]` shows it).
    Adds `expires_in` (a timedelta from `now`); the index is reset.
    """
    window = parse_window(within)
    expires = epoch_seconds(items["expires_at"])
    usable = items["state"].isin(list(OK_STATES)).to_numpy(dtype=bool)
    with np.errstate(invalid="ignore"):
        soon = usable & (expires > now) & (expires <= now + window)
    rows = items[soon].copy()
    left = expires[soon] - now
    rows["expires_in"] = pd.to_timedelta(np.round(left * 1e6), unit="us")
    order = np.argsort(expires[soon], kind="stable")
    return rows.iloc[order].reset_index(drop=True)


# --- CSV -------------------------------------------------------------------------------------


def to_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a frame as CSV (no index, ISO 8601 UTC timestamps); `read_csv` reads it back."""
    out = Path(path)
    frame.to_csv(out, index=False)
    return out


def read_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A frame written by `to_csv` (or `DataFrame.to_csv(index=False)`), with its schema back.

    CSV keeps no types: plain `pd.read_csv` reads media ids as numbers, and as floats that
    lose their last digits as soon as one file has no id (2125903426444328961 comes back as
    2125903426444328960). This reads every `events`/`responses` or `items` column as text and
    restores its declared dtype (media ids exact strings, UTC timestamps, nullable integers,
    categories). The user's columns of `items` come back in the nullable dtype their text
    reads as (Int64 for "1", Float64 for "1.5" or "1.0", boolean, else string). CSV cannot
    tell an empty string from a missing value: both come back missing. For other CSVs, use
    `pd.read_csv(path, dtype={"media_id": "string"})` at least.
    """
    names = list(pd.read_csv(path, nrows=0).columns)
    schema: Mapping[str, Dtype]
    if names == list(EVENT_SCHEMA):
        schema = EVENT_SCHEMA
    elif names[: len(ITEM_SCHEMA)] == list(ITEM_SCHEMA):
        schema = ITEM_SCHEMA
    elif names[: len(ITEM_SCHEMA) + 1] == list(_FAILURES_SCHEMA):  # `result.failures`
        schema = _FAILURES_SCHEMA
    else:
        return pd.read_csv(path, dtype={"media_id": "string"} if "media_id" in names else None)
    frame = pd.read_csv(
        path,
        dtype="string",
        keep_default_na=False,
        na_values={name: [""] for name in names},
    )
    columns = {name: _typed(frame[name], dtype) for name, dtype in schema.items()}
    columns.update({name: _user_column(frame[name]) for name in names if name not in schema})
    return pd.DataFrame(columns)


# `result.failures`: the items' columns led by path, state and the reason (see `failures_frame`).
_FAILURES_SCHEMA: Mapping[str, Dtype] = {
    "path": ITEM_SCHEMA["path"],
    "state": ITEM_SCHEMA["state"],
    "reason": pd.StringDtype(),
    **{name: dtype for name, dtype in ITEM_SCHEMA.items() if name not in ("path", "state")},
}


def _typed(text: pd.Series, dtype: Dtype) -> Any:
    """A column of text as `dtype`."""
    if isinstance(dtype, pd.DatetimeTZDtype):
        return pd.to_datetime(text, utc=True, format="ISO8601").dt.as_unit(dtype.unit)
    if isinstance(dtype, pd.CategoricalDtype):
        declared = [str(c) for c in dtype.categories]
        extra = sorted(set(text.dropna()) - set(declared))
        return pd.Categorical(text.astype(object), categories=[*declared, *extra])
    if isinstance(dtype, pd.BooleanDtype):
        return text.map({"True": True, "False": False}, na_action="ignore").astype(dtype)
    if dtype == np.dtype(object):  # `path_bytes`: CSV holds them as Python bytes literals
        return np.asarray([None if pd.isna(v) else _bytes(v) for v in text], dtype=object)
    if isinstance(dtype, np.dtype):
        return pd.to_numeric(text).to_numpy(dtype=dtype, na_value=np.nan)
    if isinstance(dtype, pd.StringDtype):
        return text
    return pd.to_numeric(text).astype(dtype)


def _bytes(text: str) -> bytes:
    value = ast.literal_eval(text) if text.startswith(("b'", 'b"')) else None
    if not isinstance(value, bytes):
        raise ValueError(f"not a bytes literal: {text[:40]!r}")
    return value


_INTEGER = re.compile(r"[+-]?\d+")


def _user_column(text: pd.Series) -> Any:
    """A user's column read as text, in the nullable dtype `items_frame` would have inferred."""
    values = text.dropna()
    if values.empty:
        return text
    if values.str.fullmatch(_INTEGER).all():
        return pd.to_numeric(text).astype("Int64")
    if values.isin(["True", "False"]).all():
        return text.map({"True": True, "False": False}, na_action="ignore").astype("boolean")
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all():
        return pd.to_numeric(text).astype("Float64")
    return text
