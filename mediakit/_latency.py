"""Where a file's time went, per file and per group: queued, upload, processing, polling.

X's processing time is never seen directly: polling only shows that X finished between the
last STATUS that said "not yet" and the first that said done. So it is carried as an interval
(`processing_s_min`, `processing_s_max`, see `_frames.processing_interval`) and every summary
says which estimate it reports: the lower bound, the upper bound, or their midpoint.

The phases of a file, one after the other:

- queued: waiting for an upload slot (from the batch's first start to the file's);
- upload: from the file's start (INIT) to its FINALIZE answered;
- processing: X's own work, somewhere in the interval;
- polling: from the moment X finished to the answer that told us, i.e. what remains of the
  time from FINALIZE answered to the "done" answer (`processing_s`, as measured) once the
  processing estimate is taken out. It is at least `processing_s - processing_s_max` (about
  0: X may have finished just before we asked) and at most `processing_s - processing_s_min`;
  `status_polls` counts the requests it took.

`total` is upload + processing + polling: from the file's first request to the answer that
ended its processing (queued time and alt text set afterwards are not in it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from ._analysis import file_phases, join_phases, size_band
from ._errors import ConfigurationError

__all__ = [
    "DURATION_BANDS",
    "DURATION_BAND_DTYPE",
    "ESTIMATES",
    "LATENCY_METRICS",
    "By",
    "Estimate",
    "duration_band",
    "group_keys",
    "latency",
    "measured_times",
    "phase_times",
    "phases",
    "processing_estimate",
]

Estimate: TypeAlias = Literal["lower", "upper", "midpoint"]
ESTIMATES: tuple[Estimate, ...] = ("lower", "upper", "midpoint")
_ESTIMATE_WORDS = {
    "lower": "lower bound of the polling interval",
    "upper": "upper bound of the polling interval",
    "midpoint": "midpoint of the polling interval",
}

LATENCY_METRICS = ("queued", "upload", "processing", "polling", "total")
_STATISTICS = (("median", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))

# Video seconds, with X's limits as edges: 140 s is the most a tweet_video may last, so a
# video at exactly the limit falls in "60–140 s" (every band includes its upper bound).
DURATION_BANDS = ("≤ 10 s", "10–30 s", "30–60 s", "60–140 s", "> 140 s")
DURATION_BAND_DTYPE = pd.CategoricalDtype(list(DURATION_BANDS), ordered=True)
_DURATION_EDGES = np.array([10.0, 30.0, 60.0, 140.0])

By: TypeAlias = "str | pd.Series | Sequence[str | pd.Series]"
_ALIASES = {"category": "media_category", "batch": "batch_id", "type": "media_type"}
_DERIVED = ("size_band", "duration_band", "day", "hour")


def check_estimate(estimate: str) -> Estimate:
    if estimate not in ESTIMATES:
        raise ConfigurationError(
            f"estimate must be one of {', '.join(map(repr, ESTIMATES))}, not {estimate!r}"
        )
    return estimate


def describe_estimate(estimate: str) -> str:
    """`"midpoint of the polling interval"`: what a summary's processing seconds are."""
    return _ESTIMATE_WORDS[check_estimate(estimate)]


