"""How a batch shows its progress: an observer the batch notifies, never the other way round.

The batch only calls `changed()` (cheap: it marks the view dirty); the view redraws itself at
most a few times a second from `refresh()`, which the batch runs as a task on its own loop, so
updates stay on the thread that runs the batch (the kernel's, in Jupyter). `finish()` draws
the final state and prints the one-line summary, so front ends without widgets still show the
outcome.

Modes: "widgets" (the ipywidgets dashboard, `_widgets`), "text" (one line, redrawn), "none";
"auto" picks widgets in a notebook kernel and text elsewhere; `MEDIAKIT_PROGRESS` sets the
default.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TextIO

if TYPE_CHECKING:
    from ._budget import Budget
    from ._result import UploadResult

__all__ = ["MODES", "Progress", "TextProgress", "make_progress"]

Mode = Literal["auto", "widgets", "text", "none"]
MODES = ("auto", "widgets", "text", "none")
REFRESH_S = 0.15  # at most about 7 redraws a second, whatever the number of files


class Progress:
    """The view of one batch. The base class shows nothing (`progress="none"`)."""

    def __init__(self) -> None:
        self.live: Callable[[], UploadResult] | None = None
        self.budget: Callable[[], dict[str, Budget]] | None = None
        self.cancel: Callable[[], None] | None = None
        self._dirty = False

    def start(
        self,
        live: Callable[[], UploadResult],
        budget: Callable[[], dict[str, Budget]],
        cancel: Callable[[], None],
    ) -> None:
        self.live, self.budget, self.cancel = live, budget, cancel
        self._dirty = True

    def changed(self) -> None:
        self._dirty = True

    async def refresh(self) -> None:
        """Redraw while the batch runs; cancelled by the batch when it ends."""
        while True:
            await asyncio.sleep(REFRESH_S)
            if self._dirty:
                self._dirty = False
                self.draw()

    def draw(self) -> None:
        """Render the current state (called at most every REFRESH_S)."""

    def finish(self, result: UploadResult) -> None:
        """Render the final state."""


class TextProgress(Progress):
    """A compact single line for terminals and logs, and the summary at the end."""

    def __init__(self, out: TextIO | None = None) -> None:
        super().__init__()
        self.out = out or sys.stdout
        self._tty = bool(getattr(self.out, "isatty", lambda: False)())
        self._width = 0

    def draw(self) -> None:
        if not self._tty or self.live is None:
            return  # a log gets the summary only, not a stream of redraws
        line = self.live().summary()
        padding = " " * max(0, self._width - len(line))
        self.out.write("\r" + line + padding)
        self.out.flush()
        self._width = len(line)

    def finish(self, result: UploadResult) -> None:
        if self._tty and self._width:
            self.out.write("\r" + " " * self._width + "\r")
        print(result.summary(), file=self.out, flush=True)


def in_notebook_kernel() -> bool:
    """True inside an IPython kernel (Jupyter, VS Code, Colab), not a terminal IPython."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()  # type: ignore[attr-defined]
    except Exception:
        return False
    if ip is None:
        return False
    return type(ip).__name__ == "ZMQInteractiveShell" or "IPKernelApp" in getattr(ip, "config", {})


def make_progress(mode: str | None) -> Progress:
    chosen = (mode or "auto").lower()
    if chosen == "auto":
        chosen = os.environ.get("MEDIAKIT_PROGRESS", "auto").lower() or "auto"
    if chosen not in MODES:
        from ._errors import ConfigurationError

        raise ConfigurationError(f"progress must be one of {', '.join(MODES)}, not {mode!r}")
    if chosen == "auto":
        chosen = "widgets" if in_notebook_kernel() else "text"
    if chosen == "none":
        return Progress()
    if chosen == "widgets":
        try:
            from ._widgets import WidgetProgress
        except ImportError:
            return TextProgress()
        view: Progress = WidgetProgress()
        return view
    return TextProgress()
