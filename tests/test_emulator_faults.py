"""Fault injection: seeded 5xx answers and 429 bursts, dropped connections, latency, bandwidth."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from mediakit import ManualClock
from mediakit.emulator import Emulator, running
from mediakit.emulator._faults import parse_fault, parse_latency

from .conftest import make_client
from .emuhelp import append, initialize


async def _codes(emulator: Emulator, base, count: int) -> list[int]:
    async with make_client(base) as c:
        media_id = (await initialize(c, 10**6, "video/mp4", "tweet_video")).json()["data"]["id"]
        return [(await append(c, media_id, i % 1000, b"x")).status_code for i in range(count)]


@pytest.mark.parametrize("transport", ["asgi", "socket"])
async def test_status_faults_per_command_are_seeded(tmp_path: Path, transport: str) -> None:
    runs = []
    for run in range(2):
        emulator = Emulator(
            faults={"APPEND": {"503": 0.3, 500: 0.1}}, seed=5, state=tmp_path / f"f{run}.sqlite"
        )
        if transport == "asgi":
            runs.append(
                await _codes(
                    emulator, ("https://api.x.com", httpx.ASGITransport(app=emulator.app)), 60
                )
            )
        else:
            with running(emulator) as url:
                runs.append(await _codes(emulator, (url, None), 60))
        emulator.close()
    assert runs[0] == runs[1]  # the same seed, the same faults
    assert set(runs[0]) == {200, 500, 503}
    assert 8 <= runs[0].count(503) <= 30


async def test_fault_bodies_of_each_generation(tmp_path: Path) -> None:
    emulator = Emulator(faults={"INIT": {503: 1.0}}, state=tmp_path / "f.sqlite")
    async with make_client(("https://api.x.com", httpx.ASGITransport(app=emulator.app))) as c:
        answer = await initialize(c, 5, "image/png", "tweet_image")
    assert answer.status_code == 503
    assert answer.json() == {
        "title": "Service Unavailable",
        "detail": "Service Unavailable",
        "type": "about:blank",
        "status": 503,
    }
    # The faulted request did nothing: no media was created.
    assert emulator.media == []
    emulator.close()


async def test_429_bursts(tmp_path: Path) -> None:
    emulator = Emulator(faults={"*": {429: 1.0}}, state=tmp_path / "f.sqlite")
    async with make_client(("https://api.x.com", httpx.ASGITransport(app=emulator.app))) as c:
        answer = await initialize(c, 5, "image/png", "tweet_image")
    assert answer.status_code == 429 and answer.json()["title"] == "Too Many Requests"
    assert "x-rate-limit-reset" in answer.headers
    emulator.close()


async def test_dropped_connections_over_a_socket(tmp_path: Path) -> None:
    emulator = Emulator(drop_rate=1.0, seed=1, state=tmp_path / "d.sqlite")
    with running(emulator) as url:
        async with make_client((url, None)) as c:
            with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
                await initialize(c, 5, "image/png", "tweet_image")
    assert emulator.media == []
    assert emulator.requests[-1].extra.get("dropped") is True
    # In-process there is no connection to drop: the same emulator answers normally.
    async with make_client(("https://api.x.com", httpx.ASGITransport(app=emulator.app))) as c:
        assert (await initialize(c, 5, "image/png", "tweet_image")).status_code == 200
    emulator.close()


async def test_latency_reads_the_clock(tmp_path: Path) -> None:
    clock = ManualClock(1_800_000_000)
    emulator = Emulator(clock=clock, latency=(0.1, 0.2), seed=2, state=tmp_path / "l.sqlite")
    async with make_client(("https://api.x.com", httpx.ASGITransport(app=emulator.app))) as c:
        for _ in range(5):
            await initialize(c, 5, "image/png", "tweet_image")
    waited = [r.finished_at - r.started_at for r in emulator.requests]  # type: ignore[operator]
    assert all(0.1 <= w <= 0.2 for w in waited), waited
    assert len(set(waited)) > 1
    emulator.close()


async def test_bandwidth_cap_over_a_socket(tmp_path: Path) -> None:
    emulator = Emulator(bandwidth=256 * 1024, state=tmp_path / "b.sqlite")
    chunk = b"\0" * (256 * 1024)
    with running(emulator) as url:
        async with make_client((url, None)) as c:
            media_id = (await initialize(c, 10**6, "video/mp4", "tweet_video")).json()["data"]["id"]
            started = time.monotonic()
            assert (await append(c, media_id, 0, chunk)).status_code == 200
            capped = time.monotonic() - started
    # 256 KiB at 256 KiB/s takes about a second; unthrottled it takes milliseconds.
    assert capped >= 0.5, capped
    emulator.close()


def test_parsers() -> None:
    assert parse_fault("append:503:0.02") == ("APPEND", 503, 0.02)
    assert parse_latency("150ms") == pytest.approx(0.15)
    assert parse_latency("50ms-200ms") == (pytest.approx(0.05), pytest.approx(0.2))
    assert parse_latency("0.5s") == 0.5
    for bad in ("APPEND:200:0.1", "APPEND:503", "APPEND:503:2"):
        with pytest.raises(ValueError, match="APPEND"):
            parse_fault(bad)
    with pytest.raises(ValueError):
        parse_latency("soon")
