"""The public batch functions: `upload_files`, `upload_folder` and their async twins.

Every one takes the same options (`UploadOptions`, as keywords or `options=`), checked before
anything else happens; the sync ones block and return an `UploadResult`, or with `wait=False`
return an `UploadJob` at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, Unpack, overload

from ._check import instance_of
from ._errors import MediaError
from ._fix import preflight_folder, preflight_rows, repair_options
from ._inputs import rows_of
from ._options import UploadKwargs, UploadOptions, resolve_options
from ._result import UploadJob, UploadResult
from ._run import make_view, run_batch

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FilesInput",
    "upload_files",
    "upload_files_async",
    "upload_folder",
    "upload_folder_async",
]

FilesInput: TypeAlias = "str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | pd.DataFrame"
"""Paths (one or many), or a DataFrame with a `path` column (plus alt_text, category, …)."""
OnBatch = Callable[[Callable[[], UploadResult]], None]


async def upload_files_async(
    files: FilesInput,
    *,
    options: UploadOptions | None = None,
    _on_batch: OnBatch | None = None,
    **kwargs: Unpack[UploadKwargs],
) -> UploadResult:
    """Upload files and return every outcome (the coroutine behind `upload_files`).

    Args:
        files: paths, or a DataFrame with a `path` column; its `alt_text` is set after
            upload, its `category` overrides the option per file, and every other column is
            carried into `result.items`.
        options: prepared `UploadOptions`; keyword options given beside it win.
        **kwargs: any `UploadOptions` field (target, concurrency, progress, journal, …).

    Returns:
        The `UploadResult`: one row per file in `items`, every HTTP attempt in `events`.

    Raises:
        ConfigurationError: a bad option (named), or a DataFrame without one `path` column.
        CredentialsError: `target="x"` without usable credentials.
        JournalError: the journal cannot be used (not a journal, damaged, read-only);
            nothing was sent.
        TransportError: the server could not be reached at all (its `result` holds the
            batch as recorded).

    Files that cannot be uploaded never raise: preflight judges every file first, and what
    X would refuse is never sent: it ends `invalid` with the reasons and what to do, or with
    `fix=True` is repaired (a copy, in a worker process) and the copy uploaded.
    """
    resolved = resolve_options("upload_files", options, kwargs)
    rows = rows_of(files)
    judged = await asyncio.to_thread(
        preflight_rows,
        rows,
        category=resolved.category,
        chunk_size=resolved.chunk_size,
        dm=resolved.dm,
        limits=resolved.limits,
        options=repair_options(resolved.gif, resolved.max_duration),
    )
    return await run_batch(judged, resolved, on_batch=_on_batch)


async def upload_folder_async(
    folder: str | os.PathLike[str],
    *,
    pattern: str = "*",
    recursive: bool = True,
    options: UploadOptions | None = None,
    _on_batch: OnBatch | None = None,
    **kwargs: Unpack[UploadKwargs],
) -> UploadResult:
    """Upload every media file in a folder (the coroutine behind `upload_folder`).

    Args:
        folder: the folder; hidden files and folders are skipped, symlinks followed (each
            real file and folder once).
        pattern: a glob that file names must match, e.g. "*.mp4".
        recursive: include sub-folders.
        options: prepared `UploadOptions`; keyword options given beside it win.
        **kwargs: any `UploadOptions` field.

    Returns:
        The `UploadResult`.

    Raises:
        MediaError: `folder` is missing, not a folder, or cannot be read.
        ConfigurationError: a bad option (named).
        JournalError: the journal cannot be used (not a journal, damaged, read-only);
            nothing was sent.
        TransportError: the server could not be reached at all.
    """
    resolved = resolve_options("upload_folder", options, kwargs)
    instance_of("pattern", pattern, str, "a glob such as '*.mp4'")
    instance_of("recursive", recursive, bool, "True or False")
    judged = await asyncio.to_thread(
        preflight_folder,
        folder,
        pattern,
        recursive,
        category=resolved.category,
        chunk_size=resolved.chunk_size,
        dm=resolved.dm,
        limits=resolved.limits,
        options=repair_options(resolved.gif, resolved.max_duration),
    )
    return await run_batch(judged, resolved, on_batch=_on_batch)


@overload
def upload_files(
    files: FilesInput,
    *,
    wait: Literal[True] = ...,
    options: UploadOptions | None = ...,
    **kwargs: Unpack[UploadKwargs],
) -> UploadResult: ...
@overload
def upload_files(
    files: FilesInput,
    *,
    wait: Literal[False],
    options: UploadOptions | None = ...,
    **kwargs: Unpack[UploadKwargs],
) -> UploadJob: ...
def upload_files(
    files: FilesInput,
    *,
    wait: bool = True,
    options: UploadOptions | None = None,
    **kwargs: Unpack[UploadKwargs],
) -> UploadResult | UploadJob:
    """Upload files (paths, or a DataFrame with a `path` column) and return every outcome.

    Goes to the built-in emulator unless `target="x"` or `credentials=` (X) or `base_url=`
    (any other server) says otherwise. Blocks until done (in Jupyter too, with the dashboard);
    `wait=False` returns an `UploadJob` at once while the upload goes on.

    Args:
        files: paths, or a DataFrame with a `path` column (see `upload_files_async`).
        wait: False to return an `UploadJob` at once and upload in the background.
        options: prepared `UploadOptions`; keyword options given beside it win.
        **kwargs: any `UploadOptions` field (target, concurrency, progress, journal, …).

    Returns:
        The `UploadResult`, or with `wait=False` the running `UploadJob`.

    Raises:
        ConfigurationError: a bad option (named), or a DataFrame without one `path` column.
        CredentialsError: `target="x"` without usable credentials.
        JournalError: the journal cannot be used (not a journal, damaged, read-only);
            nothing was sent.
        TransportError: the server could not be reached at all.
        KeyboardInterrupt: Ctrl-C or "interrupt kernel", once the batch has stopped cleanly
            (unfinished files end `cancelled`, and the journal has everything).
    """
    resolved = resolve_options("upload_files", options, kwargs)
    return _start(upload_files_async, files, wait, resolved)


@overload
def upload_folder(
    folder: str | os.PathLike[str],
    *,
    wait: Literal[True] = ...,
    pattern: str = ...,
    recursive: bool = ...,
    options: UploadOptions | None = ...,
    **kwargs: Unpack[UploadKwargs],
) -> UploadResult: ...
@overload
def upload_folder(
    folder: str | os.PathLike[str],
    *,
    wait: Literal[False],
    pattern: str = ...,
    recursive: bool = ...,
    options: UploadOptions | None = ...,
    **kwargs: Unpack[UploadKwargs],
) -> UploadJob: ...
def upload_folder(
    folder: str | os.PathLike[str],
    *,
    wait: bool = True,
    pattern: str = "*",
    recursive: bool = True,
    options: UploadOptions | None = None,
    **kwargs: Unpack[UploadKwargs],
) -> UploadResult | UploadJob:
    """Upload every media file in a folder and return every outcome.

    The built-in emulator unless the options say otherwise; blocks until done, or with
    `wait=False` returns an `UploadJob` at once.

    Args:
        folder: the folder; hidden files and folders are skipped, symlinks followed.
        wait: False to return an `UploadJob` at once and upload in the background.
        pattern: a glob that file names must match, e.g. "*.mp4".
        recursive: include sub-folders.
        options: prepared `UploadOptions`; keyword options given beside it win.
        **kwargs: any `UploadOptions` field.

    Returns:
        The `UploadResult`, or with `wait=False` the running `UploadJob`.

    Raises:
        MediaError: `folder` is missing, not a folder, or cannot be read.
        ConfigurationError: a bad option (named).
        JournalError: the journal cannot be used (not a journal, damaged, read-only);
            nothing was sent.
        TransportError: the server could not be reached at all.
        KeyboardInterrupt: Ctrl-C or "interrupt kernel", once the batch has stopped cleanly.
    """
    resolved = resolve_options("upload_folder", options, kwargs)
    try:
        os.stat(folder)
    except FileNotFoundError:
        raise MediaError(str(folder), "no such folder") from None
    except OSError:
        pass  # unreadable: `discover` says why, in the same words as for any other folder
    return _start(upload_folder_async, folder, wait, resolved, pattern=pattern, recursive=recursive)


def _start(
    function: Any, first: Any, wait: bool, options: UploadOptions, **extra: Any
) -> UploadResult | UploadJob:
    from ._sync import run_sync, start_background

    instance_of("wait", wait, bool, "True or False")
    holder: dict[str, Callable[[], UploadResult]] = {}
    if not wait:
        # On screen now, while the cell still runs: output sent after a cell has finished
        # does not reach it (the dashboard's updates do).
        view = make_view(options.progress)
        view.show()
        options = dataclasses.replace(options, progress=view)
    coro = function(
        first,
        options=options,
        _on_batch=lambda live: holder.setdefault("live", live),
        **extra,
    )
    if wait:
        result: UploadResult = run_sync(coro)
        return result
    run = start_background(coro)
    api = options.api

    def live() -> UploadResult:
        maker = holder.get("live")
        if maker is None:
            from ._clock import SystemClock

            return UploadResult(
                [],
                [],
                target="",
                api=api,
                batch_id="",
                clock=SystemClock(),
                started_at=None,
                finished_at=None,
            )
        return maker()

    # Read on the job's own thread, between two steps of the batch: never half-updated.
    return UploadJob(run, lambda: run.call(live))
