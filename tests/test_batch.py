"""Batches against the emulator: every file ends in one state, politely, whatever happens."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pytest

import mediakit as mk
from mediakit import ManualClock, ScaledClock
from mediakit._batch import Batch, BatchInput
from mediakit._client import MediaClient, RetryPolicy
from mediakit._media import inspect_file
from mediakit._records import Event, FileRecord
from mediakit.emulator import Emulator, running

from . import mediafactory as mf

FAST = RetryPolicy(backoff_base_s=0.2, backoff_max_s=2)


@pytest.fixture
def emulator(tmp_path: Path):
    emu = Emulator(
        clock=ScaledClock(50), seed=5, processing_seconds=(5.0, 10.0), state=tmp_path / "b.sqlite"
    )
    yield emu
    emu.close()


def mixed_folder(root: Path) -> Path:
    folder = root / "campaign"
    (folder / "nested").mkdir(parents=True)
    mf.make_jpeg(folder / "photo.jpg", 64, 48)
    mf.make_png(folder / "nested" / "chart.png", 30, 20)
    mf.make_gif(folder / "anim.gif", frames=4)
    mf.make_mp4(folder / "clip_a.mp4", seconds=1.0)
    mf.make_mp4(folder / "clip_b.mp4", seconds=2.0, width=128, height=96)
    mf.make_srt(folder / "subs.srt")
    mf.make_noise(folder / "notes.bin", 2000)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / ".hidden.png").write_bytes(b"x")
    os.mkfifo(folder / "pipe")
    return folder


async def test_a_mixed_folder(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = mixed_folder(tmp_path)
    result = await mk.upload_folder_async(folder, emulator=emulator)
    items = result.items.set_index("path")
    name = {Path(p).name: p for p in items.index}
    assert sorted(name) == sorted(
        [
            "photo.jpg",
            "chart.png",
            "anim.gif",
            "clip_a.mp4",
            "clip_b.mp4",
            "subs.srt",
            "notes.bin",
            "empty.jpg",
            "pipe",
        ]
    )
    states = {n: items.loc[p, "state"] for n, p in name.items()}
    assert states == {
        "photo.jpg": "succeeded",
        "chart.png": "succeeded",
        "anim.gif": "succeeded",
        "clip_a.mp4": "succeeded",
        "clip_b.mp4": "succeeded",
        "subs.srt": "succeeded",
        "notes.bin": "invalid",
        "empty.jpg": "invalid",
        "pipe": "invalid",
    }
    assert "unrecognized" in items.loc[name["notes.bin"], "error_message"]
    assert "empty" in items.loc[name["empty.jpg"], "error_message"]
    assert "FIFO" in items.loc[name["pipe"], "error_message"]
    categories = {
        n: items.loc[p, "media_category"] for n, p in name.items() if states[n] == "succeeded"
    }
    assert categories == {
        "photo.jpg": "tweet_image",
        "chart.png": "tweet_image",
        "anim.gif": "tweet_gif",
        "clip_a.mp4": "tweet_video",
        "clip_b.mp4": "tweet_video",
        "subs.srt": "subtitles",
    }
    for n in ("clip_a.mp4", "anim.gif"):
        row = items.loc[name[n]]
        assert row["processing_s"] > 0 and row["status_polls"] >= 1
        held = emulator.media_by_id(row["media_id"])
        assert held is not None and held.state == "succeeded"
    assert items["media_id"].dropna().map(lambda v: isinstance(v, str) and len(v) == 19).all()
    assert not result.ok and len(result.failures) == 3
    assert result.target == "emulator"
    out = capsys.readouterr().out
    assert "6 uploaded to the emulator, 3 invalid (see result.failures) in" in out
    assert result.summary() in out


class HeldClock(ManualClock):
    """A manual clock whose sleeps wait until `release` is set (then jump, as ManualClock's)."""

    def __init__(self, start: float) -> None:
        super().__init__(start)
        self.release = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        await asyncio.wait_for(self.release.wait(), timeout=60)  # else: a slot was held
        await super().sleep(seconds)


async def test_longest_processing_first_and_processing_holds_no_slot(
    tmp_path: Path, media_dir: Path
) -> None:
    clock = HeldClock(1_800_000_000)
    emu = Emulator(clock=clock, processing_seconds=30.0, state=tmp_path / "s.sqlite")
    small = mf.make_mp4(media_dir / "small.mp4", seconds=1.0)
    big = mf.make_mp4(media_dir / "big.mp4", seconds=2.0, width=160, height=120)
    image = mf.make_png(media_dir / "i.png")
    gif = mf.make_gif(media_dir / "g.gif", frames=3)

    def second_finalize_lets_time_run(event: Event) -> None:
        if event.command == "FINALIZE" and event.ok and event.path == str(small.absolute()):
            clock.release.set()

    # Time stands still (the poller cannot see the big video's processing end) until the
    # small video's FINALIZE: if processing held the one slot, that would never come.
    result = await mk.upload_files_async(
        [image, small, gif, big],
        emulator=emu,
        concurrency=1,
        progress="none",
        on_event=second_finalize_lets_time_run,
    )
    assert result.ok
    inits = [r for r in emu.requests if r.command == "INIT"]
    by_id = {m.media_id: m for m in emu.media}
    order = [by_id[r.media_id].media_category for r in inits]  # type: ignore[index]
    sizes = [by_id[r.media_id].total_bytes for r in inits]  # type: ignore[index]
    assert order == ["tweet_video", "tweet_video", "tweet_gif", "tweet_image"]
    assert sizes[0] > sizes[1]  # the bigger video first
    # With one upload slot, the second video's FINALIZE came before the first one's processing
    # ended: waiting for X held no slot.
    finalizes = [r for r in emu.requests if r.command == "FINALIZE"]
    first_done = by_id[inits[0].media_id].finalized_at + 30  # type: ignore[operator,index]
    assert finalizes[1].started_at < first_done
    emu.close()


async def test_polls_respect_check_after_secs(emulator: Emulator, media_dir: Path) -> None:
    clips = [mf.make_mp4(media_dir / f"c{i}.mp4", seconds=1.0) for i in range(5)]
    result = await mk.upload_files_async(clips, emulator=emulator, progress="none")
    assert result.ok
    for media_id in result.items["media_id"]:
        log = [
            r
            for r in emulator.requests
            if r.media_id == media_id and r.command in ("FINALIZE", "STATUS")
        ]
        for previous, poll in pairwise(log):
            assert poll.started_at - previous.finished_at >= 1.0 - 1e-6


@pytest.mark.parametrize("where", ["asgi", "socket"])
async def test_faults_every_file_ends_with_a_reason(
    tmp_path: Path, media_dir: Path, where: str
) -> None:
    emu = Emulator(
        clock=ScaledClock(100),
        seed=8,
        processing_seconds=(2.0, 4.0),
        faults={"APPEND": {503: 0.2}, "STATUS": {500: 0.2}, "INIT": {429: 0.2}},
        drop_rate=0.1,
        processing_failure_rate=0.2,
        rate_window_s=60,
        state=tmp_path / "f.sqlite",
    )
    files = [mf.make_png(media_dir / f"p{i}.png", 80 + i, 60) for i in range(6)]
    files += [mf.make_mp4(media_dir / f"c{i}.mp4", seconds=1.0) for i in range(4)]
    retry = RetryPolicy(max_attempts=8, backoff_base_s=0.2, backoff_max_s=2)
    if where == "asgi":
        result = await mk.upload_files_async(
            files, emulator=emu, retry=retry, chunk_size=64 * 1024, progress="none"
        )
    else:
        with running(emu) as url:
            result = await mk.upload_files_async(
                files,
                base_url=url,
                retry=retry,
                clock=emu.clock,
                chunk_size=64 * 1024,
                progress="none",
            )
    items = result.items
    assert len(items) == 10 and set(items["state"]) <= {"succeeded", "failed"}
    assert (items["state"] == "succeeded").sum() >= 5
    failed = items[items["state"] == "failed"]
    assert failed["error_message"].notna().all()
    assert (items["retries"] > 0).any()
    events = result.events
    assert (events["http_status"].isin([500, 503, 429])).any()
    emu.close()


async def test_dataframe_input_carries_alt_text_category_and_columns(
    emulator: Emulator, media_dir: Path
) -> None:
    files = pd.DataFrame(
        {
            "path": [
                str(mf.make_png(media_dir / "a.png", 10, 10)),
                str(mf.make_mp4(media_dir / "b.mp4")),
            ],
            "alt_text": ["A square", None],
            "category": [None, "dm_video"],
            "campaign": ["spring", "summer"],
        }
    )
    result = await mk.upload_files_async(files, emulator=emulator, progress="none")
    items = result.items
    assert list(items["campaign"]) == ["spring", "summer"]
    assert list(items["media_category"]) == ["tweet_image", "dm_video"]
    assert items.loc[0, "alt_text"] == "A square"
    assert emulator.media_by_id(items.loc[0, "media_id"]).alt_text == "A square"  # type: ignore[union-attr]
    assert emulator.media_by_id(items.loc[1, "media_id"]).media_category == "dm_video"  # type: ignore[union-attr]


def test_sync_call_in_a_script_and_in_a_running_loop(emulator: Emulator, media_dir: Path) -> None:
    path = mf.make_png(media_dir / "a.png")
    result = mk.upload_files([path], emulator=emulator, progress="none")
    assert result.ok
    # A Jupyter cell: a loop already runs in this thread. nest-asyncio2 patches asyncio
    # process-wide once applied, so this part runs in a process of its own.
    script = f"""
import asyncio, threading
import mediakit as mk
from mediakit.emulator import Emulator

emu = Emulator(state={str(media_dir / "cell.sqlite")!r})

async def cell():
    loop_thread = threading.get_ident()
    result = mk.upload_files([{str(path)!r}], emulator=emu)
    assert threading.get_ident() == loop_thread
    return result

result = asyncio.run(cell())
print("OK" if result.ok else "FAILED", result.items.loc[0, "media_id"])
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("1 uploaded to the emulator in")  # the one-line summary
    assert lines[-1].startswith("OK ") and len(lines[-1].split()[1]) == 19


def until(condition: Callable[[], bool], timeout_s: float = 120) -> None:
    """Wait for a state (the deadline only ends a test that would hang, under any load)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the state never came"
        time.sleep(0.02)


def test_background_job_cancel(tmp_path: Path, media_dir: Path) -> None:
    emu = Emulator(clock=ScaledClock(2), processing_seconds=60.0, state=tmp_path / "j.sqlite")
    clips = [mf.make_mp4(media_dir / f"c{i}.mp4") for i in range(3)]
    job = mk.upload_files(clips, emulator=emu, wait=False, progress="none")
    until(lambda: (job.items["state"] == "processing").sum() == 3)  # live while it runs
    assert not job.done()
    job.cancel()
    result = job.wait(timeout=10)
    assert job.done()
    assert list(result.items["state"]) == ["cancelled"] * 3
    emu.close()


async def test_cancelling_the_task_ends_files_cancelled(tmp_path: Path, media_dir: Path) -> None:
    emu = Emulator(clock=ScaledClock(2), processing_seconds=60.0, state=tmp_path / "c.sqlite")
    holder = {}
    task = asyncio.create_task(
        mk.upload_files_async(
            [mf.make_mp4(media_dir / "c.mp4"), mf.make_png(media_dir / "p.png")],
            emulator=emu,
            progress="none",
            _on_batch=lambda live: holder.setdefault("live", live),
        )
    )

    def ready() -> bool:
        return "live" in holder and sorted(holder["live"]().items["state"]) == [
            "processing",
            "succeeded",
        ]

    deadline = time.monotonic() + 120  # on the state; the deadline only ends a hung test
    while not ready():
        assert time.monotonic() < deadline, "the batch never got there"
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    states = sorted(holder["live"]().items["state"])
    assert states == ["cancelled", "succeeded"]
    requests_then = len(emu.requests)
    await asyncio.sleep(0.2)
    assert len(emu.requests) == requests_then  # nothing more was sent
    emu.close()


async def test_a_file_that_changes_while_uploading(emulator: Emulator, media_dir: Path) -> None:
    path = mf.make_big_file(media_dir / "grow.mp4", 512 * 1024, header="mp4")
    check = inspect_file(path, chunk_size=64 * 1024)
    record = FileRecord(batch_id="b", file_id=0, path=str(path), segments=check.segments)

    def grow(event) -> None:
        if event.command == "APPEND" and event.segment_index == 0:
            with open(path, "ab") as handle:
                handle.write(b"more")

    client = MediaClient(emulator=emulator, segment_concurrency=1, chunk_size=64 * 1024)
    batch = Batch(client, [BatchInput(check, record)], batch_id="b", on_event=grow)
    await batch.run()
    await client.aclose()
    assert record.state == "failed"
    assert "changed while uploading" in (record.error_message or "")


async def test_expired_media_id_gets_a_clear_reason(tmp_path: Path, media_dir: Path) -> None:
    clock = ManualClock(1_800_000_000)
    emu = Emulator(
        clock=clock, processing_seconds=600.0, media_ttl_s=10.0, state=tmp_path / "e.sqlite"
    )
    result = await mk.upload_files_async(
        [mf.make_mp4(media_dir / "c.mp4")], emulator=emu, progress="none"
    )
    row = result.items.iloc[0]
    assert row["state"] == "failed"
    assert "no longer knows media id" in row["error_message"] and "expired" in row["error_message"]
    emu.close()


async def test_missing_folder_and_empty_folder(emulator: Emulator, tmp_path: Path, capsys) -> None:
    with pytest.raises(mk.MediaError, match="no such folder"):
        mk.upload_folder(tmp_path / "nope", emulator=emulator)
    (tmp_path / "empty").mkdir()
    result = await mk.upload_folder_async(tmp_path / "empty", emulator=emulator)
    assert len(result.items) == 0 and result.ok
    assert "no media files" in capsys.readouterr().out


def test_default_target_is_the_builtin_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # Credentials in the environment never turn a call into a real upload by themselves.
    monkeypatch.setenv("X_API_KEY", "k")
    monkeypatch.setenv("X_API_SECRET", "s")
    monkeypatch.setenv("X_ACCESS_TOKEN", "1-t")
    monkeypatch.setenv("X_ACCESS_TOKEN_SECRET", "ts")
    folder = tmp_path / "campaign"
    folder.mkdir()
    mf.make_jpeg(folder / "a.jpg")
    result = mk.upload_folder(folder, progress="none")
    assert result.ok and result.target == "emulator"
    media_id = result.items.loc[0, "media_id"]
    # The built-in emulator's state lives in the cache: a new one (a restarted kernel) knows the id.
    again = Emulator.builtin()
    assert again.media_by_id(media_id) is not None
    assert again.state_path.is_relative_to(tmp_path / "cache")
    again.close()


def test_ctrl_c_in_a_blocking_call_cancels_cleanly(tmp_path: Path) -> None:
    """KeyboardInterrupt (Ctrl-C, "interrupt kernel") ends unfinished files `cancelled`."""
    folder = tmp_path / "media"
    folder.mkdir()
    mf.make_png(folder / "p.png")
    for i in range(3):
        mf.make_mp4(folder / f"c{i}.mp4")
    script = f"""
import os, signal, sqlite3, threading, time
import mediakit as mk
emu = mk.Emulator(state={str(tmp_path / "e.sqlite")!r}, processing_seconds=60.0)
JOURNAL = {str(tmp_path / "journal.sqlite")!r}

def states():
    try:
        with sqlite3.connect(JOURNAL, timeout=5) as db:
            return sorted(s for (s,) in db.execute("SELECT state FROM files"))
    except sqlite3.Error:  # not made yet
        return []

def interrupt():
    # On the journal's states, not on time: the photo done, the three clips processing.
    while states() != ["processing", "processing", "processing", "succeeded"]:
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=interrupt, daemon=True).start()
try:
    mk.upload_folder({str(folder)!r}, emulator=emu, journal={str(tmp_path / "journal.sqlite")!r})
except KeyboardInterrupt:
    print("INTERRUPTED")
items = mk.open_journal({str(tmp_path / "journal.sqlite")!r}).items
print(sorted(items["state"]))
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert (
        "1 uploaded to the emulator, 3 cancelled (see result.failures) in" in lines[0]
    )  # the summary still printed
    assert lines[1] == "INTERRUPTED"
    assert lines[2] == "['cancelled', 'cancelled', 'cancelled', 'succeeded']"
