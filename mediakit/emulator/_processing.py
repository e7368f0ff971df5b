"""How X processes a video or GIF after FINALIZE: whether it takes it, how long, whether it fails.

Two separate questions, answered in this order once the decode that follows FINALIZE has
ended (`_core.MediaService._decode`):

1. Is this media acceptable? (`media_problem`) The judge's call (`_judge.processing_refusal`,
   the code preflight uses): every limit of the table, on what FINALIZE measured and the
   decode found in the real bytes (`_verify`), fails `InvalidMedia` or `UnsupportedMedia`
   with a message naming the limit (X's own wording for the duration).
2. How does processing go? (`ProcessingModel`) A time per category from a linear model, base
   seconds + seconds per MB + seconds per second of video, plus additive noise; and injected
   failures. Both are drawn from a generator seeded by the emulator's seed and the content's
   SHA-256, so the same file processes the same way in every run and whichever client sends
   it; injected failures also depend on the upload attempt (how many times this state has
   finalized the same content), so a retried upload of the same file can succeed.

X publishes no processing times. The default costs are the emulator's calibration (README,
"Processing model"); every number is a setting.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._detect import MediaInfo
from .._errors import ConfigurationError
from .._judge import format_x_duration, processing_refusal
from .._limits import Limits
from ._store import MediaRow

__all__ = [
    "DEFAULT_PROCESSING_COSTS",
    "MediaProblem",
    "ProcessingCost",
    "ProcessingModel",
    "ProcessingPlan",
    "format_duration",
    "media_problem",
    "processing_info",
]

MB = 1_000_000  # "seconds per MB" counts decimal megabytes, as X's size limits read
ProcessingSeconds = tuple[float, float] | float | Callable[..., float]


@dataclass(frozen=True)
class ProcessingCost:
    """Seconds X takes to process one media: a linear model with additive noise.

    ``base_s + per_mb_s × MB + per_media_s × seconds of video``, plus noise drawn uniformly
    from ±``noise_s`` (seeded per content), never below ``min_s``.
    """

    base_s: float
    per_mb_s: float = 0.0
    per_media_s: float = 0.0
    noise_s: float = 0.0
    min_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("base_s", "per_mb_s", "per_media_s", "noise_s", "min_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ConfigurationError(
                    f"ProcessingCost.{name} must be a finite number >= 0, not {value!r}"
                )

    def mean_s(self, size: int, duration_s: float | None) -> float:
        return self.base_s + self.per_mb_s * size / MB + self.per_media_s * (duration_s or 0.0)


_VIDEO = ProcessingCost(base_s=3.0, per_mb_s=0.25, per_media_s=0.2, noise_s=2.0)
_GIF = ProcessingCost(base_s=1.5, per_mb_s=0.5, noise_s=0.5)
DEFAULT_PROCESSING_COSTS: Mapping[str, ProcessingCost] = {
    "tweet_video": _VIDEO,
    "dm_video": _VIDEO,
    "amplify_video": _VIDEO,
    "tweet_gif": _GIF,
    "dm_gif": _GIF,
}


@dataclass(frozen=True)
class MediaProblem:
    """Why X's processing rejects a media: `processing_info.error` and the progress it stops at."""

    code: int
    name: str
    message: str
    progress: int = 100


@dataclass(frozen=True)
class ProcessingPlan:
    seconds: float
    outcome: str  # "succeeded" | "failed"
    error_code: int | None = None
    error_name: str | None = None
    error_message: str | None = None
    fail_progress: int | None = None

    def fields(self) -> dict[str, Any]:
        """The media row's columns this plan sets."""
        return {
            "processing_s": self.seconds,
            "outcome": self.outcome,
            "error_code": self.error_code,
            "error_name": self.error_name,
            "error_message": self.error_message,
            "fail_progress": self.fail_progress,
        }


format_duration = format_x_duration  # X's duration wording, kept under its old name here


# 1. is the media acceptable


def media_problem(
    category: str | None, info: MediaInfo | None, limits: Limits
) -> MediaProblem | None:
    """What X's processing would refuse in this media, or None when it takes it."""
    refusal = processing_refusal(info, category or "tweet_video", limits)
    if refusal is None:
        return None
    return MediaProblem(refusal.error_code, refusal.error_name, refusal.refusal)


# 2. how processing goes


class ProcessingModel:
    def __init__(
        self,
        *,
        seed: int | None,
        limits: Limits,
        costs: Mapping[str, ProcessingCost] = DEFAULT_PROCESSING_COSTS,
        seconds: ProcessingSeconds | None = None,
        scale: float = 1.0,
        failure_rate: float = 0.0,
    ) -> None:
        self._seed = seed
        self._limits = limits
        self._costs = costs
        self._seconds = seconds
        self._scale = scale
        self._failure_rate = failure_rate

    def _rng(self, *key: object) -> random.Random:
        return random.Random(":".join(str(part) for part in (self._seed, *key)))

    def duration(
        self, category: str, size: int, duration_s: float | None, content_sha256: str
    ) -> float:
        """Seconds this content takes to process: the same every run for the same content."""
        rng = self._rng("time", content_sha256)
        spec = self._seconds
        if callable(spec):
            seconds = max(0.0, float(spec(rng, size, category)))
        elif isinstance(spec, tuple):
            seconds = rng.uniform(float(spec[0]), float(spec[1]))
        elif spec is not None:
            seconds = float(spec)
        else:
            cost = self._costs.get(category, DEFAULT_PROCESSING_COSTS.get(category, _VIDEO))
            noise = rng.uniform(-cost.noise_s, cost.noise_s) if cost.noise_s else 0.0
            seconds = max(cost.min_s, cost.mean_s(size, duration_s) + noise)
        return seconds * self._scale

    def plan(
        self,
        *,
        category: str,
        size: int,
        info: MediaInfo | None,
        content_sha256: str,
        attempt: int,
    ) -> ProcessingPlan:
        """How processing of this content goes on this upload attempt (0 for the first)."""
        duration_s = info.duration_s if info is not None else None
        seconds = self.duration(category, size, duration_s, content_sha256)
        problem = media_problem(category, info, self._limits)
        if problem is not None:
            return ProcessingPlan(
                seconds, "failed", problem.code, problem.name, problem.message, problem.progress
            )
        rng = self._rng("failure", content_sha256, attempt)
        if self._failure_rate and rng.random() < self._failure_rate:
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
    return not row.decoding and now - row.finalized_at >= _terminal_at(row)


def processing_info(row: MediaRow, now: float, max_check_after: int) -> dict[str, Any]:
    """The `processing_info` object a client sees at `now`.

    `progress_percent` rises with the elapsed share of the processing time; `check_after_secs`
    is the time left, in whole seconds, at least 1 and at most `max_check_after`.
    """
    assert row.finalized_at is not None
    elapsed = now - row.finalized_at
    seconds = row.processing_s or 0.0
    terminal_at = _terminal_at(row)
    if row.decoding and elapsed >= terminal_at:
        # The decode has not ended: nothing is known of the outcome yet (STATUS waits for it).
        return {"state": "in_progress", "check_after_secs": 1, "progress_percent": 99}
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
