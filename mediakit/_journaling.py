"""A batch's writes to its journal, which never stop the batch and never lose an outcome.

See `JournalWriter`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from ._errors import JournalError
from ._journal import Journal, shown_path
from ._records import OK_STATES, Event, FileRecord, display_path

__all__ = ["JournalWriter"]

log = logging.getLogger("mediakit")


class JournalWriter:
    """A batch's writes to its journal; what cannot be written is kept, retried and reported.

    A failed write (a full disk, a journal made read-only or removed mid-batch) never stops
    the batch and never loses what X acknowledged: the batch's state stays in memory, the
    write is retried with everything since (at most once a second, and once more at the
    end), one warning is logged, and `missing()` names the files whose outcome the journal
    still lacks, so the result can say so.
    """

    RETRY_EVERY_S = 1.0

    def __init__(self, book: Journal, *, target_key: str, account: str) -> None:
        self.book = book
        self.target_key = target_key
        self.account = account
        self.failure: str | None = None  # the first failure's reason, once one happened
        self._batches: list[tuple[Any, ...]] = []
        self._files: dict[tuple[str, int], FileRecord] = {}
        self._events: list[Event] = []
        self._finished: list[tuple[str, float]] = []
        self._retry_at = 0.0

    def start_batch(self, batch_id: str, *, target: str, api: str, started_at: float) -> None:
        self._batches.append((batch_id, target, self.target_key, self.account, api, started_at))
        self.flush()

    def files(self, records: Iterable[FileRecord]) -> None:
        for record in records:
            self._files[(record.batch_id, record.file_id)] = record
        self.flush()

    def event(self, event: Event) -> None:
        self._events.append(event)
        self.flush()

    def finish_batch(self, batch_id: str, finished_at: float) -> None:
        self._finished.append((batch_id, finished_at))
        self.flush(now=True)

    @property
    def pending(self) -> bool:
        return bool(self._batches or self._files or self._events or self._finished)

    def flush(self, *, now: bool = False) -> bool:
        """Write what is pending; False if the journal refused (what failed stays pending).

        Outcomes first (batches and file rows: small, and all a rerun needs to skip what
        succeeded), then the HTTP attempts, each in a transaction of its own: a disk with
        little room left still takes the outcomes.
        """
        if not self.pending:
            return True
        if self.failure is not None and not now and time.monotonic() < self._retry_at:
            return False
        try:
            if self._batches or self._files or self._finished:
                self.book.write(
                    batches=self._batches,
                    files=list(self._files.values()),  # the live records, as they are now
                    finished=self._finished,
                    target_key=self.target_key,
                    account=self.account,
                )
                self._batches, self._files, self._finished = [], {}, []
            if self._events:
                self.book.write(events=self._events)
                self._events = []
        except JournalError as exc:
            self._retry_at = time.monotonic() + self.RETRY_EVERY_S
            if self.failure is None:
                self.failure = exc.reason
                log.warning(
                    "%s; the batch goes on, keeps what it cannot write in memory, retries, "
                    "and lists in result.warnings the files whose outcome is not journaled",
                    exc,
                )
            return False
        if self.failure is not None:
            log.info("journal %s can be written again", shown_path(self.book.path))
        return True

    def missing(self, records: Sequence[FileRecord]) -> list[FileRecord]:
        """The files (of `records`) whose outcome a rerun would not find in the journal:
        their row is not written, or they are unfinished and their requests are not."""
        rows = set(self._files)
        requests = {(e.batch_id, e.file_id) for e in self._events}
        return [
            r
            for r in records
            if (r.batch_id, r.file_id) in rows
            or ((r.batch_id, r.file_id) in requests and r.state not in OK_STATES)
        ]

    def warning(self, records: Sequence[FileRecord]) -> str | None:
        """The sentence for `result.warnings` when the journal lacks part of the batch."""
        if not self.pending:
            return None
        missing = self.missing(records)
        shown = [_outcome(r) for r in missing[:10]]
        more = len(missing) - len(shown)
        count = len(missing)
        text = f"journal {shown_path(self.book.path)}: {self.failure}; "
        if missing:
            text += (
                f"the outcome of {count} file{'s' if count != 1 else ''} is not journaled, so a "
                "rerun will not know it and uploads again what succeeded (result.not_journaled "
                "lists them all): " + ", ".join(shown) + (f" and {more} more" if more else "")
            )
        else:
            text += f"{len(self._events)} HTTP attempts of the batch are not journaled"
        return text


def _outcome(record: FileRecord) -> str:
    detail: str = record.state
    if record.media_id:
        detail += f", media id {record.media_id}"
    return f"{display_path(record.path)} ({detail})"
