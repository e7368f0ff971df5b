"""Repair: re-encode what X would refuse into a copy it accepts; originals are never touched.

`repair_file` (run in a worker process) judges a file (`_preflight.check_file`), leaves it alone
when it passes, reports why when repair cannot help, and otherwise writes a fixed copy
(`_transcode`) into a cache folder keyed by the original's content hash and the repair
settings, then checks the copy with the same judge: a copy is only ever handed back when it
passes. A rerun finds the copy in the cache and reuses it (state "reused").

`RepairPool` is the shape the batch uses: a bounded pool of worker processes (video encoding is
CPU-bound), each file submitted on its own and handed back as it finishes: `submit` gives a
`concurrent.futures.Future`, `repair` awaits one in asyncio, `as_completed` / `as_completed_async`
yield results in the order they finish. Workers are spawned, not forked: safe beside the
threads of a notebook kernel, an event loop or an emulator; they never import the caller's
`__main__` (so a script needs no ``if __name__ == "__main__":`` guard). `repair()` is the
public one-call form: a DataFrame, one row per file, in input order.

Cache layout: ``<out>/<sha256 of the content, 16 hex>-<settings digest, 12 hex>/<name>`` and a
``repair.json`` beside it, written last (its presence means the copy is complete).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
import types
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from ._errors import ConfigurationError
from ._judge import RepairOptions
from ._limits import Limits
from ._preflight import Verdict, check_file, check_files

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "REPAIR_VERSION",
    "RepairPool",
    "RepairResult",
    "default_repair_dir",
    "repair",
    "repair_file",
    "reuse",
]

REPAIR_VERSION: Final = 1
"""Part of every cache key: a change to what repair writes makes old copies stale."""

RepairState = Literal["unchanged", "repaired", "reused", "failed"]


@dataclass(frozen=True)
class RepairResult:
    """What repair did with one file.

    state: "unchanged" (it passes as it is; upload the original), "repaired" (a copy was
    written), "reused" (the copy from an earlier run), "failed" (`problems` say why it still
    cannot go up). `repaired` is the copy to upload, `repair` what was done in words,
    `category` what to upload it as (a GIF turned MP4 goes up as tweet_video),
    `source_bytes` the original's size, `bytes` the upload's.
    """

    path: Path
    state: RepairState
    repaired: Path | None = None
    repair: str = ""
    category: str | None = None
    source_bytes: int | None = None
    bytes: int | None = None
    problems: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether there is something X accepts to upload (the original or the copy)."""
        return self.state != "failed"

    @property
    def upload_path(self) -> Path:
        """The file to upload: the copy when there is one, else the original."""
        return self.repaired or self.path


def default_repair_dir() -> Path:
    """Where repaired copies go unless `out=` says otherwise: the user's cache directory."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("mediakit")) / "repaired"


# ---------------------------------------------------------------------------------------------
# One file (in a worker process)


def _content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _settings_digest(category: str, options: RepairOptions, limits: Limits) -> str:
    settings = {
        "version": REPAIR_VERSION,
        "category": category,
        "options": dataclasses.asdict(options),
        "limits": {k: v for k, v in dataclasses.asdict(limits).items()},
    }
    text = json.dumps(settings, sort_keys=True, default=dict)
    return hashlib.sha256(text.encode()).hexdigest()


def repair_file(
    source: str | os.PathLike[str] | Verdict,
    out: str | os.PathLike[str] | None = None,
    *,
    category: str = "auto",
    dm: bool = False,
    options: RepairOptions | None = None,
    limits: Limits | None = None,
) -> RepairResult:
    """Repair one file (a path, or its `Verdict` from preflight with the same settings).

    Never raises for a bad file: what could not be done is a "failed" result with reasons.
    """
    started = time.perf_counter()
    limits = limits or Limits()
    options = options or RepairOptions()
    verdict = (
        source
        if isinstance(source, Verdict)
        else check_file(source, category=category, limits=limits, dm=dm, options=options)
    )
    path = verdict.path
    size = verdict.check.size

    def result(state: RepairState, **fields: Any) -> RepairResult:
        return RepairResult(
            path, state, source_bytes=size, seconds=time.perf_counter() - started, **fields
        )

    if verdict.ok:
        return result("unchanged", category=verdict.category, bytes=size)
    if not verdict.fixable or verdict.info is None or verdict.category is None:
        return result("failed", category=verdict.category, problems=_messages(verdict))
    try:
        slot = _slot(verdict, out, options, limits)
    except OSError as exc:
        return result("failed", problems=(f"cannot be read ({exc.strerror or exc})",))
    cached = _cached(slot)
    if cached is not None:
        copy, words, chosen = cached
        return result(
            "reused", repaired=copy, repair=words, category=chosen, bytes=copy.stat().st_size
        )
    try:
        copy, words, chosen = _write_copy(verdict, slot, options, limits, dm)
    except Exception as exc:
        from ._transcode import RepairFailed

        reason = str(exc) if isinstance(exc, RepairFailed) else f"{type(exc).__name__}: {exc}"
        return result("failed", category=verdict.category, problems=(f"repair failed: {reason}",))
    again = check_file(copy, category=chosen, limits=limits, dm=dm, options=options)
    if not again.ok:
        shutil.rmtree(slot, ignore_errors=True)
        messages = tuple(f"the repaired copy still fails: {m}" for m in _messages(again))
        return result("failed", category=verdict.category, problems=messages)
    _record(slot, copy, words, chosen, path)
    return result(
        "repaired", repaired=copy, repair=words, category=chosen, bytes=copy.stat().st_size
    )


def _slot(
    verdict: Verdict, out: str | os.PathLike[str] | None, options: RepairOptions, limits: Limits
) -> Path:
    """The cache folder of this file's copy: content hash and settings digest."""
    assert verdict.category is not None
    folder = Path(out) if out is not None else default_repair_dir()
    settings = _settings_digest(verdict.category, options, limits)
    return folder / f"{_content_hash(verdict.path)[:16]}-{settings[:12]}"


