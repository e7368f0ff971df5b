"""`plan`: what a batch will ask of X before anything is sent, and how long it should take.

Requests per endpoint against X's 15-minute per-user budgets, segments per file, and the
windows the budget alone forces (a batch of 3,000 one-segment images needs two INIT windows
whatever the bandwidth). STATUS polls cannot be known in advance: they are estimated from the
polls per processed file your history shows (else a typical 4), and shown as an estimate.
`estimated_s` simulates the batch (see `_forecast`) with your journal history's processing
model and upload speed when there is one, else documented defaults; `estimate.assumptions`
says which.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._check import whole_number
from ._concurrency import adaptive_start
from ._limits import ASYNC_CATEGORIES, X_USER_RATE_LIMITS, Limits
from ._media import DEFAULT_CHUNK, FileCheck
from ._records import frame_path

if TYPE_CHECKING:
    import pandas as pd

    from ._forecast import BatchEstimate
    from ._result import UploadResult

__all__ = ["UploadPlan", "plan"]

WINDOW_S = 15 * 60
# A processed video or GIF: about 10 s of processing polled every 2-3 s (field captures).
ESTIMATED_POLLS_PER_PROCESSED_FILE = 4


@dataclass(frozen=True)
class UploadPlan:
    """The requests a batch needs, per endpoint and per file, before anything is sent."""

    checks: tuple[FileCheck, ...]
    requests: Mapping[str, int]
    budgets: Mapping[str, int]
    alt_texts: int
    estimate: BatchEstimate | None = None
    fixable: tuple[bool, ...] = ()  # per check: preflight refuses it, and fix=True repairs it

    @property
    def estimated_s(self) -> float | None:
        """Seconds the batch should take (see `estimate.assumptions` for on what grounds)."""
        return None if self.estimate is None else self.estimate.seconds

    @property
    def files(self) -> pd.DataFrame:
        import pandas as pd

        fixable = self.fixable or (False,) * len(self.checks)
        rows = [
            {
                "path": frame_path(c.path),
                "bytes": c.size,
                "media_type": c.media_type,
                "media_category": c.category,
                "chunk_size": c.chunk_size,
                "segments": c.segments,
                "ok": c.ok,
                "problem": c.problem,
                "fixable": fix,
            }
            for c, fix in zip(self.checks, fixable, strict=True)
        ]
        frame = pd.DataFrame(
            rows,
            columns=[
                "path",
                "bytes",
                "media_type",
                "media_category",
                "chunk_size",
                "segments",
                "ok",
                "problem",
                "fixable",
            ],
        )
        return frame.astype(
            {
                "path": "string",
                "bytes": "Int64",
                "media_type": "string",
                "media_category": "string",
                "chunk_size": "Int64",
                "segments": "Int32",
                "ok": "boolean",
                "problem": "string",
                "fixable": "boolean",
            }
        )

    @property
    def endpoints(self) -> pd.DataFrame:
        """Requests per endpoint, the 15-minute budget, and the windows it forces."""
        import pandas as pd

        rows = []
        for command, count in self.requests.items():
            budget = self.budgets.get(command)
            rows.append(
                {
                    "command": command,
                    "requests": count,
                    "estimated": command == "STATUS",
                    "budget_per_15min": budget,
                    "windows": _windows(count, budget),
                }
            )
        return pd.DataFrame(rows).astype(
            {
                "command": "string",
                "requests": "Int64",
                "estimated": "boolean",
                "budget_per_15min": "Int64",
                "windows": "Int64",
            }
        )

    @property
    def windows(self) -> int:
        """How many 15-minute windows the busiest endpoint needs."""
        return max((_windows(n, self.budgets.get(c)) for c, n in self.requests.items()), default=0)

    @property
    def min_duration_s(self) -> float:
        """The shortest the batch can take on the rate budget alone."""
        return max(0, self.windows - 1) * WINDOW_S

    def summary(self) -> str:
        ok = sum(1 for c in self.checks if c.ok)
        bad = len(self.checks) - ok
        size = sum(c.size or 0 for c in self.checks if c.ok)
        parts = [f"{ok} files to upload ({size / 1e6:,.1f} MB)"]
        if bad:
            parts.append(f"{bad} that cannot be uploaded (see plan.files)")
        busiest = max(
            self.requests,
            key=lambda c: self.requests[c] / self.budgets.get(c, 1) if self.budgets.get(c) else 0,
            default=None,
        )
        if busiest is not None and self.windows > 1:
            parts.append(
                f"{self.requests[busiest]:,} {busiest} requests need {self.windows} 15-minute "
                f"windows (at least {self.min_duration_s / 60:.0f} min)"
            )
        else:
            parts.append("fits in one 15-minute rate-limit window")
        if self.estimate is not None and ok:
            parts.append(f"{self.estimate.describe()} ({self.estimate.assumptions[0]})")
        return "; ".join(parts)

    def __repr__(self) -> str:
        return f"<UploadPlan {self.summary()}>"

    def _repr_html_(self) -> str:
        from html import escape

        return f"<p><b>Upload plan:</b> {escape(self.summary())}</p>" + self.endpoints.to_html(
            index=False
        )


def _windows(count: int, budget: int | None) -> int:
    if not budget or not count:
        return 0 if not count else 1
    return math.ceil(count / budget)


def plan(
    files: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | Any,
    *,
    pattern: str = "*",
    recursive: bool = True,
    category: str = "auto",
    chunk_size: int = DEFAULT_CHUNK,
    dm: bool = False,
    budgets: Mapping[str, int] | None = None,
    concurrency: int | None = None,
    history: UploadResult
    | pd.DataFrame
    | str
    | os.PathLike[str]
    | Sequence[str | os.PathLike[str]]
    | bool
    | None = None,
    target: str = "emulator",
    limits: Limits | None = None,
) -> UploadPlan:
    """What uploading `files` will ask of X before anything is sent, and how long it should
    take (`estimated_s`).

    Args:
        files: a folder, paths, or a DataFrame with a `path` column (its `alt_text` rows
            count as metadata requests; a `duration_s` column feeds the estimate).
        pattern: for a folder, a glob file names must match.
        recursive: for a folder, include sub-folders.
        category: "auto" or one of X's media categories.
        chunk_size: bytes per APPEND.
        dm: with category "auto", the dm_ categories.
        budgets: requests per 15 minutes per command (default: X's published budgets).
        concurrency: files uploading at once, for the estimate. None (the default) assumes
            what an adaptive batch starts with: 8 files, or every video and GIF at once (up
            to 32); a batch only widens from there, so the estimate errs long.
        history: where the estimate learns from: None reads every batch of the default
            journal (when there is one), or give journal file(s), an `UploadResult` or an
            items frame; False uses the documented defaults.
        target: only history uploaded to this target counts ("emulator", "x" or a base URL,
            as `result.target` says).
        limits: the `Limits` preflight judges by, as the upload functions' `limits=`.

    Returns:
        An `UploadPlan`: requests per endpoint, the windows they need, one row per file, and
        the estimate with its assumptions.

    Raises:
        MediaError: a folder that cannot be read.
        ConfigurationError: a bad argument (named).
    """
    from ._fix import decide, preflight_folder, preflight_rows
    from ._inputs import checked_path, rows_of

    whole_number("chunk_size", chunk_size, minimum=1)
    alt_texts = 0
    durations: dict[str, float] = {}
    # The batch's own preflight: what it would refuse, plan counts as not uploaded.
    if isinstance(files, str | os.PathLike) and Path(files).is_dir():
        judged = preflight_folder(
            files,
            pattern,
            recursive,
            category=category,
            chunk_size=chunk_size,
            dm=dm,
            limits=limits,
        )
    else:
        rows = rows_of(files)
        alt_texts = sum(1 for row in rows if row.get("alt_text"))
        durations = {
            str(Path(row["path"])): float(row["duration_s"])
            for row in rows
            if row.get("duration_s") is not None and checked_path(row.get("path"))[0]
        }
        judged = preflight_rows(
            rows, category=category, chunk_size=chunk_size, dm=dm, limits=limits
        )
    decided, _ = decide(judged, fix=False)
    checks = [
        check
        if check is not None
        else FileCheck(Path(str(row.get("path"))), problem=checked_path(row.get("path"))[1])
        for check, row in decided
    ]
    for verdict, _row in judged:  # the probed duration, where the input gave none
        if verdict is not None and verdict.info is not None and verdict.info.duration_s:
            durations.setdefault(str(verdict.path), verdict.info.duration_s)
    fixable = tuple(verdict is not None and verdict.fixable for verdict, _row in judged)
    from ._forecast import PlannedFile, estimate_batch, load_history  # numpy: only when used

    good = [c for c in checks if c.ok]
    processed = sum(1 for c in good if c.kind in ("video", "gif"))
    known = load_history(history, target=target)
    polls = known.polls_per_file or ESTIMATED_POLLS_PER_PROCESSED_FILE
    requests = {
        "INIT": len(good),
        "APPEND": sum(c.segments or 0 for c in good),
        "FINALIZE": len(good),
        "STATUS": math.ceil(processed * polls),
        "METADATA": alt_texts,
    }
    result = UploadPlan(
        tuple(checks),
        requests,
        dict(budgets or X_USER_RATE_LIMITS),
        alt_texts,
        fixable=fixable,
    )
    planned = [
        PlannedFile(c.size or 0, c.category, c.kind, durations.get(str(c.path))) for c in good
    ]
    if concurrency is None:
        concurrency = adaptive_start(sum(f.category in ASYNC_CATEGORIES for f in planned))
    whole_number("concurrency", concurrency, minimum=1)
    estimate = estimate_batch(
        planned, known, concurrency=concurrency, rate_limit_floor_s=result.min_duration_s
    )
    return replace(result, estimate=estimate)
