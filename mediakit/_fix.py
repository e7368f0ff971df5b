"""A batch's preflight and repair stage: what is sent as it is, what is repaired first, and
what is not sent at all.

- `preflight_rows` / `preflight_folder` inspect and judge every input before anything is sent
  (`_preflight`: headers and metadata only, GIFs walked), on a few threads.
- `decide` turns the verdicts into the batch's inputs: a file that passes goes as it is; one
  that does not ends `invalid` with the judge's problems and what to do (`refusal`), unless
  `fix=True` and repair fixes every problem: then it is marked `repair`.
- `RepairStage` is the batch's `Prepare` for those: a copy from the repair cache when there is
  one (no worker needed), else a re-encode in a bounded pool of worker processes
  (`_repair.RepairPool`), at most `repair_workers` files at once, shown as `repairing`. As
  each copy is ready, the file joins the upload queue with the copy as what is sent; the
  record keeps the original's identity (path, mtime, `source_bytes`) for the journal and
  resume. `close` ends the workers; on cancellation it stops them mid-encode.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, TypeVar

from ._batch import BatchInput
from ._inputs import Row, checked_path
from ._judge import RepairOptions
from ._limits import Limits
from ._media import FileCheck, inspect_file, walk
from ._preflight import Verdict, check_file, verdict_of
from ._records import FileRecord
from ._repair import RepairPool, RepairResult, default_workers, reuse

__all__ = [
    "PREFLIGHT_THREADS",
    "Judged",
    "RepairStage",
    "decide",
    "preflight_folder",
    "preflight_rows",
    "refusal",
]

PREFLIGHT_THREADS: Final = 4
"""Files judged at once: reads and FFmpeg's probing release the GIL."""

Judged = list[tuple[Verdict | None, Row]]
"""Each input row with its verdict (None where the path itself was refused)."""

T = TypeVar("T")
R = TypeVar("R")


def _map(function: Callable[[T], R], jobs: list[T]) -> list[R]:
    if len(jobs) <= 1:
        return [function(job) for job in jobs]
    with ThreadPoolExecutor(PREFLIGHT_THREADS, thread_name_prefix="mediakit-preflight") as pool:
        return list(pool.map(function, jobs))


def preflight_rows(
    rows: list[Row],
    *,
    category: str,
    chunk_size: int,
    dm: bool,
    limits: Limits | None = None,
    options: RepairOptions | None = None,
) -> Judged:
    """Each row's file inspected and judged; a row's own `category` wins over `category`."""
    limits = limits or Limits()

    def one(row: Row) -> tuple[Verdict | None, Row]:
        path, _problem = checked_path(row.get("path"))
        if path is None:
            return None, row
        chosen = str(row.get("category") or category)
        verdict = check_file(
            Path(path),
            category=chosen,
            limits=limits,
            dm=dm,
            options=options,
            chunk_size=chunk_size,
        )
        return verdict, row

    return _map(one, rows)


def preflight_folder(
    folder: str | os.PathLike[str],
    pattern: str,
    recursive: bool,
    *,
    category: str,
    chunk_size: int,
    dm: bool,
    limits: Limits | None = None,
    options: RepairOptions | None = None,
) -> Judged:
    """Every file below `folder` (walked as `discover` does), judged, by path.

    Raises:
        MediaError: `folder` is missing, not a folder, or cannot be read.
    """
    limits = limits or Limits()

    def one(entry: Path | FileCheck) -> tuple[Verdict | None, Row]:
        if isinstance(entry, FileCheck):  # not a regular file: its problem says what it is
            return verdict_of(entry, None, limits, options), {"path": str(entry.path)}
        verdict = check_file(
            entry, category=category, limits=limits, dm=dm, options=options, chunk_size=chunk_size
        )
        return verdict, {"path": str(entry)}

    return _map(one, walk(folder, pattern, recursive))


# ---------------------------------------------------------------------------------------------
# What is sent


def refusal(verdict: Verdict) -> str:
    """Why a file is not sent: the judge's problems, then what to do about them.

    "62.5 fps is over the 60 fps limit for tweet_video — re-encode at 60 fps or less (fix=True
    or mk.repair fixes it)". A file that could not even be inspected keeps inspection's own
    words ("empty file (0 bytes)").
    """
    if verdict.info is None and verdict.check.problem is not None:
        return verdict.check.problem
    text = "; ".join(p.message for p in verdict.problems) or "cannot be measured"
    hints = dict.fromkeys(p.hint for p in verdict.problems if p.hint and p.limit != "upload")
    return f"{text} — {'; '.join(hints)}" if hints else text


