"""How a batch shows its progress: an observer the batch notifies, never the other way round.

The batch only calls `changed()` (cheap: it marks the view dirty); the view redraws itself at
most a few times a second (and at least once a second, so the ETA counts down while a long
APPEND changes nothing) from `refresh()`, which the batch runs as a task on its own loop, so
updates stay on the thread that runs the batch (the kernel's, in Jupyter). However many files
and however many changes, a view costs at most one redraw per `REFRESH_S`: a 10,000-file batch
sends no more widget messages per second than a 10-file one. `finish()` draws the final state
and prints the one-line summary, so front ends without widgets still show the outcome.

Every view implements `ProgressView`. `NullView` shows nothing (`progress="none"`) and is the
base of the others: `_text.TextView` (one line) and `_widgets.WidgetView` (the notebook
dashboard). What they show is computed once, by `_snapshot.Snapshot.take`. Which view a batch
gets is decided in the API layer (`_run.make_view`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ._budget import Budget
    from ._snapshot import BatchState

__all__ = ["REFRESH_S", "TICK_S", "NullView", "ProgressView", "in_notebook_kernel"]

REFRESH_S = 0.2  # at most 5 redraws a second, whatever the number of files
TICK_S = 1.0  # and at least one a second: the ETA and the time elapsed move on their own


@runtime_checkable
class ProgressView(Protocol):
    """What a batch calls on its view (pass one as `progress=` to draw a batch your way).

    `show()` may come before `start()` (a background job shows its view at once); `start`
    hands over three callables: the batch as it stands (`live()`), the rate-limit budget
    (`budget()`), and `cancel()` to stop the batch. `changed()` is called on every change and
    must be cheap; `refresh()` runs as a task while the batch runs and redraws when something
    changed; `finish(result)` draws the end.
    """

    def show(self) -> None: ...

    def start(
        self,
        live: Callable[[], BatchState],
        budget: Callable[[], dict[str, Budget]],
        cancel: Callable[[], None],
    ) -> None: ...

    def changed(self) -> None: ...

    async def refresh(self) -> None: ...

    def finish(self, result: BatchState) -> None: ...


class NullView:
    """A view that shows nothing (`progress="none"`); the base of every view mediakit draws."""

    def __init__(self) -> None:
        self.live: Callable[[], BatchState] | None = None
        self.budget: Callable[[], dict[str, Budget]] | None = None
        self.cancel: Callable[[], None] | None = None
        self._dirty = False
        self.draws = 0  # how many redraws: bounded by time, never by the number of files

    def show(self) -> None:
        """Put the view on screen now (before the batch starts; `start` calls it too)."""

    def start(
        self,
        live: Callable[[], BatchState],
        budget: Callable[[], dict[str, Budget]],
        cancel: Callable[[], None],
    ) -> None:
        self.live, self.budget, self.cancel = live, budget, cancel
        self._dirty = True
        self.show()

    def changed(self) -> None:
        self._dirty = True

    async def refresh(self) -> None:
        """Redraw while the batch runs; cancelled by the batch when it ends."""
        quiet = 0.0
        while True:
            await asyncio.sleep(REFRESH_S)
            quiet += REFRESH_S
            if self._dirty or quiet >= TICK_S - 1e-9:
                self._dirty = False
                quiet = 0.0
                self.draws += 1
                self.draw()

    def draw(self) -> None:
        """Render the current state (called at most every REFRESH_S)."""

    def finish(self, result: BatchState) -> None:
        """Render the final state."""


def in_notebook_kernel() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab), not a terminal."""
    module = sys.modules.get("IPython")
    if module is None:
        return False
    try:
        ip = module.get_ipython()
    except Exception:
        return False
    if ip is None:
        return False
    names = {cls.__name__ for cls in type(ip).__mro__}
    if "ZMQInteractiveShell" in names:
        return True
    config = getattr(ip, "config", None)
    return isinstance(config, Mapping) and "IPKernelApp" in config
