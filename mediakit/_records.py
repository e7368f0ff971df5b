"""The records everything downstream is built from: one `Event` per HTTP attempt, one
`FileRecord` per file of a batch. Sinks (journal, DataFrames, progress) only read them.

Timestamps are epoch seconds of the batch's clock; `_frames` turns them into UTC datetimes.
Media ids are strings, always: a 19-digit id does not survive a float.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "COMMANDS",
    "FAILED_STATES",
    "FILE_STATES",
    "FINAL_STATES",
    "OK_STATES",
    "PROCESSING_DONE",
    "PROCESSING_STATES",
    "Event",
    "FileRecord",
    "FileState",
    "display_path",
    "frame_path",
]

# The one vocabulary: every module names commands and states from here.
COMMANDS = ("INIT", "APPEND", "FINALIZE", "STATUS", "UPLOAD", "METADATA")
"""What an HTTP attempt was for, in the order a file goes through them."""
PROCESSING_STATES = ("pending", "in_progress", "succeeded", "failed")
"""X's `processing_info.state` values."""
PROCESSING_DONE = frozenset({"succeeded", "failed"})
"""The `processing_info.state` values after which X's processing is over."""
FileState = Literal[
    "queued",
    "repairing",
    "uploading",
    "processing",
    "succeeded",
    "failed",
    "invalid",
    "skipped",
    "cancelled",
]
FILE_STATES: tuple[FileState, ...] = (
    "queued",
    "repairing",  # fix=True: re-encoded in a worker process before it is queued to upload
    "uploading",
    "processing",
    "succeeded",
    "failed",
    "invalid",
    "skipped",
    "cancelled",
)
"""Every state a file of a batch can be in, in the order a file goes through them."""
FINAL_STATES: frozenset[FileState] = frozenset(
    {"succeeded", "failed", "invalid", "skipped", "cancelled"}
)
"""A file in one of these is done: it never changes state again in this batch."""
OK_STATES: frozenset[FileState] = frozenset({"succeeded", "skipped"})
"""Done and usable: its media id can be attached to a Post (`skipped`: uploaded earlier)."""
FAILED_STATES: frozenset[FileState] = frozenset({"failed", "invalid"})
"""Done and not uploaded: X refused it (`failed`) or it could not be sent (`invalid`)."""


def frame_path(path: str | os.PathLike[str]) -> str:
    """`path` as every frame holds it (items, plan.files, preflight, repair): absolute, so
    rows of different frames, and of batches run from other folders, join on it."""
    text = os.fspath(path)
    return str(Path(text).absolute()) if text else text  # keeps `..`, as resumes match on it


def display_path(path: str) -> str:
    """`path` as text that any output can hold: a name that is not valid UTF-8 (kept by
    Python with surrogate escapes) shows its undecodable bytes as ``\\xNN``."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    return path


# Slots: a batch keeps every event and record (thousands), and a __dict__ each cost ~1 KB.
@dataclass(slots=True)
class Event:
    """One HTTP attempt (a retry is another event), with what its answer said."""

    batch_id: str
    file_id: int | None
    path: str | None
    command: str
    attempt: int
    started_at: float
    finished_at: float | None = None
    segment_index: int | None = None
    http_status: int | None = None
    bytes_sent: int | None = None
    ok: bool | None = None
    media_id: str | None = None
    media_key: str | None = None
    state: str | None = None
    progress_percent: int | None = None
    check_after_secs: int | None = None
    size: int | None = None
    expires_after_secs: int | None = None
    expires_at: float | None = None
    error_code: str | None = None
    error_name: str | None = None
    error_message: str | None = None
    rate_limit_limit: int | None = None
    rate_limit_remaining: int | None = None
    rate_limit_reset: float | None = None
    transaction_id: str | None = None
    response: str | None = None  # the raw JSON body, as text

    @property
    def elapsed_s(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at


@dataclass(slots=True)
class FileRecord:
    """One file of a batch: what it is, how it was planned, and how it ended."""

    batch_id: str
    file_id: int
    path: str
    bytes: int | None = None
    mtime: float | None = None
    media_type: str | None = None
    media_category: str | None = None
    segments: int | None = None
    chunk_size: int | None = None
    target: str = ""
    api: str = "v2"
    state: FileState = "queued"
    media_id: str | None = None
    media_key: str | None = None
    started_at: float | None = None
    uploaded_at: float | None = None  # FINALIZE answered
    finished_at: float | None = None
    expires_at: float | None = None
    error_code: str | None = None
    error_name: str | None = None
    error_message: str | None = None
    progress_percent: int | None = None
    phase: str | None = None  # what it is doing now: INIT, APPEND, FINALIZE, STATUS, METADATA
    segments_done: int = 0
    bytes_done: int = 0
    retries: int = 0
    status_polls: int = 0
    # INIT attempts whose answer was lost: sessions X may hold that nobody will finish.
    orphan_sessions: int = 0
    alt_text: str | None = None
    sha256: str | None = None  # only with content_hash=True: then the identity for resume
    # fix=True: the original's size (the identity for resume, with path and mtime) beside what
    # was uploaded (`bytes`, `repaired_path`); `repair` says what was done, in words.
    source_bytes: int | None = None
    repaired: bool = False
    repair: str | None = None
    repaired_path: str | None = None
    user_columns: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES
