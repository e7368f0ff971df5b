"""One batch from resolved options to its result: target, client, journal, view, scheduler.

The API layer's engine room. The target is resolved here, once, and handed to the client;
the journal and the progress view listen to the batch; nothing below knows about either.
Every file arrives judged by preflight (`_fix`): what cannot pass is never sent, and with
fix=True the repair stage runs beside the uploads.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from ._batch import Batch, new_batch_id
from ._client import MediaClient
from ._concurrency import MAX_CONCURRENCY
from ._errors import ConfigurationError, TransportError
from ._fix import Judged, RepairStage, decide, repair_options, to_repair_verdicts
from ._http import pool_size
from ._inputs import hash_files, make_inputs
from ._journal import Journal, default_journal_path
from ._journaling import JournalWriter
from ._lease import Leases
from ._options import PROGRESS_MODES, UploadOptions
from ._records import Event, FileRecord
from ._result import UploadResult
from ._resume import plan_resume
from ._target import resolve_target
from ._view import NullView, ProgressView, in_notebook_kernel

__all__ = ["make_view", "run_batch"]

OnBatch = Callable[[Callable[[], UploadResult]], None]


def make_view(progress: str | ProgressView | None) -> ProgressView:
    """The view for `progress=`: a mode name, or a view already made (and maybe shown).

    "auto" is `MEDIAKIT_PROGRESS` when set, else the dashboard in a notebook kernel and a
    text line elsewhere. Without ipywidgets the dashboard falls back to text.

    Raises:
        ConfigurationError: an unknown mode (in the argument or in `MEDIAKIT_PROGRESS`).
    """
    if progress is not None and not isinstance(progress, str):
        return progress
    chosen = (progress or "auto").lower()
    if chosen not in PROGRESS_MODES:
        raise ConfigurationError(
            f"progress must be one of {', '.join(map(repr, PROGRESS_MODES))}, not {progress!r}"
        )
    if chosen == "auto":
        chosen = os.environ.get("MEDIAKIT_PROGRESS", "auto").strip().lower() or "auto"
        if chosen not in PROGRESS_MODES:
            raise ConfigurationError(
                f"MEDIAKIT_PROGRESS must be one of {', '.join(PROGRESS_MODES)}, not {chosen!r}"
            )
    if chosen == "auto":
        chosen = "widgets" if in_notebook_kernel() else "text"
    if chosen == "none":
        return NullView()
    from ._text import TextView

    if chosen == "widgets":
        try:
            from ._widgets import WidgetView

            return WidgetView()
        except ImportError:  # ipywidgets missing: the text line still tells the story
            return TextView()
    return TextView()


def _open_journal(journal: str | os.PathLike[str] | bool | None) -> Journal | None:
    if journal is False:
        return None
    if journal is None or journal is True:
        return Journal(default_journal_path())
    return Journal(Path(journal))


async def run_batch(
    judged: Judged,
    options: UploadOptions,
    *,
    on_batch: OnBatch | None = None,
) -> UploadResult:
    """Upload the `judged` files as `options` say; the batch's `UploadResult`.

    Raises:
        TransportError: the server could not be reached at all (`error.result` holds what the
            batch recorded: every file, none uploaded).
    """
    o = options
    target = resolve_target(
        target=o.target,
        credentials=o.credentials,
        base_url=o.base_url,
        transport=o.transport,
        api=o.api,
        clock=o.clock,
        emulator=o.emulator,
    )
    client = MediaClient._for_target(
        target,
        api=o.api,
        timeout=o.request_timeout,
        verify=o.verify,
        clock=o.clock,
        retry=o.retry,
        on_event=o.on_event,
        segment_concurrency=o.segment_concurrency,
        chunk_size=o.chunk_size,
        status_deadline_s=o.status_deadline_s,
        # Connections for the most files the batch may upload at once, all kept alive.
        max_connections=pool_size(o.concurrency or MAX_CONCURRENCY, o.segment_concurrency),
    )
    try:
        view = make_view(o.progress)
        batch_id = new_batch_id()
        checks, to_repair = decide(judged, fix=o.fix)
        inputs = make_inputs(checks, batch_id, target.label, o.api, repair=to_repair)
        book = _open_journal(o.journal)
    except BaseException:
        await client.aclose()
        raise
    if book is not None and not o.force:
        await client.identify_target()
    if o.content_hash:
        await asyncio.to_thread(hash_files, inputs)
    writer: JournalWriter | None = None
    planned: dict[int, str | None] = {}
    if book is not None:
        try:
            planned = plan_resume(inputs, book, target, client.clock.now(), force=o.force)
        except BaseException:
            book.close()
            await client.aclose()
            raise
        writer = JournalWriter(book, target_key=target.key, account=target.account)
        writer.start_batch(batch_id, target=target.label, api=o.api, started_at=client.clock.now())
        writer.files([i.record for i in inputs])

    def changed(record: FileRecord) -> None:
        if writer is not None:
            writer.files([record])
        view.changed()

    def event_seen(event: Event) -> None:
        if writer is not None:
            writer.event(event)
        view.changed()

    stage = (
        RepairStage(
            to_repair_verdicts(judged, to_repair),
            options=repair_options(o.gif, o.max_duration),
            limits=o.limits,
            out=o.repair_dir,
            workers=o.repair_workers,
            dm=o.dm,
            chunk_size=o.chunk_size,
            on_change=changed,
        )
        if any(item.repair for item in inputs)
        else None
    )
    # Files are claimed in the journal, so another process on it never uploads them twice.
    leases = Leases(book, target, batch_id, o.force, planned) if book is not None else None
    batch = Batch(
        client,
        inputs,
        batch_id=batch_id,
        concurrency=o.concurrency,
        status_deadline_s=o.status_deadline_s,
        on_change=changed,
        on_event=event_seen,
        prepare=stage,
        claims=leases,
    )

    def result() -> UploadResult:
        journal_warning = writer.warning(batch.records) if writer is not None else None
        return UploadResult(
            batch.records,
            batch.events,
            target=target.label,
            api=o.api,
            batch_id=batch_id,
            clock=client.clock,
            started_at=batch.started_at,
            finished_at=batch.finished_at,
            warnings=[journal_warning] if journal_warning else [],
            not_journaled=[r.file_id for r in writer.missing(batch.records)] if writer else [],
            concurrency=batch.concurrency_log,
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
    helpers = [refresher]
    if leases is not None:
        helpers.append(asyncio.create_task(leases.keep_alive(), name="mediakit-leases"))
    try:
        await batch.run()
    except asyncio.CancelledError:
        # Cancelled from the dashboard (and by nothing else): the unfinished files ended
        # `cancelled` and the call returns what was done, as `job.wait()` does after a cancel.
        if not stopped_by_view or runner is None or runner.uncancel() > 0:
            raise
    except TransportError as error:
        error.result = result()
        raise
    finally:
        if stage is not None:
            stage.close()  # no worker process outlives the batch, cancelled or not
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        await client.aclose()
        if writer is not None and book is not None:
            writer.finish_batch(batch_id, client.clock.now())
            if leases is not None:
                leases.release_all()
            book.close()
        view.finish(result())
    return result()
