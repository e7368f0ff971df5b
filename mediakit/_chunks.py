"""Chunk bytes on their way out: the threads that read them, the buffers that carry them."""

from __future__ import annotations

import concurrent.futures
import io
import os
from collections.abc import Mapping

__all__ = ["Parts", "close_parts", "open_parts", "reader"]

_READERS: concurrent.futures.ThreadPoolExecutor | None = None


def reader() -> concurrent.futures.ThreadPoolExecutor:
    """The threads that read chunks from disk: few, so their memory is few malloc arenas.

    Chunks read in many threads and freed in the loop's thread fragment glibc's per-thread
    arenas, and the process keeps several chunks' worth of memory it no longer uses.
    """
    global _READERS
    if _READERS is None:
        _READERS = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="mediakit-read")
    return _READERS


def _forget_readers() -> None:
    # A forked child inherits the executor but not its threads: it would wait forever.
    global _READERS
    _READERS = None


os.register_at_fork(after_in_child=_forget_readers)


Parts = dict[str, tuple[str, io.BytesIO, str]] | None


def open_parts(files: Mapping[str, tuple[str, bytes, str]] | None) -> Parts:
    if not files:
        return None
    return {
        name: (filename, io.BytesIO(data), kind) for name, (filename, data, kind) in files.items()
    }


def close_parts(parts: Parts) -> None:
    for _name, (_filename, buffer, _kind) in (parts or {}).items():
        buffer.close()
