"""The HTML of a batch: counts, budget, files in flight, failures, and a result's summary.

Used by the notebook dashboard (`_widgets`) and by `UploadResult._repr_html_`/`UploadJob`; it
needs no ipywidgets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from html import escape

from ._snapshot import (
    BatchState,
    BudgetLine,
    Failure,
    InFlight,
    Snapshot,
    clock_time,
    format_bytes,
    format_elapsed,
)

__all__ = [
    "BAR_COLORS",
    "MONO",
    "MUTED",
    "OUTCOME_COLORS",
    "STATE_COLORS",
    "TEXT_COLORS",
    "bar_html",
    "budget_html",
    "counts_html",
    "failures_html",
    "in_flight_html",
    "result_html",
]


STATE_COLORS = {
    "queued": "#6b7280",
    "repairing": "#db2777",
    "uploading": "#2563eb",
    "processing": "#7c3aed",
    "succeeded": "#15803d",
    "failed": "#b91c1c",
    "invalid": "#b91c1c",
    "skipped": "#0f766e",
    "cancelled": "#b45309",
}
OUTCOME_COLORS = {
    "running": "#2563eb",
    "succeeded": "#15803d",
    "failed": "#b91c1c",
    "cancelled": "#b45309",
}
# Text in the theme's own error/success/warning colours where JupyterLab defines them (its dark
# theme brightens them, so failures stay readable); the fallbacks are for other front ends.
TEXT_COLORS = {
    **STATE_COLORS,
    "succeeded": "var(--jp-success-color1, #15803d)",
    "failed": "var(--jp-error-color1, #b91c1c)",
    "invalid": "var(--jp-error-color1, #b91c1c)",
    "cancelled": "var(--jp-warn-color1, #b45309)",
}
# The bars' portions: what became of the files (and their bytes).
BAR_COLORS = {
    "succeeded": "#16a34a",
    "skipped": "#0d9488",
    "active": "#3b82f6",
    "failed": "#dc2626",
    "invalid": "#dc2626",
    "cancelled": "#d97706",
}
MONO = "font-family: var(--jp-code-font-family, monospace); font-size: 12px; line-height: 1.45"
MUTED = "color: var(--jp-ui-font-color2, #6b7280)"


def counts_html(counts: Mapping[str, int], repaired: int = 0) -> str:
    """`queued 12 · uploading 4 · succeeded 21 · failed 1`, each state in its colour, then
    how many were repaired (fix=True): `· 3 repaired`."""
    if not counts:
        return f'<span style="{MUTED}">no files</span>'
    chips = [
        f'<span class="mediakit-count mediakit-count-{escape(state)}" '
        f'style="color: {TEXT_COLORS.get(state, "inherit")}; font-weight: 600">'
        f"{escape(state)} {n:,}</span>"
        for state, n in counts.items()
    ]
    if repaired:
        chips.append(
            f'<span class="mediakit-count mediakit-count-repaired" style="{MUTED}">'
            f"{repaired:,} repaired</span>"
        )
    return " · ".join(chips)


def budget_html(lines: Sequence[BudgetLine]) -> str:
    """`rate limits left: init 1,853/1,875 · append 1,702/1,875 · … · resets 10:45:03`."""
    if not lines:
        return ""
    resets = [line.reset_at for line in lines if line.reset_at is not None]
    one_reset = bool(resets) and max(resets) - min(resets) < 60
    parts = []
    for line in lines:
        style = f"color: {TEXT_COLORS['failed']}; font-weight: 600" if line.low else ""
        left = "?" if line.remaining is None else f"{line.remaining:,}"
        text = f"{line.command.lower()} {left}"
        if line.limit is not None:
            text += f"/{line.limit:,}"
        if line.reset_at is not None and not one_reset:
            text += f" (resets {clock_time(line.reset_at)})"
        parts.append(f'<span style="{style}">{escape(text)}</span>')
    if one_reset:
        parts.append(f"resets {clock_time(min(resets))}")
    return (
        f'<div style="line-height: 1.45"><span style="{MUTED}">rate limits left: </span>'
        + " · ".join(parts)
        + "</div>"
    )


# Rows as a CSS grid, not a <table>: JupyterLab styles tables in rendered HTML (cells
# right-aligned, padded, striped), which misaligned the lists.
_GRID = "display: grid; column-gap: 12px; justify-content: start; align-items: baseline"
_CELL = "overflow: hidden; text-overflow: ellipsis; white-space: nowrap; max-width: 28em"


def in_flight_html(rows: Sequence[InFlight], total: int) -> str:
    if not rows:
        return ""
    body = "".join(
        f'<div class="mediakit-row" style="{_CELL}">{escape(row.name)}</div>'
        f'<div style="color: {TEXT_COLORS.get(row.state, "inherit")}">'
        f"{escape(row.describe())}</div>"
        for row in rows
    )
    more = total - len(rows)
    tail = f'<div style="{MUTED}">+ {more:,} more in flight</div>' if more > 0 else ""
    return (
        f'<div class="mediakit-in-flight" style="{MONO}; margin-top: 6px">'
        f'<div style="{MUTED}">in flight</div>'
        f'<div style="{_GRID}; grid-template-columns: max-content auto">{body}</div>{tail}</div>'
    )


def failures_html(
    rows: Sequence[Failure],
    total: int,
    where: str = "result.failures",
    counts: Mapping[str, int] | None = None,
) -> str:
    """The files not uploaded: name, state, reason; headed by their counts in the words of
    `result.counts` (`1 failed · 3 invalid`)."""
    if not rows:
        return ""
    body = "".join(
        f'<div class="mediakit-row mediakit-failure-name" style="{_CELL}">{escape(row.name)}</div>'
        f'<div class="mediakit-failure-state" style="color: {TEXT_COLORS.get(row.state)}">'
        f"{escape(row.state)}</div>"
        f'<div class="mediakit-failure-reason" style="color: {TEXT_COLORS.get(row.state)}; '
        f'white-space: normal; overflow-wrap: anywhere">{escape(row.reason)}</div>'
        for row in rows
    )
    more = total - len(rows)
    tail = (
        f'<div style="{MUTED}">+ {more:,} more: {escape(where)}</div>'
        if more > 0
        else f'<div style="{MUTED}">all of them: {escape(where)}</div>'
    )
    if counts is None:
        counts = dict(Counter(row.state for row in rows))
    heading = " · ".join(
        f"{counts[state]:,} {state}"
        for state in ("failed", "invalid", "cancelled")
        if counts.get(state)
    )
    return (
        f'<div class="mediakit-failures" style="{MONO}; margin-top: 6px">'
        f'<div style="color: {TEXT_COLORS["failed"]}; font-weight: 600">'
        f"not uploaded: {escape(heading)}</div>"
        f'<div style="{_GRID}; grid-template-columns: max-content max-content minmax(0, 1fr)">'
        f"{body}</div>{tail}</div>"
    )


def bar_html(kind: str, portions: Sequence[tuple[str, int]], total: int) -> str:
    """A stacked bar: each portion (succeeded, skipped, failed, invalid, cancelled, active)
    in its own colour and as wide as its share of `total`; the rest is the track."""
    cells = []
    for part, amount in portions:
        width = 0.0 if total <= 0 else min(100.0, 100.0 * amount / total)
        cells.append(
            f'<div class="mediakit-portion mediakit-portion-{escape(part)}" '
            f'data-amount="{amount}" title="{escape(part)}" '
            f'style="width: {width:.3f}%; background: {BAR_COLORS.get(part, "#6b7280")}"></div>'
        )
    return (
        f'<div class="mediakit-bar mediakit-bar-{escape(kind)}" style="display: flex; '
        "height: 14px; width: 100%; border-radius: 3px; overflow: hidden; "
        'background: var(--jp-layout-color3, #e5e7eb)">' + "".join(cells) + "</div>"
    )


def result_html(
    result: BatchState, *, title: str, failures_where: str, finished: bool | None = None
) -> str:
    """The static HTML of a result or a job: target, counts, totals, the first failures."""
    if finished is None:
        finished = result.finished_at is not None
    snapshot = Snapshot.take(result, finished=finished, max_failures=5)
    color = OUTCOME_COLORS[snapshot.outcome]
    totals = [f"{snapshot.files_total:,} files", f"{format_bytes(snapshot.bytes_done)} uploaded"]
    elapsed = snapshot.elapsed_s
    if elapsed:
        totals.append(f"in {format_elapsed(elapsed)}")
        if snapshot.bytes_done:
            totals.append(f"{format_bytes(snapshot.bytes_done / elapsed)}/s")
    target = "the built-in emulator" if result.target == "emulator" else result.target or "?"
    details = f"target {escape(target)} · api {escape(result.api)}"
    if result.batch_id:
        details += f" · batch {escape(result.batch_id)}"
    summary = result.summary() if finished or result.records else "starting…"
    return (
        f'<div class="mediakit-result mediakit-{snapshot.outcome}" '
        f'style="border-left: 4px solid {color}; padding: 2px 10px; line-height: 1.5">'
        f'<div><b>{escape(title)}</b> <span style="color: {_text_color(snapshot.outcome)}">'
        f"{escape(summary)}</span></div>"
        f'<div style="{MUTED}">{details}</div>'
        f"<div>{counts_html(snapshot.counts, snapshot.repaired)}</div>"
        f'<div style="{MUTED}">{escape(" · ".join(totals))}</div>'
        + failures_html(snapshot.failures, snapshot.failures_total, failures_where, snapshot.counts)
        + "</div>"
    )


def _text_color(outcome: str) -> str:
    return TEXT_COLORS.get(outcome, OUTCOME_COLORS.get(outcome, "inherit"))
