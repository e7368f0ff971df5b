"""The journal: written as it happens, read back anywhere, and what resume does with it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import mediakit as mk
from mediakit import ManualClock, ScaledClock
from mediakit._journal import SCHEMA_VERSION, Journal
from mediakit.emulator import Emulator

from . import mediafactory as mf

ROOT = Path(__file__).resolve().parents[1]


def commands(emu: Emulator, command: str) -> list:
    return [r for r in emu.requests if r.command == command]


async def test_journal_reads_back_the_same_result(tmp_path: Path, media_dir: Path) -> None:
    emu = Emulator(
        clock=ScaledClock(50), processing_seconds=(5.0, 8.0), state=tmp_path / "e.sqlite"
    )
    files = pd.DataFrame(
        {
            "path": [
                str(mf.make_png(media_dir / "a.png")),
                str(mf.make_mp4(media_dir / "c.mp4")),
                str(mf.make_noise(media_dir / "n.bin", 50)),
            ],
            "campaign": ["x", "y", "z"],
        }
    )
    journal = tmp_path / "j.sqlite"
    result = await mk.upload_files_async(files, emulator=emu, journal=journal, progress="none")
    again = mk.open_journal(journal)
    assert again.batch_id == result.batch_id and again.target == "emulator"
    left, right = result.items.drop(columns=["expired"]), again.items.drop(columns=["expired"])
    pd.testing.assert_frame_equal(left, right)
    pd.testing.assert_frame_equal(result.events, again.events)
    assert Journal(journal).schema_version == SCHEMA_VERSION
    with sqlite3.connect(journal) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"batches", "files", "events", "meta"} <= tables
    emu.close()


async def test_rerun_skips_what_succeeded_and_force_uploads_again(
    tmp_path: Path, media_dir: Path
) -> None:
    emu = Emulator(clock=ScaledClock(50), processing_seconds=5.0, state=tmp_path / "e.sqlite")
    paths = [
        mf.make_png(media_dir / "a.png"),
        mf.make_mp4(media_dir / "c.mp4"),
        mf.make_noise(media_dir / "n.bin", 9),
    ]
    journal = tmp_path / "j.sqlite"
    first = await mk.upload_files_async(paths, emulator=emu, journal=journal, progress="none")
    inits = len(commands(emu, "INIT"))
    second = await mk.upload_files_async(paths, emulator=emu, journal=journal, progress="none")
    assert len(commands(emu, "INIT")) == inits  # nothing uploaded again
    assert list(second.items["state"]) == ["skipped", "skipped", "invalid"]
    assert list(second.items["media_id"][:2]) == list(first.items["media_id"][:2])
    assert second.ok is False and "2 already uploaded (skipped)" in second.summary()
    third = await mk.upload_files_async(
        paths[:2], emulator=emu, journal=journal, force=True, progress="none"
    )
    assert list(third.items["state"]) == ["succeeded", "succeeded"]
    assert set(third.items["media_id"]).isdisjoint(set(first.items["media_id"]))
    # Another target never reuses the emulator's media ids.
    other = Emulator(state=tmp_path / "other.sqlite")
    fourth = await mk.upload_files_async(
        paths[:1], emulator=other, journal=journal, progress="none"
    )
    assert list(fourth.items["state"]) == ["succeeded"]
    # A changed file is a different file.
    with open(paths[0], "ab") as handle:
        handle.write(b"\0")
    fifth = await mk.upload_files_async(paths[:1], emulator=emu, journal=journal, progress="none")
    assert list(fifth.items["state"]) == ["succeeded"]
    all_batches = mk.open_journal(journal, batch="all")
    assert len(all_batches.items) == 3 + 3 + 2 + 1 + 1
    assert (
        mk.open_journal(journal, batch=first.batch_id)
        .items["media_id"]
        .equals(first.items["media_id"])
    )
    with pytest.raises(mk.MediaError, match="no batch"):
        mk.open_journal(journal, batch="nope")
    emu.close()
    other.close()


async def test_expired_media_is_uploaded_again(tmp_path: Path, media_dir: Path) -> None:
    clock = ManualClock(1_800_000_000)
    emu = Emulator(clock=clock, state=tmp_path / "e.sqlite")
    path = mf.make_png(media_dir / "a.png")
    journal = tmp_path / "j.sqlite"
    first = await mk.upload_files_async([path], emulator=emu, journal=journal, progress="none")
    clock.advance(86400 - 30)  # expires within the resume margin: upload again
    expiring = mk.open_journal(journal).items
    assert bool(expiring.loc[0, "expired"]) is False
    second = await mk.upload_files_async([path], emulator=emu, journal=journal, progress="none")
    assert second.items.loc[0, "state"] == "succeeded"
    assert second.items.loc[0, "media_id"] != first.items.loc[0, "media_id"]
    emu.close()


async def test_resume_polls_processing_and_continues_appends(
    tmp_path: Path, media_dir: Path
) -> None:
    # Real time: the small clip processes for 2 s, the big file for half a second.
    emu = Emulator(
        processing_seconds=lambda rng, size, category: 2.0 if size < 100_000 else 0.5,
        latency=0.03,
        state=tmp_path / "e.sqlite",
    )
    clip = mf.make_mp4(media_dir / "c.mp4")
    big = mf.make_big_file(media_dir / "big.mp4", 40 * 64 * 1024, header="mp4")
    journal = tmp_path / "j.sqlite"
    holder = {}
    task = asyncio.create_task(
        mk.upload_files_async(
            [clip, big],
            emulator=emu,
            journal=journal,
            progress="none",
            chunk_size=64 * 1024,
            segment_concurrency=1,
            _on_batch=lambda live: holder.setdefault("live", live),
        )
    )
    while True:
        await asyncio.sleep(0.02)
        items = holder["live"]().items if "live" in holder else None
        if (
            items is not None
            and "processing" in set(items["state"])
            and len(commands(emu, "APPEND")) >= 6
        ):
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stopped = mk.open_journal(journal).items.set_index("path")
    assert set(stopped["state"]) == {"cancelled"}
    big_id = stopped.loc[str(big), "media_id"]
    clip_id = stopped.loc[str(clip), "media_id"]
    acked = {
        r.segment_index for r in commands(emu, "APPEND") if r.media_id == big_id and r.status == 200
    }
    assert 0 < len(acked) < 40
    before = len(commands(emu, "APPEND"))
    resumed = await mk.upload_files_async(
        [clip, big],
        emulator=emu,
        journal=journal,
        progress="none",
        chunk_size=64 * 1024,
        segment_concurrency=1,
    )
    items = resumed.items.set_index("path")
    assert list(items["state"]) == ["succeeded", "succeeded"]
    assert items.loc[str(clip), "media_id"] == clip_id  # polled, not uploaded again
    assert items.loc[str(big), "media_id"] == big_id  # the same session, continued
    resent = [r.segment_index for r in commands(emu, "APPEND")[before:]]
    assert sorted(resent) == sorted(set(range(40)) - acked)
    assert [r for r in commands(emu, "INIT") if r.media_id in (clip_id, big_id)] == commands(
        emu, "INIT"
    )[:2]
    emu.close()


UPLOADER = """
import json, sys
import mediakit as mk
config = json.loads(sys.argv[1])
options = dict(journal=config["journal"], progress="none", chunk_size=64 * 1024, segment_concurrency=1)
if config.get("base_url"):
    options["base_url"] = config["base_url"]
