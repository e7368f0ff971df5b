"""How a batch looks in a notebook: the ipywidgets dashboard, and the HTML reprs of results.

One aggregate view, never a bar per file: files and bytes done, counts by state, throughput
and ETA, the rate-limit budget, the files in flight (a bounded number: a 10,000-file batch
shows the few being worked on and counts for the rest), failures as they happen, a Cancel
button. A fixed set of widgets is updated in place: each redraw sends at most one message per
widget whose value changed (`hold_sync`), and redraws are throttled by `NullView.refresh`, so
messages per second do not grow with the number of files.

Threads: redraws run on the batch's loop (the kernel's main thread in Jupyter). A click on
Cancel may arrive on another thread (ipykernel 7 handles widget messages on a subshell
thread when the front end asks for it, as JupyterLab 4.4+ does); the click only schedules the
cancellation on the batch's loop, where the widgets are updated too.

ipywidgets is imported when a dashboard is made, never at `import mediakit`; the HTML
helpers (used by `UploadResult._repr_html_`) need no ipywidgets at all.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from contextlib import ExitStack, suppress
from html import escape
from typing import TYPE_CHECKING, Any

from ._eta import EtaEstimator
from ._html import (
    MUTED,
    OUTCOME_COLORS,
    TEXT_COLORS,
    bar_html,
    budget_html,
    counts_html,
    failures_html,
    in_flight_html,
)
from ._snapshot import Snapshot, format_bytes
from ._view import NullView, in_notebook_kernel

if TYPE_CHECKING:
    from ._budget import Budget
    from ._snapshot import BatchState

__all__ = ["WidgetView"]


class WidgetView(NullView):
    """The ipywidgets dashboard of one batch (`progress="widgets"`, the default in Jupyter)."""

    def __init__(self, *, max_in_flight: int = 8, max_failures: int = 8) -> None:
        super().__init__()
        import ipywidgets as w  # type: ignore[import-untyped]

        self.max_in_flight = max_in_flight
        self.max_failures = max_failures
        self._eta = EtaEstimator()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shown = False
        self._finished = False
        self.cancel_requested = False

        # The title never wraps: it is cut with an ellipsis (the whole text is its tooltip,
        # and the summary is printed under the dashboard at the end).
        self.title = w.HTML(layout=w.Layout(flex="1 1 auto", min_width="0", overflow="hidden"))
        self.title.add_class("mediakit-title")
        self.cancel_button = w.Button(
            description="Cancel",
            icon="stop",
            tooltip="Stop the batch: no new requests; files in flight end cancelled",
            layout=w.Layout(width="auto", flex="0 0 auto"),
        )
        self.cancel_button.add_class("mediakit-cancel")
        self.cancel_button.on_click(self._clicked)
        _clicks_on_a_subshell(self.cancel_button)
        # Both bars and their captions in one CSS grid, so they stay aligned however narrow
        # the window; each bar is stacked: succeeded, skipped, failed, invalid, cancelled
        # (and, for bytes, the files in flight) in their own colours.
        self.bars = w.HTML(layout=w.Layout(width="100%"))
        self.bars.add_class("mediakit-bars")
        self.files_text = ""
        self.bytes_text = ""
        # Throughput and ETA, counts, budget, files in flight, failures: one widget, so a
        # redraw sends one message for all of them. `sections` keeps each piece's HTML.
        self.details = w.HTML()
        self.details.add_class("mediakit-details")
        self.sections: dict[str, str] = {}
        self.header = w.HBox(
            [self.title, self.cancel_button],
            layout=w.Layout(
                justify_content="space-between", align_items="center", flex_flow="row nowrap"
            ),
        )
        self.box = w.VBox(
            [self.header, self.bars, self.details],
            layout=w.Layout(
                border=f"2px solid {OUTCOME_COLORS['running']}",
                padding="4px 10px",
                max_width="900px",
            ),
        )
        self.box.add_class("mediakit-dashboard")
        self.box.add_class("mediakit-running")
        self._outcome = "running"
        # Everything a redraw may change; each sends at most one message per redraw.
        self._parts: tuple[Any, ...] = (self.title, self.bars, self.details)

    @property
    def widgets(self) -> tuple[Any, ...]:
        """Every widget of the dashboard (the containers and their layouts included)."""
        found: list[Any] = []

        def walk(widget: Any) -> None:
            found.append(widget)
            layout = getattr(widget, "layout", None)
            if layout is not None:
                found.append(layout)
            style = getattr(widget, "style", None)
            if style is not None:
                found.append(style)
            for child in getattr(widget, "children", ()):
                walk(child)

        walk(self.box)
        return tuple(found)

    # the Progress interface

    def show(self) -> None:
        if self._shown:
            return
        self._shown = True
        if not in_notebook_kernel():
            return  # no front end to draw on: the final summary line is all there is
        from IPython.display import display

        display(self.box)  # type: ignore[no-untyped-call]

    def start(
        self,
        live: Callable[[], BatchState],
        budget: Callable[[], dict[str, Budget]],
        cancel: Callable[[], None],
    ) -> None:
        with suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        super().start(live, budget, cancel)
        self.draw()

    def snapshot(self, result: BatchState | None = None, *, finished: bool = False) -> Snapshot:
        if result is None:
            assert self.live is not None
            result = self.live()
        return Snapshot.take(
            result,
            self.budget() if self.budget is not None else None,
            eta=self._eta,
            finished=finished,
            max_in_flight=self.max_in_flight,
            max_failures=self.max_failures,
        )

    def draw(self) -> None:
        if self.live is None or self._finished:
            return
        self._render(self.snapshot())

    def finish(self, result: BatchState) -> None:
        self._finished = True
        snapshot = self.snapshot(result, finished=True)
        self._render(snapshot, summary=result.summary())
        self.cancel_button.layout.display = "none"
        print(result.summary(), flush=True)

    # rendering

    def _render(self, s: Snapshot, summary: str = "") -> None:
        outcome = s.outcome
        if s.finished:
            mark = {"succeeded": "✓", "failed": "✗", "cancelled": "■"}[outcome]
            title = f"{mark} {summary}"
        elif self.cancel_requested:
            title = "Cancelling…"
        else:
            title = f"Uploading {s.files_total:,} files to " + (
                "the built-in emulator" if s.target == "emulator" else s.target or "?"
            )
        color = OUTCOME_COLORS[outcome]
        # "100 %" means uploaded (or already uploaded), never merely ended.
        self.files_text = (
            f"{s.files_ok:,} / {s.files_total:,} files · {_percent(s.ok_fraction):.0f} %"
        )
        bad = s.not_uploaded_text()
        if bad:
            self.files_text += f" · {bad}"
        self.bytes_text = (
            f"{format_bytes(s.bytes_done)} / {format_bytes(s.bytes_total)}"
            f" · {_percent(s.bytes_ok_fraction):.0f} %"
        )
        with ExitStack() as stack:
            for part in self._parts:
                stack.enter_context(part.hold_sync())
            tint = TEXT_COLORS.get(outcome, color)
            self.title.value = (
                f'<div title="{escape(title)}" style="overflow: hidden; text-overflow: ellipsis;'
                f' white-space: nowrap; font-weight: 600; color: {tint}">{escape(title)}</div>'
            )
            self.bars.value = _bars_html(s, self.files_text, self.bytes_text)
            self.sections = {
                "rate": f'<div style="{MUTED}">{escape(s.rate_text())}</div>',
                "counts": f"<div>{counts_html(s.counts, s.repaired)}</div>",
                "budget": budget_html(s.budget),
                "in_flight": in_flight_html(s.in_flight, s.in_flight_total),
                "failures": failures_html(s.failures, s.failures_total, counts=s.counts),
            }
            self.details.value = (
                '<div style="line-height: 1.8">' + "".join(self.sections.values()) + "</div>"
            )
            if outcome != self._outcome:
                stack.enter_context(self.box.layout.hold_sync())  # `border` sets four traits
                classes = [c for c in self.box._dom_classes if c != f"mediakit-{self._outcome}"]
                self.box._dom_classes = (*classes, f"mediakit-{outcome}")
                self.box.layout.border = f"2px solid {color}"
                self._outcome = outcome

    # Cancel

    def _clicked(self, _button: Any) -> None:
        """A click, on whichever thread the kernel handles widget messages: hand it over."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._cancel_now()  # no loop known (no batch started): nothing runs elsewhere
            return
        with suppress(RuntimeError):  # the loop closed meanwhile: the batch is over
            loop.call_soon_threadsafe(self._cancel_now)

    def _cancel_now(self) -> None:
        if self._finished or self.cancel is None or self.cancel_requested:
            return
        self.cancel_requested = True
        with self.cancel_button.hold_sync():
            self.cancel_button.disabled = True
            self.cancel_button.description = "Cancelling…"
        self.cancel()
        self.changed()


