"""Where the emulator keeps things: spooled bytes, durable SQLite state, the request log."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import ssl
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mediakit import ManualClock
from mediakit.emulator import DEMO, Emulator, builtin_state_path, running

from . import mediafactory as mf
from .conftest import make_client
from .emuhelp import append, finalize, initialize, status, upload_bytes, upload_file

ASGI = "https://api.x.com"


def asgi(emulator: Emulator) -> tuple[str, httpx.AsyncBaseTransport]:
    return ASGI, httpx.ASGITransport(app=emulator.app)


async def test_segments_spool_to_disk_and_go_after_finalize(emu: Emulator, media_dir: Path) -> None:
    data = mf.make_png(media_dir / "p.png", 50, 50).read_bytes()
    async with make_client(asgi(emu)) as c:
        media_id = (await initialize(c, len(data), "image/png", "tweet_image")).json()["data"]["id"]
        await append(c, media_id, 0, data[:100])
        await append(c, media_id, 1, data[100:])
        folder = emu.state_path.with_suffix(".spool") / media_id
        parts = sorted(p.name for p in folder.iterdir())
        assert parts == ["0000.part", "0001.part"]
        assert (folder / "0000.part").read_bytes() == data[:100]
        record = emu.media_by_id(media_id)
        assert record is not None and record.bytes_on_disk and record.received_bytes == len(data)
        assert record.segments == 2 and record.state == "initialized"
        assert (await finalize(c, media_id)).status_code == 200
    assert not folder.exists()
    assert emu.media_by_id(media_id).bytes_on_disk is False  # type: ignore[union-attr]


async def test_keep_media_keeps_the_bytes(tmp_path: Path, media_dir: Path) -> None:
    emulator = Emulator(keep_media=True, state=tmp_path / "k.sqlite")
    path = mf.make_jpeg(media_dir / "a.jpg")
    async with make_client(asgi(emulator)) as c:
        media_id, done = await upload_file(c, path, "tweet_image")
    assert done.status_code == 200
    kept = tmp_path / "k.spool" / media_id / "media.bin"
    assert kept.read_bytes() == path.read_bytes()
    emulator.close()


async def test_expired_sessions_lose_their_bytes(tmp_path: Path) -> None:
    clock = ManualClock(1_800_000_000)
    emulator = Emulator(clock=clock, state=tmp_path / "e.sqlite")
    async with make_client(asgi(emulator)) as c:
        media_id = (await initialize(c, 10, "image/png", "tweet_image")).json()["data"]["id"]
        await append(c, media_id, 0, b"12345")
        folder = tmp_path / "e.spool" / media_id
        assert folder.exists()
        clock.advance(86401)
        await initialize(c, 10, "image/png", "tweet_image")  # any request sweeps
    assert not folder.exists()
    assert emulator.media_by_id(media_id).state == "expired"  # type: ignore[union-attr]
    emulator.close()


async def test_a_large_upload_is_never_held_in_memory(tmp_path: Path) -> None:
    """96 MiB in 4 MiB chunks: the emulator's side must stay near a few chunks."""
    emulator = Emulator(state=tmp_path / "m.sqlite")
    chunk = os.urandom(4 * 2**20)
    total = 24 * len(chunk)
    async with make_client(asgi(emulator)) as c:
        media_id = (await initialize(c, total, "video/mp4", "tweet_video")).json()["data"]["id"]
        tracemalloc.start()
        for index in range(24):
            assert (await append(c, media_id, index, chunk)).status_code == 200
        done = await finalize(c, media_id)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert done.status_code == 400  # random bytes: "media type unrecognized."
    # The client side of this test holds one chunk and its multipart copy; the whole upload
    # would be 96 MiB.
    assert peak < 6 * len(chunk), f"peak {peak / 2**20:.1f} MiB"
    emulator.close()


