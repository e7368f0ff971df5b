"""Analysis over the frames of `_frames`: latency tables, expiry windows, plots, CSV.

Pure functions of DataFrames (and, for expiry, of a `now`), so they work the same on a live
batch, a finished one, or a journal opened days later. matplotlib is an optional extra (`plot`):
it is imported inside the plot functions only, and they draw on a bare
`matplotlib.figure.Figure` (no pyplot state), which works headless and in threads.

Size bands use the binary megabyte X writes its limits in, as `_media.format_size` does
("5 MB" = 5 × 2**20 bytes): "< 1 MB" is below 1 MiB, and every other band includes its upper
bound, so a file at exactly X's limit for its category (a 5 MB image, a 15 MB GIF) falls in the
band named after that limit.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import io
import math
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._errors import ConfigurationError, install_hint
from ._frames import EVENT_SCHEMA, ITEM_SCHEMA, Dtype
from ._limits import MiB

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "LATENCY_METRICS",
    "SIZE_BANDS",
    "SIZE_BAND_DTYPE",
    "expiring",
    "file_phases",
    "latency",
    "parse_window",
    "plot_latency",
    "plot_timeline",
    "read_csv",
    "size_band",
    "to_csv",
]

SIZE_BANDS = ("< 1 MB", "1–5 MB", "5–15 MB", "15–100 MB", "> 100 MB")
SIZE_BAND_DTYPE = pd.CategoricalDtype(list(SIZE_BANDS), ordered=True)
# searchsorted(side="left") counts the edges strictly below a size: 1 MiB - 1 as the first edge
# puts exactly 1 MiB (and no smaller integer) in "1–5 MB"; the others include their bound.
_BAND_EDGES = np.array([MiB - 1, 5 * MiB, 15 * MiB, 100 * MiB], dtype=np.float64)

LATENCY_METRICS = ("upload", "processing", "total")
_STATISTICS = (("median", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
_USABLE = ("succeeded", "skipped")  # states whose media id can be attached to a Post
_BAD = ("failed", "invalid", "cancelled")
_TERMINAL = ("succeeded", "failed")

PHASES = ("INIT", "APPEND", "FINALIZE", "processing", "METADATA")
PHASE_COLOURS = {
    "INIT": "#8da0cb",
    "APPEND": "#66c2a5",
    "FINALIZE": "#fc8d62",
    "processing": "#e5c494",
    "METADATA": "#a6d854",
    "UPLOAD": "#66c2a5",
}
_FAILED_COLOUR = "#d62728"


# --- size bands ------------------------------------------------------------------------------


def size_band(sizes: pd.Series | Sequence[int | None] | np.ndarray[Any, Any]) -> pd.Categorical:
    """Each size in bytes as its band (ordered categorical of `SIZE_BANDS`); unknown is NaN."""
    values = pd.to_numeric(pd.Series(sizes, dtype="Float64"), errors="coerce")
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    codes = np.searchsorted(_BAND_EDGES, numbers, side="left").astype(np.int8)
    codes[np.isnan(numbers)] = -1
    return pd.Categorical.from_codes(codes, dtype=SIZE_BAND_DTYPE)


# --- per-file phases from the events ---------------------------------------------------------


def _seconds(column: pd.Series) -> np.ndarray[Any, np.dtype[np.float64]]:
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
    (the STATUS that said succeeded or failed answered, or the last STATUS while it runs).
    """
    rows = events[events["file_id"].notna()]
    data = pd.DataFrame(
        {
            "batch_id": rows["batch_id"].to_numpy(dtype=object),
            "file_id": rows["file_id"].to_numpy(dtype=np.int64),
            "path": rows["path"].to_numpy(dtype=object),
            "command": rows["command"].astype("string").to_numpy(dtype=object),
            "start": _seconds(rows["started_at"]),
            "end": _seconds(rows["finished_at"]),
            "ok": rows["ok"].fillna(False).to_numpy(dtype=bool),
            "terminal": rows["state"].isin(_TERMINAL).to_numpy(dtype=bool),
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
    return phases


def _join_phases(items: pd.DataFrame, phases: pd.DataFrame) -> pd.DataFrame:
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


# --- latency ---------------------------------------------------------------------------------


def latency(
    items: pd.DataFrame,
    events: pd.DataFrame | None = None,
    *,
    by: str | Sequence[str] = ("media_category", "size_band"),
    states: Sequence[str] | None = ("succeeded",),
) -> pd.DataFrame:
    """Upload, processing and total seconds per group: count, median, p90, p99, max.

    One row per group of `by` (item columns, or `size_band`, computed from `bytes`: see the
    module docstring), for the files in `states` (None: every file). Columns: `count` (files),
    then `{upload,processing,total}_{median,p90,p99,max}_s`. A statistic is NaN where no file
    of the group has that time (images are not processed).

    Without `events`, the times are the items' own: upload from the file's start to FINALIZE
    answered, processing from there to the file's end. With `events`, they come from the HTTP
    attempts: upload from the first INIT sent to the successful FINALIZE answered, processing
    from there to the STATUS that said succeeded or failed, so what follows processing (setting
    alt text) is not counted; total is the two added up.
    """
    keys = [by] if isinstance(by, str) else list(by)
    frame = items if states is None else items[items["state"].isin(list(states))]
    data = pd.DataFrame(index=frame.index)
    for key in keys:
        if key == "size_band" and key not in frame.columns:
            data[key] = size_band(frame["bytes"])
        elif key in frame.columns:
            data[key] = frame[key]
        else:
            known = ", ".join(["size_band", *map(str, frame.columns)])
            raise ConfigurationError(f"cannot group by {key!r}: not a column ({known})")
    upload = frame["upload_s"].to_numpy(dtype=np.float64, na_value=np.nan)
    processing = frame["processing_s"].to_numpy(dtype=np.float64, na_value=np.nan)
    total = frame["total_s"].to_numpy(dtype=np.float64, na_value=np.nan)
    if events is not None:
        phases = _join_phases(frame, file_phases(events))
        upload = (phases["uploaded_at"] - phases["upload_start"]).to_numpy(dtype=np.float64)
        processing = (phases["processed_at"] - phases["uploaded_at"]).to_numpy(dtype=np.float64)
        total = upload + np.nan_to_num(processing)
    data["upload"] = upload
    data["processing"] = processing
    data["total"] = total

    if keys:
        grouped = data.groupby(keys, observed=True, sort=True, dropna=False)
        table = pd.DataFrame({"count": grouped.size().astype("int64")})
        for metric in LATENCY_METRICS:
            column = grouped[metric]
            for name, q in _STATISTICS:
                table[f"{metric}_{name}_s"] = column.max() if q == 1.0 else column.quantile(q)
        return table
    row: dict[str, Any] = {"count": np.array([len(data)], dtype=np.int64)}
    for metric in LATENCY_METRICS:
        values = data[metric]
        for name, q in _STATISTICS:
            row[f"{metric}_{name}_s"] = [values.max() if q == 1.0 else values.quantile(q)]
    return pd.DataFrame(row, index=pd.Index(["all"]))


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
    expires = _seconds(items["expires_at"])
    usable = items["state"].isin(_USABLE).to_numpy(dtype=bool)
    with np.errstate(invalid="ignore"):
        soon = usable & (expires > now) & (expires <= now + window)
    rows = items[soon].copy()
    left = expires[soon] - now
    rows["expires_in"] = pd.to_timedelta(np.round(left * 1e6), unit="us")
    order = np.argsort(expires[soon], kind="stable")
    return rows.iloc[order].reset_index(drop=True)


# --- plots -----------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigurationError(f"plotting needs matplotlib: {install_hint('plot')}") from None
    return _shown(Figure)(figsize=(width, height), layout="constrained")


@functools.cache
def _shown(base: type[Figure]) -> type[Figure]:
    """`Figure` with a `_repr_png_`: a notebook shows it even when pyplot was never imported.

    Jupyter draws a bare `Figure` only once the inline backend registered its formatter (which
    importing pyplot does); where it did, its formatter still wins, so nothing shows twice.
    """

    class NotebookFigure(base):  # type: ignore[misc,valid-type]
        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", bbox_inches="tight")
            return buffer.getvalue()

    return NotebookFigure


def plot_latency(
    items: pd.DataFrame,
    events: pd.DataFrame | None = None,
    *,
    by: str = "media_category",
    states: Sequence[str] | None = ("succeeded",),
) -> Figure:
    """Box plots of upload and processing seconds per group (one box per group with data).

    Two panels: upload and processing. Each box has its files drawn over it as points, so a
    batch of five shows five dots, not a misleading box. Times as in `latency`.
    """
    frame = items if states is None else items[items["state"].isin(list(states))]
    if by == "size_band" and by not in frame.columns:
        groups = pd.Series(size_band(frame["bytes"]), index=frame.index)
    elif by in frame.columns:
        groups = frame[by]
    else:
        raise ConfigurationError(f"cannot group by {by!r}: not a column")
    upload = frame["upload_s"].to_numpy(dtype=np.float64, na_value=np.nan)
    processing = frame["processing_s"].to_numpy(dtype=np.float64, na_value=np.nan)
    if events is not None:
        phases = _join_phases(frame, file_phases(events))
        upload = (phases["uploaded_at"] - phases["upload_start"]).to_numpy(dtype=np.float64)
        processing = (phases["processed_at"] - phases["uploaded_at"]).to_numpy(dtype=np.float64)

    labels = groups.astype(object).where(groups.notna(), "(none)").to_numpy(dtype=object)
    if isinstance(groups.dtype, pd.CategoricalDtype):
        order = [str(c) for c in groups.cat.categories if (labels == c).any()]
        if (labels == "(none)").any():
            order.append("(none)")
    else:
        order = sorted({str(v) for v in labels})

    figure = _figure(max(6.0, 1.6 * len(order) + 2.0), 4.0)
    axes = figure.subplots(1, 2)
    rng = np.random.default_rng(0)  # jitter of the points: the same picture every time
    for ax, values, title in (
        (axes[0], upload, "upload (s)"),
        (axes[1], processing, "processing (s)"),
    ):
        series = [values[(labels == name) & ~np.isnan(values)] for name in order]
        shown = [(i, name, v) for i, (name, v) in enumerate(zip(order, series, strict=True))]
        shown = [(i, name, v) for i, name, v in shown if len(v)]
        ax.set_title(title)
        ax.set_ylabel("seconds")
        ax.grid(axis="y", alpha=0.3)
        if not shown:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            continue
        positions = [float(i + 1) for i, _, _ in shown]
        ax.boxplot(
            [v for _, _, v in shown],
            positions=positions,
            widths=0.6,
            showfliers=False,
            medianprops={"color": "black"},
        )
        for position, (_, _, v) in zip(positions, shown, strict=True):
            jitter = rng.uniform(-0.15, 0.15, size=len(v))
            ax.scatter(position + jitter, v, s=10, alpha=0.6, color="#1f77b4", zorder=3)
        ax.set_xticks(positions, [name for _, name, _ in shown], rotation=20, ha="right")
        top = max(float(v.max()) for _, _, v in shown)
        ax.set_ylim(0, top * 1.1 if top > 0 else 1.0)
    figure.suptitle(f"Latency by {by}: {len(frame)} files")
    return figure


def plot_timeline(
    items: pd.DataFrame,
    events: pd.DataFrame,
    *,
    max_files: int = 200,
) -> Figure:
    """One row per file: bars for INIT, the APPEND span, FINALIZE, processing and METADATA.

    Times are seconds since the batch's first request; bars come from the events' started_at
    and finished_at (processing runs from FINALIZE answered to the last STATUS answered).
    Files that failed, were invalid or cancelled have a red label and a red ✕ where they ended.
    Rows are in order of start; past `max_files`, the first ones are shown.
    """
    phases = _join_phases(items, file_phases(events))
    origin_candidates = phases["first_start"].to_numpy(dtype=np.float64)
    origin = float(np.nanmin(origin_candidates)) if np.isfinite(origin_candidates).any() else 0.0
    order = np.argsort(np.nan_to_num(origin_candidates, nan=np.inf), kind="stable")
    total = len(order)
    order = order[:max_files]
    rows = phases.iloc[order]
    chosen = items.iloc[order]

    figure = _figure(10.0, min(40.0, max(2.5, 0.28 * len(rows) + 1.5)))
    ax = figure.subplots()
    y = np.arange(len(rows), dtype=np.float64)

    def span(start: str, end: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        if start not in rows.columns or end not in rows.columns:
            nothing = np.full(len(rows), np.nan)
            return nothing, nothing
        left = rows[start].to_numpy(dtype=np.float64) - origin
        return left, rows[end].to_numpy(dtype=np.float64) - origin - left

    bars = {
        "INIT": span("INIT_start", "INIT_end"),
        "UPLOAD": span("UPLOAD_start", "UPLOAD_end"),
        "APPEND": span("APPEND_start", "APPEND_end"),
        "FINALIZE": span("FINALIZE_start", "FINALIZE_end"),
        "processing": span("uploaded_at", "processed_at"),
        "METADATA": span("METADATA_start", "METADATA_end"),
    }
    for phase, (left, width) in bars.items():
        shown = np.isfinite(left) & np.isfinite(width)
        if not shown.any():
            continue
        ax.barh(
            y[shown],
            np.maximum(width[shown], 0.0),
            left=left[shown],
            height=0.6,
            color=PHASE_COLOURS[phase],
            label=phase,
            gid=f"phase:{phase}",
        )

    bad = chosen["state"].isin(_BAD).to_numpy(dtype=bool)
    if bad.any():
        ends = rows["last_end"].to_numpy(dtype=np.float64) - origin
        finished = _seconds(chosen["finished_at"]) - origin
        where = np.where(np.isfinite(ends), ends, np.nan_to_num(finished, nan=0.0))
        ax.scatter(
            where[bad],
            y[bad],
            marker="x",
            color=_FAILED_COLOUR,
            s=40,
            zorder=4,
            label="failed / invalid / cancelled",
            gid="failed",
        )
    names = [os.path.basename(str(p)) for p in chosen["path"]]
    ax.set_yticks(y, names)
    for label, is_bad in zip(ax.get_yticklabels(), bad, strict=True):
        if is_bad:
            label.set_color(_FAILED_COLOUR)
    ax.invert_yaxis()  # the first file on top
    ax.set_xlabel("seconds since the first request")
    ax.grid(axis="x", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    shown_note = f"first {len(rows)} of {total} files" if total > len(rows) else f"{total} files"
    ax.set_title(f"Upload timeline: {shown_note}")
    return figure


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
