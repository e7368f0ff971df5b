"""Batches run preflight first, and with fix=True repair what X would refuse while the other
files upload: against the emulator in-process and over a socket, with real media."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import mediakit as mk
from mediakit import ScaledClock
from mediakit._fix import RepairStage
from mediakit._journal import Journal
from mediakit._records import FileRecord
from mediakit._repair import _WorkerProcess
from mediakit._snapshot import Snapshot
from mediakit._view import NullView
from mediakit._widgets import WidgetView
from mediakit.emulator import Emulator, running

from . import mediafactory as mf

SENDING = {"INIT", "APPEND", "FINALIZE", "STATUS", "UPLOAD", "METADATA"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stamps(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")} if folder.exists() else {}


def sent(emu: Emulator) -> list[str]:
    """The upload requests the emulator answered (not its health checks)."""
    return [r.command for r in emu.requests if r.command in SENDING]


class StateLog(NullView):
    """Every state each file went through, in order, as the batch's own loop saw them."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str]] = []
        self._last: dict[int, str] = {}
        self._waiting: list[tuple[Callable[[StateLog], bool], asyncio.Event]] = []

    def changed(self) -> None:
        super().changed()
        if self.live is None:
            return
        for record in self.live().records:
            if self._last.get(record.file_id) != record.state:
                self._last[record.file_id] = record.state
                self.seen.append((Path(record.path).name, record.state))
        for condition, event in self._waiting:
            if condition(self):
                event.set()

    def state(self, name: str) -> str | None:
        states = [state for seen, state in self.seen if seen == name]
        return states[-1] if states else None

    def at(self, name: str, state: str) -> int:
        """Where the file last entered `state` (every file starts `queued`)."""
        return max(i for i, seen in enumerate(self.seen) if seen == (name, state))

    async def until(self, condition: Callable[[StateLog], bool], timeout: float = 120) -> None:
        event = asyncio.Event()
        self._waiting.append((condition, event))
        if condition(self):
            event.set()
        await asyncio.wait_for(event.wait(), timeout)


@pytest.fixture(scope="module")
def fixable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twenty files X refuses, each for a reason repair fixes."""
    folder = tmp_path_factory.mktemp("fixable")
    for name, make in mf.FIXABLE.items():
        make(folder / name)
    assert len(list(folder.iterdir())) == 20
    return folder


@pytest.fixture(scope="module")
def repairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One repair cache for the module: the second transport reuses the first one's copies."""
    return tmp_path_factory.mktemp("repairs")


@pytest.fixture
async def where(emu: Emulator, transport: str, clock: ScaledClock) -> AsyncIterator[dict[str, Any]]:
    """Upload options reaching `emu` in-process (ASGITransport) or over a real socket."""
    if transport == "asgi":
        yield {"emulator": emu}
    else:
        with running(emu) as url:
            yield {"base_url": url, "clock": clock}


# --- fix=True: a whole folder goes through on the first try ----------------------------------