async def test_two_emulators_share_one_state(tmp_path: Path, media_dir: Path) -> None:
    state = tmp_path / "shared.sqlite"
    first, second = Emulator(state=state), Emulator(state=state)
    data = mf.make_jpeg(media_dir / "a.jpg", 20, 10).read_bytes()
    async with make_client(asgi(first)) as a, make_client(asgi(second)) as b:
        media_id = (await initialize(a, len(data), "image/jpeg", "tweet_image")).json()["data"][
            "id"
        ]
        assert (await append(b, media_id, 0, data[:50])).status_code == 200
        assert (await append(a, media_id, 1, data[50:])).status_code == 200
        done = await finalize(b, media_id)
        assert done.status_code == 200 and done.json()["data"]["image"]["w"] == 20
        ids = [
            (await initialize(c, 1, "image/png", None)).json()["data"]["id"] for c in (a, b, a, b)
        ]
    assert [int(i) for i in ids] == sorted(int(i) for i in ids) and len(set(ids)) == 4
    first.close()
    second.close()


def test_builtin_state_lives_in_the_user_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert builtin_state_path() == tmp_path / "cache" / "mediakit" / "emulator" / "state.sqlite"

    async def init_one(emulator: Emulator) -> str:
        async with make_client(asgi(emulator)) as c:
            return str((await initialize(c, 5, "image/png", "tweet_image")).json()["data"]["id"])

    emulator = Emulator.builtin()
    media_id = asyncio.run(init_one(emulator))
    emulator.close()
    # A new kernel: a new Emulator on the same built-in state still knows the media id.
    again = Emulator.builtin()
    assert again.state_path == builtin_state_path()
    assert again.media_by_id(media_id) is not None
    again.close()


# a real server process, killed


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[object]:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mediakit", "emulator", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"listening on (\S+)", first)
        assert match, first + proc.stdout.read()
        banner = [first]
        while "Ctrl-C" not in banner[-1]:
            banner.append(proc.stdout.readline())
        proc.banner = "".join(banner)  # type: ignore[attr-defined]
        return proc, match.group(1)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


async def test_sigkill_loses_nothing_acknowledged(
    server_process, tmp_path: Path, media_dir: Path
) -> None:
    state = tmp_path / "durable.sqlite"
    data = mf.make_jpeg(media_dir / "a.jpg", 33, 22).read_bytes()
    proc, url = server_process("--state", str(state))
    async with make_client((url, None)) as c:
        media_id = (await initialize(c, len(data), "image/jpeg", "tweet_image")).json()["data"][
            "id"
        ]
        assert (await append(c, media_id, 0, data[:200])).status_code == 200
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    _, url = server_process("--state", str(state))
    async with make_client((url, None)) as c:
        assert (await append(c, media_id, 1, data[200:])).status_code == 200
        done = await finalize(c, media_id)
    assert done.status_code == 200, done.text
    assert done.json()["data"]["image"] == {"image_type": "image/jpeg", "w": 33, "h": 22}


def test_banner_shows_demo_credentials(server_process) -> None:
    proc, url = server_process()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    out = proc.banner + out
    assert url.startswith("http://127.0.0.1:")
    assert DEMO.consumer_key in out and DEMO.consumer_secret in out
    assert DEMO.user_token in out and DEMO.app_bearer_token in out
    assert proc.returncode == 0


def test_banner_never_prints_given_secrets(server_process) -> None:
    proc, _ = server_process(
        "--consumer-key",
        "my-key",
        "--consumer-secret",
        "TOPSECRET-cs",
        "--access-token",
        "77-my-token",
        "--access-token-secret",
        "TOPSECRET-ats",
        "--user-token",
        "TOPSECRET-ut",
        "--app-bearer-token",
        "TOPSECRET-ab",
    )
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    out = proc.banner + out
    assert "my-key" in out and "77-my-token" in out
    assert "TOPSECRET" not in out


