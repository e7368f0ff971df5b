"""Resume: what the journal already knows about each file of a new batch.

A file that succeeded and is still valid is `skipped` with its earlier media id; one X was
processing is polled again; an unfinished upload session continues from the segments X
acknowledged; the rest start over. A file is the same by path, size and modification time (or
content hash), on the same target (`Target.key`) and account.
"""

from __future__ import annotations

from ._batch import BatchInput, Resume
from ._journal import Journal
from ._records import OK_STATES
from ._target import Target

__all__ = ["RESUME_MARGIN_S", "plan_resume"]

RESUME_MARGIN_S = 60.0  # a media id about to expire is uploaded again


def plan_resume(
    inputs: list[BatchInput], book: Journal, target: Target, now: float, *, force: bool
) -> None:
    """Skip what already succeeded, poll what was processing, continue live sessions."""
    if force:
        return
    for index, item in enumerate(inputs):
        record = item.record
        if not item.check.ok or item.same_as is not None:
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
        if prior.state in OK_STATES and alive and prior.expires_at is not None:
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
