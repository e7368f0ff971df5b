"""X's official Python SDK, `xdk` 0.10.6, against the emulator, unchanged.

xdk is configured only the way a user would configure it: `Client(base_url=..., access_token=...)`
for an OAuth 2.0 user token, `Client(base_url=..., auth=OAuth1(...))` for OAuth 1.0a. It is
synchronous (`requests`), so it talks to the emulator over a real socket (`running`), and the
tests sleep `check_after_secs / scale` real seconds, which is `check_after_secs` on the shared
`ScaledClock`.

What xdk 0.10.6 sends (read from xdk/media/client.py and confirmed by `Wire` below):

- initialize_upload: POST /2/media/upload/initialize, `application/json`,
  `{"total_bytes": n, "media_type": ..., "media_category": ...}` (None fields dropped).
- append_upload: POST /2/media/upload/{id}/append, `application/json`,
  `{"media": "<base64 of the chunk>", "segment_index": i}`.
- finalize_upload: POST /2/media/upload/{id}/finalize, no body, no content type.
- get_upload_status: GET /2/media/upload?media_id=...&command=STATUS.
- upload (one-shot): POST /2/media/upload, `application/json`,
  `{"media": "<base64>", "media_category": "tweet_image"}`.
- create_metadata: POST /2/media/metadata, `application/json`,
  `{"id": ..., "metadata": {"alt_text": {"text": ...}}}`.

Every method calls `raise_for_status()`, so an error answer surfaces as `requests.HTTPError`.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from xdk import Client
from xdk.media.models import (
    AppendUploadRequest,
    CreateMetadataRequest,
    InitializeUploadRequest,
    UploadRequest,
)
from xdk.oauth1_auth import OAuth1
from xdk.schemas import CreateMediaMetadataMetadata, CreateMediaMetadataMetadataAltText

from mediakit import ScaledClock
from mediakit.emulator import DEMO, Emulator, running

from . import mediafactory as mf

SCALE = 50.0
CHUNK = 4 * 1024


# ---------------------------------------------------------------------------------------------
# Fixtures


@dataclass(frozen=True)
class Sent:
    """One request as it left xdk (seen by a `requests` response hook)."""

    method: str
    path: str
    query: str
    content_type: str | None
    auth_scheme: str
    body: bytes | None


class Wire:
    """Records what xdk put on the wire; a plain `requests` response hook, changes nothing."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        parts = urlsplit(str(request.url))
        body = request.body.encode() if isinstance(request.body, str) else request.body
        self.sent.append(
            Sent(
                method=str(request.method),
                path=parts.path,
                query=parts.query,
                content_type=request.headers.get("Content-Type"),
                auth_scheme=request.headers.get("Authorization", "").split(" ", 1)[0],
                body=body,
            )
        )

    def attach(self, client: Client) -> Client:
        client.session.hooks["response"].append(self.hook)
        return client


EmulatorFactory = Callable[..., Emulator]


@pytest.fixture
def make_emulator(tmp_path: Path) -> Iterator[EmulatorFactory]:
    """Emulators on their own ScaledClock(50); closed at the end of the test."""
    made: list[Emulator] = []

    def make(processing_seconds: tuple[float, float] = (1.0, 2.0)) -> Emulator:
        emulator = Emulator(
            clock=ScaledClock(SCALE),
            seed=1,
            processing_seconds=processing_seconds,
            state=tmp_path / f"x{len(made)}.sqlite",
        )
        made.append(emulator)
        return emulator

    yield make
    for emulator in made:
        emulator.close()


@pytest.fixture
def emulator(make_emulator: EmulatorFactory) -> Emulator:
    return make_emulator()


@pytest.fixture
def url(emulator: Emulator) -> Iterator[str]:
    with running(emulator) as base_url:
        yield base_url


@pytest.fixture
def wire() -> Wire:
    return Wire()


def bearer_client(base_url: str, wire: Wire | None = None) -> Client:
    client = Client(base_url=base_url, access_token=DEMO.user_token)
    return wire.attach(client) if wire else client


def oauth1_client(base_url: str, wire: Wire | None = None) -> Client:
    auth = OAuth1(
        api_key=DEMO.consumer_key,
        api_secret=DEMO.consumer_secret,
        callback="oob",
        access_token=DEMO.access_token,
        access_token_secret=DEMO.access_token_secret,
    )
    client = Client(base_url=base_url, auth=auth)
    return wire.attach(client) if wire else client