def _bars_html(s: Snapshot, files_text: str, bytes_text: str) -> str:
    """The two stacked bars with their captions and figures, as one grid."""
    caption = f'<span style="{MUTED}">%s</span>'
    figures = "white-space: nowrap; overflow: hidden; text-overflow: ellipsis; min-width: 0"
    return (
        '<div style="display: grid; grid-template-columns: 44px minmax(80px, 320px) '
        'minmax(0, max-content); column-gap: 8px; row-gap: 4px; align-items: center">'
        + caption % "files"
        + bar_html("files", s.file_portions(), s.files_total)
        + f'<span class="mediakit-files" style="{figures}">{escape(files_text)}</span>'
        + caption % "bytes"
        + bar_html("bytes", s.byte_portions(), s.bytes_total)
        + f'<span class="mediakit-bytes" style="{figures}">{escape(bytes_text)}</span>'
        + "</div>"
    )


def _percent(fraction: float, digits: int = 0) -> float:
    """Rounded down: "100 %" only once everything is done."""
    scale = 10.0**digits
    return math.floor(100 * scale * fraction + 1e-9) / scale  # 0.29 is 28.999… in binary


def _clicks_on_a_subshell(button: Any) -> None:
    """Let Cancel's clicks reach the kernel while a cell blocks.

    JupyterLab 4.4+ sends widget messages to a kernel subshell (setting "Kernel Comms over
    subshells", on by default), and ipykernel 7 runs subshells on threads of their own, so a
    click can be handled while the main thread runs a cell. But ipykernel 7.4 sends a comm's
    incoming messages to whichever shell last sent on that comm (`_reply_subshell_for`): the
    main shell, busy with the very cell the click should stop. The button neither awaits nor
    answers anything, so its clicks go where the front end addressed them. Front ends without
    subshells address the main shell, and the click waits for the cell (interrupt the kernel
    there). Without ipykernel (no comm, or another kernel) there is nothing to change.
    """
    comm = getattr(button, "comm", None)
    if comm is not None and callable(getattr(comm, "_reply_subshell_for", None)):
        comm._reply_subshell_for = _as_addressed


def _as_addressed(_data: Any, addressed: str | None) -> str | None:
    return addressed
