"""Resume: what the journal already knows about each file of a new batch.

A file that succeeded and is still valid is `skipped` with its earlier media id; one X was
processing is polled again; one X finalized as ready, but whose run stopped before recording
it, ends from there (its alt text set); an unfinished upload session continues from the
segments X acknowledged; the rest start over. A file is the same by path, size and
modification time (or content hash), on the same target (`Target.key`) and account. With
fix=True the identity is the original's (`source_bytes`), whatever was uploaded for it: a
file uploaded as a repaired copy is recognised, and neither repaired nor uploaded again.
"""

from __future__ import annotations

import dataclasses

from ._batch import BatchInput, Resume
from ._inputs import sendable
from ._journal import Journal, PriorUpload
from ._records import OK_STATES, FileRecord
from ._target import Target

__all__ = ["RESUME_MARGIN_S", "plan_resume", "prior_of", "resume_from"]

RESUME_MARGIN_S = 60.0  # a media id about to expire is uploaded again


def plan_resume(
    inputs: list[BatchInput], book: Journal, target: Target, now: float, *, force: bool
) -> dict[int, str | None]:
    """Skip what already succeeded, poll what was processing, continue live sessions.

    Returns, per file id, the batch whose journaled outcome the plan used (None: none).
    """
    planned: dict[int, str | None] = {}
    if force:
        return planned
    for item in inputs:
        if not sendable(item) or item.same_as is not None:
            continue
        prior = prior_of(item, book, target)
        planned[item.record.file_id] = prior.batch_id if prior is not None else None
        if prior is not None:
            resume_from(item, prior, now)
    return planned


def prior_of(item: BatchInput, book: Journal, target: Target) -> PriorUpload | None:
    """The newest journaled outcome of the same file on the same target and account."""
    record = item.record
    return book.prior(
        record.path,
        record.source_bytes if record.source_bytes is not None else record.bytes,
        record.mtime,
        target_key=target.key,
        account=target.account,
        sha256=record.sha256,
    )


def resume_from(item: BatchInput, prior: PriorUpload, now: float) -> bool:
    """Continue `item` from `prior`: skip it, poll it, or continue its session. True when the
    journal's outcome was used, False when the file starts over."""
    record = item.record
    if prior.media_id is None:
        return False
    alive = prior.expires_at is None or prior.expires_at > now + RESUME_MARGIN_S
    if prior.state in OK_STATES and alive and prior.expires_at is not None:
        record.state = "skipped"
        record.media_id, record.media_key = prior.media_id, prior.media_key
        record.expires_at = prior.expires_at
        record.finished_at = now
        record.error_message = None
        _uploaded_as(record, prior)
        return True
    if prior.finalized and prior.state in ("uploading", "processing", "cancelled") and alive:
        # Only what comes after FINALIZE is left: nothing is read or sent, nothing repaired.
        _uploaded_as(record, prior)
        item.check = dataclasses.replace(item.check, problem=None)
        item.repair = False
        if prior.finalize_state in (None, "succeeded"):
            # FINALIZE said the media was ready, and the run stopped before it said so (or
            # before the alt text): nothing to upload, only what comes after.
            expires = prior.finalize_expires_at or prior.expires_at
            item.resume = Resume("done", prior.media_id, expires_at=expires)
        else:
            item.resume = Resume("poll", prior.media_id)
        return True
    if (
        not prior.finalized
        and prior.state in ("uploading", "cancelled")
        and (prior.session_expires_at or 0) > now + RESUME_MARGIN_S
        and (item.repair or not prior.repaired)  # never the original's bytes after a copy's
    ):
        item.resume = Resume(
            "append",
            prior.media_id,
            prior.acknowledged,
            repaired_path=prior.repaired_path,
            size=prior.bytes,
        )
        return True
    return False


def _uploaded_as(record: FileRecord, prior: PriorUpload) -> None:
    """What the earlier batch uploaded for this file, when it was a repaired copy."""
    if not prior.repaired:
        return
    record.repaired, record.repair, record.repaired_path = True, prior.repair, prior.repaired_path
    record.bytes, record.segments = prior.bytes, prior.segments
    record.media_type, record.media_category = prior.media_type, prior.media_category