@pytest.fixture
def xdk_client(url: str, wire: Wire) -> Iterator[Client]:
    client = bearer_client(url, wire)
    yield client
    client.session.close()


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    return folder


# ---------------------------------------------------------------------------------------------
# Helpers: an upload and a polite wait, with xdk's own methods and models


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def chunked_upload(
    client: Client, data: bytes, media_type: str, category: str, chunk: int = CHUNK
) -> tuple[Any, Any, int]:
    """initialize, append every chunk in order, finalize; (initialize, finalize, segments)."""
    init = client.media.initialize_upload(
        InitializeUploadRequest(
            total_bytes=len(data), media_type=media_type, media_category=category
        )
    )
    assert init.errors is None and init.data is not None
    media_id = init.data.id
    segments = pieces(data, chunk)
    for index, segment in enumerate(segments):
        answer = client.media.append_upload(
            media_id, AppendUploadRequest(media=b64(segment), segment_index=index)
        )
        assert answer.errors is None and answer.data is not None
        assert isinstance(answer.data.expires_at, int)
    done = client.media.finalize_upload(media_id)
    assert done.errors is None and done.data is not None
    assert done.data.id == media_id
    return init, done, len(segments)


def wait_processed(
    client: Client, media_id: str, check_after: int | None, limit: int = 100
) -> tuple[list[Any], list[int]]:
    """Poll STATUS, sleeping each `check_after_secs` first; (every `data` seen, waits used)."""
    seen: list[Any] = []
    waits: list[int] = []
    for _ in range(limit):
        assert check_after is not None and check_after >= 1
        waits.append(check_after)
        time.sleep(check_after / SCALE)  # check_after_secs on the shared ScaledClock(50)
        answer = client.media.get_upload_status(media_id, command="STATUS")
        assert answer.errors is None and answer.data is not None
        seen.append(answer.data)
        info = answer.data.processing_info
        assert info is not None
        if info.state in ("succeeded", "failed"):
            return seen, waits
        check_after = info.check_after_secs
    raise AssertionError("processing never ended")


def json_of(sent: Sent) -> Any:
    assert sent.body is not None
    return json.loads(sent.body)


# ---------------------------------------------------------------------------------------------
# 1. Image: chunked, no processing


def test_xdk_chunked_image(
    xdk_client: Client, emulator: Emulator, wire: Wire, media_dir: Path
) -> None:
    data = mf.make_jpeg(media_dir / "photo.jpg", width=321, height=123).read_bytes()
    chunk = len(data) // 3 + 1  # three segments
    init, done, segments = chunked_upload(xdk_client, data, "image/jpeg", "tweet_image", chunk)
    assert segments == 3

    media_id = init.data.id
    assert init.data.media_key == f"3_{media_id}"
    assert 86390 <= init.data.expires_after_secs <= 86400
    final = done.data
    assert final.id == media_id
    assert final.media_key == f"3_{media_id}"
    assert final.size == len(data)
    assert final.image is not None
    assert (final.image.image_type, final.image.w, final.image.h) == ("image/jpeg", 321, 123)
    assert final.processing_info is None and final.video is None

    record = emulator.media_by_id(media_id)
    assert record is not None
    assert record.state == "ready"
    assert (record.segments, record.received_bytes) == (3, len(data))
    assert (record.width, record.height) == (321, 123)
    assert record.owner == DEMO.user_id

    # What xdk sent: JSON for initialize and append, an empty POST for finalize.
    init_sent, *append_sent, finalize_sent = wire.sent
    assert init_sent.path == "/2/media/upload/initialize"
    assert init_sent.content_type == "application/json"
    assert init_sent.auth_scheme == "Bearer"
    assert json_of(init_sent) == {
        "total_bytes": len(data),
        "media_type": "image/jpeg",
        "media_category": "tweet_image",
    }
    assert [s.path for s in append_sent] == [f"/2/media/upload/{media_id}/append"] * 3
    assert {s.content_type for s in append_sent} == {"application/json"}
    bodies = [json_of(s) for s in append_sent]
    assert [b["segment_index"] for b in bodies] == [0, 1, 2]
    assert b"".join(base64.b64decode(b["media"]) for b in bodies) == data
    assert finalize_sent.path == f"/2/media/upload/{media_id}/finalize"
    assert finalize_sent.content_type is None and not finalize_sent.body

    # STATUS of an image that never needed processing: X answers 400 "Not found", and
    # xdk's raise_for_status turns that into requests.HTTPError.
    with pytest.raises(requests.HTTPError) as caught:
        xdk_client.media.get_upload_status(media_id, command="STATUS")
    assert caught.value.response.status_code == 400
    assert caught.value.response.json()["errors"] == [{"message": "BadRequest: Not found"}]


