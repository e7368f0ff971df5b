"""Reading journals back: one batch, several, or every batch of several journal files.

`open_journal` turns what the journal kept into an `UploadResult`, in this process or any
other, during a batch or after a crash. Several journals combine into one result (their
batches in order of start), so runs made on different days, or on different machines, compare
in one `latency()` table. Every error names the journal file it is about.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._errors import MediaError
from ._journal import Journal, default_journal_path
from ._records import Event, FileRecord
from ._result import UploadResult

__all__ = ["JournalPaths", "open_journal"]

JournalPaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None


def _paths(path: JournalPaths) -> list[Path]:
    """The journal files asked for, each once, in the order given."""
    if path is None:
        return [default_journal_path()]
    given = [path] if isinstance(path, str | os.PathLike) else list(path)
    if not given:
        raise MediaError("open_journal", "no journal file given")
    unique: dict[Path, Path] = {}
    for item in given:
        if not isinstance(item, str | os.PathLike):
            raise MediaError(str(item), "not a path to a journal file")
        chosen = Path(item)
        unique.setdefault(chosen.resolve(), chosen)
    return list(unique.values())


def _check_journal(path: Path) -> None:
    """A clear error for a missing file; what is not a journal `Journal` names (read-only:
    a file that is not a journal is never changed by being read)."""
    if not path.exists():
        raise MediaError(str(path), "no such journal")


def _chosen(
    available: list[tuple[float, str, Path]], batch: str | Sequence[str], paths: list[Path]
) -> list[tuple[float, str, Path]]:
    """The batches `batch` names, in order of start."""
    where = ", ".join(str(p) for p in paths)
    if not available:
        raise MediaError(where, "the journal holds no batch yet")
    if isinstance(batch, str) and batch == "all":
        return available
    if isinstance(batch, str) and batch == "latest":
        return available[-1:]
    wanted = [batch] if isinstance(batch, str) else list(batch)
    by_id = {entry[1]: entry for entry in available}
    unknown = [b for b in wanted if b not in by_id]
    if unknown:
        held = ", ".join(entry[1] for entry in available)
        raise MediaError(where, f"no batch {', '.join(map(repr, unknown))} (it holds {held})")
    return sorted({by_id[b] for b in wanted})


def _label(chosen: list[tuple[float, str, Path]], batch: str | Sequence[str]) -> str:
    if len(chosen) == 1:
        return chosen[0][1]
    return "all" if batch == "all" else "+".join(entry[1] for entry in chosen)


def open_journal(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    *,
    batch: str | Sequence[str] = "latest",
) -> UploadResult:
    """An `UploadResult` read back from one journal file or several.

    Works in another process, during a batch (what has happened so far) or after a crash.

    Args:
        path: a journal file, a list of them (their batches combine, so runs on different
            days or machines compare in one table), or None for the default journal.
        batch: "latest" (the newest batch of all the files), "all", a batch id, or a list of
            ids. A batch found in two files (a copied journal) is read from the first file
            given that holds it.

    Returns:
        The chosen batches as one `UploadResult`.

    Raises:
        MediaError: naming the file: missing, or no such batch in it.
        JournalError: the file is not a journal, or is damaged (the message says what to do).
    """
    from ._clock import SystemClock

    paths = _paths(path)
    available: list[tuple[float, str, Path]] = []
    infos: dict[str, dict[str, Any]] = {}
    for journal_path in paths:
        _check_journal(journal_path)
        book = Journal(journal_path, read_only=True)
        try:
            for batch_id in book.batch_ids():
                if batch_id in infos:
                    continue  # the same batch in a copy of the journal: read it once
                info = book.batch_info(batch_id) or {}
                infos[batch_id] = info
                began = float(info.get("started_at") or 0.0)
                available.append((began, batch_id, journal_path))
        finally:
            book.close()
    available.sort(key=lambda entry: (entry[0], entry[1]))
    chosen = _chosen(available, batch, paths)

    records: list[FileRecord] = []
    events: list[Event] = []
    for journal_path in paths:
        ids = [batch_id for _, batch_id, source in chosen if source == journal_path]
        if not ids:
            continue
        book = Journal(journal_path, read_only=True)
        try:
            more_records, more_events = book.load(ids)
        finally:
            book.close()
        records += more_records
        events += more_events
    order = {batch_id: i for i, (_, batch_id, _) in enumerate(chosen)}
    records.sort(key=lambda r: (order[r.batch_id], r.file_id))
    events.sort(key=lambda e: order[e.batch_id])  # stable: each journal's own order within

    picked = [infos[batch_id] for _, batch_id, _ in chosen]
    targets = sorted({str(info.get("target")) for info in picked})
    apis = sorted({str(info.get("api")) for info in picked})
    started = [float(i["started_at"]) for i in picked if i.get("started_at") is not None]
    finished = [float(i["finished_at"]) for i in picked if i.get("finished_at") is not None]
    return UploadResult(
        records,
        events,
        target=targets[0] if len(targets) == 1 else ", ".join(targets),
        api=apis[0] if len(apis) == 1 else ", ".join(apis),
        batch_id=_label(chosen, batch),
        clock=SystemClock(),
        started_at=min(started) if started else None,
        finished_at=max(finished) if len(finished) == len(picked) and finished else None,
    )