def decide(judged: Judged, *, fix: bool) -> tuple[list[tuple[FileCheck | None, Row]], set[int]]:
    """The checks the batch is built from, and which inputs (by index) are to be repaired.

    A check that fails preflight carries its `refusal` as its problem, so the batch ends it
    `invalid` without sending a byte; with `fix`, a fixable one keeps its check (the stage
    replaces it by the copy's) and is listed for repair.
    """
    checks: list[tuple[FileCheck | None, Row]] = []
    to_repair: set[int] = set()
    for index, (verdict, row) in enumerate(judged):
        if verdict is None:
            checks.append((None, row))
            continue
        check = verdict.check
        if not verdict.ok:
            if fix and verdict.fixable:
                to_repair.add(index)
            else:
                check = dataclasses.replace(check, problem=refusal(verdict))
        checks.append((check, row))
    return checks, to_repair


def repair_options(gif: str, max_duration: str) -> RepairOptions:
    return RepairOptions(gif=gif, max_duration=max_duration)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Repairing, while the other files upload


class RepairStage:
    """The batch's `Prepare`: repairs the inputs marked `repair`, each as soon as a worker is
    free, and hands each back ready to upload (its copy as what is sent)."""

    def __init__(
        self,
        verdicts: Mapping[int, Verdict],
        *,
        options: RepairOptions,
        limits: Limits | None = None,
        out: str | os.PathLike[str] | None = None,
        workers: int | None = None,
        dm: bool = False,
        chunk_size: int,
        on_change: Callable[[FileRecord], None] | None = None,
    ) -> None:
        self._verdicts = dict(verdicts)
        self.options = options
        self.limits = limits or Limits()
        self.out = out
        self.workers = workers or default_workers()
        self.dm = dm
        self.chunk_size = chunk_size
        self._on_change = on_change
        self._free = asyncio.Semaphore(self.workers)
        self._pool: RepairPool | None = None
        self._futures: set[concurrent.futures.Future[RepairResult]] = set()

    def _changed(self, record: FileRecord) -> None:
        if self._on_change is not None:
            self._on_change(record)

    def pool(self) -> RepairPool:
        """The worker processes, started on the first file that needs one."""
        if self._pool is None:
            self._pool = RepairPool(
                self.out,
                workers=self.workers,
                dm=self.dm,
                options=self.options,
                limits=self.limits,
            )
        return self._pool

    async def __call__(self, item: BatchInput) -> str | None:
        record = item.record
        verdict = self._verdicts[record.file_id]
        async with self._free:
            record.state = "repairing"
            self._changed(record)
            result = await asyncio.to_thread(reuse, verdict, self.out, self.options, self.limits)
            if result is None:
                try:
                    result = await self._encode(verdict)
                except (concurrent.futures.BrokenExecutor, OSError, RuntimeError) as exc:
                    return f"repair failed: {type(exc).__name__}: {exc}"
        if not result.ok:
            return "; ".join(result.problems) or "repair failed"
        return await self._ready(item, result)

    async def _encode(self, verdict: Verdict) -> RepairResult:
        pool = self.pool()
        try:
            future = pool.submit(verdict)
            self._futures.add(future)
            future.add_done_callback(self._futures.discard)
            return await asyncio.wrap_future(future)
        except concurrent.futures.BrokenExecutor:
            # A worker died (killed, out of memory): the files it held fail, the next ones
            # get fresh workers.
            if self._pool is pool:
                self._pool = None
                pool.terminate()
            raise

    async def _ready(self, item: BatchInput, result: RepairResult) -> str | None:
        """The copy becomes what is sent; the record says what was done."""
        record = item.record
        copy = result.upload_path
        check = await asyncio.to_thread(
            inspect_file,
            copy,
            category=result.category or record.media_category or "auto",
            limits=self.limits,
            chunk_size=self.chunk_size,
            dm=self.dm,
        )
        if not check.ok:
            return f"the repaired copy {copy} cannot be sent: {check.problem}"
        resume = item.resume
        # Continue a journaled session only with the very bytes it was sending.
        if (
            resume is not None
            and resume.kind == "append"
            and (resume.repaired_path != str(copy) or resume.size != check.size)
        ):
            item.resume = None
        item.check = check
        record.bytes, record.media_type = check.size, check.media_type
        record.media_category = check.category
        record.segments, record.chunk_size = check.segments, check.chunk_size
        record.repaired = result.repaired is not None
        record.repair = result.repair or None
        record.repaired_path = str(copy) if result.repaired is not None else None
        record.state = "queued"
        self._changed(record)
        return None

    def close(self) -> None:
        """End the workers: at once if one is still encoding (the batch was cancelled or
        stopped), else after their last file. No worker process is left either way."""
        if self._pool is None:
            return
        busy = any(not future.done() for future in self._futures)
        self._pool.close(cancel=busy)


def to_repair_verdicts(judged: Judged, indexes: Iterable[int]) -> dict[int, Verdict]:
    """The verdicts of the inputs to repair, by file id (the input's index)."""
    out: dict[int, Verdict] = {}
    for index in indexes:
        verdict = judged[index][0]
        if verdict is not None:
            out[index] = verdict
    return out
