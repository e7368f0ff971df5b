"""The HTML of a batch: counts, budget, files in flight, failures, and a result's summary.

Used by the notebook dashboard (`_widgets`) and by `UploadResult._repr_html_`/`UploadJob`; it
needs no ipywidgets.
"""

from __future__ import annotations

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
    "BAR_STYLES",
    "MONO",
    "MUTED",
    "OUTCOME_COLORS",
    "STATE_COLORS",
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
BAR_STYLES = {"running": "info", "succeeded": "success", "failed": "danger", "cancelled": "warning"}
MONO = "font-family: var(--jp-code-font-family, monospace); font-size: 12px; line-height: 1.45"
MUTED = "color: var(--jp-ui-font-color2, #6b7280)"


def counts_html(counts: Mapping[str, int], repaired: int = 0) -> str:
    """`queued 12 · uploading 4 · succeeded 21 · failed 1`, each state in its colour, then
    how many were repaired (fix=True): `· 3 repaired`."""
    if not counts:
        return f'<span style="{MUTED}">no files</span>'
    chips = [
        f'<span class="mediakit-count mediakit-count-{escape(state)}" '
        f'style="color: {STATE_COLORS.get(state, "inherit")}; font-weight: 600">'
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
        style = f"color: {STATE_COLORS['failed']}; font-weight: 600" if line.low else ""
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


def in_flight_html(rows: Sequence[InFlight], total: int) -> str:
    if not rows:
        return ""
    body = "".join(
        "<tr>"
        f'<td style="padding: 0 12px 0 0; max-width: 28em; overflow: hidden; '
        f'text-overflow: ellipsis; white-space: nowrap">{escape(row.name)}</td>'
        f'<td style="padding: 0; color: {STATE_COLORS.get(row.state, "inherit")}">'
        f"{escape(row.describe())}</td>"
        "</tr>"
        for row in rows
    )
    more = total - len(rows)
    tail = f'<div style="{MUTED}">+ {more:,} more in flight</div>' if more > 0 else ""
    return (
        f'<div class="mediakit-in-flight" style="{MONO}; margin-top: 6px">'
        f'<div style="{MUTED}">in flight</div>'
        f'<table style="border-collapse: collapse">{body}</table>{tail}</div>'
    )


def failures_html(rows: Sequence[Failure], total: int, where: str = "result.failures") -> str:
    if not rows:
        return ""
    body = "".join(
        "<tr>"
        f'<td style="padding: 0 12px 0 0; white-space: nowrap; vertical-align: top">'
        f"{escape(row.name)}</td>"
        f'<td style="padding: 0; color: {STATE_COLORS["failed"]}">{escape(row.reason)}</td>'
        "</tr>"
        for row in rows
    )
    more = total - len(rows)
    tail = (
        f'<div style="{MUTED}">+ {more:,} more: {escape(where)}</div>'
        if more > 0
        else f'<div style="{MUTED}">all of them: {escape(where)}</div>'
    )
    return (
        f'<div class="mediakit-failures" style="{MONO}; margin-top: 6px">'
        f'<div style="color: {STATE_COLORS["failed"]}; font-weight: 600">'
        f"{total:,} failed</div>"
        f'<table style="border-collapse: collapse">{body}</table>{tail}</div>'
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
        f'<div><b>{escape(title)}</b> <span style="color: {color}">'
        f"{escape(summary)}</span></div>"
        f'<div style="{MUTED}">{details}</div>'
        f"<div>{counts_html(snapshot.counts, snapshot.repaired)}</div>"
        f'<div style="{MUTED}">{escape(" · ".join(totals))}</div>'
        f"{failures_html(snapshot.failures, snapshot.failures_total, failures_where)}"
        "</div>"
    )


# --- the dashboard ------------------------------------------------------------------------
