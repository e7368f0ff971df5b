"""FINALIZE of a video answers before its decode, as X's does; the decode is part of processing.

Every test holds the decode on a gate (`verified`, wrapped) and synchronises on it and on the
states STATUS gives on a manual clock: nothing here waits for time to pass.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio.to_thread
import httpx
import pytest

from mediakit import ManualClock
from mediakit._detect import MediaInfo
from mediakit._verify import verified
from mediakit.emulator import Emulator, ProcessingCost, _core, _decoding, running

from . import mediafactory as mf
from .conftest import make_client
from .emuhelp import status, upload_bytes
from .test_bad_inputs import faststart

Base = tuple[str, httpx.AsyncBaseTransport | None]
COST = {"tweet_video": ProcessingCost(base_s=10.0)}  # no noise: 10 s exactly
DAMAGE = "no frame of the h264 stream decodes"


class DecodeGate:
    """`verified`, held until the test releases it; counts the decodes that ran."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.waiting = threading.Event()  # a STATUS looked for the decode to wait for it
        self.calls = 0

    def __call__(self, path: str, info: MediaInfo) -> MediaInfo:
        self.calls += 1
        self.entered.set()
        if not self.release.wait(60):
            raise AssertionError("the test never released the decode")
        return verified(path, info)

    async def wait_entered(self) -> None:
        assert await anyio.to_thread.run_sync(self.entered.wait, 60)

    async def release_when_waited_for(self) -> None:
        assert await anyio.to_thread.run_sync(self.waiting.wait, 20), "STATUS did not wait"
        self.release.set()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[DecodeGate]:
    held = DecodeGate()
    monkeypatch.setattr(_core, "verified", held)
    looked_up = _decoding.Decodes.running

    def running(self: _decoding.Decodes, media_id: str) -> object:
        held.waiting.set()
        return looked_up(self, media_id)

    monkeypatch.setattr(_decoding.Decodes, "running", running)
    yield held
    held.release.set()  # a failing test must not leave a decode (and close) hanging


@pytest.fixture(params=["asgi", "socket"])
def serve(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    opened: list[tuple[Emulator, object]] = []

    def make(**settings: object) -> tuple[Emulator, Base]:
        settings.setdefault("state", tmp_path / "state.sqlite")
        emulator = Emulator(**settings)  # type: ignore[arg-type]
        if request.param == "asgi":
            opened.append((emulator, None))
            return emulator, ("https://api.x.com", httpx.ASGITransport(app=emulator.app))
        context = running(emulator)
        url = context.__enter__()
        opened.append((emulator, context))
        return emulator, (url, None)

    yield make
    for emulator, context in reversed(opened):
        if context is not None:
            context.__exit__(None, None, None)  # type: ignore[attr-defined]
        emulator.close()


def damaged_mp4(folder: Path) -> bytes:
    """A valid index (moov first) pointing at junk: the headers pass, decoding does not."""
    src = mf.make_video(folder / "src.mp4", seconds=2, width=160, height=120, fps=25)
    fast = faststart(src, folder / "fast.mp4").read_bytes()
    mdat = fast.index(b"mdat") + 4
    return fast[:mdat] + random.Random(7).randbytes(256 * 1024)


async def info_of(client: httpx.AsyncClient, media_id: str) -> dict[str, object]:
    answer = await status(client, media_id)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]["processing_info"]  # type: ignore[no-any-return]


async def test_finalize_answers_pending_before_the_decode_and_status_waits_for_it(
    serve, gate: DecodeGate, media_dir: Path
) -> None:
    clock = ManualClock(1_800_000_000)
    emulator, base = serve(clock=clock, processing_costs=COST, keep_media=False)
    clip = mf.make_mp4(media_dir / "c.mp4").read_bytes()
    async with make_client(base) as c:
        media_id, done = await upload_bytes(c, clip, "tweet_video")
        # FINALIZE answered while the decode is held: it did not decode.
        assert done.status_code == 200, done.text
        assert done.json()["data"]["processing_info"] == {"state": "pending", "check_after_secs": 1}
        await gate.wait_entered()
        joined = emulator.state_path.with_suffix(".spool") / media_id / "media.bin"
        assert joined.exists()  # the decode still reads it
        assert await info_of(c, media_id) == {"state": "pending", "check_after_secs": 10}
        clock.advance(3.0)
        # The modelled time runs from FINALIZE, decode or not: 3 s of 10.
        assert await info_of(c, media_id) == {
            "state": "in_progress",
            "check_after_secs": 7,
            "progress_percent": 30,
        }
        clock.advance(7.0)
        # The model says done, the decode has not ended: STATUS waits for its result.
        waiting = asyncio.ensure_future(info_of(c, media_id))
        await gate.release_when_waited_for()
        assert await waiting == {"state": "succeeded", "progress_percent": 100}
    record = emulator.media_by_id(media_id)
    assert record is not None and record.processing_s == 10.0 and record.state == "succeeded"
    assert not record.bytes_on_disk and not joined.exists()  # removed once decoded
    assert gate.calls == 1


