"""Plots of a batch: latency boxes, the upload timeline, processing against size, ECDFs.

Each returns its matplotlib figure, with units on its axes, and works on any frames: a live
batch, a finished one, a journal read back or a Parquet file. matplotlib is an optional extra
(`plot`): it is imported inside the plot functions only, and they draw on a bare
`matplotlib.figure.Figure` (no pyplot state), which works headless and in threads.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._analysis import epoch_seconds, file_phases, join_phases
from ._errors import ConfigurationError, install_hint
from ._latency import (
    LATENCY_METRICS,
    By,
    check_estimate,
    describe_estimate,
    group_keys,
    measured_times,
    phase_times,
)
from ._limits import ASYNC_CATEGORIES, MiB

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ._model import ProcessingTimeModel

__all__ = [
    "PHASE_COLOURS",
    "plot_ecdf",
    "plot_latency",
    "plot_processing",
    "plot_timeline",
]

PHASE_COLOURS = {
    "INIT": "#8da0cb",
    "APPEND": "#66c2a5",
    "FINALIZE": "#fc8d62",
    "processing": "#e5c494",
    "METADATA": "#a6d854",
    "UPLOAD": "#66c2a5",
}
_FAILED_COLOUR = "#d62728"
_SKIPPED_COLOUR = "#7f7f7f"
_BAD = ("failed", "invalid", "cancelled")
_CATEGORY_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


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


def _labels(groups: pd.Series) -> tuple[np.ndarray[Any, Any], list[str]]:
    """Each row's group as text ("(none)" for missing), and the groups in display order."""
    labels = groups.astype(object).where(groups.notna(), "(none)").map(str).to_numpy(dtype=object)
    if isinstance(groups.dtype, pd.CategoricalDtype):
        order = [str(c) for c in groups.cat.categories if (labels == str(c)).any()]
        if (labels == "(none)").any():
            order.append("(none)")
    else:
        order = sorted({str(v) for v in labels})
    return labels, order


