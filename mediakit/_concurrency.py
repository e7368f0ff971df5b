"""How many files upload at once: chosen from what the batch knows, not a fixed number.

`Controller` is pure: no I/O and no clock of its own. The scheduler (`_batch`) feeds it every
answered request (`observe`) and asks `decide(now, demand, budgets)` whenever a file wants an
upload slot or an answer arrives; the `Decision` says how many files may upload and why.

The limit is the smallest of what bounds it:

- ceiling: the user's `concurrency=N`, else `MAX_CONCURRENCY`;
- memory: (segments in flight + 2) × chunk stays within `MEMORY_BUDGET` (each file holds up to
  `segment_concurrency` segments, each as large as the chunk or the file, whichever is less);
- open files: each uploading file holds a file handle and up to `segment_concurrency`
  connections, within the process's open-file limit;
- rate budget: while an endpoint has budget for all the batch still needs from it, nothing;
  when it has less, the batch paces, spending what is left evenly until the window resets
  (files in flight = the files per second the budget allows × the time one file takes, by
  Little's law) rather than bursting into 429s;
- the wire and the CPU (the adaptive default only; a user's N is not second-guessed): round
  trips are compared with the fastest seen for the same command
  and size. While they stay near it (the server, the link and this machine keep up) and files
  are waiting, the limit grows, doubling at first, then one at a time; when they stretch well
  above it (a queue is building: a saturated link, server or CPU), it backs off.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field

from ._budget import Budget
from ._records import Event

__all__ = [
    "INITIAL_CONCURRENCY",
    "MAX_CONCURRENCY",
    "MEMORY_BUDGET",
    "Change",
    "Controller",
    "Decision",
    "Demand",
    "adaptive_start",
]

MAX_CONCURRENCY = 32
"""The most files the adaptive default uploads at once."""
INITIAL_CONCURRENCY = 8
"""Where the adaptive default starts, before any round trip was measured (or higher: every
file X will process starts at once, up to the ceiling, since each one's processing, not its
upload, sets when the batch can end)."""


def adaptive_start(processed_files: int) -> int:
    """Files at once where an adaptive batch starts, before any measure: `INITIAL_CONCURRENCY`,
    or every file X will process (`processed_files`) up to the ceiling (what `decide` does)."""
    return max(INITIAL_CONCURRENCY, min(MAX_CONCURRENCY, processed_files))


MEMORY_BUDGET = 256 * 1024 * 1024
"""Bytes of upload buffers the adaptive default keeps in flight at most."""

BACK_OFF_ABOVE = 2.0  # round trips at twice the fastest: a queue is building somewhere
GROW_BELOW = 1.5  # within half again the fastest: nothing is queueing, room to go wider
BACK_OFF_FACTOR = 0.75
UPLOAD_COMMANDS = ("INIT", "APPEND", "FINALIZE")


@dataclass(frozen=True)
class Demand:
    """What the batch still has to send, and how busy it is now.

    Args:
        requests: requests still to send per command (INIT, APPEND, FINALIZE).
        files_waiting: files ready to upload, waiting for a slot.
        files_uploading: files holding a slot now.
        file_bytes: memory one waiting file holds while it uploads (its segments in flight ×
            min(chunk, size)): the largest among the waiting files.
        chunk_size: the batch's chunk size (the "+ 2 chunks" of the memory budget).
        segments_per_file: APPEND requests in flight per file at most.
        processed_waiting: waiting files that X will process (videos, GIFs).
    """

    requests: Mapping[str, int]
    files_waiting: int
    files_uploading: int
    file_bytes: int
    chunk_size: int
    segments_per_file: int = 1
    processed_waiting: int = 0

    @property
    def files_left(self) -> int:
        return self.files_waiting + self.files_uploading


@dataclass(frozen=True)
class Decision:
    """How many files may upload at once, and what set that number."""

    limit: int
    reason: str  # "ceiling", "memory", "open files", "paced", "measured", "starting"
    detail: str = ""


@dataclass(frozen=True)
class Change:
    """The batch's concurrency changed at `at` (epoch seconds of the batch's clock)."""

    at: float
    limit: int
    uploading: int
    waiting: int
    reason: str
    detail: str


@dataclass
class _Round:
    """Round trips answered since the limit last changed, against the fastest seen."""

    inflation: list[float] = field(default_factory=list)


class Controller:
    """Decides the batch's concurrency (see the module docstring).

    Args:
        ceiling: the user's `concurrency=N` (never exceeded), or None for adaptive up to
            `MAX_CONCURRENCY`.
        memory_budget: bytes of upload buffers in flight at most.
        open_files: the process's open-file limit (None: unknown, no bound from it).
        initial: the limit before anything was measured.
    """

    def __init__(
        self,
        *,
        ceiling: int | None = None,
        memory_budget: int = MEMORY_BUDGET,
        open_files: int | None = None,
        initial: int = INITIAL_CONCURRENCY,
    ) -> None:
        self.adaptive = ceiling is None
        self.ceiling = MAX_CONCURRENCY if ceiling is None else max(1, ceiling)
        self.memory_budget = memory_budget
        self.open_files = open_files
        # A user's N is where it starts and stays: it was asked for, and only the budget,
        # memory or open files take it lower. Round trips stretching is no reason to go
        # below it: on a machine whose CPU the server shares they stretch at any width, and
        # backing off then only idled the second core (small files: 0.52x -> 0.74x the raw
        # loop's rate with the back-off off).
        self._measured = self.ceiling if not self.adaptive else min(initial, self.ceiling)
        self._slow_start = True
        self._fastest: dict[tuple[str, int], float] = {}
        self._typical: dict[str, float] = {}
        self._round = _Round()
        self._answers = 0

    # what the requests measured

    def observe(self, event: Event) -> None:
        """Learn from one answered request (its round trip, against the fastest alike)."""
        if event.finished_at is None or event.command not in UPLOAD_COMMANDS:
            return
        if event.http_status is None or event.http_status == 429:
            return
        took = event.finished_at - event.started_at
        if took <= 0:
            return
        # APPENDs are compared only with APPENDs of about the same size (a power of two).
        key = (event.command, (event.bytes_sent or 0).bit_length())
        fastest = self._fastest.get(key)
        if fastest is None or took < fastest:
            self._fastest[key] = fastest = took
        self._round.inflation.append(took / fastest)
        typical = self._typical.get(event.command)
        self._typical[event.command] = took if typical is None else 0.8 * typical + 0.2 * took
        self._answers += 1

    def file_seconds(self, demand: Demand) -> float | None:
        """How long one file holds its slot, from the round trips measured so far."""
        if not all(c in self._typical for c in UPLOAD_COMMANDS):
            return None
        files = max(1, demand.files_left)
        appends = demand.requests.get("APPEND", 0) / files
        waves = math.ceil(appends / max(1, demand.segments_per_file))
        return (
            self._typical["INIT"]
            + max(1, waves) * self._typical["APPEND"]
            + self._typical["FINALIZE"]
        )

    # the decision

    def decide(self, now: float, demand: Demand, budgets: Mapping[str, Budget]) -> Decision:
        """The limit now: the smallest of ceiling, memory, open files, budget and measure."""
        if self.adaptive and self._answers == 0:
            self._measured = max(self._measured, min(self.ceiling, demand.processed_waiting))
        self._adjust(demand)
        candidates = [
            Decision(self.ceiling, "ceiling", "the ceiling you set" if not self.adaptive else ""),
            self._memory(demand),
            self._open_files(demand),
            self._paced(now, demand, budgets),
        ]
        if self.adaptive:
            reason = "starting" if self._answers == 0 else "measured"
            candidates.append(Decision(self._measured, reason, "round trips"))
        found = [c for c in candidates if c is not None]
        return min(found, key=lambda d: d.limit)

    def _adjust(self, demand: Demand) -> None:
        """Once per round (as many answers as files in flight): grow, hold or back off."""
        if not self.adaptive:
            return
        inflation = self._round.inflation
        if len(inflation) < max(2, demand.files_uploading, self._measured):
            return
        stretch = statistics.median(inflation)
        self._round = _Round()
        if stretch > BACK_OFF_ABOVE:
            self._slow_start = False
            self._measured = max(1, math.floor(self._measured * BACK_OFF_FACTOR))
            return
        # Grow only while files wait and the slots are full: an idle limit proves nothing.
        full = demand.files_waiting > 0 and demand.files_uploading >= self._measured
        if stretch < GROW_BELOW and full:
            grown = self._measured * 2 if self._slow_start else self._measured + 1
            self._measured = min(self.ceiling, grown)

    def _memory(self, demand: Demand) -> Decision:
        spare = self.memory_budget - 2 * demand.chunk_size
        fits = spare // max(1, demand.file_bytes)
        return Decision(
            max(1, int(fits)),
            "memory",
            f"{self.memory_budget / 2**20:.0f} MiB of buffers, "
            f"{demand.file_bytes / 2**20:.1f} MiB per file",
        )

    def _open_files(self, demand: Demand) -> Decision | None:
        if self.open_files is None:
            return None
        spare = self.open_files - 64  # the journal, the emulator, the user's own files
        per_file = demand.segments_per_file + 1
        return Decision(
            max(1, spare // per_file), "open files", f"open-file limit {self.open_files}"
        )

    def _paced(self, now: float, demand: Demand, budgets: Mapping[str, Budget]) -> Decision | None:
        """Spread what is left of a window that cannot cover the batch until its reset."""
        tightest: Decision | None = None
        file_s = self.file_seconds(demand)
        for command in UPLOAD_COMMANDS:
            budget = budgets.get(command)
            need = demand.requests.get(command, 0)
            if budget is None or budget.remaining is None or budget.reset_at is None:
                continue
            if now >= budget.reset_at or need <= budget.remaining:
                continue  # enough for the rest of the batch, or a new window: go wide
            left_s = max(1.0, budget.reset_at - now)
            per_file = need / max(1, demand.files_left)
            files_per_s = max(0, budget.remaining) / left_s / per_file
            limit = 1 if file_s is None else max(1, math.floor(files_per_s * file_s))
            decision = Decision(
                limit,
                "paced",
                f"{command}: {max(0, budget.remaining)} requests left for {need} needed, "
                f"window resets in {left_s:.0f} s",
            )
            if tightest is None or decision.limit < tightest.limit:
                tightest = decision
        return tightest
