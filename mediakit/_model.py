"""A processing-time model from the data: seconds against bytes and video seconds, per category.

    processing_s ≈ intercept_s + s_per_mib × MiB + s_per_video_s × video seconds

fitted per media category with a robust linear fit (Huber M-estimator by iteratively
reweighted least squares, scale by the median absolute deviation; numpy only), so a few files
X was slow on do not drag the line. The residual spread comes with it: a robust standard
deviation (1.4826 × MAD) and the 5th and 95th percentiles of the residuals.

What is fitted is one estimate of each file's processing interval (`estimate=`: "midpoint" by
default, or "lower"/"upper"): polling only bounds X's time, so the fit inherits the interval's
uncertainty (at most half its width, per file, for the midpoint). When the items have no
`duration_s` (video durations come from preflight) the model uses bytes only; with durations,
it holds both forms and uses the bytes-only one for a file whose duration is unknown.

Without history the model is `DEFAULTS`: priors, not measurements (X publishes no processing
times), chosen to agree with the one field observation the project holds ("about 10 s of
processing" for a typical clip, see `_plan`) and of the order of the emulator's default
(2–8 s per video or GIF). Replace them with your own: every batch you run is history.
MiB is X's megabyte (2**20 bytes), as in the size bands.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._errors import ConfigurationError
from ._limits import ASYNC_CATEGORIES, CATEGORIES, MiB

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULTS",
    "DEFAULT_CONSTANTS",
    "LinearFit",
    "ProcessingTimeModel",
    "RobustLine",
    "predict_processing_s",
    "robust_fit",
]

Inputs = Literal["bytes", "bytes + duration"]

# (intercept_s, s_per_mib, s_per_video_s) per category, for the form with duration, and
# (intercept_s, s_per_mib) for the bytes-only form. Priors: see the module docstring.
# A 5 MiB, 15 s clip: 5 + 0.4 × 5 + 0.2 × 15 = 10 s (bytes only: 5 + 1.0 × 5 = 10 s); a
# 20 MiB, 30 s video: 19 s; a 3 MiB GIF: 3 + 1.0 × 3 = 6 s.
_VIDEO = ((5.0, 0.4, 0.2), (5.0, 1.0))
_GIF = ((3.0, 1.0, 0.0), (3.0, 1.0))
DEFAULT_CONSTANTS: Mapping[str, tuple[tuple[float, float, float], tuple[float, float]]] = {
    "tweet_video": _VIDEO,
    "dm_video": _VIDEO,
    "amplify_video": _VIDEO,
    "tweet_gif": _GIF,
    "dm_gif": _GIF,
}
# Residual spread assumed for the defaults: processing varies from file to file even at one
# size; ±3 s (1 sd) makes the plan's assumptions visible rather than pretending precision.
DEFAULT_RESIDUAL_SD_S = 3.0

_HUBER_K = 1.345  # 95 % efficiency at the normal distribution
_MAD_TO_SD = 1.4826


# --- the robust fit --------------------------------------------------------------------------


@dataclass(frozen=True)
class RobustLine:
    """What `robust_fit` found: coefficients, residuals, robust scale, final weights."""

    coefficients: np.ndarray[Any, np.dtype[np.float64]]
    residuals: np.ndarray[Any, np.dtype[np.float64]]
    scale: float
    weights: np.ndarray[Any, np.dtype[np.float64]]
    iterations: int


def _mad_scale(residuals: np.ndarray[Any, np.dtype[np.float64]]) -> float:
    centre = float(np.median(residuals))
    return _MAD_TO_SD * float(np.median(np.abs(residuals - centre)))


def robust_fit(
    design: np.ndarray[Any, Any],
    target: np.ndarray[Any, Any],
    *,
    k: float = _HUBER_K,
    max_iterations: int = 100,
    tolerance: float = 1e-9,
) -> RobustLine:
    """Huber regression of `target` on the columns of `design`, by IRLS with a MAD scale.

    Starts from least squares; each round weights a point by min(1, k / |residual / scale|)
    and solves weighted least squares again, until the coefficients stop moving.
    """
    x = np.asarray(design, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    weights = np.ones_like(y)
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported below
        residuals = y - x @ beta
        scale = _mad_scale(residuals)
        if scale <= 1e-12:  # (nearly) every point on the line: nothing to down-weight
            break
        spread = np.abs(residuals) / scale
        weights = np.where(spread <= k, 1.0, k / np.maximum(spread, 1e-300))
        root = np.sqrt(weights)
        updated = np.linalg.lstsq(x * root[:, None], y * root, rcond=None)[0]
        moved = float(np.max(np.abs(updated - beta)))
        beta = updated
        if moved <= tolerance * (1.0 + float(np.max(np.abs(beta)))):
            break
    residuals = y - x @ beta
    return RobustLine(
        np.asarray(beta, dtype=np.float64), residuals, _mad_scale(residuals), weights, iterations
    )


# --- one category's line ---------------------------------------------------------------------


@dataclass(frozen=True)
class LinearFit:
    """Processing seconds for one category: intercept + per MiB + per video second."""

    category: str
    inputs: Inputs
    intercept_s: float
    s_per_mib: float
    s_per_video_s: float  # 0 in the bytes-only form
    files: int  # files the fit used; 0 for a default
    residual_sd_s: float  # robust: 1.4826 × MAD of the residuals
    residual_p05_s: float
    residual_p95_s: float
    source: str  # "fit", or "default" with the reason

    def predict(
        self, mib: np.ndarray[Any, Any], duration_s: np.ndarray[Any, Any] | None = None
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        seconds = self.intercept_s + self.s_per_mib * np.asarray(mib, dtype=np.float64)
        if self.inputs == "bytes + duration" and duration_s is not None:
            seconds = seconds + self.s_per_video_s * np.asarray(duration_s, dtype=np.float64)
        return np.maximum(seconds, 0.0)  # X never takes less than no time

    def row(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "inputs": self.inputs,
            "files": self.files,
            "intercept_s": self.intercept_s,
            "s_per_mib": self.s_per_mib,
            "s_per_video_s": self.s_per_video_s if self.inputs == "bytes + duration" else math.nan,
            "residual_sd_s": self.residual_sd_s,
            "residual_p05_s": self.residual_p05_s,
            "residual_p95_s": self.residual_p95_s,
            "source": self.source,
        }


def _default_fits(category: str, source: str = "default") -> tuple[LinearFit, ...]:
    (base, per_mib, per_s), (base_b, per_mib_b) = DEFAULT_CONSTANTS[category]
    spread = DEFAULT_RESIDUAL_SD_S
    band = NormalDist().inv_cdf(0.95) * spread
    common: dict[str, Any] = {
        "category": category,
        "files": 0,
        "residual_sd_s": spread,
        "residual_p05_s": -band,
        "residual_p95_s": band,
        "source": source,
    }
    bytes_only = LinearFit(
        inputs="bytes", intercept_s=base_b, s_per_mib=per_mib_b, s_per_video_s=0.0, **common
    )
    if category in ("tweet_gif", "dm_gif"):  # a GIF has no video seconds to speak of
        return (bytes_only,)
    full = LinearFit(
        inputs="bytes + duration",
        intercept_s=base,
        s_per_mib=per_mib,
        s_per_video_s=per_s,
        **common,
    )
    return (full, bytes_only)


def _fit(category: str, inputs: Inputs, design: np.ndarray[Any, Any], y: Any) -> LinearFit:
    line = robust_fit(design, y)
    beta = line.coefficients
    p05, p95 = np.quantile(line.residuals, [0.05, 0.95])
    return LinearFit(
        category=category,
        inputs=inputs,
        intercept_s=float(beta[0]),
        s_per_mib=float(beta[1]),
        s_per_video_s=float(beta[2]) if len(beta) > 2 else 0.0,
        files=len(y),
        residual_sd_s=line.scale,
        residual_p05_s=float(p05),
        residual_p95_s=float(p95),
        source="fit",
    )


def _full_rank(design: np.ndarray[Any, Any]) -> bool:
    return bool(np.linalg.matrix_rank(design) == design.shape[1])


# --- the model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessingTimeModel:
    """Seconds X takes to process a file, per category; `predict`, `band`, `table`.

    Make one from your batches with `result.processing_model()` (or `from_items`), or use
    `ProcessingTimeModel.defaults()` (the documented priors). Categories X does not process
    (images, subtitles) take 0 s; a processed category the history has too few files of uses
    the defaults.
    """

    fits: tuple[LinearFit, ...]
    estimate: str = "midpoint"
    note: str = "defaults: priors, not measurements (no history)"

    @classmethod
    def defaults(cls) -> ProcessingTimeModel:
        return DEFAULTS

    @classmethod
    def from_items(
        cls,
        items: pd.DataFrame,
        *,
        estimate: str = "midpoint",
        states: Sequence[str] | None = ("succeeded",),
        min_files: int = 8,
    ) -> ProcessingTimeModel:
        """Fit per category on the files X processed whose interval is known.

        A category needs `min_files` files (and sizes that differ) for a fit, else it keeps
        the defaults, said in `source`. With a `duration_s` column, the form with duration is
        fitted too, on the files that have one.
        """
        from ._latency import processing_estimate

        if min_files < 3:
            raise ConfigurationError("min_files must be at least 3 (three coefficients)")
        frame = items if states is None else items[items["state"].isin(list(states))]
        low = frame["processing_s_min"].to_numpy(dtype=np.float64, na_value=np.nan)
        high = frame["processing_s_max"].to_numpy(dtype=np.float64, na_value=np.nan)
        y_all = processing_estimate(low, high, estimate)
        mib_all = frame["bytes"].to_numpy(dtype=np.float64, na_value=np.nan) / MiB
        if "duration_s" in frame.columns:
            duration_all = frame["duration_s"].to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            duration_all = np.full(len(frame), np.nan)
        categories = frame["media_category"].astype(object).to_numpy()
        usable = np.isfinite(low) & np.isfinite(high) & np.isfinite(mib_all)
        fits: list[LinearFit] = []
        used = 0
        for category in sorted({str(c) for c in categories[usable] if c in ASYNC_CATEGORIES}):
            rows = usable & (categories == category)
            n = int(rows.sum())
            mib, y, duration = mib_all[rows], y_all[rows], duration_all[rows]
            simple = np.column_stack([np.ones(n), mib])
            if n < min_files or not _full_rank(simple):
                why = f"only {n} files" if n < min_files else "every file the same size"
                fits += _default_fits(category, f"default ({why} in the history)")
                continue
            used += n
            timed = np.isfinite(duration)
            full = np.column_stack([np.ones(n), mib, duration])[timed]
            if timed.sum() >= min_files and _full_rank(full):
                fits.append(_fit(category, "bytes + duration", full, y[timed]))
            fits.append(_fit(category, "bytes", simple, y))
        batches = frame["batch_id"].nunique() if "batch_id" in frame.columns else 1
        note = f"fitted on {used} processed files from {batches} batch(es)"
        return cls(tuple(fits), estimate, note)

    # predictions

    def fit_for(self, category: str, *, with_duration: bool) -> LinearFit | None:
        """The line used for `category` (None: X does not process it)."""
        if category not in CATEGORIES:
            raise ConfigurationError(
                f"unknown media category {category!r} (one of {', '.join(CATEGORIES)})"
            )
        if category not in ASYNC_CATEGORIES:
            return None
        own = [f for f in self.fits if f.category == category]
        if not own:
            own = [f for f in DEFAULTS.fits if f.category == category]
        if with_duration:
            for fit in own:
                if fit.inputs == "bytes + duration":
                    return fit
        return next(f for f in own if f.inputs == "bytes")

    def _each(
        self, size: Any, duration_s: Any, category: Any, which: str, coverage: float = 0.9
    ) -> Any:
        sizes, durations, categories = np.broadcast_arrays(
            np.asarray(size, dtype=np.float64),
            np.asarray(np.nan if duration_s is None else duration_s, dtype=np.float64),
            np.asarray(category, dtype=object),
        )
        out = np.zeros(sizes.shape, dtype=np.float64)
        z = NormalDist().inv_cdf(0.5 + coverage / 2)
        for name in {str(c) for c in categories.ravel()}:
            for timed in (True, False):
                rows = (categories == name) & (np.isfinite(durations) == timed)
                if not rows.any():
                    continue
                fit = self.fit_for(name, with_duration=timed)
                if fit is None:
                    continue  # not processed: 0 s
                seconds = fit.predict(sizes[rows] / MiB, durations[rows] if timed else None)
                if which == "low":
                    seconds = np.maximum(seconds - z * fit.residual_sd_s, 0.0)
                elif which == "high":
                    seconds = seconds + z * fit.residual_sd_s
                out[rows] = seconds
        return float(out) if out.ndim == 0 else out

    def predict(
        self, size: Any, duration_s: Any = None, category: Any = "tweet_video"
    ) -> float | np.ndarray[Any, np.dtype[np.float64]]:
        """Seconds X is expected to process a file of `size` bytes (and `duration_s` video
        seconds, None or NaN when unknown) in `category`; scalars or arrays."""
        result: float | np.ndarray[Any, np.dtype[np.float64]] = self._each(
            size, duration_s, category, "point"
        )
        return result

    def band(
        self,
        size: Any,
        duration_s: Any = None,
        category: Any = "tweet_video",
        coverage: float = 0.9,
    ) -> tuple[Any, Any]:
        """(low, high) seconds: the prediction ± z × the robust residual sd (90 % by default,
        assuming near-normal residuals; see `table` for the empirical percentiles)."""
        if not 0 < coverage < 1:
            raise ConfigurationError("coverage must lie between 0 and 1")
        return (
            self._each(size, duration_s, category, "low", coverage),
            self._each(size, duration_s, category, "high", coverage),
        )

    # display

    @property
    def table(self) -> pd.DataFrame:
        """One row per category and form: files, coefficients, residual spread, source."""
        import pandas as pd

        rows = [fit.row() for fit in self.fits]
        columns = list(LinearFit.row(_default_fits("tweet_video")[0]))
        frame = pd.DataFrame(rows, columns=columns).set_index(["category", "inputs"])
        frame["files"] = frame["files"].astype("int64")
        frame["source"] = frame["source"].astype("string")
        frame.attrs["estimate"] = self.estimate
        frame.attrs["note"] = self.note
        return frame

    def summary(self) -> str:
        from ._latency import describe_estimate

        return (
            "processing_s ≈ intercept_s + s_per_mib × MiB + s_per_video_s × video seconds, "
            f"fitted to the {describe_estimate(self.estimate)}; {self.note}"
        )

    def __repr__(self) -> str:
        return f"<ProcessingTimeModel {self.summary()}>\n{self.table.to_string()}"

    def _repr_html_(self) -> str:
        from html import escape

        return f"<p><b>Processing-time model:</b> {escape(self.summary())}</p>" + str(
            self.table.to_html(float_format=lambda v: f"{v:.3g}")
        )


DEFAULTS = ProcessingTimeModel(
    tuple(fit for category in DEFAULT_CONSTANTS for fit in _default_fits(category))
)


def predict_processing_s(
    size: Any,
    duration_s: Any = None,
    category: Any = "tweet_video",
    *,
    model: ProcessingTimeModel | None = None,
) -> float | np.ndarray[Any, np.dtype[np.float64]]:
    """`model.predict(...)`, the defaults when no model is given (no history yet)."""
    return (model or DEFAULTS).predict(size, duration_s, category)
