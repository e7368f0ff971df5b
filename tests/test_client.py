"""MediaClient against the emulator: whole uploads, retries, rate limits, refresh, errors."""

from __future__ import annotations

import asyncio
import datetime as dt
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from mediakit import ManualClock, ScaledClock
from mediakit._client import MediaClient, RetryPolicy
from mediakit._credentials import Credentials
from mediakit._errors import (
    APIError,
    AuthError,
    ConfigurationError,
    CredentialsError,
    ProcessingError,
)
from mediakit._records import Event
from mediakit.emulator import DEMO, Emulator, running
from mediakit.emulator._ratelimit import RateLimits

from . import mediafactory as mf

FAST = RetryPolicy(backoff_base_s=0.5, backoff_max_s=4)


@pytest.fixture
def scaled() -> ScaledClock:
    return ScaledClock(50)


@pytest.fixture
def emulator(scaled: ScaledClock, tmp_path: Path):
    emu = Emulator(
        clock=scaled, seed=3, processing_seconds=(5.0, 10.0), state=tmp_path / "c.sqlite"
    )
    yield emu
    emu.close()


async def test_upload_image_and_video(emulator: Emulator, media_dir: Path) -> None:
    events: list[Event] = []
    async with MediaClient(
        emulator=emulator, on_event=events.append, chunk_size=64 * 1024
    ) as client:
        image = await client.upload(mf.make_jpeg(media_dir / "a.jpg", 40, 30), alt_text="a photo")
        assert image.image == {"image_type": "image/jpeg", "w": 40, "h": 30}
        assert image.state is None and not image.processing
        clip = mf.make_mp4(media_dir / "c.mp4", seconds=2.0, width=320, height=240)
        video = await client.upload(clip)
    assert video.state == "succeeded" and video.video == {"video_type": "video/mp4"}
    assert video.media_key == f"7_{video.media_id}"
    record = emulator.media_by_id(video.media_id)
    assert record is not None and record.media_category == "tweet_video"
    assert emulator.media_by_id(image.media_id).alt_text == "a photo"  # type: ignore[union-attr]
    commands = [e.command for e in events]
    assert commands[:3] == ["INIT", "APPEND", "FINALIZE"] and "METADATA" in commands
    assert all(e.ok for e in events) and all(
        isinstance(e.media_id, str) for e in events if e.media_id
    )
    statuses = [e for e in events if e.command == "STATUS"]
    assert statuses and statuses[-1].state == "succeeded" and statuses[-1].progress_percent == 100
    # expires_at is a UTC timestamp, as in every frame; expires_at_s the same instant in the
    # epoch seconds the events keep.
    last = statuses[-1]
    assert video.expires_at is not None and video.expires_at.tzinfo is not None
    assert video.expires_at.utcoffset() == dt.timedelta(0)
    assert video.expires_after_secs is not None and last.expires_at is not None
    assert video.expires_at_s == pytest.approx(last.expires_at, abs=1e-5)
    assert last.finished_at is not None
    assert last.expires_at - last.finished_at == pytest.approx(video.expires_after_secs, abs=1e-5)


async def test_status_never_polled_before_check_after(emulator: Emulator, media_dir: Path) -> None:
    clip = mf.make_mp4(media_dir / "c.mp4", seconds=1.0)
    async with MediaClient(emulator=emulator) as client:
        state = await client.upload(clip)
    log = [
        r
        for r in emulator.requests
        if r.media_id == state.media_id and r.command in ("FINALIZE", "STATUS")
    ]
    assert len(log) >= 2
    told = {"FINALIZE": 1}
    for previous, poll in pairwise(log):
        # Every STATUS waited at least what the previous answer asked for (at least 1 s).
        assert poll.started_at - previous.finished_at >= 1.0 - 1e-6, (previous, poll, told)


async def test_segments_in_parallel_and_out_of_order_are_fine(
    emulator: Emulator, media_dir: Path
) -> None:
    path = mf.make_big_file(media_dir / "big.mp4", 3 * 2**20, header="mp4")
    events: list[Event] = []
    async with MediaClient(
        emulator=emulator, on_event=events.append, chunk_size=256 * 1024, segment_concurrency=4
    ) as client:
        check = __import__("mediakit._media", fromlist=["inspect_file"]).inspect_file(
            path, chunk_size=256 * 1024
        )
        state = await client.send_file(check)
    appends = [e for e in events if e.command == "APPEND"]
    assert len(appends) == 12 and sorted(e.segment_index for e in appends) == list(range(12))
    assert sum(e.bytes_sent or 0 for e in appends) == 3 * 2**20
    assert state.size == 3 * 2**20