# ---------------------------------------------------------------------------------------------
# 2. Video: chunked, processing, polite polling


def test_xdk_chunked_video_with_processing(
    make_emulator: EmulatorFactory, wire: Wire, media_dir: Path
) -> None:
    pytest.importorskip("av")
    # Processing of 15-20 emulated seconds (0.3-0.4 s real) so that the polls see pending and
    # in_progress before succeeded: with (1, 2) the first STATUS, sent at least the 1-5 s of
    # check_after_secs after FINALIZE, is already terminal and progress is never seen rising.
    emulator = make_emulator(processing_seconds=(15.0, 20.0))
    data = mf.make_mp4(media_dir / "clip.mp4", seconds=2, width=320, height=240).read_bytes()
    assert len(data) > 2 * CHUNK  # several 4 KiB segments

    with running(emulator) as base_url:
        client = bearer_client(base_url, wire)
        try:
            init, done, segments = chunked_upload(client, data, "video/mp4", "tweet_video")
            media_id = init.data.id
            first = done.data.processing_info
            assert first is not None and first.state == "pending"
            assert done.data.media_key == f"7_{media_id}"
            assert done.data.size == len(data)
            seen, waits = wait_processed(client, media_id, first.check_after_secs)
        finally:
            client.session.close()
    assert segments == -(-len(data) // CHUNK) >= 2

    states = [d.processing_info.state for d in seen]
    progress = [d.processing_info.progress_percent for d in seen]
    assert states[-1] == "succeeded"
    assert "in_progress" in states
    numbers = [p for p in progress if p is not None]
    assert numbers == sorted(numbers) and numbers[-1] == 100
    assert all(0 < p < 100 for p in numbers[:-1])
    final = seen[-1]
    assert final.id == media_id
    assert final.video is not None and final.video.video_type == "video/mp4"
    assert final.processing_info.check_after_secs is None

    record = emulator.media_by_id(media_id)
    assert record is not None
    assert record.state == "succeeded"
    assert (record.segments, record.received_bytes) == (segments, len(data))
    assert record.detected_type == "video/mp4"
    assert (record.width, record.height) == (320, 240)

    # The request log: each STATUS started only after the previous answer's check_after_secs
    # had passed on the shared clock (measured from when the emulator answered).
    log = [r for r in emulator.requests if r.media_id == media_id]
    assert [r.command for r in log] == (
        ["INIT"] + ["APPEND"] * segments + ["FINALIZE"] + ["STATUS"] * len(seen)
    )
    assert all(r.status == 200 for r in log)
    polls = log[-len(seen) - 1 :]  # FINALIZE, then every STATUS
    for (previous, poll), wait in zip(pairwise(polls), waits, strict=True):
        assert previous.finished_at is not None
        assert poll.started_at >= previous.finished_at + wait, (previous, poll, wait)
    assert [r.state for r in polls] == ["pending", *states]

    status_sent = [s for s in wire.sent if s.method == "GET"]
    assert {s.query for s in status_sent} == {f"media_id={media_id}&command=STATUS"}


# ---------------------------------------------------------------------------------------------
# 3. Animated GIF as tweet_gif


def test_xdk_animated_gif(xdk_client: Client, emulator: Emulator, media_dir: Path) -> None:
    data = mf.make_gif(media_dir / "anim.gif", frames=6).read_bytes()
    init, done, _segments = chunked_upload(
        xdk_client, data, "image/gif", "tweet_gif", chunk=len(data) // 2 + 1
    )
    media_id = init.data.id
    assert init.data.media_key == f"16_{media_id}"
    info = done.data.processing_info
    assert info is not None and info.state == "pending"
    seen, _waits = wait_processed(xdk_client, media_id, info.check_after_secs)
    final = seen[-1]
    assert final.processing_info.state == "succeeded"
    assert final.processing_info.progress_percent == 100
    assert final.media_key is not None and final.media_key.startswith("16_")
    record = emulator.media_by_id(media_id)
    assert record is not None and record.state == "succeeded"
    assert record.media_category == "tweet_gif" and record.detected_type == "image/gif"


# ---------------------------------------------------------------------------------------------
# 4. One-shot upload and alt text


def test_xdk_one_shot_upload_and_alt_text(
    xdk_client: Client, emulator: Emulator, wire: Wire, media_dir: Path
) -> None:
    data = mf.make_png(media_dir / "pic.png", width=40, height=30).read_bytes()
    answer = xdk_client.media.upload(UploadRequest(media=b64(data), media_category="tweet_image"))
    assert answer.errors is None and answer.data is not None
    media_id = answer.data.id
    assert answer.data.media_key == f"3_{media_id}"
    assert answer.data.size == len(data)
    assert answer.data.image is not None
    assert (answer.data.image.image_type, answer.data.image.w, answer.data.image.h) == (
        "image/png",
        40,
        30,
    )
    assert answer.data.processing_info is None

    alt = "A blue rectangle with an orange bar"
    meta = xdk_client.media.create_metadata(
        CreateMetadataRequest(
            id=media_id,
            metadata=CreateMediaMetadataMetadata(
                alt_text=CreateMediaMetadataMetadataAltText(text=alt)
            ),
        )
    )
    assert meta.errors is None and meta.data is not None
    assert meta.data.id == media_id
    assert meta.data.associated_metadata == {"alt_text": {"text": alt}}

    record = emulator.media_by_id(media_id)
    assert record is not None
    assert record.state == "ready" and record.alt_text == alt
    assert [r.command for r in emulator.requests] == ["UPLOAD", "METADATA"]

    upload_sent, meta_sent = wire.sent
    assert (upload_sent.method, upload_sent.path) == ("POST", "/2/media/upload")
    assert upload_sent.content_type == "application/json"
    assert json_of(upload_sent) == {"media": b64(data), "media_category": "tweet_image"}
    assert (meta_sent.path, meta_sent.content_type) == ("/2/media/metadata", "application/json")
    assert json_of(meta_sent) == {"id": media_id, "metadata": {"alt_text": {"text": alt}}}


# ---------------------------------------------------------------------------------------------
# 5. OAuth 1.0a


def test_xdk_oauth1_upload_status_and_metadata(
    url: str, emulator: Emulator, wire: Wire, media_dir: Path
) -> None:
    # xdk stamps oauth_timestamp with the real time.time() while the emulator reads its
    # ScaledClock(50): the two drift apart by 49 s per real second, so this test must end
    # within ~6 real seconds of the emulator's creation (X allows 300 s of skew). It takes
    # well under one.
    client = oauth1_client(url, wire)
    try:
        gif = mf.make_gif(media_dir / "anim.gif", frames=4).read_bytes()
        init, done, _segments = chunked_upload(client, gif, "image/gif", "tweet_gif")
        media_id = init.data.id
        info = done.data.processing_info
        assert info is not None
        # STATUS is a GET whose query xdk signs; it works with OAuth 1.0a too.
        seen, _waits = wait_processed(client, media_id, info.check_after_secs)
        assert seen[-1].processing_info.state == "succeeded"

        png = mf.make_png(media_dir / "pic.png").read_bytes()
        one_shot = client.media.upload(UploadRequest(media=b64(png), media_category="tweet_image"))
        assert one_shot.data is not None
        client.media.create_metadata(
            CreateMetadataRequest(
                id=one_shot.data.id,
                metadata=CreateMediaMetadataMetadata(
                    alt_text=CreateMediaMetadataMetadataAltText(text="signed")
                ),
            )
        )
    finally:
        client.session.close()

    assert {s.auth_scheme for s in wire.sent} == {"OAuth"}
    assert all(r.status == 200 and r.user_id == DEMO.user_id for r in emulator.requests)
    gif_record = emulator.media_by_id(media_id)
    assert gif_record is not None and gif_record.state == "succeeded"
    assert gif_record.owner == DEMO.user_id
    png_record = emulator.media_by_id(one_shot.data.id)
    assert png_record is not None and png_record.alt_text == "signed"


def test_xdk_wrong_oauth1_secret_is_refused(url: str, emulator: Emulator) -> None:
    auth = OAuth1(
        api_key=DEMO.consumer_key,
        api_secret="not-the-secret",
        callback="oob",
        access_token=DEMO.access_token,
        access_token_secret=DEMO.access_token_secret,
    )
    client = Client(base_url=url, auth=auth)
    try:
        with pytest.raises(requests.HTTPError) as caught:
            client.media.initialize_upload(
                InitializeUploadRequest(total_bytes=10, media_type="image/png")
            )
    finally:
        client.session.close()
    assert caught.value.response.status_code == 401
    assert emulator.media == []