result = mk.upload_folder(config["folder"], **options)
print(json.dumps({"states": dict(zip(result.items["path"], result.items["state"])),
                  "ids": dict(zip(result.items["path"], result.items["media_id"].astype(str)))}))
"""


def journal_states(journal: Path) -> dict[str, str]:
    if not journal.exists():
        return {}
    try:
        with sqlite3.connect(journal, timeout=5) as db:
            return {p: s for p, s in db.execute("SELECT path, state FROM files")}
    except sqlite3.OperationalError:
        return {}


def start_emulator(state: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mediakit",
            "emulator",
            "--port",
            "0",
            "--state",
            str(state),
            "--rate-limits",
            "off",
            *args,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().split("listening on ")[1].strip()
    return proc, url


@pytest.mark.parametrize("target", ["socket", "builtin"])
def test_sigkill_mid_batch_loses_nothing(tmp_path: Path, target: str) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    for i in range(3):
        mf.make_png(folder / f"p{i}.png", 40 + i, 30)
    for i in range(2):
        mf.make_mp4(folder / f"c{i}.mp4")
    mf.make_big_file(folder / "big.mp4", 30 * 64 * 1024, header="mp4")
    journal = tmp_path / "journal.sqlite"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    config = {"folder": str(folder), "journal": str(journal)}
    server = None
    if target == "socket":
        server, url = start_emulator(
            tmp_path / "emu.sqlite", "--processing-seconds", "4,6", "--latency", "40ms"
        )
        config["base_url"] = url
    try:
        uploader = subprocess.Popen(
            [sys.executable, "-c", UPLOADER, json.dumps(config)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = journal_states(journal)
            if "succeeded" in states.values() and "processing" in states.values():
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"the batch never got going: {journal_states(journal)}")
        uploader.send_signal(signal.SIGKILL)
        uploader.communicate(timeout=10)
        before = mk.open_journal(journal).items.set_index("path")
        done_before = {
            p: before.loc[p, "media_id"]
            for p in before.index
            if before.loc[p, "state"] == "succeeded"
        }
        processing_before = {
            p: before.loc[p, "media_id"]
            for p in before.index
            if before.loc[p, "state"] == "processing"
        }
        assert done_before and processing_before
        rerun = subprocess.run(
            [sys.executable, "-c", UPLOADER, json.dumps(config)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert rerun.returncode == 0, rerun.stderr
        after = json.loads(rerun.stdout.strip().splitlines()[-1])
        for path, media_id in done_before.items():
            assert after["states"][path] == "skipped" and after["ids"][path] == media_id
        for path, media_id in processing_before.items():
            assert after["states"][path] == "succeeded" and after["ids"][path] == media_id
        assert set(after["states"].values()) <= {"succeeded", "skipped"}
    finally:
        if server is not None:
            server.kill()
            server.communicate(timeout=10)


async def test_content_hash_makes_a_restored_copy_the_same_file(
    tmp_path: Path, media_dir: Path
) -> None:
    emu = Emulator(state=tmp_path / "e.sqlite")
    path = mf.make_png(media_dir / "a.png")
    journal = tmp_path / "j.sqlite"
    first = await mk.upload_files_async(
        [path], emulator=emu, journal=journal, content_hash=True, progress="none"
    )
    os.utime(path, (1_000_000_000, 1_000_000_000))  # restored from a backup: same bytes, new mtime
    by_mtime = await mk.upload_files_async([path], emulator=emu, journal=journal, progress="none")
    assert by_mtime.items.loc[0, "state"] == "succeeded"  # without the hash, a new mtime is new
    hashed = await mk.upload_files_async(
        [path], emulator=emu, journal=journal, content_hash=True, progress="none"
    )
    assert hashed.items.loc[0, "state"] == "skipped"
    assert hashed.items.loc[0, "media_id"] == first.items.loc[0, "media_id"]
    # Same mtime and size but other bytes: the hash says it is another file.
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, (1_000_000_000, 1_000_000_000))
    changed = await mk.upload_files_async(
        [path], emulator=emu, journal=journal, content_hash=True, progress="none"
    )
    assert changed.items.loc[0, "state"] != "skipped"  # uploaded again
    emu.close()
