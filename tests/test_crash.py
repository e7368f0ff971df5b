"""Crashes: the client SIGKILLed at seeded random points, the emulator server SIGKILLed and
restarted on its state file. Nothing lost, nothing that succeeded uploaded again, every file
final at the end.

Kill points are counted, not timed: the uploading process kills itself (SIGKILL, no cleanup)
when it sees its N-th HTTP attempt, or right after its journal wrote its N-th attempt or
file change; N and the kind of point are drawn from a seed. The server is killed when the
journal shows N attempts. The uploader and the server run real time: they are other
processes.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import mediakit as mk
from mediakit.emulator import Emulator, running

from . import mediafactory as mf

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[1]
CLIENT_KILLS = 10
FINAL_OK = {"succeeded", "skipped"}

UPLOADER = """
import json, os, signal, sys
import mediakit as mk
from mediakit import _journaling

config = json.loads(sys.argv[1])
kill = config.get("kill") or {}
seen = {"events": 0, "journal-events": 0, "journal-files": 0}


def counted(kind):
    seen[kind] += 1
    if kill.get("where") == kind and seen[kind] == kill["after"]:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no flush: a crash


write_event, write_files = _journaling.JournalWriter.event, _journaling.JournalWriter.files


def event(self, e):
    write_event(self, e)
    counted("journal-events")


def files(self, records):
    write_files(self, records)
    counted("journal-files")


_journaling.JournalWriter.event, _journaling.JournalWriter.files = event, files
result = mk.upload_folder(
    config["folder"],
    base_url=config["url"],
    journal=config["journal"],
    progress="none",
    chunk_size=64 * 1024,
    segment_concurrency=2,
    retry=mk.RetryPolicy(backoff_base_s=0.2, backoff_max_s=2.0, max_attempts=12),
    on_event=lambda e: counted("events"),
)
print(json.dumps({
    "seen": seen,
    "rows": [[r.path, r.state, r.media_id, r.error_message] for r in result.records],
}))
"""


def make_folder(folder: Path) -> Path:
    """Ten files of every kind: images (one segment), GIFs and videos (processing), and a
    video of ten segments (a session a kill can cut in half)."""
    folder.mkdir(parents=True)
    for i in range(5):
        mf.make_png(folder / f"photo{i}.png", 20 + 7 * i, 15 + i)
    for i in range(2):
        mf.make_gif(folder / f"anim{i}.gif", frames=3 + i)
    mf.make_mp4(folder / "clip0.mp4", seconds=1.0)
    mf.make_mp4(folder / "clip1.mp4", seconds=1.0, width=96, height=64)
    mf.make_big_file(folder / "long.mp4", 10 * 64 * 1024 - 5000, header="mp4")
    return folder


def upload(config: dict[str, Any], *, expect_kill: bool = False) -> dict[str, Any] | None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.run(
        [sys.executable, "-c", UPLOADER, json.dumps(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if expect_kill and child.returncode == -signal.SIGKILL:
        return None
    assert child.returncode == 0, (child.returncode, child.stderr[-3000:])
    out: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return out


def journal_rows(journal: Path) -> dict[str, tuple[str, str | None]]:
    """The newest journaled state and media id of each path."""
    with sqlite3.connect(journal) as db:
        rows = db.execute(
            "SELECT f.path, f.state, f.media_id FROM files f JOIN batches b USING (batch_id) "
            "ORDER BY b.started_at, f.rowid"
        ).fetchall()
    return {path: (state, media_id) for path, state, media_id in rows}


def media_ids_by_path(journal: Path) -> dict[str, set[str]]:
    """Every media id the journal ever saw for each path (INITs answered, across batches)."""
    with sqlite3.connect(journal) as db:
        rows = db.execute(
            "SELECT path, media_id FROM events WHERE command = 'INIT' AND ok = 1"
        ).fetchall()
    found: dict[str, set[str]] = {}
    for path, media_id in rows:
        found.setdefault(path, set()).add(media_id)
    return found


def finalized(emu_media: list[Any]) -> set[str]:
    return {m.media_id for m in emu_media if m.state not in ("initialized", "expired")}


def check_round(
    rows: list[list[Any]], before: dict[str, tuple[str, str | None]], journal: Path, held: set[str]
) -> None:
    """The promises, after a crash and a rerun."""
    states = {path: state for path, state, _, _ in rows}
    assert set(states.values()) <= FINAL_OK, rows  # nothing lost, every file final
    final_ids = {path: media_id for path, _, media_id, _ in rows}
    for path, (state, media_id) in before.items():
        if state == "succeeded":  # done before the crash: not uploaded again
            assert states[path] == "skipped" and final_ids[path] == media_id, (path, rows)
    # Each file was finalized by X exactly once, and that is the media id it ends with.
    for path, media_ids in media_ids_by_path(journal).items():
        assert media_ids & held == {final_ids[path]}, (path, media_ids & held, final_ids[path])


def test_sigkilled_clients_lose_nothing_and_upload_nothing_twice(tmp_path: Path) -> None:
    emu = Emulator(
        processing_seconds=(0.3, 1.0), latency=0.002, seed=4, state=tmp_path / "emu.sqlite"
    )
    with emu, running(emu) as url:
        # A run without a crash says how many kill points there are of each kind.
        dry = upload(
            {
                "folder": str(make_folder(tmp_path / "dry")),
                "url": url,
                "journal": str(tmp_path / "dry.sqlite"),
            }
        )
        assert dry is not None and {s for _, s, _, _ in dry["rows"]} == {"succeeded"}
        points = dry["seen"]
        kinds = sorted(points)
        rng = random.Random(20260513)
        for round_ in range(CLIENT_KILLS):
            where = kinds[round_ % len(kinds)]
            after = rng.randint(1, points[where] - 1)
            folder = make_folder(tmp_path / f"round{round_}")
            journal = tmp_path / f"round{round_}.sqlite"
            config = {"folder": str(folder), "url": url, "journal": str(journal)}
            killed = upload({**config, "kill": {"where": where, "after": after}}, expect_kill=True)
            assert killed is None, f"round {round_}: {where} {after} was never reached"
            before = journal_rows(journal) if journal.exists() else {}
            rerun = upload(config)
            assert rerun is not None
            check_round(rerun["rows"], before, journal, finalized(emu.media))


def test_killed_after_journaling_finalize_but_before_the_outcome(tmp_path: Path) -> None:
    """The one instant between the journal writing X's FINALIZE answer and the file's new
    state: the rerun must know the image is done, and not upload it again."""
    emu = Emulator(processing_seconds=0.5, state=tmp_path / "emu.sqlite")
    folder = tmp_path / "one"
    folder.mkdir()
    mf.make_png(folder / "photo.png")
    journal = tmp_path / "j.sqlite"
    with emu, running(emu) as url:
        config = {"folder": str(folder), "url": url, "journal": str(journal)}
        # INIT, APPEND, FINALIZE: the third attempt the journal writes is FINALIZE's answer.
        killed = upload(
            {**config, "kill": {"where": "journal-events", "after": 3}}, expect_kill=True
        )
        assert killed is None
        assert journal_rows(journal)[str(folder / "photo.png")][0] == "uploading"
        rerun = upload(config)
        assert rerun is not None
        held = finalized(emu.media)
    [(_, state, media_id, _)] = rerun["rows"]
    assert state == "succeeded" and held == {media_id}  # one media id, finalized once
    with sqlite3.connect(journal) as db:
        inits = db.execute("SELECT count(*) FROM events WHERE command = 'INIT'").fetchone()[0]
    assert inits == 1  # never uploaded again


# --- the server killed and restarted on its state file ----------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def emulator_process(state: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    """`mediakit emulator` in its own process, listening once this yields."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mediakit",
            "emulator",
            "--port",
            str(port),
            "--state",
            str(state),
            "--processing-seconds",
            "0.5,1.5",
            "--latency",
            "5ms",
            "--rate-limits",
            "off",
            "--seed",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert server.stdout is not None
        assert "listening on" in server.stdout.readline()  # it listens before it says so
        yield server
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate(timeout=30)