async def test_a_folder_x_would_refuse_uploads_with_fix(
    fixable: Path, repairs: Path, emu: Emulator, where: dict[str, Any], tmp_path: Path
) -> None:
    before = {p.name: (sha256(p), p.stat().st_mtime_ns) for p in fixable.iterdir()}
    journal = tmp_path / "journal.sqlite"
    options = mk.UploadOptions(
        fix=True, repair_dir=repairs, journal=journal, progress="none", **where
    )
    result = await mk.upload_folder_async(fixable, options=options)
    items = result.items
    assert result.counts == {"succeeded": 20}, result.failures[["path", "error_message"]]
    assert items["repaired"].all() and items["repair"].notna().all()
    assert {p.name: (sha256(p), p.stat().st_mtime_ns) for p in fixable.iterdir()} == before
    for row in items.itertuples():
        copy = Path(row.repaired_path)
        assert copy.is_relative_to(repairs) and copy.is_file()
        assert row.bytes == copy.stat().st_size  # what was uploaded
        assert row.source_bytes == Path(row.path).stat().st_size  # the original
        media = emu.media_by_id(row.media_id)
        assert media is not None and media.error_name is None, row.path
        assert media.state == ("ready" if row.media_category == "tweet_image" else "succeeded")
        assert media.total_bytes == copy.stat().st_size  # the copy went up, not the original
    by_name = items.set_index(items["path"].map(lambda p: Path(p).name))
    assert by_name.loc["fps62_5.mp4", "repair"] == "62.5 fps → 60 fps"
    assert by_name.loc["many_frames.gif", "media_category"] == "tweet_video"  # GIF → MP4
    assert "20 uploaded to " in result.summary() and "20 repaired" in result.summary()

    # A rerun repairs nothing again and uploads nothing again: the journal knows the originals.
    cache, requests = stamps(repairs), sent(emu)
    again = await mk.upload_folder_async(fixable, options=options)
    assert again.counts == {"skipped": 20}
    assert sent(emu) == requests and stamps(repairs) == cache
    kept = again.items
    assert kept["media_id"].tolist() == items["media_id"].tolist()
    assert kept["repair"].tolist() == items["repair"].tolist()  # what was uploaded, remembered
    assert kept["bytes"].tolist() == items["bytes"].tolist()
    assert "repaired" not in again.summary()  # nothing was repaired by this batch
    assert mk.open_journal(journal).items["repaired"].all()

    # Without the journal it uploads again, but the copies come from the cache: no re-encode.
    forgot = await mk.upload_folder_async(fixable, options=options, journal=False)
    assert forgot.counts == {"succeeded": 20} and forgot.items["repaired"].all()
    assert forgot.items["repaired_path"].tolist() == items["repaired_path"].tolist()
    assert stamps(repairs) == cache


async def test_without_fix_the_same_files_are_invalid_and_nothing_is_sent(
    fixable: Path, emu: Emulator, where: dict[str, Any]
) -> None:
    result = await mk.upload_folder_async(fixable, progress="none", journal=False, **where)
    assert result.counts == {"invalid": 20}
    assert sent(emu) == []  # not one byte of them
    assert len(emu.media) == 0
    judged = mk.preflight(fixable)
    reasons = dict(zip(result.items["path"], result.items["error_message"], strict=True))
    for row in judged.itertuples():
        message = reasons[row.path]
        assert message.startswith("; ".join(row.problems)), message  # the judge's own words
        assert "fix=True" in message  # and what to do
    assert len(result.failures) == 20
    assert "0 uploaded to " in result.summary() and "20 invalid" in result.summary()


# --- beside the uploads -----------------------------------------------------------------------