async def test_retries_5xx_and_repeats_only_the_failed_segment(
    tmp_path: Path, media_dir: Path
) -> None:
    clock = ScaledClock(200)
    emu = Emulator(
        clock=clock,
        faults={"APPEND": {503: 0.3}, "FINALIZE": {500: 0.3}, "INIT": {502: 0.3}},
        seed=4,
        processing_seconds=1.0,
        state=tmp_path / "f.sqlite",
    )
    events: list[Event] = []
    path = mf.make_png(media_dir / "p.png", 300, 200)
    async with MediaClient(
        emulator=emu, on_event=events.append, chunk_size=64 * 1024, retry=FAST
    ) as client:
        states = [await client.upload(path) for _ in range(4)]
    assert all(s.image == {"image_type": "image/png", "w": 300, "h": 200} for s in states)
    failed = [e for e in events if not e.ok]
    assert failed and {e.http_status for e in failed} <= {500, 502, 503}
    for bad in failed:
        if bad.command == "APPEND":
            retry = next(
                e
                for e in events
                if e.command == "APPEND"
                and e.media_id == bad.media_id is not None
                and e.segment_index == bad.segment_index
                and e.attempt == bad.attempt + 1
                and e.file_id == bad.file_id
                and e.started_at > bad.started_at
            )
            assert retry.ok is not None
    emu.close()


async def test_dropped_connections_are_retried_over_a_socket(
    tmp_path: Path, media_dir: Path
) -> None:
    emu = Emulator(drop_rate=0.25, seed=9, state=tmp_path / "d.sqlite")
    events: list[Event] = []
    with running(emu) as url:
        async with MediaClient(
            base_url=url,
            on_event=events.append,
            chunk_size=16 * 1024,
            retry=RetryPolicy(backoff_base_s=0.01, backoff_max_s=0.05),
        ) as client:
            path = mf.make_png(media_dir / "p.png", 200, 150)
            states = [await client.upload(path) for _ in range(6)]
    assert all(s.image is not None and s.image["w"] == 200 for s in states)
    dropped = [e for e in events if e.http_status is None]
    assert dropped and all(e.ok is False and e.error_name for e in dropped)
    emu.close()


async def test_waits_for_the_rate_limit_reset_instead_of_collecting_429s(
    tmp_path: Path, media_dir: Path
) -> None:
    clock = ManualClock(1_800_000_000)
    limits = RateLimits(
        per_user={"INIT": 2, "APPEND": 3, "FINALIZE": 2, "STATUS": 5}, user_window_s=60
    )
    emu = Emulator(clock=clock, rate_limits=limits, state=tmp_path / "r.sqlite")
    events: list[Event] = []
    path = mf.make_png(media_dir / "p.png", 20, 20)
    async with MediaClient(emulator=emu, on_event=events.append) as client:
        for _ in range(5):
            await client.upload(path)
    assert [e.http_status for e in events].count(429) == 0
    assert clock.now() >= 1_800_000_000 + 120  # it waited two windows out
    emu.close()


async def test_429_is_retried_after_reset(tmp_path: Path, media_dir: Path) -> None:
    clock = ManualClock(1_800_000_000)
    emu = Emulator(clock=clock, faults={"INIT": {429: 0.5}}, seed=2, state=tmp_path / "q.sqlite")
    events: list[Event] = []
    async with MediaClient(emulator=emu, on_event=events.append) as client:
        for _ in range(4):
            await client.upload(mf.make_png(media_dir / "p.png", 5, 5))
    assert 429 in [e.http_status for e in events]
    emu.close()


async def test_400_fails_at_once_with_xs_words(emulator: Emulator) -> None:
    events: list[Event] = []
    async with MediaClient(emulator=emulator, on_event=events.append) as client:
        with pytest.raises(APIError) as caught:
            await client.init(10, "application/octet-stream", "tweet_image")
    assert caught.value.status_code == 400
    assert "is not one of" in caught.value.message and caught.value.name == "Invalid Request"
    assert len(events) == 1 and events[0].error_message == caught.value.message.split(": ", 1)[1]


async def test_processing_failure_keeps_xs_error(tmp_path: Path, media_dir: Path) -> None:
    emu = Emulator(
        clock=ScaledClock(100),
        processing_failure_rate=1.0,
        processing_seconds=2.0,
        state=tmp_path / "p.sqlite",
    )
    async with MediaClient(emulator=emu) as client:
        with pytest.raises(ProcessingError) as caught:
            await client.upload(mf.make_mp4(media_dir / "c.mp4"))
    assert caught.value.name == "InvalidMedia" and caught.value.code == "1"
    assert "file is invalid" in caught.value.message
    emu.close()


async def test_status_deadline(tmp_path: Path, media_dir: Path) -> None:
    clock = ManualClock(1_800_000_000)
    emu = Emulator(clock=clock, processing_seconds=600.0, state=tmp_path / "s.sqlite")
    async with MediaClient(emulator=emu, status_deadline_s=30) as client:
        with pytest.raises(ProcessingError, match="within 30 s"):
            await client.upload(mf.make_mp4(media_dir / "c.mp4"))
    emu.close()


