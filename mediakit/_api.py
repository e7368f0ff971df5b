"""The public batch functions: `upload_files`, `upload_folder` and their async twins."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, overload

from ._auth import Credentials
from ._batch import Batch, BatchInput, Resume, new_batch_id
from ._client import MediaClient, RetryPolicy
from ._clock import Clock
from ._errors import ConfigurationError, MediaError
from ._journal import Journal, default_journal_path
from ._media import DEFAULT_CHUNK, FileCheck, discover, inspect_file
from ._progress import make_progress
from ._records import Event, FileRecord
from ._result import UploadJob, UploadResult

if TYPE_CHECKING:
    import pandas as pd

    from ._http import httpx
    from ._target import Target
    from .emulator import Emulator

__all__ = [
    "upload_files",
    "upload_files_async",
    "upload_folder",
    "upload_folder_async",
]

Progress = Literal["auto", "widgets", "text", "none"]
FilesInput: TypeAlias = "Iterable[str | os.PathLike[str]] | pd.DataFrame"


def _rows(files: Any) -> list[dict[str, Any]]:
    """Paths or a DataFrame with a `path` column (plus alt_text, category, your columns)."""
    if type(files).__module__.startswith("pandas"):  # a DataFrame; no pandas import otherwise
        import pandas as pd

        if isinstance(files, pd.Series):
            return [{"path": path} for path in files.tolist()]
        if not isinstance(files, pd.DataFrame):
            raise ConfigurationError("pass paths or a DataFrame with a 'path' column")
        if "path" not in files.columns:
            raise ConfigurationError("a DataFrame of files needs a 'path' column")
        rows = files.to_dict("records")
        return [{str(k): (None if _is_missing(v) else v) for k, v in row.items()} for row in rows]
    if isinstance(files, str | os.PathLike):
        files = [files]
    return [{"path": path} for path in files]


def _is_missing(value: Any) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(value)) if not isinstance(value, list | tuple | dict) else False
    except (TypeError, ValueError):
        return False


RESUME_MARGIN_S = 60.0  # a media id about to expire is uploaded again


def _open_journal(journal: str | os.PathLike[str] | bool | None) -> Journal | None:
    if journal is False:
        return None
    if journal is None or journal is True:
        return Journal(default_journal_path())
    return Journal(Path(journal))


def _plan_resume(
    inputs: list[BatchInput], book: Journal, target: Target, now: float, *, force: bool
) -> None:
    """Skip what already succeeded, poll what was processing, continue live sessions."""
    if force:
        return
    for index, item in enumerate(inputs):
        record = item.record
        if not item.check.ok:
            continue
        prior = book.prior(
            record.path,
            record.bytes,
            record.mtime,
            target_key=target.key,
            account=target.account,
            sha256=record.sha256,
        )
        if prior is None or prior.media_id is None:
            continue
        alive = prior.expires_at is None or prior.expires_at > now + RESUME_MARGIN_S
        if prior.state in ("succeeded", "skipped") and alive and prior.expires_at is not None:
            record.state = "skipped"
            record.media_id, record.media_key = prior.media_id, prior.media_key
            record.expires_at = prior.expires_at
            record.finished_at = now
            record.error_message = None
        elif prior.finalized and prior.state in ("processing", "cancelled") and alive:
            inputs[index] = BatchInput(item.check, record, Resume("poll", prior.media_id))
        elif (
            not prior.finalized
            and prior.state in ("uploading", "cancelled")
            and (prior.session_expires_at or 0) > now + RESUME_MARGIN_S
        ):
            inputs[index] = BatchInput(
                item.check, record, Resume("append", prior.media_id, prior.acknowledged)
            )


def _hash_files(inputs: list[BatchInput]) -> None:
    """SHA-256 of each uploadable file, read in 1 MiB blocks (never whole in memory)."""
    for item in inputs:
        if not item.check.ok:
            continue
        digest = hashlib.sha256()
        try:
            with open(item.record.path, "rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
        except OSError:
            continue  # the upload will meet the same error and report it on the row
        item.record.sha256 = digest.hexdigest()


def _records(
    checks: list[tuple[FileCheck, dict[str, Any]]], batch_id: str, target: str, api: str
) -> list[BatchInput]:
    inputs = []
    for file_id, (check, row) in enumerate(checks):
        user = {k: v for k, v in row.items() if k not in ("path", "category")}
        alt_text = user.get("alt_text")
        record = FileRecord(
            batch_id=batch_id,
            file_id=file_id,
            path=str(Path(check.path).absolute()),
            bytes=check.size,
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
        inputs.append(BatchInput(check, record))
    return inputs


async def upload_files_async(
    files: FilesInput,
    *,
    target: str | None = None,
    credentials: Credentials | None = None,
    base_url: str | None = None,
    api: str = "v2",
    category: str = "auto",
    dm: bool = False,
    concurrency: int = 4,
    segment_concurrency: int = 3,
    chunk_size: int = DEFAULT_CHUNK,
    status_deadline_s: float = 3600.0,
    progress: Progress = "auto",
    clock: Clock | None = None,
    emulator: Emulator | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    request_timeout: float | None = None,
    verify: bool | str = True,
    journal: str | os.PathLike[str] | bool | None = None,
    force: bool = False,
    content_hash: bool = False,
    _on_batch: Any = None,
) -> UploadResult:
    """Upload files (paths, or a DataFrame with a `path` column) and return every outcome.

    Goes to the built-in emulator unless `target="x"` or `credentials=` (X) or `base_url=`
    (any other server) says otherwise.
    """
    rows = _rows(files)
    checks = await asyncio.to_thread(
        lambda: [
            (
                inspect_file(
                    Path(row["path"]),
                    category=str(row.get("category") or category),
                    chunk_size=chunk_size,
                    dm=dm,
                ),
                row,
            )
            for row in rows
        ]
    )
    return await _run(
        checks,
        target=target,
        credentials=credentials,
        base_url=base_url,
        api=api,
        concurrency=concurrency,
        segment_concurrency=segment_concurrency,
        chunk_size=chunk_size,
        status_deadline_s=status_deadline_s,
        progress=progress,
        clock=clock,
        emulator=emulator,
        transport=transport,
        retry=retry,
        request_timeout=request_timeout,
        verify=verify,
        journal=journal,
        force=force,
        content_hash=content_hash,
        on_batch=_on_batch,
    )


async def upload_folder_async(
    folder: str | os.PathLike[str],
    *,
    pattern: str = "*",
    recursive: bool = True,
    category: str = "auto",
    dm: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
    **options: Any,
) -> UploadResult:
    """Upload every media file in a folder (hidden files skipped; `pattern` filters names)."""
    found = await asyncio.to_thread(discover, folder, pattern, recursive)
    checks = [
        (
            check
            if (category == "auto" and chunk_size == DEFAULT_CHUNK and not dm) or not check.ok
            else inspect_file(check.path, category=category, chunk_size=chunk_size, dm=dm),
            {"path": str(check.path)},
        )
        for check in found
    ]
    on_batch = options.pop("_on_batch", None)
    return await _run(checks, chunk_size=chunk_size, on_batch=on_batch, **options)


async def _run(
    checks: list[tuple[FileCheck, dict[str, Any]]],
    *,
    target: str | None = None,
    credentials: Credentials | None = None,
    base_url: str | None = None,
    api: str = "v2",
    concurrency: int = 4,
    segment_concurrency: int = 3,
    chunk_size: int = DEFAULT_CHUNK,
    status_deadline_s: float = 3600.0,
    progress: Progress = "auto",
    clock: Clock | None = None,
    emulator: Emulator | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    request_timeout: float | None = None,
    verify: bool | str = True,
    journal: str | os.PathLike[str] | bool | None = None,
    force: bool = False,
    content_hash: bool = False,
    on_batch: Any = None,
) -> UploadResult:
    from ._target import resolve_target

    resolved = resolve_target(
        target=target,
        credentials=credentials,
        base_url=base_url,
        transport=transport,
        api=api,
        clock=clock,
        emulator=emulator,
    )
    client = MediaClient(
        resolved.credentials,
        api=api,
        base_url=resolved.base_url,
        transport=resolved.transport,
        clock=resolved.clock or clock,
        retry=retry,
        segment_concurrency=segment_concurrency,
        chunk_size=chunk_size,
        status_deadline_s=status_deadline_s,
        timeout=request_timeout,
        verify=verify,
    )
    batch_id = new_batch_id()
    inputs = _records(checks, batch_id, resolved.label, api)
    book = _open_journal(journal)
    if content_hash:
        await asyncio.to_thread(_hash_files, inputs)
    if book is not None:
        _plan_resume(inputs, book, resolved, client.clock.now(), force=force)
        book.start_batch(
            batch_id,
            target=resolved.label,
            target_key=resolved.key,
            account=resolved.account,
            api=api,
            started_at=client.clock.now(),
        )
        book.write_files(
            [i.record for i in inputs], target_key=resolved.key, account=resolved.account
        )
    view = make_progress(progress)

    def changed(record: FileRecord) -> None:
        if book is not None:
            book.write_file(record, target_key=resolved.key, account=resolved.account)
        view.changed()

    def event_seen(event: Event) -> None:
        if book is not None:
            book.write_event(event)
        view.changed()

    batch = Batch(
        client,
        inputs,
        batch_id=batch_id,
        concurrency=concurrency,
        status_deadline_s=status_deadline_s,
        on_change=changed,
        on_event=event_seen,
    )

    def result() -> UploadResult:
        return UploadResult(
            batch.records,
            batch.events,
            target=resolved.label,
            api=api,
            batch_id=batch_id,
            clock=client.clock,
            started_at=batch.started_at,
            finished_at=batch.finished_at,
        )

    if on_batch is not None:
        on_batch(result)
    runner = asyncio.current_task()
    stopped_by_view = False

    def cancel() -> None:  # the dashboard's Cancel button
        nonlocal stopped_by_view
        if runner is not None and not runner.done():
            stopped_by_view = True
            runner.cancel()

    view.start(result, client.budget.snapshot, cancel)
    refresher = asyncio.create_task(view.refresh(), name="mediakit-progress")
    try:
        await batch.run()
    except asyncio.CancelledError:
        # Cancelled from the dashboard (and by nothing else): the unfinished files ended
        # `cancelled` and the call returns what was done, as `job.wait()` does after a cancel.
        if not stopped_by_view or runner is None or runner.uncancel() > 0:
            raise
    finally:
        refresher.cancel()
        await asyncio.gather(refresher, return_exceptions=True)
        await client.aclose()
        resolved.close()
        if book is not None:
            book.finish_batch(batch_id, client.clock.now())
            book.close()
        view.finish(result())
    return result()


@overload
def upload_files(
    files: FilesInput, *, wait: Literal[True] = ..., **options: Any
) -> UploadResult: ...
@overload
def upload_files(files: FilesInput, *, wait: Literal[False], **options: Any) -> UploadJob: ...
def upload_files(
    files: FilesInput, *, wait: bool = True, **options: Any
) -> UploadResult | UploadJob:
    """Blocking `upload_files_async`; `wait=False` returns an `UploadJob` at once."""
    return _start(upload_files_async, files, wait, options)


@overload
def upload_folder(
    folder: str | os.PathLike[str], *, wait: Literal[True] = ..., **options: Any
) -> UploadResult: ...
@overload
def upload_folder(
    folder: str | os.PathLike[str], *, wait: Literal[False], **options: Any
) -> UploadJob: ...
def upload_folder(
    folder: str | os.PathLike[str], *, wait: bool = True, **options: Any
) -> UploadResult | UploadJob:
    """Blocking `upload_folder_async`; `wait=False` returns an `UploadJob` at once."""
    folder_path = Path(folder)
    if not folder_path.exists():
        raise MediaError(str(folder), "no such folder")
    return _start(upload_folder_async, folder, wait, options)


def _start(
    function: Any, first: Any, wait: bool, options: Mapping[str, Any]
) -> UploadResult | UploadJob:
    from ._sync import run_sync, start_background

    holder: dict[str, Any] = {}
    if not wait:
        # On screen now, while the cell still runs: output sent after a cell has finished
        # does not reach it (the dashboard's updates do).
        view = make_progress(options.get("progress", "auto"))
        view.show()
        options = {**options, "progress": view}
    coro = function(first, _on_batch=lambda live: holder.setdefault("live", live), **options)
    if wait:
        result: UploadResult = run_sync(coro)
        return result
    run = start_background(coro)

    def live() -> UploadResult:
        maker = holder.get("live")
        if maker is None:
            return UploadResult(
                [],
                [],
                target="",
                api=str(options.get("api", "v2")),
                batch_id="",
                clock=_null_clock(),
                started_at=None,
                finished_at=None,
            )
        return maker()  # type: ignore[no-any-return]

    return UploadJob(run, live)


def _null_clock() -> Clock:
    from ._clock import SystemClock

    return SystemClock()