def reuse(
    verdict: Verdict, out: str | os.PathLike[str] | None, options: RepairOptions, limits: Limits
) -> RepairResult | None:
    """The "reused" result when the cache already holds this file's copy, else None: a
    cheap check (one hash of the file) that needs no worker process."""
    if not verdict.fixable or verdict.category is None:
        return None
    started = time.perf_counter()
    try:
        cached = _cached(_slot(verdict, out, options, limits))
    except OSError:
        return None
    if cached is None:
        return None
    copy, words, chosen = cached
    return RepairResult(
        verdict.path,
        "reused",
        repaired=copy,
        repair=words,
        category=chosen,
        source_bytes=verdict.check.size,
        bytes=copy.stat().st_size,
        seconds=time.perf_counter() - started,
    )


def _messages(verdict: Verdict) -> tuple[str, ...]:
    return tuple(p.message for p in verdict.problems if not p.fixable) or tuple(
        p.message for p in verdict.problems
    )


def _cached(slot: Path) -> tuple[Path, str, str] | None:
    try:
        record = json.loads((slot / "repair.json").read_text(encoding="utf-8"))
        copy = slot / record["file"]
        if copy.is_file():
            return copy, str(record["repair"]), str(record["category"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None


def _record(slot: Path, copy: Path, words: str, category: str, original: Path) -> None:
    record = {"file": copy.name, "repair": words, "category": category, "source": str(original)}
    temp = slot / "repair.json.tmp"
    temp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    os.replace(temp, slot / "repair.json")


def _write_copy(
    verdict: Verdict, slot: Path, options: RepairOptions, limits: Limits, dm: bool
) -> tuple[Path, str, str]:
    """Write the fixed copy into `slot` (via a temporary folder beside it, so a crash leaves
    no half-written copy behind); returns (copy, what was done, category to upload as)."""
    from . import _transcode as t

    info = verdict.info
    category = verdict.category
    assert info is not None and category is not None
    stem = verdict.path.stem or "media"
    slot.parent.mkdir(parents=True, exist_ok=True)
    # The worker's pid in the name: a worker ended mid-encode (a cancelled batch) cannot clean
    # up after itself, so the pool removes what that pid left (`RepairPool.terminate`).
    work = Path(tempfile.mkdtemp(prefix=f".{slot.name}-{os.getpid()}-", dir=slot.parent))
    try:
        kind = Limits.kind_of(category)
        if kind == "video":
            copy = work / f"{stem}.mp4"
            words = t.repair_video(verdict.path, copy, info, limits, options)
        elif kind == "gif" and options.gif == "mp4":
            copy = work / f"{stem}.mp4"
            words = t.repair_gif_as_mp4(verdict.path, copy, info, limits, options)
            category = "dm_video" if category == "dm_gif" else "tweet_video"
        elif kind == "gif":
            copy = work / f"{stem}.gif"
            max_bytes = limits.category_max_bytes(category)
            words = t.repair_gif_as_gif(verdict.path, copy, info, limits, max_bytes)
        elif kind == "image":
            max_bytes = limits.category_max_bytes(category)
            copy, words = t.repair_image(verdict.path, work / stem, info, limits, max_bytes)
        else:
            raise t.RepairFailed(f"{category} files cannot be repaired")
        if slot.exists():
            shutil.rmtree(slot)  # a copy without its record: incomplete, replaced
        os.replace(work, slot)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return slot / copy.name, "; ".join(words), category


# ---------------------------------------------------------------------------------------------
# The pool


class _WorkerProcess(multiprocessing.context.SpawnProcess):
    """A spawned worker that does not import the parent's `__main__`.

    A spawned child normally runs the parent's main script again (as `__mp_main__`), so that
    functions defined there unpickle: a script without an ``if __name__ == "__main__":`` guard
    would start its upload again in every worker, and one read from stdin cannot be found.
    Workers only run mediakit's own functions, so the child is told there is no main module:
    `sys.modules["__main__"]` is a blank module while the spawn's preparation data is taken
    (synchronously, in `start`), then put back.
    """

    def start(self) -> None:
        main = sys.modules.get("__main__")
        blank = types.ModuleType("__main__")
        sys.modules["__main__"] = blank
        try:
            super().start()
        finally:
            if sys.modules.get("__main__") is blank:
                if main is None:
                    del sys.modules["__main__"]
                else:
                    sys.modules["__main__"] = main


class _WorkerContext(multiprocessing.context.SpawnContext):
    Process = _WorkerProcess


def _ignore_interrupts() -> None:
    """In each worker: Ctrl-C is the parent's to handle (it ends the workers); a terminal sends
    SIGINT to the whole process group, which would print a traceback per worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def default_workers() -> int:
    """One worker per core but one (at least one): the upload's event loop keeps a core."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


class RepairPool:
    """A bounded pool of worker processes repairing files, usable from sync and async code.

    >>> with RepairPool(out="repaired/") as pool:
    ...     for result in pool.as_completed(["a.mp4", "b.gif"]):
    ...         print(result.path, result.state, result.repair)
    """

    def __init__(
        self,
        out: str | os.PathLike[str] | None = None,
        *,
        workers: int | None = None,
        category: str = "auto",
        dm: bool = False,
        options: RepairOptions | None = None,
        limits: Limits | None = None,
    ) -> None:
        count = default_workers() if workers is None else workers
        if count < 1:
            raise ConfigurationError(f"workers must be at least 1, not {count}")
        self.workers = count
        self.out = Path(out) if out is not None else default_repair_dir()
        self.category = category
        self.dm = dm
        self.options = options or RepairOptions()
        self.limits = limits or Limits()
        self._executor = concurrent.futures.ProcessPoolExecutor(
            max_workers=count,
            mp_context=_WorkerContext(),
            initializer=_ignore_interrupts,
        )
        self._closed = False

    def submit(
        self, source: str | os.PathLike[str] | Verdict, *, category: str | None = None
    ) -> concurrent.futures.Future[RepairResult]:
        """Queue one file; the future resolves to its `RepairResult` when a worker is done."""
        return self._executor.submit(
            repair_file,
            source,
            self.out,
            category=category or self.category,
            dm=self.dm,
            options=self.options,
            limits=self.limits,
        )

    async def repair(
        self, source: str | os.PathLike[str] | Verdict, *, category: str | None = None
    ) -> RepairResult:
        """Repair one file without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(source, category=category))

    def as_completed(
        self, sources: Iterable[str | os.PathLike[str] | Verdict]
    ) -> Iterator[RepairResult]:
        """Submit every file, then yield each result as soon as its worker finishes."""
        futures = [self.submit(source) for source in sources]
        for future in concurrent.futures.as_completed(futures):
            yield future.result()

    async def as_completed_async(
        self, sources: Iterable[str | os.PathLike[str] | Verdict]
    ) -> AsyncIterator[RepairResult]:
        """`as_completed` for asyncio: the loop stays free while workers encode."""
        futures = [asyncio.wrap_future(self.submit(source)) for source in sources]
        for next_done in asyncio.as_completed(futures):
            yield await next_done

    def close(self, *, cancel: bool = False) -> None:
        """Stop the workers: wait for the files in progress, or with cancel=True stop at once
        (`terminate`). Either way no worker process is left when this returns."""
        if cancel:
            self.terminate()
            return
        self._closed = True
        self._executor.shutdown(wait=True)

    def terminate(self) -> None:
        """Stop now: files not started are dropped, workers are ended mid-encode (SIGTERM,
        then SIGKILL for one that does not go within 5 s) and their unfinished copies removed.
        Every worker process has exited when this returns."""
        # ProcessPoolExecutor stops its workers only between files; Python 3.14 added
        # terminate_workers() for this (docs.python.org/3.14/library/concurrent.futures.html).
        # Before it, the worker processes are reached through `_processes`, as it does.
        executor = self._executor
        processes = list((getattr(executor, "_processes", None) or {}).values())
        if not self._closed:
            self._closed = True
            executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
            if process.pid is not None:
                self._remove_unfinished(process.pid)

    def _remove_unfinished(self, pid: int) -> None:
        """The temporary folders a killed worker was writing: `.<slot>-<pid>-<random>`."""
        try:
            entries = list(self.out.iterdir())
        except OSError:
            return
        for entry in entries:
            parts = entry.name.split("-")
            if entry.name.startswith(".") and len(parts) >= 4 and parts[2] == str(pid):
                shutil.rmtree(entry, ignore_errors=True)

    def __enter__(self) -> RepairPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(cancel=exc[0] is not None)


def repair(
    files: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | pd.DataFrame,
    out: str | os.PathLike[str] | None = None,
    *,
    gif: Literal["mp4", "gif"] = "mp4",
    max_duration: Literal["keep", "trim"] = "keep",
    category: str = "auto",
    dm: bool = False,
    limits: Limits | None = None,
    workers: int | None = None,
    pattern: str = "*",
    recursive: bool = True,
) -> pd.DataFrame:
    """Re-encode what X would refuse into copies it accepts; one row per file, input order.

    `files` is a folder, paths, or a DataFrame with a `path` column (as for `preflight`).
    Files that pass are left alone ("unchanged"); the others are repaired in `workers` worker
    processes into `out` (default: the user's cache directory), keyed by content and settings
    so a rerun reuses them ("reused"). `gif="mp4"` turns a GIF over X's GIF limits into an MP4
    for tweet_video (what X recommends), `gif="gif"` shrinks it instead; a video over the
    maximum duration stays invalid unless `max_duration="trim"`. Originals are never touched.

    Args:
        files: a folder, paths, or a DataFrame with a `path` column.
        out: the cache folder for repaired copies (default: your cache directory).
        gif: "mp4" (an MP4 for tweet_video) or "gif" (a smaller GIF) for GIFs over limits.
        max_duration: "keep" (too long stays invalid) or "trim".
        category, dm, limits, pattern, recursive: as for `preflight`.
        workers: worker processes for re-encoding (default: from the CPU count).

    Returns:
        One row per file, in input order: path, state (unchanged, repaired, reused, failed),
        repaired_path, repair (what was done, in words), category (what to upload it as),
        source_bytes, bytes, ok, problems (why a failed file still cannot go up), seconds.

    Raises:
        MediaError: a folder that is missing or cannot be read.
        ConfigurationError: a bad argument (named).
    """
    from ._media_frames import repair_frame

    options = RepairOptions(gif=gif, max_duration=max_duration)
    limits = limits or Limits()
    verdicts = check_files(
        files,
        category=category,
        limits=limits,
        dm=dm,
        options=options,
        pattern=pattern,
        recursive=recursive,
    )
    results: dict[int, RepairResult] = {}
    pending: list[int] = []
    for index, verdict in enumerate(verdicts):
        if not verdict.fixable:  # nothing to do, or nothing repair can do: no worker needed
            results[index] = repair_file(verdict, out, options=options, limits=limits, dm=dm)
        elif (reused := reuse(verdict, out, options, limits)) is not None:
            results[index] = reused  # a rerun: the copy is in the cache already
        else:
            pending.append(index)
    if pending:
        count = min(workers or default_workers(), len(pending))
        with RepairPool(out, workers=count, dm=dm, options=options, limits=limits) as pool:
            futures = {pool.submit(verdicts[i]): i for i in pending}
            for future in concurrent.futures.as_completed(futures):
                results[futures[future]] = future.result()
    return repair_frame([results[i] for i in range(len(verdicts))])