def plot_latency(
    items: pd.DataFrame,
    events: pd.DataFrame | None = None,
    *,
    by: str | pd.Series = "media_category",
    estimate: str = "midpoint",
    states: Sequence[str] | None = ("succeeded",),
) -> Figure:
    """Box plots of upload and processing seconds per group (one box per group with data).

    Two panels: upload, and X's processing (the `estimate` of its polling interval, named in
    the panel's title). Each box has its files drawn over it as points, so a batch of five
    shows five dots, not a misleading box. Groups and times as in `latency`.
    """
    chosen = check_estimate(estimate)
    frame = items if states is None else items[items["state"].isin(list(states))]
    keys = group_keys(frame, by)
    name = str(keys.columns[0])
    times = phase_times(measured_times(frame, events), chosen)
    labels, order = _labels(keys[name])

    figure = _figure(max(6.0, 1.6 * len(order) + 2.0), 4.0)
    axes = figure.subplots(1, 2)
    rng = np.random.default_rng(0)  # jitter of the points: the same picture every time
    for ax, values, title in (
        (axes[0], times["upload"], "upload (s)"),
        (axes[1], times["processing"], f"processing (s, {chosen})"),
    ):
        series = [values[(labels == group) & ~np.isnan(values)] for group in order]
        shown = [(i, group, v) for i, (group, v) in enumerate(zip(order, series, strict=True))]
        shown = [(i, group, v) for i, group, v in shown if len(v)]
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
        ax.set_xticks(positions, [group for _, group, _ in shown], rotation=20, ha="right")
        top = max(float(v.max()) for _, _, v in shown)
        ax.set_ylim(0, top * 1.1 if top > 0 else 1.0)
    figure.suptitle(f"Latency by {name}: {len(frame)} files")
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
    phases = join_phases(items, file_phases(events))
    origin_candidates = phases["first_start"].to_numpy(dtype=np.float64)
    finite = origin_candidates[np.isfinite(origin_candidates)]
    if not finite.size:
        # No request was sent (every file skipped or invalid): time from the batch's own
        # clock readings, so the axis never shows raw epoch seconds.
        seen = np.concatenate(
            [epoch_seconds(items["started_at"]), epoch_seconds(items["finished_at"])]
        )
        finite = seen[np.isfinite(seen)]
    origin = float(finite.min()) if finite.size else 0.0
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

    drawn = False
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
        drawn = True
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
    finished = epoch_seconds(chosen["finished_at"]) - origin
    if bad.any():
        ends = rows["last_end"].to_numpy(dtype=np.float64) - origin
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
    skipped = (chosen["state"] == "skipped").to_numpy(dtype=bool)
    if skipped.any():
        # Uploaded by an earlier batch: nothing to draw but the fact, where the batch saw it.
        ax.scatter(
            np.nan_to_num(finished, nan=0.0)[skipped],
            y[skipped],
            marker="o",
            facecolors="none",
            edgecolors=_SKIPPED_COLOUR,
            s=30,
            zorder=4,
            label="skipped (uploaded earlier)",
            gid="skipped",
        )
    if not drawn:
        states = chosen["state"].astype("string").value_counts()
        said = ", ".join(f"{n:,} {state}" for state, n in states.items())
        ax.text(
            0.5,
            0.5,
            f"no request was sent: {said}" if said else "no request was sent",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#555555",
            gid="nothing-sent",
        )
        ax.set_xlim(-0.05, 1.0)
    names = [os.path.basename(str(p)) for p in chosen["path"]]
    ax.set_yticks(y, names)
    for label, is_bad in zip(ax.get_yticklabels(), bad, strict=True):
        if is_bad:
            label.set_color(_FAILED_COLOUR)
    ax.invert_yaxis()  # the first file on top
    ax.set_xlabel("seconds since the first request" if drawn else "seconds since the batch began")
    ax.grid(axis="x", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    shown_note = f"first {len(rows)} of {total} files" if total > len(rows) else f"{total} files"
    ax.set_title(f"Upload timeline: {shown_note}")
    return figure


def _processed_categories(frame: pd.DataFrame) -> list[str]:
    seen = {str(c) for c in frame["media_category"].dropna().astype(object)}
    return sorted(seen & ASYNC_CATEGORIES)


def plot_processing(
    items: pd.DataFrame,
    *,
    model: ProcessingTimeModel | None = None,
    estimate: str = "midpoint",
    states: Sequence[str] | None = ("succeeded",),
    coverage: float = 0.9,
) -> Figure:
    """X's processing seconds against file size (MiB), one panel per processed category.

    Each file is its polling interval (a vertical bar from `processing_s_min` to
    `processing_s_max`) with a dot at the `estimate`; the model's line (bytes only: the size
    axis cannot show duration) and its `coverage` band (± z × robust residual sd) are drawn
    over them. `model` defaults to one fitted on these items.
    """
    from ._latency import processing_estimate
    from ._model import ProcessingTimeModel

    chosen = check_estimate(estimate)
    frame = items if states is None else items[items["state"].isin(list(states))]
    fitted = model or ProcessingTimeModel.from_items(frame, estimate=chosen, states=None)
    categories = _processed_categories(frame)
    panels = max(1, len(categories))
    figure = _figure(max(6.0, 4.5 * panels), 4.2)
    axes = np.atleast_1d(figure.subplots(1, panels, squeeze=False)[0])
    if not categories:
        ax = axes[0]
        ax.text(0.5, 0.5, "no processed files", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("size (MiB)")
        ax.set_ylabel("processing (s)")
    for ax, category in zip(axes, categories, strict=False):
        rows = frame[frame["media_category"].astype(object) == category]
        mib = rows["bytes"].to_numpy(dtype=np.float64, na_value=np.nan) / MiB
        low = rows["processing_s_min"].to_numpy(dtype=np.float64, na_value=np.nan)
        high = rows["processing_s_max"].to_numpy(dtype=np.float64, na_value=np.nan)
        point = processing_estimate(low, high, chosen)
        known = np.isfinite(mib) & np.isfinite(low) & np.isfinite(high)
        ax.vlines(
            mib[known],
            low[known],
            high[known],
            color="#999999",
            lw=1.5,
            label="polling interval",
            gid="interval",
        )
        ax.scatter(
            mib[known],
            point[known],
            s=14,
            color="#1f77b4",
            zorder=3,
            label=f"{chosen} estimate",
            gid="estimate",
        )
        top = float(np.nanmax(mib[known])) if known.any() else 1.0
        grid = np.linspace(0.0, top * 1.05 if top > 0 else 1.0, 100)
        fit = fitted.fit_for(category, with_duration=False)
        if fit is not None:
            line = fitted.predict(grid * MiB, None, category)
            lo, hi = fitted.band(grid * MiB, None, category, coverage=coverage)
            what = "fit" if fit.source == "fit" else "default (no fit)"
            ax.plot(
                grid,
                line,
                color="black",
                lw=1.2,
                gid="fit",
                label=f"{what}: {fit.intercept_s:.2g} s + {fit.s_per_mib:.2g} s/MiB",
            )
            ax.fill_between(
                grid,
                lo,
                hi,
                color="black",
                alpha=0.1,
                gid="band",
                label=f"{coverage:.0%} band (±{fit.residual_sd_s:.2g} s robust sd)",
            )
        ax.set_title(f"{category}: {int(known.sum())} files")
        ax.set_xlabel("size (MiB)")
        ax.set_ylabel("processing (s)")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="upper left")
    figure.suptitle(f"X's processing time against size ({describe_estimate(chosen)})")
    return figure


def _ecdf(ax: Axes, values: np.ndarray[Any, Any], **style: Any) -> None:
    data = np.sort(values[np.isfinite(values)])
    if len(data):
        fraction = np.arange(1, len(data) + 1) / len(data)
        ax.step(
            np.concatenate([[0.0], data]), np.concatenate([[0.0], fraction]), where="post", **style
        )


def plot_ecdf(
    items: pd.DataFrame,
    events: pd.DataFrame | None = None,
    *,
    metric: str = "processing",
    by: By = "media_category",
    estimate: str = "midpoint",
    states: Sequence[str] | None = ("succeeded",),
) -> Figure:
    """The empirical distribution of a phase's seconds, one curve per group.

    For `metric="processing"`, each group also shows the ECDFs of the interval's bounds as a
    shaded area: the distribution of X's true processing times lies inside it (every file's
    true time lies in its interval), whatever the estimate. Other metrics: queued, upload,
    polling, total (as in `latency`).
    """
    if metric not in LATENCY_METRICS:
        raise ConfigurationError(
            f"unknown metric {metric!r}: choose from {', '.join(LATENCY_METRICS)}"
        )
    chosen = check_estimate(estimate)
    frame = items if states is None else items[items["state"].isin(list(states))]
    measured = measured_times(frame, events)
    times = phase_times(measured, chosen)
    keys = group_keys(frame, by)
    labels, order = (
        _labels(keys[keys.columns[0]])
        if len(keys.columns) == 1
        else _labels(keys.astype(str).agg(" · ".join, axis=1))
    )
    figure = _figure(7.0, 4.2)
    ax = figure.subplots()
    values = times[metric]
    drawn = 0
    for i, group in enumerate(order):
        rows = labels == group
        if not np.isfinite(values[rows]).any():
            continue
        colour = _CATEGORY_COLOURS[i % len(_CATEGORY_COLOURS)]
        n = int(np.isfinite(values[rows]).sum())
        _ecdf(ax, values[rows], color=colour, lw=1.5, label=f"{group} ({n})", gid=f"ecdf:{group}")
        drawn += 1
        if metric == "processing":
            for bound in ("processing_s_min", "processing_s_max"):
                _ecdf(
                    ax,
                    measured[bound].to_numpy(dtype=np.float64)[rows],
                    color=colour,
                    lw=0.8,
                    alpha=0.5,
                    linestyle=":",
                    gid=f"bound:{group}",
                )
    if not drawn:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"{metric} (s)" + (f", {chosen}" if metric in ("processing", "polling") else ""))
    ax.set_ylabel("fraction of files")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(
            fontsize="small",
            loc="lower right",
            title=str(keys.columns[0]) if len(keys.columns) == 1 else None,
        )
    note = "; dotted: ECDFs of the interval's bounds" if metric == "processing" else ""
    ax.set_title(f"ECDF of {metric} seconds{note}", fontsize="medium")
    return figure