async def test_good_files_upload_while_a_slow_repair_runs(
    emu: Emulator, media_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first uploads never wait for the last repair, and a repaired file joins the upload
    queue as soon as its own repair is done: the slow repair is held until both happened."""
    photos = [mf.make_jpeg(media_dir / f"photo_{i}.jpg").name for i in range(3)]
    mf.make_video(media_dir / "quick.mp4", width=16, height=16)  # scaled up: quick
    mf.make_video(media_dir / "slow.mp4", fps=62.5)
    release = asyncio.Event()
    encode = RepairStage._encode

    async def held(self: RepairStage, verdict: Any) -> Any:
        if verdict.path.name == "slow.mp4":
            await release.wait()
        return await encode(self, verdict)

    monkeypatch.setattr(RepairStage, "_encode", held)
    log = StateLog()
    batch = asyncio.create_task(
        mk.upload_folder_async(
            media_dir,
            emulator=emu,
            fix=True,
            repair_workers=2,
            repair_dir=tmp_path / "repairs",
            journal=False,
            progress=log,
        )
    )
    try:
        await log.until(lambda s: all(s.state(n) == "succeeded" for n in [*photos, "quick.mp4"]))
        assert log.state("slow.mp4") == "repairing"  # still: nothing waited for it
        release.set()
        result = await batch
    finally:
        release.set()
        if not batch.done():
            batch.cancel()
    assert result.counts == {"succeeded": 5}
    assert log.at("quick.mp4", "repairing") < log.at("quick.mp4", "queued")
    assert log.at("quick.mp4", "queued") < log.at("quick.mp4", "uploading")
    assert log.at("slow.mp4", "repairing") < min(log.at(n, "succeeded") for n in photos)
    assert log.at("quick.mp4", "succeeded") < log.at("slow.mp4", "queued")
    assert result.items.set_index("path")["repaired"].sum() == 2


async def test_the_text_line_and_the_dashboard_show_repairs(
    emu: Emulator, media_dir: Path, tmp_path: Path
) -> None:
    mf.make_jpeg(media_dir / "photo.jpg")
    mf.make_video(media_dir / "tiny.mp4", width=16, height=16)
    view = WidgetView()
    result = await mk.upload_folder_async(
        media_dir,
        emulator=emu,
        fix=True,
        repair_dir=tmp_path / "repairs",
        journal=False,
        progress=view,
    )
    assert result.summary().startswith("2 uploaded to the emulator, 1 repaired in ")
    assert "1 repaired" in view.sections["counts"]
    records = result.records
    records[1].state = "repairing"  # as it was during the batch
    live = Snapshot.take(_Batch(records))
    assert "repairing 1" in live.line() and "repaired 1" in live.line()
    assert [row.describe() for row in live.in_flight] == ["repairing"]
    assert live.counts == {"repairing": 1, "succeeded": 1}


class _Batch:
    def __init__(self, records: list[FileRecord]) -> None:
        self.records = records
        self.target, self.api, self.batch_id = "emulator", "v2", "b"
        self.started_at = self.finished_at = self.elapsed_s = None

    def summary(self) -> str:
        return ""


# --- cancelled during a repair: no worker process is left -------------------------------------


def _slow_gif(folder: Path) -> Path:
    """Cheap to make, slow to repair: 1,000 full-screen frames to composite and encode."""
    return mf.make_gif_tiles(folder / "slow.gif", 1280, 1080, 1000, frame_ms=50, tile=64)


def _encoding(repairs: Path, timeout: float = 120) -> int:
    """Wait until a worker is writing a copy (its temporary folder exists); its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in repairs.glob(".*") if repairs.exists() else ():
            return int(entry.name.split("-")[2])
        time.sleep(0.02)
    raise AssertionError("no repair started")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("how", ["job.cancel()", "the Cancel button"])
def test_cancel_during_a_repair_ends_its_worker(
    how: str, media_dir: Path, tmp_path: Path, emu: Emulator
) -> None:
    _slow_gif(media_dir)
    mf.make_jpeg(media_dir / "photo.jpg")
    repairs = tmp_path / "repairs"
    view = WidgetView()
    job = mk.upload_folder(
        media_dir,
        emulator=emu,
        fix=True,
        repair_dir=repairs,
        journal=tmp_path / "j.sqlite",
        progress=view,
        wait=False,
    )
    try:
        pid = _encoding(repairs)
        workers = [p for p in multiprocessing.active_children() if isinstance(p, _WorkerProcess)]
        assert pid in {p.pid for p in workers}
        if how == "job.cancel()":
            job.cancel()
        else:
            view.cancel_button.click()
        result = job.wait(timeout=60)
    finally:
        job.cancel()
    names = result.items["path"].map(lambda p: Path(p).name)
    states = dict(zip(names, result.items["state"], strict=True))
    assert states == {"slow.gif": "cancelled", "photo.jpg": "succeeded"}
    assert not any(_alive(p.pid) for p in workers if p.pid is not None)
    assert not [p for p in multiprocessing.active_children() if isinstance(p, _WorkerProcess)]
    assert list(repairs.iterdir()) == []  # the half-written copy went with its worker


def test_ctrl_c_during_a_repair_leaves_no_worker(tmp_path: Path) -> None:
    """Ctrl-C in a terminal reaches the whole process group: the workers ignore it, the batch
    stops, ends the workers and says so once, without a traceback per worker."""
    folder = tmp_path / "media"
    folder.mkdir()
    _slow_gif(folder)
    repairs, journal = tmp_path / "repairs", tmp_path / "j.sqlite"
    script = tmp_path / "upload.py"
    script.write_text(
        f"""
import multiprocessing, threading, time
from pathlib import Path
import mediakit as mk
from mediakit._repair import _WorkerProcess

def report():
    while not (Path({str(repairs)!r}).exists() and any(Path({str(repairs)!r}).glob(".*"))):
        time.sleep(0.02)
    pids = [p.pid for p in multiprocessing.active_children() if isinstance(p, _WorkerProcess)]
    print("ENCODING", *pids, flush=True)

threading.Thread(target=report, daemon=True).start()
emu = mk.Emulator(state={str(tmp_path / "e.sqlite")!r})
try:
    mk.upload_folder({str(folder)!r}, emulator=emu, fix=True, repair_dir={str(repairs)!r},
                     journal={str(journal)!r}, progress="none")
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
print("LEFT", [p.pid for p in multiprocessing.active_children()], flush=True)
print(sorted(mk.open_journal({str(journal)!r}).items["state"]), flush=True)
"""
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("ENCODING"), line + child.stderr.read() if child.stderr else line
        pids = [int(p) for p in line.split()[1:]]
        assert pids
        os.killpg(child.pid, signal.SIGINT)  # Ctrl-C: the parent and its workers
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    assert out.splitlines() == ["INTERRUPTED", "LEFT []", "['cancelled']"], out + err
    assert "Traceback" not in err, err
    assert not any(_alive(pid) for pid in pids)
    assert list(repairs.iterdir()) == []


def test_a_worker_that_dies_fails_its_file_only(
    media_dir: Path, tmp_path: Path, emu: Emulator
) -> None:
    _slow_gif(media_dir)
    mf.make_gif(media_dir / "wide.gif", 1400, 60, frames=3)  # smaller: repaired after
    repairs = tmp_path / "repairs"
    job = mk.upload_folder(
        media_dir,
        emulator=emu,
        fix=True,
        repair_dir=repairs,
        repair_workers=1,
        journal=False,
        progress="none",
        wait=False,
    )
    try:
        os.kill(_encoding(repairs), signal.SIGKILL)  # out of memory, say
        result = job.wait(timeout=120)
    finally:
        job.cancel()
    rows = result.items.set_index(result.items["path"].map(lambda p: Path(p).name))
    assert rows.loc["slow.gif", "state"] == "invalid"
    assert "repair failed: BrokenProcessPool" in rows.loc["slow.gif", "error_message"]
    assert rows.loc["wide.gif", "state"] == "succeeded" and bool(rows.loc["wide.gif", "repaired"])
    assert not [p for p in multiprocessing.active_children() if isinstance(p, _WorkerProcess)]


# --- resume, the journal, scripts -------------------------------------------------------------


async def test_an_upload_of_a_copy_cut_short_continues_with_that_copy(
    media_dir: Path, tmp_path: Path
) -> None:
    """A batch stopped half way through sending a repaired copy: the rerun continues X's
    session with the same copy (from the cache), sending only the segments X did not ack."""
    emu = Emulator(latency=0.05, state=tmp_path / "s.sqlite")  # real time, slow APPENDs
    mf.make_video(media_dir / "fast.mp4", fps=62.5, seconds=3.0, width=320, height=240)
    journal, repairs = tmp_path / "j.sqlite", tmp_path / "repairs"
    options = mk.UploadOptions(
        emulator=emu,
        fix=True,
        repair_dir=repairs,
        journal=journal,
        progress="none",
        chunk_size=4096,
        segment_concurrency=1,
    )
    acked = asyncio.Event()

    def seen(event: mk.Event) -> None:
        if event.command == "APPEND" and event.ok and (event.segment_index or 0) >= 2:
            acked.set()

    first = asyncio.create_task(mk.upload_folder_async(media_dir, options=options, on_event=seen))
    await asyncio.wait_for(acked.wait(), 120)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    stopped = mk.open_journal(journal).items.iloc[0]
    assert stopped["state"] == "cancelled" and bool(stopped["repaired"])
    assert stopped["segments"] > 4  # it was cut short indeed
    sent_before = [
        r.segment_index for r in emu.requests if r.command == "APPEND" and r.status == 200
    ]
    cache, count = stamps(repairs), len(emu.requests)
    again = await mk.upload_folder_async(media_dir, options=options)
    row = again.items.iloc[0]
    assert row["state"] == "succeeded" and row["media_id"] == stopped["media_id"]
    later = emu.requests[count:]
    assert "INIT" not in {r.command for r in later}  # the same session, continued
    resent = [r.segment_index for r in later if r.command == "APPEND"]
    assert sorted(resent) == sorted(set(range(int(row["segments"]))) - set(sent_before))
    assert stamps(repairs) == cache  # the copy came from the cache
    media = emu.media_by_id(str(row["media_id"]))
    assert media is not None and media.state == "succeeded"
    emu.close()


async def test_a_repaired_file_still_processing_is_polled_again_not_repaired(
    media_dir: Path, tmp_path: Path
) -> None:
    """The journal records the copy beside the original: a rerun after a stop during X's
    processing polls the copy's media id, and neither repairs nor sends anything again."""
    emu = Emulator(processing_seconds=2.0, state=tmp_path / "s.sqlite")  # real time
    mf.make_video(media_dir / "fast.mp4", fps=62.5)
    journal, repairs = tmp_path / "j.sqlite", tmp_path / "repairs"
    log = StateLog()
    options = mk.UploadOptions(emulator=emu, fix=True, repair_dir=repairs, journal=journal)
    first = asyncio.create_task(mk.upload_folder_async(media_dir, options=options, progress=log))
    await log.until(lambda s: s.state("fast.mp4") == "processing")
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    stopped = mk.open_journal(journal).items.iloc[0]
    assert stopped["state"] == "cancelled" and bool(stopped["repaired"])
    cache, before = stamps(repairs), len(emu.requests)
    again = await mk.upload_folder_async(media_dir, options=options, progress="none")
    row = again.items.iloc[0]
    assert row["state"] == "succeeded" and row["media_id"] == stopped["media_id"]
    assert bool(row["repaired"]) and row["repair"] == "62.5 fps → 60 fps"
    assert row["bytes"] == stopped["bytes"] != row["source_bytes"]
    assert {r.command for r in emu.requests[before:] if r.command in SENDING} == {"STATUS"}
    assert stamps(repairs) == cache
    emu.close()


def test_an_old_journal_stays_readable_and_resumes(tmp_path: Path, media_dir: Path) -> None:
    """A journal written before fix=True (no source_bytes, repaired, … columns) gains the
    columns, keeps its rows, and still recognises its files."""
    photo = mf.make_jpeg(media_dir / "photo.jpg")
    emu = Emulator(clock=ScaledClock(50), state=tmp_path / "e.sqlite")
    journal = tmp_path / "old.sqlite"
    first = mk.upload_folder(media_dir, emulator=emu, journal=journal, progress="none")
    new = {"source_bytes", "repaired", "repair", "repaired_path"}
    with sqlite3.connect(journal) as db:  # as an older mediakit wrote it
        for name in new:
            db.execute(f"ALTER TABLE files DROP COLUMN {name}")
    assert new.isdisjoint({f.name for f in fields(FileRecord)} & _columns(journal))
    read = mk.open_journal(journal).items
    assert read["state"].tolist() == ["succeeded"] and not read["repaired"].any()
    assert read["source_bytes"].tolist() == [photo.stat().st_size]
    again = mk.upload_folder(media_dir, emulator=emu, journal=journal, progress="none")
    assert again.counts == {"skipped": 1}
    assert again.items["media_id"].tolist() == first.items["media_id"].tolist()
    assert new <= _columns(journal)
    Journal(journal).close()
    emu.close()


def _columns(journal: Path) -> set[str]:
    with sqlite3.connect(journal) as db:
        return {row[1] for row in db.execute("PRAGMA table_info(files)")}


def test_a_script_without_a_main_guard_runs_once(tmp_path: Path) -> None:
    """Workers never import the caller's main script: one without an `if __name__ ==
    "__main__":` guard is not run again in each worker (it would upload again)."""
    folder = tmp_path / "media"
    folder.mkdir()
    mf.make_video(folder / "fast.mp4", fps=62.5)
    script = tmp_path / "plain.py"
    script.write_text(
        f"""
import mediakit as mk
print("TOP LEVEL", flush=True)
emu = mk.Emulator(state={str(tmp_path / "e.sqlite")!r}, processing_seconds=0.5)
result = mk.upload_folder({str(folder)!r}, emulator=emu, fix=True, journal=False,
                          repair_dir={str(tmp_path / "repairs")!r}, progress="text")
"""
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("TOP LEVEL") == 1
    assert "1 uploaded to the emulator, 1 repaired in" in out.stdout


# --- plan and options -------------------------------------------------------------------------


def test_plan_uses_the_same_verdicts(media_dir: Path) -> None:
    mf.make_jpeg(media_dir / "photo.jpg")
    mf.make_video(media_dir / "fast.mp4", fps=62.5)
    mf.make_video(media_dir / "long.mp4", seconds=150, fps=1, width=32, height=32)
    planned = mk.plan(media_dir)
    files = planned.files
    by_name = files.set_index(files["path"].map(lambda p: Path(p).name))
    assert by_name["ok"].to_dict() == {"fast.mp4": False, "long.mp4": False, "photo.jpg": True}
    assert by_name.loc["fast.mp4", "problem"].startswith(
        "62.5 fps is over the 60 fps limit for tweet_video — "
    )
    assert by_name["fixable"].to_dict() == {"fast.mp4": True, "long.mp4": False, "photo.jpg": False}
    assert planned.requests["INIT"] == 1  # only what would be sent
    loose = mk.plan(media_dir, limits=mk.Limits(video_max_fps=120, max_video_duration_s=600))
    assert loose.files["ok"].all()


async def test_limits_decide_what_a_batch_sends(emu: Emulator, media_dir: Path) -> None:
    """Premium limits: a 150 s video is not refused when `limits=` allows it."""
    mf.make_video(media_dir / "long.mp4", seconds=150, fps=1, width=32, height=32)
    refused = await mk.upload_folder_async(media_dir, emulator=emu, progress="none", journal=False)
    assert refused.counts == {"invalid": 1}
    assert "150 s is over the 140 s limit for tweet_video — trim it to 140 s" in str(
        refused.items["error_message"][0]
    )
    judged = await mk.upload_folder_async(
        media_dir,
        emulator=emu,
        progress="none",
        journal=False,
        limits=mk.Limits(max_video_duration_s=600),
    )
    assert sent(emu)[0] == "INIT"  # sent: the emulator judges by its own (X's) limits
    assert judged.counts == {"failed": 1}


def test_repair_hints_in_a_frame(emu: Emulator, media_dir: Path) -> None:
    mf.make_video(media_dir / "fast.mp4", fps=62.5)
    frame = pd.DataFrame({"path": [str(media_dir / "fast.mp4")], "campaign": ["spring"]})
    result = mk.upload_files(frame, emulator=emu, progress="none", journal=False)
    assert result.items["campaign"].tolist() == ["spring"]
    assert result.items["error_message"].tolist() == [
        "62.5 fps is over the 60 fps limit for tweet_video — re-encode at 60 fps or less "
        "(fix=True or mk.repair fixes it)"
    ]
