"""What a batch is given, turned into one checked input per file.

Paths, a folder, or a DataFrame with a `path` column (plus `alt_text`, `category` and any
columns of the user's, carried into `items`). Bad input never stops a batch: a path that is
not text (None, NaN, a number, bytes), is empty or holds a NUL byte becomes an `invalid` row
that says why, and the rest go on. The same file given twice (the same path, or two paths to
one file through symlinks or hard links) is uploaded once: the copy ends with the first one's
outcome ("same file as row N"). Names that are not valid UTF-8 upload as they are; records keep
them exactly (Python's surrogate escapes) and show them readably (`display_path`).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from ._batch import BatchInput
from ._check import describe
from ._errors import ConfigurationError, ConfigurationTypeError
from ._media import FileCheck
from ._records import FileRecord, frame_path

__all__ = [
    "Row",
    "checked_path",
    "dedupe",
    "hash_files",
    "make_inputs",
    "rows_of",
    "sendable",
]

Row = dict[str, Any]
_NOT_USER_COLUMNS = ("path", "category")


def rows_of(files: Any) -> list[Row]:
    """One row per file from paths, a Series of paths, or a DataFrame with a `path` column.

    Raises:
        ConfigurationError: a DataFrame without a `path` column, or with two of them.
        ConfigurationTypeError: something that is neither paths nor a DataFrame.
    """
    if type(files).__module__.startswith("pandas"):  # no pandas import otherwise
        import pandas as pd

        if isinstance(files, pd.Series):
            return [{"path": path} for path in files.tolist()]
        if not isinstance(files, pd.DataFrame):
            raise ConfigurationTypeError(
                f"files must be paths or a DataFrame with a 'path' column, not {describe(files)}"
            )
        names = [str(c) for c in files.columns]
        if names.count("path") != 1:
            raise ConfigurationError(
                "a DataFrame of files needs exactly one 'path' column"
                + (f" (it has {names.count('path')})" if names.count("path") else "")
            )
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ConfigurationError(f"a DataFrame of files has columns named twice: {twice}")
        rows = files.to_dict("records")
        return [{str(k): (None if _is_missing(v) else v) for k, v in row.items()} for row in rows]
    if isinstance(files, str | os.PathLike):
        return [{"path": files}]
    if isinstance(files, bytes) or not isinstance(files, Iterable):
        raise ConfigurationTypeError(
            f"files must be paths or a DataFrame with a 'path' column, not {describe(files)}"
        )
    return [{"path": path} for path in files]


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        import pandas as pd

        return value is pd.NA or value is pd.NaT
    except ImportError:  # pragma: no cover - pandas is a dependency
        return False


def checked_path(value: object) -> tuple[str | None, str | None]:
    """(the path, None) for a usable path value, else (None, why it is not one)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None, "no path (the value is missing)"
    if isinstance(value, bytes):
        return None, (
            f"the path is bytes ({value[:60]!r}), not text: decode it first, e.g. with "
            "os.fsdecode(path)"
        )
    if not isinstance(value, str):
        return None, f"the path must be text, not {type(value).__name__} {value!r:.60}"
    if not value.strip():
        return None, "the path is empty"
    if "\x00" in value:
        return None, "the path contains a NUL byte, which no file name can hold"
    return value, None


def _shown_bad_path(value: object) -> str:
    if isinstance(value, str):
        return value.replace("\x00", "\\x00") or "''"
    return repr(value)


def make_inputs(
    checks: list[tuple[FileCheck | None, Row]],
    batch_id: str,
    target: str,
    api: str,
    *,
    repair: Collection[int] = (),
) -> list[BatchInput]:
    """One `BatchInput` per row; a row whose path was refused has `check` None here. The rows
    whose index is in `repair` are to be repaired before upload (fix=True)."""
    inputs = []
    for file_id, (check, row) in enumerate(checks):
        user = {k: v for k, v in row.items() if k not in _NOT_USER_COLUMNS}
        alt_text = user.get("alt_text")
        if check is None:  # the path itself was refused: say why, upload nothing
            _, problem = checked_path(row.get("path"))
            shown = _shown_bad_path(row.get("path"))
            check = FileCheck(Path(), problem=problem)
            path = shown
        else:
            path = frame_path(check.path)
        record = FileRecord(
            batch_id=batch_id,
            file_id=file_id,
            path=path,
            bytes=check.size,
            source_bytes=check.size,
            mtime=check.mtime,
            media_type=check.media_type,
            media_category=check.category,
            segments=check.segments,
            chunk_size=check.chunk_size,
            target=target,
            api=api,
            alt_text=str(alt_text) if alt_text else None,
            user_columns=user,
        )
        inputs.append(BatchInput(check, record, repair=file_id in repair))
    dedupe(inputs)
    return inputs


def sendable(item: BatchInput) -> bool:
    """Whether the input will be sent: as it is, or once repaired (fix=True)."""
    return item.check.ok or item.repair


def dedupe(inputs: list[BatchInput]) -> None:
    """Mark every later input that is the same file as an earlier one (`same_as`)."""
    first: dict[tuple[int, int] | str, int] = {}
    for item in inputs:
        if not sendable(item):
            continue
        try:
            st = os.stat(item.record.path)
            key: tuple[int, int] | str = (st.st_dev, st.st_ino)
        except OSError:
            key = os.path.realpath(item.record.path)
        if key in first:
            item.same_as = first[key]
        else:
            first[key] = item.record.file_id


def hash_files(inputs: list[BatchInput]) -> None:
    """SHA-256 of each uploadable file, read in 1 MiB blocks (never whole in memory)."""
    for item in inputs:
        if not sendable(item) or item.same_as is not None:
            continue
        digest = hashlib.sha256()
        try:
            with open(item.record.path, "rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
        except OSError:
            continue  # the upload will meet the same error and report it on the row
        item.record.sha256 = digest.hexdigest()
