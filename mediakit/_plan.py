"""`plan`: what a batch will ask of X before anything is sent.

Requests per endpoint against X's 15-minute per-user budgets, segments per file, and the
windows the budget alone forces (a batch of 3,000 one-segment images needs two INIT windows
whatever the bandwidth). STATUS polls cannot be known in advance: they are estimated from a
typical processing time and X's usual `check_after_secs`, and shown as an estimate.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._limits import X_USER_RATE_LIMITS
from ._media import DEFAULT_CHUNK, FileCheck, discover, inspect_file

if TYPE_CHECKING:
    import pandas as pd

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

    @property
    def files(self) -> pd.DataFrame:
        import pandas as pd

        rows = [
            {
                "path": str(c.path),
                "bytes": c.size,
                "media_type": c.media_type,
                "media_category": c.category,
                "chunk_size": c.chunk_size,
                "segments": c.segments,
                "ok": c.ok,
                "problem": c.problem,
            }
            for c in self.checks
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
) -> UploadPlan:
    """What uploading `files` (a folder, paths, or a DataFrame with `path`) will ask of X."""
    checks: list[FileCheck]
    alt_texts = 0
    if isinstance(files, str | os.PathLike) and Path(files).is_dir():
        checks = discover(
            files, pattern, recursive, category=category, chunk_size=chunk_size, dm=dm
        )
    else:
        from ._api import _rows

        rows = _rows(files)
        alt_texts = sum(1 for row in rows if row.get("alt_text"))
        checks = [
            inspect_file(
                Path(row["path"]),
                category=str(row.get("category") or category),
                chunk_size=chunk_size,
                dm=dm,
            )
            for row in rows
        ]
    good = [c for c in checks if c.ok]
    processed = sum(1 for c in good if c.kind in ("video", "gif"))
    requests = {
        "INIT": len(good),
        "APPEND": sum(c.segments or 0 for c in good),
        "FINALIZE": len(good),
        "STATUS": processed * ESTIMATED_POLLS_PER_PROCESSED_FILE,
        "METADATA": alt_texts,
    }
    return UploadPlan(tuple(checks), requests, dict(budgets or X_USER_RATE_LIMITS), alt_texts)