def attempts_journaled(journal: Path) -> int:
    try:
        with sqlite3.connect(journal, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_a_sigkilled_server_restarted_on_its_state_loses_nothing(tmp_path: Path) -> None:
    state, port = tmp_path / "emu.sqlite", free_port()
    url = f"http://127.0.0.1:{port}"
    folder = make_folder(tmp_path / "media")
    journal = tmp_path / "journal.sqlite"
    config = {"folder": str(folder), "url": url, "journal": str(journal)}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(7)
    kill_at = sorted(rng.sample(range(4, 40), 3))  # after this many journaled attempts
    server = emulator_process(state, port)
    running_server = server.__enter__()
    uploader = subprocess.Popen(
        [sys.executable, "-c", UPLOADER, json.dumps(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    kills = 0
    try:
        for at in kill_at:
            while attempts_journaled(journal) < at and uploader.poll() is None:
                time.sleep(0.005)  # waiting on the journal's state
            if uploader.poll() is not None:
                break
            running_server.send_signal(signal.SIGKILL)
            server.__exit__(None, None, None)
            kills += 1
            server = emulator_process(state, port)  # the same state file, the same port
            running_server = server.__enter__()
        out, err = uploader.communicate(timeout=300)
        assert uploader.returncode == 0, err[-3000:]
        first = json.loads(out.strip().splitlines()[-1])
        rerun = upload(config)  # whatever the kills cost, a rerun finishes the rest
        assert rerun is not None
    finally:
        if uploader.poll() is None:
            uploader.kill()
        server.__exit__(None, None, None)
    assert kills >= 2, f"the batch ended before the server could be killed ({kill_at})"
    before = {path: (state_, media_id) for path, state_, media_id, _ in first["rows"]}
    with Emulator(state=state) as restarted:  # what the state file holds, read directly
        media = restarted.media
    held = finalized(media)
    check_round(rerun["rows"], before, journal, held)
    # No acknowledged segment was lost: every APPEND the server answered 2xx is in its state.
    acked: dict[str, set[int]] = {}
    with sqlite3.connect(journal) as db:
        for media_id, index in db.execute(
            "SELECT media_id, segment_index FROM events WHERE command = 'APPEND' AND ok = 1"
        ):
            acked.setdefault(media_id, set()).add(index)
    by_id = {m.media_id: m for m in media}
    for media_id, indexes in acked.items():
        record = by_id[media_id]
        if record.state in ("initialized",):
            assert record.segments >= len(indexes), (media_id, record.segments, indexes)
        else:
            assert record.received_bytes == record.total_bytes  # all of it, finalized
    shutil.rmtree(folder, ignore_errors=True)
    assert mk  # the public API is what the uploader used
