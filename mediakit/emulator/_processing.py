"""How long X takes to process a video or GIF, and whether it fails, decided at FINALIZE.

Durations come from a seeded distribution keyed by media id, so a run is repeatable and two
processes sharing one state agree. Whether X accepts the media is the judge's call
(`_judge.processing_refusal`, the code preflight uses): every limit of the table, on what
FINALIZE measured and decoded in the real bytes (`_verify`), fails `InvalidMedia` or
`UnsupportedMedia` with a message naming the limit (X's own wording for the duration).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from .._detect import MediaInfo
from .._judge import format_x_duration, processing_refusal
from ._config import EmulatorConfig
from ._store import MediaRow

__all__ = ["ProcessingModel", "ProcessingPlan", "format_duration", "processing_info"]


@dataclass(frozen=True)
class ProcessingPlan:
    seconds: float
    outcome: str  # "succeeded" | "failed"
    error_code: int | None = None
    error_name: str | None = None
    error_message: str | None = None
    fail_progress: int | None = None


format_duration = format_x_duration  # X's duration wording, kept under its old name here


class ProcessingModel:
    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config

    def _rng(self, media_id: str) -> random.Random:
        return random.Random(f"{self._config.seed}:{media_id}")

    def _duration(self, rng: random.Random, size: int, category: str | None) -> float:
        spec = self._config.processing_seconds
        if callable(spec):
            return max(0.0, float(spec(rng, size, category)))
        if isinstance(spec, tuple):
            low, high = spec
            return rng.uniform(float(low), float(high))
        return float(spec)

    def plan(
        self, media_id: str, size: int, category: str | None, info: MediaInfo | None
    ) -> ProcessingPlan:
        rng = self._rng(media_id)
        seconds = self._duration(rng, size, category)
        refusal = processing_refusal(info, category or "tweet_video", self._config.limits)
        if refusal is not None:
            return ProcessingPlan(
                seconds, "failed", refusal.error_code, refusal.error_name, refusal.refusal, 100
            )
        if rng.random() < self._config.processing_failure_rate:
            return ProcessingPlan(
                seconds, "failed", 1, "InvalidMedia", "file is invalid", rng.randint(5, 99)
            )
        return ProcessingPlan(seconds, "succeeded")


def _terminal_at(row: MediaRow) -> float:
    seconds = row.processing_s or 0.0
    if row.outcome == "failed":
        return seconds * (row.fail_progress or 100) / 100
    return seconds


def is_processing_done(row: MediaRow, now: float) -> bool:
    assert row.finalized_at is not None
    return now - row.finalized_at >= _terminal_at(row)


def processing_info(row: MediaRow, now: float, max_check_after: int) -> dict[str, Any]:
    """The `processing_info` object a client sees at `now`."""
    assert row.finalized_at is not None
    elapsed = now - row.finalized_at
    seconds = row.processing_s or 0.0
    terminal_at = _terminal_at(row)
    if elapsed >= terminal_at:
        if row.outcome == "failed":
            error: dict[str, Any] = {"code": row.error_code, "name": row.error_name}
            if row.error_message:
                error["message"] = row.error_message
            return {
                "state": "failed",
                "progress_percent": row.fail_progress or 100,
                "error": error,
            }
        return {"state": "succeeded", "progress_percent": 100}
    wait = min(max_check_after, max(1, math.ceil(terminal_at - elapsed)))
    if elapsed < min(1.0, 0.1 * seconds):
        return {"state": "pending", "check_after_secs": wait}
    progress = min(99, max(1, int(100 * elapsed / seconds))) if seconds else 99
    return {"state": "in_progress", "check_after_secs": wait, "progress_percent": progress}