async def test_user_token_refreshed_once_for_concurrent_requests(
    tmp_path: Path, media_dir: Path
) -> None:
    clock = ManualClock(1_800_000_000)
    emu = Emulator(clock=clock, user_token_lifetime_s=60, state=tmp_path / "t.sqlite")
    rotated = []
    creds = Credentials.user_token(
        DEMO.user_token,
        refresh_token=DEMO.refresh_token,
        client_id=DEMO.client_id,
        on_refresh=rotated.append,
    )
    async with MediaClient(
        creds,
        transport=httpx.ASGITransport(app=emu.app),
        clock=clock,
        chunk_size=1024,
        segment_concurrency=5,
    ) as client:
        await client.upload(mf.make_png(media_dir / "a.png", 50, 50))
        clock.advance(120)  # the token expired
        path = mf.make_png(media_dir / "b.png", 200, 200)
        state = await client.upload(path)  # five APPENDs in flight meet the 401 together
    assert state.image is not None
    assert len(rotated) == 1 and rotated[0].refresh_token != DEMO.refresh_token
    assert creds.current_token is not None and creds.current_token.access_token != DEMO.user_token
    tokens = [r for r in emu.requests if r.command == "TOKEN"]
    assert len(tokens) == 1
    emu.close()


def test_app_only_bearer_is_refused_before_any_request() -> None:
    with pytest.raises(CredentialsError, match="X_API_KEY"):
        Credentials.from_env({"X_BEARER_TOKEN": "AAAA"})


def test_plain_http_is_refused_except_loopback() -> None:
    with pytest.raises(ConfigurationError, match="clear"):
        MediaClient(Credentials.oauth1("a", "b", "1-c", "d"), base_url="http://example.com")
    MediaClient(base_url="http://127.0.0.1:9")  # a socket emulator: fine


async def test_auth_error_is_not_retried(emulator: Emulator, media_dir: Path) -> None:
    events: list[Event] = []
    bad = Credentials.oauth1(
        DEMO.consumer_key, "wrong", DEMO.access_token, DEMO.access_token_secret
    )
    async with MediaClient(
        bad,
        transport=httpx.ASGITransport(app=emulator.app),
        clock=emulator.clock,
        on_event=events.append,
    ) as client:
        with pytest.raises(AuthError):
            await client.upload(mf.make_png(media_dir / "p.png"))
    assert len(events) == 1 and events[0].http_status == 401


async def test_concurrent_uploads_share_one_client(emulator: Emulator, media_dir: Path) -> None:
    paths = [mf.make_png(media_dir / f"p{i}.png", 10 + i, 10) for i in range(6)]
    async with MediaClient(emulator=emulator) as client:
        states = await asyncio.gather(*(client.upload(p) for p in paths))
    assert [s.image["w"] for s in states] == [10 + i for i in range(6)]  # type: ignore[index]


async def test_log_records_are_redacted(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    secret = "SECRET-in-a-log-7c6d"
    creds = Credentials.oauth1(
        DEMO.consumer_key, secret, DEMO.access_token, DEMO.access_token_secret
    )
    caplog.set_level(logging.DEBUG)
    async with MediaClient(creds, transport=httpx.ASGITransport(app=emulator.app)):
        # A careless log line of someone else's, through one of the watched loggers.
        logging.getLogger("httpx").warning("request carried %s", secret)
        logging.getLogger("mediakit").info(f"token {secret} in the message")
    assert caplog.records and secret not in caplog.text
    assert "request carried ***" in caplog.text and "token *** in the message" in caplog.text


def test_a_dropped_first_answer_is_retried_but_a_refused_connection_is_unreachable() -> None:
    """Before any answer: a server that accepted the connection and dropped it is there (a
    lost answer, retried); failing to connect, or no answer in time, says "is the server
    running?"."""
    import httpx

    from mediakit._failures import UNREACHED_ATTEMPTS, transport_failure

    def decide(exc: httpx.TransportError) -> Exception | None:
        return transport_failure(
            "INIT", UNREACHED_ATTEMPTS, exc, url="http://127.0.0.1:9", reached=False, max_attempts=8
        )

    assert (
        decide(httpx.RemoteProtocolError("Server disconnected without sending a response.")) is None
    )
    assert decide(httpx.ReadError("connection reset")) is None
    refused = decide(httpx.ConnectError("[Errno 111] Connection refused"))
    assert refused is not None and "cannot reach http://127.0.0.1:9" in str(refused)
    silent = decide(httpx.ReadTimeout("timed out"))  # connected, and nothing ever came back
    assert silent is not None and "cannot reach" in str(silent)
    lost = transport_failure(
        "INIT", 8, httpx.RemoteProtocolError("gone"), url="u", reached=False, max_attempts=8
    )
    assert lost is not None and "after 8 attempts" in str(lost)
