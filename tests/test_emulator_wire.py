"""Wire fidelity (issue #12): where the emulator used to be kinder or stranger than X.

Every test runs in-process (ASGITransport) and over a real socket (uvicorn) unless it is about
connections, which only a socket has.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from pathlib import Path

import httpx
import pytest

from mediakit import Limits, MediaClient, ScaledClock
from mediakit._media import DEFAULT_CHUNK, MAX_CHUNK
from mediakit.emulator import DEMO, Emulator, running

from . import mediafactory as mf
from .conftest import make_client
from .emuhelp import append, initialize, status, upload_bytes, wait_processed

MiB = 1024 * 1024
LIMITS = Limits()


@pytest.fixture(params=["asgi", "socket"])
def served(request: pytest.FixtureRequest, tmp_path: Path):
    """A factory: an emulator with the given settings, reached by the parametrized transport."""
    made: list[Emulator] = []
    stack: list[object] = []

    def serve(**settings: object) -> tuple[Emulator, tuple[str, httpx.AsyncBaseTransport | None]]:
        settings.setdefault("clock", ScaledClock(50))
        settings.setdefault("state", tmp_path / f"w{len(made)}.sqlite")
        emulator = Emulator(**settings)  # type: ignore[arg-type]
        made.append(emulator)
        if request.param == "asgi":
            return emulator, ("https://api.x.com", httpx.ASGITransport(app=emulator.app))
        context = running(emulator)
        stack.append(context)
        return emulator, (context.__enter__(), None)

    yield serve
    for context in reversed(stack):
        context.__exit__(None, None, None)  # type: ignore[attr-defined]
    for emulator in made:
        emulator.close()


def multipart_append(media_id: str, index: int, chunk: bytes) -> httpx.Request:
    """The APPEND request httpx (and so mediakit's client) builds: its body size on the wire."""
    return httpx.Request(
        "POST",
        f"https://api.x.com/2/media/upload/{media_id}/append",
        data={"segment_index": str(index)},
        files={"media": ("blob", chunk, "application/octet-stream")},
    )


# The APPEND body cap: 5 MiB for the whole request body (trypostit/trypost#31)


async def test_append_body_cap_is_the_whole_request_body(served) -> None:
    emulator, base = served()
    async with make_client(base) as c:
        media_id = (await initialize(c, 20 * MiB, "video/mp4", "tweet_video")).json()["data"]["id"]
        # A media part of exactly 5 MiB: its multipart body is a few hundred bytes over 5 MiB,
        # and X's edge answered exactly that with 413 and an empty body.
        refused = await append(c, media_id, 0, b"\0" * (5 * MiB))
        assert refused.status_code == 413 and refused.content == b""
        # The largest part whose body still fits: 5 MiB minus the framing.
        probe = multipart_append(media_id, 1, b"")
        framing = len(probe.read())
        fits = 5 * MiB - framing
        assert (await append(c, media_id, 1, b"\0" * fits)).status_code == 200
        assert (await append(c, media_id, 2, b"\0" * (fits + 1))).status_code == 413
        # The same cap on a JSON (base64) body: 3.75 MiB of media is already over it.
        encoded = base64.b64encode(b"\0" * (4 * MiB)).decode()
        answer = await c.post(
            f"/2/media/upload/{media_id}/append", json={"media": encoded, "segment_index": 3}
        )
        assert answer.status_code == 413 and answer.content == b""
        # The connection (over a socket) is still good after a refused body.
        assert (await status(c, media_id)).status_code == 400  # not finalized yet
    record = emulator.media_by_id(media_id)
    assert record is not None and record.segments == 1 and record.received_bytes == fits


def test_clients_chunk_plan_stays_under_the_cap() -> None:
    for chunk in (DEFAULT_CHUNK, MAX_CHUNK):
        body = multipart_append("1234567890123456789", 999, b"\0" * chunk).read()
        assert len(body) <= LIMITS.max_append_body_bytes - 60 * 1024, (chunk, len(body))
    assert MAX_CHUNK == LIMITS.max_client_chunk_bytes == 5 * MiB - 64 * 1024
    assert MAX_CHUNK % (64 * 1024) == 0  # plan_chunks grows in 64 KiB steps


async def test_mediakit_client_uploads_with_its_largest_chunks(tmp_path: Path) -> None:
    emulator = Emulator(clock=ScaledClock(50), state=tmp_path / "c.sqlite")
    video = mf.make_big_file(tmp_path / "v.mp4", 2 * MAX_CHUNK + 10, header="mp4")
    with running(emulator) as url:
        async with MediaClient(
            base_url=url, clock=emulator.clock, chunk_size=MAX_CHUNK, segment_concurrency=2
        ) as client:
            state = await client.upload(video, category="tweet_video")
    record = emulator.media_by_id(state.media_id)
    # Every APPEND passed the edge's cap (the bytes are no real video, so processing fails).
    assert (
        record is not None
        and record.segments == 3
        and record.received_bytes == video.stat().st_size
    )
    emulator.close()


# v2 initialize without media_category: a Post's category by type (docs.x.com best practices)


async def test_v2_without_category_is_a_post(served, media_dir: Path) -> None:
    _emulator, base = served(processing_seconds=2.0)
    gif = mf.make_gif(media_dir / "a.gif", 16, 16, frames=3).read_bytes()
    async with make_client(base) as c:
        media_id, done = await upload_bytes(c, gif, None, "image/gif")
        body = done.json()["data"]
        assert body["media_key"] == f"16_{media_id}"  # tweet_gif
        assert body["processing_info"]["state"] == "pending"
        seen = await wait_processed(c, media_id, _emulator.clock.sleep)
        assert seen[-1]["processing_info"]["state"] == "succeeded"
        # A video over v1.1's 15 MiB synchronous cap is fine: tweet_video's 512 MB applies.
        answer = await initialize(c, 100 * MiB, "video/mp4", None)
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["media_key"].startswith("7_")
        image = await initialize(c, 6 * MiB, "image/png", None)
        assert image.status_code == 400  # tweet_image: 5 MB


async def test_v2_without_category_sync_setting(served) -> None:
    _emulator, base = served(v2_missing_category="sync")
    async with make_client(base) as c:
        answer = await initialize(c, 16 * MiB, "video/mp4", None)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["message"] == "File size exceeds 15728640 bytes."


# The one-shot POST /2/media/upload of OAS v2.167


async def test_one_shot_takes_video_and_gif(served, media_dir: Path) -> None:
    emulator, base = served(processing_seconds=2.0)
    clip = mf.make_mp4(media_dir / "c.mp4").read_bytes()
    gif = mf.make_gif(media_dir / "g.gif", 16, 16, frames=2).read_bytes()
    async with make_client(base) as c:
        answer = await c.post(
            "/2/media/upload",
            data={"media_category": "tweet_video"},
            files={"media": ("c.mp4", clip, "video/mp4")},
        )
        assert answer.status_code == 200, answer.text
        video = answer.json()["data"]
        assert video["media_key"].startswith("7_") and video["size"] == len(clip)
        assert video["processing_info"]["state"] == "pending"
        done = await wait_processed(c, video["id"], emulator.clock.sleep)
        assert done[-1]["video"] == {"video_type": "video/mp4"}
        for category in ("tweet_gif", "dm_gif"):
            answer = await c.post(
                "/2/media/upload",
                json={"media": base64.b64encode(gif).decode(), "media_category": category},
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["data"]["media_key"].startswith("16_")
        # The 2026 body takes media, media_category and additional_owners, nothing else.
        for extra in ({"media_type": "video/mp4"}, {"shared": "true"}):
            answer = await c.post(
                "/2/media/upload",
                data={"media_category": "tweet_video", **extra},
                files={"media": ("c.mp4", clip, "video/mp4")},
            )
            assert answer.status_code == 400, extra
            name = next(iter(extra))
            assert answer.json()["errors"][0]["message"] == (
                f"The `{name}` body parameter is not allowed."
            )
        answer = await c.post(
            "/2/media/upload",
            json={
                "media": base64.b64encode(gif).decode(),
                "media_category": "tweet_gif",
                "media_type": "image/gif",
            },
        )
        assert answer.status_code == 400


async def test_one_shot_2025_setting(served, media_dir: Path) -> None:
    _emulator, base = served(one_shot_spec="2025")
    clip = mf.make_mp4(media_dir / "c.mp4").read_bytes()
    png = mf.make_png(media_dir / "p.png").read_bytes()
    async with make_client(base) as c:
        answer = await c.post(
            "/2/media/upload",
            data={"media_category": "tweet_video"},
            files={"media": ("c.mp4", clip)},
        )
        assert answer.status_code == 400
        assert (
            "is not one of [tweet_image,dm_image,subtitles]"
            in answer.json()["errors"][0]["message"]
        )
        answer = await c.post(
            "/2/media/upload",
            json={
                "media": base64.b64encode(png).decode(),
                "media_category": "tweet_image",
                "media_type": "image/png",
                "shared": False,
            },
        )
        assert answer.status_code == 200, answer.text


# v1.1 with an OAuth 2.0 bearer token, and the problem host


async def test_v1_bearer_is_403_by_default(served) -> None:
    _emulator, base = served()
    async with make_client(base) as c:
        answer = await c.post(
            "/1.1/media/upload.json",
            data={"command": "INIT", "total_bytes": "5", "media_type": "image/png"},
        )
    assert answer.status_code == 403
    assert answer.json() == {
        "errors": [
            {"code": 220, "message": "Your credentials do not allow access to this resource."}
        ]
    }
    _emulator2, base2 = served(v1_bearer_status=400)
    async with make_client(base2) as c:
        answer = await c.get(
            "/1.1/media/upload.json", params={"command": "STATUS", "media_id": "1"}
        )
    assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == 215


async def test_problem_host(served) -> None:
    for host in ("api.x.com", "api.twitter.com"):
        settings = {} if host == "api.x.com" else {"problem_host": host}
        _emulator, base = served(**settings)
        async with make_client(base) as c:
            bad = await c.get("/2/media/upload", params={"media_id": "x"})
        async with make_client(base, token=DEMO.app_bearer_token) as c:
            app_only = await initialize(c, 5, "image/png", None)
        assert bad.json()["type"] == f"https://{host}/2/problems/invalid-request"
        assert app_only.json()["type"] == f"https://{host}/2/problems/unsupported-authentication"


# POST /2/media/metadata: only `id` is required (OAS v2.167 CreateMediaMetadataRequest)


async def test_metadata_without_metadata(served, media_dir: Path) -> None:
    _emulator, base = served()
    async with make_client(base) as c:
        media_id, _ = await upload_bytes(
            c, mf.make_png(media_dir / "p.png").read_bytes(), "tweet_image"
        )
        answer = await c.post("/2/media/metadata", json={"id": media_id})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"data": {"id": media_id, "associated_metadata": {}}}
        bad = await c.post("/2/media/metadata", json={"id": media_id, "metadata": "alt"})
        assert bad.status_code == 400


# Idle keep-alive connections outlive a client's 5-second wait (X's front end keeps them 400 s)


async def _each_once(emulator: Emulator, clients: list[httpx.AsyncClient]) -> dict[str, str | None]:
    """One STATUS per client, all at once; which connection (client port) carried each."""
    answers = await asyncio.gather(
        *(c.get("/2/media/upload", params={"media_id": str(i + 1)}) for i, c in enumerate(clients)),
        return_exceptions=True,
    )
    failures = [a for a in answers if isinstance(a, BaseException)]
    assert not failures, failures[:3]
    # STATUS of an id nobody has: 400 "BadRequest: Not found", an answer all the same.
    assert {a.status_code for a in answers if isinstance(a, httpx.Response)} == {400}
    return {str(r.media_id): r.client for r in emulator.requests[-len(clients) :]}


async def test_fifty_connections_survive_a_five_second_wait(tmp_path: Path) -> None:
    """The issue's check: 50 kept-alive connections, exactly 5 s idle, all reused, 0 failures.

    Each of 50 clients holds one connection (as tweepy's and xdk's sessions do). This test
    waits on real time: idle timeouts are the server's, not the emulator clock's.
    """
    emulator = Emulator(state=tmp_path / "k.sqlite")
    # httpx would drop idle connections itself after 5 s; requests (tweepy, xdk) never does.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=60)
    headers = {"authorization": f"Bearer {DEMO.user_token}"}
    with running(emulator) as url:
        clients = [
            httpx.AsyncClient(base_url=url, limits=limits, headers=headers) for _ in range(50)
        ]
        try:
            first = await _each_once(emulator, clients)
            assert len(set(first.values())) == 50  # 50 connections
            await asyncio.sleep(5.0)
            second = await _each_once(emulator, clients)
        finally:
            for client in clients:
                await client.aclose()
    # Every client's second request went on the connection of its first: none was closed.
    assert second == first
    emulator.close()


def test_idle_connections_close_after_keep_alive(tmp_path: Path) -> None:
    """The keep-alive setting is what closes idle connections (observed on a raw socket)."""
    emulator = Emulator(state=tmp_path / "s.sqlite", keep_alive_s=0.5)
    with running(emulator) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while b"}" not in received:
                received += sock.recv(4096)
            assert received.startswith(b"HTTP/1.1 200")
            # recv returns b"" once the server closes the idle connection; were it left open,
            # recv would raise the socket's 10 s timeout instead.
            assert sock.recv(4096) == b""
    emulator.close()