def processing_estimate(
    low: np.ndarray[Any, Any] | pd.Series, high: np.ndarray[Any, Any] | pd.Series, estimate: str
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The processing seconds a summary reports, from the interval's bounds."""
    lower = np.asarray(low, dtype=np.float64)
    upper = np.asarray(high, dtype=np.float64)
    chosen = check_estimate(estimate)
    if chosen == "lower":
        return lower
    if chosen == "upper":
        return upper
    return (lower + upper) / 2


# --- groupings -------------------------------------------------------------------------------


def duration_band(seconds: pd.Series | Sequence[float | None] | np.ndarray[Any, Any]) -> Any:
    """Each duration in seconds as its band (ordered categorical of `DURATION_BANDS`)."""
    values = pd.to_numeric(pd.Series(seconds, dtype="Float64"), errors="coerce")
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    codes = np.searchsorted(_DURATION_EDGES, numbers, side="left").astype(np.int8)
    codes[np.isnan(numbers)] = -1
    return pd.Categorical.from_codes(codes, dtype=DURATION_BAND_DTYPE)


def _derived(frame: pd.DataFrame, name: str) -> Any:
    if name == "size_band":
        return size_band(frame["bytes"])
    if name == "duration_band":
        if "duration_s" not in frame.columns:
            raise ConfigurationError(
                "cannot group by 'duration_band': these items have no duration_s column "
                "(video durations come from preflight; or add one: "
                "items.assign(duration_s=...))"
            )
        return duration_band(frame["duration_s"])
    started = pd.to_datetime(frame["started_at"], utc=True)
    if name == "day":  # the calendar day (UTC) the file started
        return started.dt.date.astype(object).where(started.notna(), None).to_numpy()
    return started.dt.hour.astype("Int8").array  # "hour": of the day, UTC, 0-23


def group_keys(frame: pd.DataFrame, by: By) -> pd.DataFrame:
    """The grouping columns `by` names, aligned with `frame`.

    Each key is a column of `frame` (a user column such as `campaign` included), a derived
    grouping (`size_band` from bytes, `duration_band` from `duration_s`, `day` and `hour` of
    the file's start, UTC), an alias (`category`, `batch`, `type`), or a Series aligned with
    `frame` (its name is the key's: `items["started_at"].dt.tz_convert("Europe/Paris").dt.hour`
    groups by local hour).
    """
    keys = [by] if isinstance(by, str | pd.Series) else list(by)
    data = pd.DataFrame(index=frame.index)
    for key in keys:
        if isinstance(key, pd.Series):
            name = str(key.name) if key.name is not None else f"key{len(data.columns)}"
            data[name] = key.reindex(frame.index)
        elif key in frame.columns:
            data[key] = frame[key]
        elif key in _DERIVED:
            data[key] = _derived(frame, key)
        elif key in _ALIASES and _ALIASES[key] in frame.columns:
            data[key] = frame[_ALIASES[key]]
        else:
            known = ", ".join([*_DERIVED, *_ALIASES, *map(str, frame.columns)])
            raise ConfigurationError(f"cannot group by {key!r}: not a column ({known})")
    return data


# --- per file --------------------------------------------------------------------------------


def measured_times(items: pd.DataFrame, events: pd.DataFrame | None) -> pd.DataFrame:
    """Per file, aligned with `items`: the times measured, from the items or the events."""

    def column(name: str) -> np.ndarray[Any, np.dtype[np.float64]]:
        if name not in items.columns:
            raise ConfigurationError(
                f"these items have no {name} column (made by an older mediakit?): "
                "pass the events too, or read them with this version"
            )
        return items[name].to_numpy(dtype=np.float64, na_value=np.nan)

    out = pd.DataFrame(index=items.index)
    out["queued_s"] = column("queued_s") if "queued_s" in items.columns else np.nan
    if events is None:
        out["upload_s"] = column("upload_s")
        out["observed_s"] = column("processing_s")
        out["processing_s_min"] = column("processing_s_min")
        out["processing_s_max"] = column("processing_s_max")
        if "status_polls" in items.columns:
            polls = pd.to_numeric(items["status_polls"]).astype("Float64")
            out["status_polls"] = polls.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            out["status_polls"] = np.nan
        return out
    phases = join_phases(items, file_phases(events))
    out["upload_s"] = (phases["uploaded_at"] - phases["upload_start"]).to_numpy(dtype=np.float64)
    observed = phases["processed_at"] - phases["uploaded_at"]
    out["observed_s"] = observed.to_numpy(dtype=np.float64)
    out["processing_s_min"] = phases["processing_s_min"].to_numpy(dtype=np.float64)
    out["processing_s_max"] = phases["processing_s_max"].to_numpy(dtype=np.float64)
    out["status_polls"] = phases["status_polls"].to_numpy(dtype=np.float64)
    return out


def phase_times(measured: pd.DataFrame, estimate: str) -> dict[str, Any]:
    low = measured["processing_s_min"].to_numpy(dtype=np.float64)
    high = measured["processing_s_max"].to_numpy(dtype=np.float64)
    observed = measured["observed_s"].to_numpy(dtype=np.float64)
    upload = measured["upload_s"].to_numpy(dtype=np.float64)
    processing = processing_estimate(low, high, estimate)
    with np.errstate(invalid="ignore"):
        polling = np.maximum(observed - processing, 0.0)
    return {
        "queued": measured["queued_s"].to_numpy(dtype=np.float64),
        "upload": upload,
        "processing": processing,
        "polling": polling,
        "total": upload + np.nan_to_num(observed),
        "polls": measured["status_polls"].to_numpy(dtype=np.float64),
    }


_IDENTITY = ("batch_id", "file_id", "path", "media_category", "bytes", "state")


def phases(items: pd.DataFrame, events: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per file: where its time went, with X's processing as an interval.

    Columns: the file's identity (batch_id, file_id, path, media_category, bytes, state),
    `queued_s`, `upload_s`, `processing_s_min` / `processing_s_mid` / `processing_s_max`,
    `polling_s_min` / `polling_s_mid` / `polling_s_max` (the polling cost each processing
    estimate leaves: the upper processing bound gives the least polling), `status_polls` and
    `total_s`. NaN where a phase did not happen (images are not processed). With `events`,
    times come from the HTTP attempts instead of the items' own.
    """
    measured = measured_times(items, events)
    out = items[[c for c in _IDENTITY if c in items.columns]].copy()
    out["queued_s"] = measured["queued_s"]
    out["upload_s"] = measured["upload_s"]
    times: dict[str, dict[str, Any]] = {e: phase_times(measured, e) for e in ESTIMATES}
    for suffix, estimate in (("min", "lower"), ("mid", "midpoint"), ("max", "upper")):
        out[f"processing_s_{suffix}"] = times[estimate]["processing"]
    # The least polling goes with the longest processing, and the other way round.
    for suffix, estimate in (("min", "upper"), ("mid", "midpoint"), ("max", "lower")):
        out[f"polling_s_{suffix}"] = times[estimate]["polling"]
    polls = measured["status_polls"].to_numpy(dtype=np.float64)
    out["status_polls"] = pd.array(polls, dtype="Float64").astype("Int32")
    out["total_s"] = times["midpoint"]["total"]
    return out


# --- summaries -------------------------------------------------------------------------------


def latency(
    items: pd.DataFrame,
    events: pd.DataFrame | None = None,
    *,
    by: By = ("media_category", "size_band"),
    estimate: str = "midpoint",
    states: Sequence[str] | None = ("succeeded",),
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Seconds per phase and group: count, median, p90, p99, max.

    One row per group of `by` (see `group_keys`: columns, `size_band`, `duration_band`, `day`,
    `hour`, `batch`, user columns, Series), for the files in `states` (None: every file).
    Columns: `count` (files), `estimate` (which processing estimate: "lower", "upper" or
    "midpoint" of the polling interval; also in `table.attrs["estimate"]`), then
    `{metric}_{median,p90,p99,max}_s` for each of `metrics` (queued, upload, processing,
    polling, total: see the module docstring; None: all) and `polls_{median,p90,p99,max}`,
    the STATUS requests per processed file. A statistic is NaN where no file of the group has
    that time.

    Without `events`, the times are the items' own; with `events`, they come from the HTTP
    attempts (upload from the first INIT sent to the successful FINALIZE answered).
    """
    chosen = check_estimate(estimate)
    metrics = LATENCY_METRICS if metrics is None else tuple(metrics)
    unknown = [m for m in metrics if m not in LATENCY_METRICS]
    if unknown:
        raise ConfigurationError(
            f"unknown metric {unknown[0]!r}: choose from {', '.join(LATENCY_METRICS)}"
        )
    frame = items if states is None else items[items["state"].isin(list(states))]
    data = group_keys(frame, by)
    keys = list(data.columns)
    times = phase_times(measured_times(frame, events), chosen)
    wanted = [*metrics, "polls"]
    for metric in wanted:
        values = times[metric]
        if metric == "polls":  # polls of files X processed only: images take none
            values = np.where(np.isnan(times["processing"]), np.nan, values)
        data[f"__{metric}"] = values

    def statistics(values: Any, name: str) -> Any:
        if name == "max":
            return values.max()
        return values.quantile(dict(_STATISTICS)[name])

    def suffix(metric: str) -> str:
        return "" if metric == "polls" else "_s"

    if keys:
        grouped = data.groupby(keys, observed=True, sort=True, dropna=False)
        table = pd.DataFrame({"count": grouped.size().astype("int64")})
        table["estimate"] = chosen
        for metric in wanted:
            for name, _ in _STATISTICS:
                column = grouped[f"__{metric}"]
                table[f"{metric}_{name}{suffix(metric)}"] = statistics(column, name)
    else:
        row: dict[str, Any] = {"count": np.array([len(data)], dtype=np.int64)}
        row["estimate"] = [chosen]
        for metric in wanted:
            for name, _ in _STATISTICS:
                row[f"{metric}_{name}{suffix(metric)}"] = [statistics(data[f"__{metric}"], name)]
        table = pd.DataFrame(row, index=pd.Index(["all"]))
    table["estimate"] = table["estimate"].astype("string")
    table.attrs["estimate"] = chosen
    return table
