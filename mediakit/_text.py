"""Text progress: one compact line for terminals and logs, then the one-line summary."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from ._eta import EtaEstimator
from ._snapshot import Snapshot
from ._view import NullView

if TYPE_CHECKING:
    from ._budget import Budget
    from ._snapshot import BatchState

__all__ = ["LOG_EVERY_S", "TextView"]

LOG_EVERY_S = 10.0  # text mode without a terminal: one line this often, not a redraw stream


class TextView(NullView):
    """A compact single line for terminals and logs, and the summary at the end.

    On a terminal the line is redrawn in place (cut to the terminal's width, so it never
    wraps); in a log, or a notebook's output, a new line is written at most every
    `LOG_EVERY_S` (a long batch leaves a readable trail, not thousands of redraws).
    """

    def __init__(self, out: TextIO | None = None, *, log_every_s: float = LOG_EVERY_S) -> None:
        super().__init__()
        self.out = out or sys.stdout
        self._tty = _isatty(self.out)
        self._width = 0
        self._log_every_s = log_every_s
        self._last_log: float | None = None
        self._eta = EtaEstimator()

    def start(
        self,
        live: Callable[[], BatchState],
        budget: Callable[[], dict[str, Budget]],
        cancel: Callable[[], None],
    ) -> None:
        super().start(live, budget, cancel)
        self._last_log = time.monotonic()

    def snapshot(self) -> Snapshot | None:
        if self.live is None:
            return None
        return Snapshot.take(self.live(), self.budget() if self.budget else None, eta=self._eta)

    def draw(self) -> None:
        snapshot = self.snapshot()
        if snapshot is None:
            return
        if self._tty:
            line = snapshot.line()
            columns = shutil.get_terminal_size((100, 20)).columns
            if len(line) >= columns:
                line = line[: max(10, columns - 2)] + "…"
            padding = " " * max(0, self._width - len(line))
            self.out.write("\r" + line + padding)
            self.out.flush()
            self._width = len(line)
            return
        now = time.monotonic()
        if self._last_log is None or now - self._last_log >= self._log_every_s:
            self._last_log = now
            print(snapshot.line(), file=self.out, flush=True)

    def finish(self, result: BatchState) -> None:
        if self._tty and self._width:
            self.out.write("\r" + " " * self._width + "\r")
            self._width = 0
        print(result.summary(), file=self.out, flush=True)


def _isatty(out: TextIO) -> bool:
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError, OSError):
        return False
