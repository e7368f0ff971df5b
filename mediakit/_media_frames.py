"""The frames of `preflight` and `repair`: one row per file, their schemas declared once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._frames import Dtype, _array
from ._limits import CATEGORIES
from ._records import frame_path

if TYPE_CHECKING:
    from ._preflight import Verdict
    from ._repair import RepairResult

__all__ = ["PREFLIGHT_SCHEMA", "REPAIR_SCHEMA", "preflight_frame", "repair_frame"]

_STRING = pd.StringDtype()
_FLOAT = np.dtype("float64")

_LISTS = np.dtype(object)  # a list of strings per row (problems, hints)

PREFLIGHT_SCHEMA: Mapping[str, Dtype] = MappingProxyType(
    {
        "path": _STRING,
        "media_type": _STRING,
        "category": pd.CategoricalDtype(list(CATEGORIES)),
        "bytes": pd.Int64Dtype(),
        "width": pd.Int32Dtype(),
        "height": pd.Int32Dtype(),
        "duration_s": pd.Float64Dtype(),
        "fps": pd.Float64Dtype(),
        "frames": pd.Int64Dtype(),
        "video_codec": _STRING,
        "profile": _STRING,
        "pix_fmt": _STRING,
        "audio_codec": _STRING,
        "audio_channels": pd.Int16Dtype(),
        "ok": pd.BooleanDtype(),
        "problems": _LISTS,
        "hints": _LISTS,
        "fixable": pd.BooleanDtype(),
    }
)
"""`mk.preflight`: one row per file, what was measured and every reason X would refuse it."""

REPAIR_SCHEMA: Mapping[str, Dtype] = MappingProxyType(
    {
        "path": _STRING,
        "state": pd.CategoricalDtype(["unchanged", "repaired", "reused", "failed"]),
        "repaired_path": _STRING,
        "repair": _STRING,
        "category": pd.CategoricalDtype(list(CATEGORIES)),
        "source_bytes": pd.Int64Dtype(),
        "bytes": pd.Int64Dtype(),
        "ok": pd.BooleanDtype(),
        "problems": _LISTS,
        "seconds": _FLOAT,
    }
)
"""`mk.repair`: one row per file, what was done and where the copy to upload is."""


def _lists(values: Sequence[Sequence[str]]) -> np.ndarray[Any, np.dtype[Any]]:
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = list(value)
    return out


def _typed(values: Mapping[str, Sequence[Any]], schema: Mapping[str, Dtype]) -> pd.DataFrame:
    arrays = {
        name: _lists(values[name]) if dtype is _LISTS else _array(values[name], dtype)
        for name, dtype in schema.items()
    }
    return pd.DataFrame(arrays, copy=False)


def preflight_frame(verdicts: Sequence[Verdict]) -> pd.DataFrame:
    """The `PREFLIGHT_SCHEMA` frame of these verdicts, in their order."""
    columns: dict[str, list[Any]] = {name: [] for name in PREFLIGHT_SCHEMA}
    for verdict in verdicts:
        check, info = verdict.check, verdict.info
        row = {
            "path": frame_path(check.path),
            "media_type": check.media_type,
            "category": check.category,
            "bytes": check.size,
            "width": info.width if info else None,
            "height": info.height if info else None,
            "duration_s": info.duration_s if info else None,
            "fps": info.fps if info else None,
            "frames": info.frames if info else None,
            "video_codec": info.video_codec if info else None,
            "profile": info.profile if info else None,
            "pix_fmt": info.pixel_format if info else None,
            "audio_codec": info.audio_codec if info else None,
            "audio_channels": info.audio_channels if info else None,
            "ok": verdict.ok,
            "problems": [p.message for p in verdict.problems],
            "hints": list(verdict.hints),
            "fixable": verdict.fixable,
        }
        for name, value in row.items():
            columns[name].append(value)
    return _typed(columns, PREFLIGHT_SCHEMA)


def repair_frame(results: Sequence[RepairResult]) -> pd.DataFrame:
    """The `REPAIR_SCHEMA` frame of these repair results, in their order."""
    columns: dict[str, list[Any]] = {name: [] for name in REPAIR_SCHEMA}
    for result in results:
        row = {
            "path": frame_path(result.path),
            "state": result.state,
            "repaired_path": frame_path(result.repaired) if result.repaired is not None else None,
            "repair": result.repair or None,
            "category": result.category,
            "source_bytes": result.source_bytes,
            "bytes": result.bytes,
            "ok": result.ok,
            "problems": list(result.problems),
            "seconds": result.seconds,
        }
        for name, value in row.items():
            columns[name].append(value)
    return _typed(columns, REPAIR_SCHEMA)