async def test_a_damaged_video_still_fails_at_processing_with_the_decode_error(
    serve, gate: DecodeGate, tmp_path: Path
) -> None:
    clock = ManualClock(1_800_000_000)
    emulator, base = serve(clock=clock, processing_costs=COST)
    data = damaged_mp4(tmp_path)
    async with make_client(base) as c:
        media_id, done = await upload_bytes(c, data, "tweet_video", media_type="video/mp4")
        assert done.status_code == 200, done.text
        assert done.json()["data"]["processing_info"] == {"state": "pending", "check_after_secs": 1}
        await gate.wait_entered()
        clock.advance(5.0)
        held = await info_of(c, media_id)
        assert held["state"] == "in_progress"  # never failed before the decode says so
        clock.advance(5.0)
        waiting = asyncio.ensure_future(info_of(c, media_id))
        await gate.release_when_waited_for()
        final = await waiting
    assert final["state"] == "failed", final
    error = final["error"]
    assert isinstance(error, dict)
    assert error["name"] == "InvalidMedia" and str(error["message"]).startswith(DAMAGE)
    record = emulator.media_by_id(media_id)
    assert record is not None and record.error_name == "InvalidMedia"


async def test_another_emulator_on_the_state_waits_for_the_decode(
    serve, gate: DecodeGate, media_dir: Path
) -> None:
    clock = ManualClock(1_800_000_000)
    _first, first_base = serve(clock=clock, processing_costs=COST)
    _second, second_base = serve(clock=clock, processing_costs=COST)
    clip = mf.make_mp4(media_dir / "c.mp4").read_bytes()
    async with make_client(first_base) as c:
        media_id, _done = await upload_bytes(c, clip, "tweet_video")
    await gate.wait_entered()
    async with make_client(second_base) as c:
        clock.advance(2.0)
        assert (await info_of(c, media_id))["state"] == "in_progress"
        clock.advance(8.0)
        waiting = asyncio.ensure_future(info_of(c, media_id))
        await gate.release_when_waited_for()
        assert await waiting == {"state": "succeeded", "progress_percent": 100}
    assert gate.calls == 1  # the second emulator waited for the first's decode


async def test_a_decode_its_process_left_is_taken_over(
    serve, gate: DecodeGate, media_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row names a decoder that no longer runs it: the next STATUS decodes it."""
    clock = ManualClock(1_800_000_000)
    _emulator, base = serve(clock=clock, processing_costs=COST)

    def lost(self: object, media_id: str, future: object, job: object) -> None:
        future.set_result(None)  # type: ignore[attr-defined]  # as if the process died

    monkeypatch.setattr(_decoding.Decodes, "start", lost)
    clip = mf.make_mp4(media_dir / "c.mp4").read_bytes()
    gate.release.set()
    async with make_client(base) as c:
        media_id, _done = await upload_bytes(c, clip, "tweet_video")
        clock.advance(10.0)
        assert gate.calls == 0
        assert await info_of(c, media_id) == {"state": "succeeded", "progress_percent": 100}
    assert gate.calls == 1


def test_a_decoder_of_another_process_is_alive_while_that_process_is() -> None:
    assert _decoding.decoder_alive("1", "state", "1")  # init runs as long as the machine
    assert not _decoding.decoder_alive(str(2**22 + 1), "state", "1")  # over Linux's pid_max
    assert not _decoding.decoder_alive(_decoding.this_decoder(), "state", "1")  # none here


async def test_close_waits_for_a_running_decode(
    gate: DecodeGate, media_dir: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"
    clock = ManualClock(1_800_000_000)
    emulator = Emulator(state=state, clock=clock, processing_costs=COST)
    clip = mf.make_mp4(media_dir / "c.mp4").read_bytes()
    async with make_client(("https://api.x.com", httpx.ASGITransport(app=emulator.app))) as c:
        media_id, _done = await upload_bytes(c, clip, "tweet_video")
    await gate.wait_entered()
    closing = threading.Thread(target=emulator.close)
    closing.start()
    gate.release.set()
    await anyio.to_thread.run_sync(closing.join)
    assert not [t for t in threading.enumerate() if t.name.startswith("mediakit-decode")]
    with sqlite3.connect(state) as db:
        decoder, outcome = db.execute(
            "SELECT decoder, outcome FROM media WHERE id = ?", (media_id,)
        ).fetchone()
    assert decoder is None and outcome == "succeeded"  # stored before the state closed


async def test_a_status_waits_for_a_decode_another_process_runs(
    serve, gate: DecodeGate, media_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen from a process that does not run it: STATUS polls the shared state for it."""
    clock = ManualClock(1_800_000_000)
    emulator, base = serve(clock=clock, processing_costs=COST)
    clip = mf.make_mp4(media_dir / "c.mp4").read_bytes()
    async with make_client(base) as c:
        media_id, _done = await upload_bytes(c, clip, "tweet_video")
        await gate.wait_entered()
        # The row names a live process other than this one; this one's decode is not seen.
        with sqlite3.connect(emulator.state_path) as db:
            db.execute("UPDATE media SET decoder = ? WHERE id = ?", (str(os.getppid()), media_id))
        looked_up = _decoding.Decodes.running

        def elsewhere(self: _decoding.Decodes, media_id: str) -> object:
            looked_up(self, media_id)  # sets `gate.waiting`
            return None

        monkeypatch.setattr(_decoding.Decodes, "running", elsewhere)
        clock.advance(10.0)
        waiting = asyncio.ensure_future(info_of(c, media_id))
        await gate.release_when_waited_for()
        assert await waiting == {"state": "succeeded", "progress_percent": 100}
    assert gate.calls == 1  # polled for, not taken over