def test_cli_refuses_half_credentials() -> None:
    answer = subprocess.run(
        [sys.executable, "-m", "mediakit", "emulator", "--consumer-key", "k"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert answer.returncode == 2 and "--consumer-secret" in answer.stderr


async def test_tls_server(server_process, tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(cert_file)
    cert.private_key_pem.write_to_path(key_file)
    ca.cert_pem.write_to_path(ca_file)
    _, url = server_process("--ssl-certfile", str(cert_file), "--ssl-keyfile", str(key_file))
    assert url.startswith("https://")
    async with httpx.AsyncClient(
        base_url=url,
        verify=ssl.create_default_context(cafile=str(ca_file)),
        headers={"authorization": f"Bearer {DEMO.user_token}"},
    ) as c:
        assert (await initialize(c, 5, "image/png", "tweet_image")).status_code == 200
    async with httpx.AsyncClient(base_url=url) as c:
        with pytest.raises(httpx.ConnectError):
            await c.get("/_emulator/health")


# introspection


async def test_request_log(tmp_path: Path, media_dir: Path) -> None:
    clock = ManualClock(1_800_000_000)
    emu = Emulator(clock=clock, processing_seconds=10.0, state=tmp_path / "log.sqlite")
    clip = mf.make_mp4(media_dir / "c.mp4").read_bytes()
    with running(emu) as url:
        async with make_client((url, None)) as c:
            media_id, done = await upload_bytes(
                c, clip, "tweet_video", chunk=len(clip) // 2 + 1, parallel=False
            )
            told = done.json()["data"]["processing_info"]["check_after_secs"]
            await status(c, media_id)  # at once: earlier than check_after_secs allows
            clock.advance(told)
            await status(c, media_id)  # as told
            over_http = (await c.get("/_emulator/requests")).json()
    log = emu.requests
    assert [r.command for r in log] == ["INIT", "APPEND", "APPEND", "FINALIZE", "STATUS", "STATUS"]
    assert [r.segment_index for r in log[1:3]] == [1, 0]
    assert all(r.user_id == DEMO.user_id and r.status == 200 for r in log)
    assert all(r.started_at <= r.finished_at for r in log)  # type: ignore[operator]
    assert log[3].state == "pending" and log[3].media_id == media_id
    assert log[4].state == "pending" and log[5].state == "in_progress"
    # From the log a test can tell a client that polled before it was told to from one that waited.
    early = log[4].started_at - log[3].finished_at  # type: ignore[operator]
    polite = log[5].started_at - log[4].finished_at  # type: ignore[operator]
    assert early < told <= polite
    assert [r["command"] for r in over_http] == [r.command for r in log]
    media = emu.media
    assert [m.media_id for m in media] == [media_id] and media[0].media_category == "tweet_video"
    assert media[0].state == "in_progress"
    emu.close()


def test_server_flags_for_faults_latency_and_rate_limits(server_process) -> None:
    _, url = server_process(
        "--fault", "INIT:503:1", "--latency", "10ms", "--rate-window", "60", "--seed", "3"
    )
    headers = {"authorization": f"Bearer {DEMO.user_token}"}
    body = {"total_bytes": 5, "media_type": "image/png", "media_category": "tweet_image"}
    answer = httpx.post(f"{url}/2/media/upload/initialize", json=body, headers=headers)
    assert answer.status_code == 503 and answer.json()["title"] == "Service Unavailable"
    assert int(answer.headers["x-rate-limit-reset"]) - __import__("time").time() <= 61
    log = httpx.get(f"{url}/_emulator/requests").json()
    assert log[-1]["finished_at"] - log[-1]["started_at"] >= 0.01


def test_server_flags_rate_limits_off_and_bad_values(server_process) -> None:
    _, url = server_process("--rate-limits", "off")
    answer = httpx.post(
        f"{url}/2/media/upload/initialize",
        json={"total_bytes": 5, "media_type": "image/png"},
        headers={"authorization": f"Bearer {DEMO.user_token}"},
    )
    assert answer.status_code == 200 and "x-rate-limit-limit" not in answer.headers
    for flag, value in (
        ("--fault", "APPEND:200:0.1"),
        ("--latency", "soon"),
        ("--bandwidth", "fast"),
    ):
        bad = subprocess.run(
            [sys.executable, "-m", "mediakit", "emulator", flag, value],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert bad.returncode == 2 and flag in bad.stderr
