"""The emulator's v2 API: auth, bad input, expiry, one-shot, metadata, subtitles, tokens."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import httpx
import pytest

from mediakit import ManualClock
from mediakit._oauth1 import OAuth1Signer
from mediakit.emulator import DEMO, Emulator

from . import mediafactory as mf
from .conftest import make_client
from .emuhelp import append, finalize, initialize, status, upload_bytes, upload_file
from .test_emulator_v2 import problem_messages


def oauth1(
    clock=None,
    token: str = DEMO.access_token,
    secret: str = DEMO.access_token_secret,
    consumer_secret: str = DEMO.consumer_secret,
) -> OAuth1Signer:
    return OAuth1Signer(DEMO.consumer_key, consumer_secret, token, secret, clock=clock)


# 4: v2 auth


async def test_oauth1_user_context_uploads(base, media_dir: Path, emu: Emulator) -> None:
    async with make_client(base, auth=oauth1(emu.clock)) as c:
        path = mf.make_png(media_dir / "a.png", 10, 10)
        media_id, done = await upload_file(c, path, "tweet_image")
        assert done.status_code == 200, done.text
    record = emu.media_by_id(media_id)
    assert record is not None and record.owner == DEMO.user_id


async def test_oauth1_refusals(base, emu: Emulator) -> None:
    body = {"total_bytes": 10, "media_type": "image/png", "media_category": "tweet_image"}
    unauthorized = {
        "title": "Unauthorized",
        "type": "about:blank",
        "status": 401,
        "detail": "Unauthorized",
    }
    async with make_client(base, auth=oauth1(emu.clock, consumer_secret="wrong")) as c:
        answer = await c.post("/2/media/upload/initialize", json=body)
        assert answer.status_code == 401 and answer.json() == unauthorized
    stale = ManualClock(emu.clock.now() - 3600)
    async with make_client(base, auth=oauth1(stale)) as c:
        assert (await c.post("/2/media/upload/initialize", json=body)).status_code == 401
    async with make_client(base, auth=oauth1(emu.clock, token="1-unknown", secret="x")) as c:
        assert (await c.post("/2/media/upload/initialize", json=body)).status_code == 401
    async with make_client(base, token=None) as c:
        answer = await c.post("/2/media/upload/initialize", json=body)
        assert answer.status_code == 401 and answer.json() == unauthorized
        answer = await c.post(
            "/2/media/upload/initialize", json=body, headers={"authorization": "OAuth garbage"}
        )
        assert answer.status_code == 401


async def test_app_only_bearer_is_refused(base) -> None:
    async with make_client(base, token=DEMO.app_bearer_token) as c:
        answer = await initialize(c, 10, "image/png", "tweet_image")
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["type"] == "https://api.x.com/2/problems/unsupported-authentication"
    assert body["title"] == "Unsupported Authentication" and body["status"] == 403
    assert "OAuth 2.0 Application-Only is forbidden" in body["detail"]


async def test_user_token_without_media_write(tmp_path: Path) -> None:
    emulator = Emulator(user_token_scopes={"tweet.read", "users.read"}, state=tmp_path / "s.sqlite")
    async with make_client(("https://api.x.com", httpx.ASGITransport(app=emulator.app))) as c:
        answer = await initialize(c, 10, "image/png", "tweet_image")
    assert answer.status_code == 403
    assert answer.json() == {
        "title": "Forbidden",
        "type": "about:blank",
        "status": 403,
        "detail": "Forbidden",
    }
    emulator.close()


async def test_user_token_lifetime(tmp_path: Path) -> None:
    clock = ManualClock(1_800_000_000)
    emulator = Emulator(clock=clock, user_token_lifetime_s=7200, state=tmp_path / "s.sqlite")
    async with make_client(("https://api.x.com", httpx.ASGITransport(app=emulator.app))) as c:
        assert (await initialize(c, 10, "image/png", "tweet_image")).status_code == 200
        clock.advance(7201)
        assert (await initialize(c, 10, "image/png", "tweet_image")).status_code == 401
    emulator.close()


async def test_configured_credentials_replace_the_demo_set(tmp_path: Path) -> None:
    emulator = Emulator(
        consumer_key="ck",
        consumer_secret="cs",
        access_token="42-at",
        access_token_secret="ats",
        user_token="ut",
        app_bearer_token="ab",
        state=tmp_path / "s.sqlite",
    )
    transport = httpx.ASGITransport(app=emulator.app)
    async with make_client(("https://api.x.com", transport), token="ut") as c:
        assert (await initialize(c, 10, "image/png", "tweet_image")).status_code == 200
    async with make_client(("https://api.x.com", transport)) as c:  # the demo token
        assert (await initialize(c, 10, "image/png", "tweet_image")).status_code == 401
    async with make_client(("https://api.x.com", transport), token="ab") as c:
        assert (await initialize(c, 10, "image/png", "tweet_image")).status_code == 403
    signer = OAuth1Signer("ck", "cs", "42-at", "ats", clock=emulator.clock)
    async with make_client(("https://api.x.com", transport), auth=signer) as c:
        answer = await initialize(c, 10, "image/png", "tweet_image")
        assert answer.status_code == 200
    assert emulator.media_by_id(answer.json()["data"]["id"]).owner == "42"  # type: ignore[union-attr]
    async with make_client(("https://api.x.com", transport), auth=oauth1(emulator.clock)) as c:
        assert (await initialize(c, 10, "image/png", "tweet_image")).status_code == 401
    emulator.close()


# 5: another user's media


async def test_another_users_media_is_not_found(base, emu: Emulator, media_dir: Path) -> None:
    async with make_client(base) as mine:
        data = mf.make_png(media_dir / "p.png").read_bytes()
        media_id = (await initialize(mine, len(data), "image/png", "tweet_image")).json()["data"][
            "id"
        ]
        clip = mf.make_mp4(media_dir / "c.mp4").read_bytes()
        video_id, _ = await upload_bytes(mine, clip, "tweet_video")
    other = oauth1(emu.clock, DEMO.other_access_token, DEMO.other_access_token_secret)
    async with make_client(base, auth=other) as theirs:
        assert problem_messages(await append(theirs, media_id, 0, data)) == [
            "BadRequest: Not found"
        ]
        assert problem_messages(await finalize(theirs, media_id)) == ["BadRequest: Not found"]
        assert problem_messages(await status(theirs, video_id)) == ["BadRequest: Not found"]


async def test_additional_owners_may_use_the_media(base, emu: Emulator, media_dir: Path) -> None:
    clip = mf.make_mp4(media_dir / "c.mp4").read_bytes()
    async with make_client(base) as mine:
        init = await mine.post(
            "/2/media/upload/initialize",
            json={
                "total_bytes": len(clip),
                "media_type": "video/mp4",
                "media_category": "tweet_video",
                "additional_owners": [DEMO.other_user_id],
            },
        )
        media_id = init.json()["data"]["id"]
        assert (await append(mine, media_id, 0, clip)).status_code == 200
        assert (await finalize(mine, media_id)).status_code == 200
    other = oauth1(emu.clock, DEMO.other_access_token, DEMO.other_access_token_secret)
    async with make_client(base, auth=other) as theirs:
        assert (await status(theirs, media_id)).status_code == 200
    async with make_client(base) as mine:
        too_many = await mine.post(
            "/2/media/upload/initialize",
            json={
                "total_bytes": 1,
                "media_type": "image/png",
                "additional_owners": [str(i) for i in range(101)],
            },
        )
        assert too_many.status_code == 400


# 20, 21: bad input gets X's answer, never a 500


async def test_initialize_needs_json(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/2/media/upload/initialize", data={"total_bytes": "10", "media_type": "image/png"}
    )
    assert problem_messages(answer) == [
        "Requests with bodies must have content-type of application/json."
    ]
    answer = await client.post(
        "/2/media/upload/initialize", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert problem_messages(answer) == ["Request body is not valid JSON."]
    answer = await client.post("/2/media/upload/initialize", json=[1, 2])
    assert problem_messages(answer) == ["Request body is not valid JSON."]


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        (
            {"total_bytes": 10, "media_type": "image/png", "media_category": "TweetImage"},
            "media_category",
            "is not one of [amplify_video,tweet_gif",
        ),
        (
            {"total_bytes": 10, "media_type": "application/octet-stream"},
            "media_type",
            "is not one of [video/mp4",
        ),
        (
            {"total_bytes": -1, "media_type": "image/png"},
            "total_bytes",
            "is not between 0 and 17179869184",
        ),
        (
            {"total_bytes": 17179869185, "media_type": "video/mp4"},
            "total_bytes",
            "is not between 0 and 17179869184",
        ),
        ({"total_bytes": "ten", "media_type": "image/png"}, "total_bytes", "is not an integer"),
        ({"total_bytes": True, "media_type": "image/png"}, "total_bytes", "is not an integer"),
        (
            {"total_bytes": 10, "media_type": "image/png", "colour": "red"},
            "colour",
            "is not allowed",
        ),
        (
            {"total_bytes": 10, "media_type": "image/png", "shared": "yes"},
            "shared",
            "is not a boolean",
        ),
    ],
)
async def test_initialize_validation(
    client: httpx.AsyncClient, body: dict, param: str, fragment: str
) -> None:
    answer = await client.post("/2/media/upload/initialize", json=body)
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert any(
        fragment in e["message"] and param in e.get("parameters", {param: 1}) for e in errors
    ), errors
    assert errors[0]["message"].startswith(f"The `{param}`")


async def test_append_validation(client: httpx.AsyncClient) -> None:
    media_id = (await initialize(client, 10, "image/png", "tweet_image")).json()["data"]["id"]
    for index in ("1000", "-1", "x"):
        answer = await client.post(
            f"/2/media/upload/{media_id}/append",
            data={"segment_index": index},
            files={"media": ("b", b"1", "application/octet-stream")},
        )
        assert answer.status_code == 400, index
        assert answer.json()["errors"][0]["parameters"] == {"segment_index": [index]}
    answer = await client.post(
        f"/2/media/upload/{media_id}/append", files={"segment_index": (None, "0")}
    )
    assert problem_messages(answer) == ["The `media` body parameter is missing."]
    answer = await client.post(f"/2/media/upload/{media_id}/append", data={"segment_index": "0"})
    assert problem_messages(answer) == [
        "Requests with bodies must have content-type of application/json."
    ]
    answer = await client.post(f"/2/media/upload/{media_id}/append", files={"media": ("b", b"1")})
    assert problem_messages(answer) == ["The `segment_index` body parameter is missing."]
    answer = await client.post(
        f"/2/media/upload/{media_id}/append", content=b"raw", headers={"content-type": "text/plain"}
    )
    assert answer.status_code == 400
    answer = await client.post(
        "/2/media/upload/12ab/append", data={"segment_index": "0"}, files={"media": ("b", b"1")}
    )
    assert problem_messages(answer) == [
        "The `id` path parameter value [12ab] does not match ^[0-9]{1,19}$"
    ]
    answer = await client.post("/2/media/upload/12345678901234567890/finalize")
    assert answer.status_code == 400
    answer = await append(client, "1234567890123456789", 0, b"x")
    assert problem_messages(answer) == ["BadRequest: Not found"]
    assert problem_messages(await finalize(client, "1234567890123456789")) == [
        "BadRequest: Not found"
    ]


async def test_json_base64_append(client: httpx.AsyncClient, media_dir: Path) -> None:
    data = mf.make_jpeg(media_dir / "a.jpg", 30, 20).read_bytes()
    media_id = (await initialize(client, len(data), "image/jpeg", "tweet_image")).json()["data"][
        "id"
    ]
    half = len(data) // 2
    for index, piece in ((1, data[half:]), (0, data[:half])):
        answer = await client.post(
            f"/2/media/upload/{media_id}/append",
            json={"media": base64.b64encode(piece).decode(), "segment_index": index},
        )
        assert answer.status_code == 200, answer.text
    done = await finalize(client, media_id)
    assert done.json()["data"]["image"] == {"image_type": "image/jpeg", "w": 30, "h": 20}
    bad = await client.post(
        f"/2/media/upload/{media_id}/append", json={"media": "!!", "segment_index": 0}
    )
    assert bad.status_code == 400


async def test_oversized_chunk_is_413_with_empty_body(client: httpx.AsyncClient) -> None:
    media_id = (await initialize(client, 6 * 2**20, "video/mp4", "tweet_video")).json()["data"][
        "id"
    ]
    answer = await append(client, media_id, 0, b"\0" * (5 * 2**20 + 1))
    assert answer.status_code == 413 and answer.content == b""
    answer = await client.post(
        f"/2/media/upload/{media_id}/append",
        json={"media": base64.b64encode(b"\0" * (5 * 2**20 + 1)).decode(), "segment_index": 0},
    )
    assert answer.status_code == 413 and answer.content == b""
    # X's edge caps the whole request body at 5 MiB: a part of exactly 5 MiB is refused
    # (tests/test_emulator_fidelity.py has the boundary itself).
    assert (await append(client, media_id, 0, b"\0" * (5 * 2**20))).status_code == 413
    assert (await append(client, media_id, 0, b"\0" * (5 * 2**20 - 2**16))).status_code == 200


async def test_status_validation(client: httpx.AsyncClient) -> None:
    answer = await client.get("/2/media/upload")
    assert problem_messages(answer) == ["The `media_id` query parameter is missing."]
    answer = await client.get("/2/media/upload", params={"media_id": "abc"})
    assert problem_messages(answer) == [
        "The `media_id` query parameter value [abc] does not match ^[0-9]{1,19}$"
    ]
    answer = await client.get("/2/media/upload", params={"media_id": "1", "command": "INIT"})
    assert problem_messages(answer) == [
        "The `command` query parameter value [INIT] is not one of [STATUS]"
    ]
    answer = await client.get("/2/media/upload", params={"media_id": "1", "foo": "bar"})
    assert answer.status_code == 400 and "foo" in answer.json()["errors"][0]["message"]
    # Without `command` (optional since March 2025) STATUS still answers.
    answer = await client.get("/2/media/upload", params={"media_id": "1234567890123456789"})
    assert problem_messages(answer) == ["BadRequest: Not found"]


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    answer = await client.get("/2/media/nothing")
    assert answer.status_code == 404
    assert answer.json()["errors"][0]["code"] == 34
    answer = await client.delete("/2/media/upload/initialize")
    assert answer.status_code in (404, 405)


async def test_malformed_requests_never_500(client: httpx.AsyncClient) -> None:
    media_id = (await initialize(client, 10, "image/png", "tweet_image")).json()["data"]["id"]
    attempts = [
        client.post(
            "/2/media/upload/initialize",
            content=b"\xff\xfe",
            headers={"content-type": "application/json"},
        ),
        client.post(
            "/2/media/upload/initialize", json={"total_bytes": 1e30, "media_type": "image/png"}
        ),
        client.post("/2/media/upload/initialize", json={"total_bytes": 10, "media_type": 5}),
        client.post(
            "/2/media/upload/initialize",
            json={"total_bytes": 10, "media_type": "image/png", "additional_owners": "x"},
        ),
        client.post(
            f"/2/media/upload/{media_id}/append",
            content=b"--x\r\nbroken",
            headers={"content-type": "multipart/form-data; boundary=x"},
        ),
        client.post(
            f"/2/media/upload/{media_id}/append",
            content=b"data",
            headers={"content-type": "multipart/form-data"},
        ),
        client.post(f"/2/media/upload/{media_id}/append", json={"media": 5, "segment_index": 0}),
        client.post(f"/2/media/upload/{media_id}/append", json={"media": "", "segment_index": [1]}),
        client.post(f"/2/media/upload/{media_id}/append", json="just a string"),
        client.post(
            f"/2/media/upload/{media_id}/finalize",
            content=b"junk",
            headers={"content-type": "text/plain"},
        ),
        client.post(
            "/2/media/upload", content=b"x", headers={"content-type": "application/octet-stream"}
        ),
        client.post("/2/media/metadata", json={"id": media_id, "metadata": "x"}),
        client.post("/2/media/metadata", json={"id": 5}),
        client.post(
            "/2/media/subtitles",
            json={"id": media_id, "media_category": "TweetVideo", "subtitles": []},
        ),
        client.post(
            "/2/oauth2/token",
            content=b"\xff",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
    ]
    for answer in await asyncio.gather(*attempts):
        assert 400 <= answer.status_code < 500, (
            answer.request.url,
            answer.status_code,
            answer.text,
        )


# 16, 33: finalize twice, expiry


async def test_finalize_twice_is_idempotent(client: httpx.AsyncClient, media_dir: Path) -> None:
    path = mf.make_png(media_dir / "p.png", 5, 5)
    media_id, first = await upload_file(client, path, "tweet_image")
    again = await finalize(client, media_id)
    assert again.status_code == 200
    assert again.json()["data"]["image"] == first.json()["data"]["image"]


async def test_session_and_media_expiry(tmp_path: Path, media_dir: Path) -> None:
    clock = ManualClock(1_800_000_000)
    emulator = Emulator(clock=clock, processing_seconds=1.0, state=tmp_path / "s.sqlite")
    async with make_client(("https://api.x.com", httpx.ASGITransport(app=emulator.app))) as c:
        media_id = (await initialize(c, 3, "image/png", "tweet_image")).json()["data"]["id"]
        clock.advance(100)
        answer = await status(c, media_id)
        assert answer.status_code == 400
        assert (await append(c, media_id, 0, b"abc")).status_code == 200
        clock.advance(86400 - 100)
        assert problem_messages(await append(c, media_id, 0, b"abc")) == ["BadRequest: Not found"]
        assert problem_messages(await finalize(c, media_id)) == ["BadRequest: Not found"]
        assert emulator.media_by_id(media_id).state == "expired"  # type: ignore[union-attr]
        clip = mf.make_mp4(media_dir / "c.mp4").read_bytes()
        video_id, done = await upload_bytes(c, clip, "tweet_video")
        assert done.json()["data"]["expires_after_secs"] == 86400
        clock.advance(3600)
        seen = (await status(c, video_id)).json()["data"]
        assert seen["expires_after_secs"] == 86400 - 3600
        clock.advance(86400 - 3600)
        assert problem_messages(await status(c, video_id)) == ["BadRequest: Not found"]
    emulator.close()


# 22: the retired command form


async def test_command_form_refused_by_default(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/2/media/upload",
        params={"command": "INIT", "total_bytes": "10", "media_type": "image/png"},
    )
    assert answer.status_code == 400
    assert "retired" in answer.json()["errors"][0]["message"]


async def test_command_form_when_configured(tmp_path: Path, media_dir: Path) -> None:
    emulator = Emulator(
        allow_command_form=True, processing_seconds=0.0, state=tmp_path / "s.sqlite"
    )
    data = mf.make_jpeg(media_dir / "a.jpg", 9, 9).read_bytes()
    async with make_client(("https://api.x.com", httpx.ASGITransport(app=emulator.app))) as c:
        init = await c.post(
            "/2/media/upload",
            params={
                "command": "INIT",
                "total_bytes": str(len(data)),
                "media_type": "image/jpeg",
                "media_category": "tweet_image",
            },
        )
        assert init.status_code == 202, init.text
        media_id = init.json()["data"]["id"]
        appended = await c.post(
            "/2/media/upload",
            data={"command": "APPEND", "media_id": media_id, "segment_index": "0"},
            files={"media": ("a.jpg", data, "image/jpeg")},
        )
        assert appended.status_code == 204 and appended.content == b""
        done = await c.post("/2/media/upload", params={"command": "FINALIZE", "media_id": media_id})
        assert done.status_code == 201
        assert done.json()["data"]["image"] == {"image_type": "image/jpeg", "w": 9, "h": 9}
    emulator.close()


# 23: one-shot upload


async def test_one_shot_upload(client: httpx.AsyncClient, media_dir: Path) -> None:
    data = mf.make_png(media_dir / "p.png", 11, 7).read_bytes()
    answer = await client.post(
        "/2/media/upload",
        data={"media_category": "tweet_image"},
        files={"media": ("p.png", data, "image/png")},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()["data"]
    assert body["image"] == {"image_type": "image/png", "w": 11, "h": 7} and body["size"] == len(
        data
    )
    answer = await client.post(
        "/2/media/upload",
        json={"media": base64.b64encode(data).decode(), "media_category": "dm_image"},
    )
    assert answer.status_code == 200 and answer.json()["data"]["image"]["w"] == 11
    srt = mf.make_srt(media_dir / "s.srt").read_bytes()
    answer = await client.post(
        "/2/media/upload", data={"media_category": "subtitles"}, files={"media": ("s.srt", srt)}
    )
    assert answer.status_code == 200, answer.text
    answer = await client.post("/2/media/upload", files={"media": ("p.png", data)})
    assert answer.status_code == 400 and answer.json()["errors"][0]["parameters"] == {
        "media_category": [""]
    }
    answer = await client.post(
        "/2/media/upload",
        data={"media_category": "amplify_video"},
        files={"media": ("p.png", data)},
    )
    assert answer.status_code == 400
    answer = await client.post("/2/media/upload", data={"media_category": "tweet_image"})
    assert problem_messages(answer) == ["The `media` body parameter is missing."]
    big = mf.make_big_file(media_dir / "big.jpg", 5 * 2**20 + 1).read_bytes()
    answer = await client.post(
        "/2/media/upload", data={"media_category": "tweet_image"}, files={"media": ("big.jpg", big)}
    )
    assert problem_messages(answer) == ["File size exceeds 5242880 bytes."]


# 35, 36: alt text and subtitles


async def test_alt_text(client: httpx.AsyncClient, media_dir: Path, emu: Emulator) -> None:
    media_id, _ = await upload_file(client, mf.make_png(media_dir / "p.png"), "tweet_image")
    meta = {"alt_text": {"text": "A red square"}}
    answer = await client.post("/2/media/metadata", json={"id": media_id, "metadata": meta})
    assert answer.status_code == 200
    assert answer.json() == {"data": {"id": media_id, "associated_metadata": meta}}
    assert emu.media_by_id(media_id).alt_text == "A red square"  # type: ignore[union-attr]
    long = await client.post(
        "/2/media/metadata", json={"id": media_id, "metadata": {"alt_text": {"text": "x" * 1001}}}
    )
    assert long.status_code == 400
    assert (
        await client.post(
            "/2/media/metadata",
            json={"id": media_id, "metadata": {"alt_text": {"text": "x" * 1000}}},
        )
    ).status_code == 200
    unknown = await client.post(
        "/2/media/metadata", json={"id": "1234567890123456789", "metadata": meta}
    )
    assert problem_messages(unknown) == ["BadRequest: Not found"]


async def test_subtitles_create_and_delete(
    client: httpx.AsyncClient, media_dir: Path, clock
) -> None:
    video_id, _ = await upload_file(client, mf.make_mp4(media_dir / "c.mp4"), "tweet_video")
    sub_id, _ = await upload_file(
        client, mf.make_srt(media_dir / "s.srt"), "subtitles", media_type="text/srt"
    )
    link = {
        "id": video_id,
        "media_category": "TweetVideo",
        "subtitles": {"id": sub_id, "language_code": "EN", "display_name": "English"},
    }
    answer = await client.post("/2/media/subtitles", json=link)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "data": {
            "id": video_id,
            "media_category": "TweetVideo",
            "associated_subtitles": [
                {"id": sub_id, "language_code": "EN", "display_name": "English"}
            ],
        }
    }
    bad = dict(link, subtitles=dict(link["subtitles"], language_code="en"))
    assert (await client.post("/2/media/subtitles", json=bad)).status_code == 400
    gone = await client.request(
        "DELETE",
        "/2/media/subtitles",
        json={"id": video_id, "media_category": "TweetVideo", "language_code": "EN"},
    )
    assert gone.status_code == 200 and gone.json() == {"data": {"deleted": True}}
    again = await client.request(
        "DELETE",
        "/2/media/subtitles",
        json={"id": video_id, "media_category": "TweetVideo", "language_code": "EN"},
    )
    assert again.status_code == 400


# POST /2/oauth2/token


async def test_refresh_token_grant_rotates(base, emu: Emulator) -> None:
    async with make_client(base, token=None) as c:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": DEMO.refresh_token,
            "client_id": DEMO.client_id,
        }
        answer = await c.post("/2/oauth2/token", data=form)
        assert answer.status_code == 200, answer.text
        grant = answer.json()
        assert grant["token_type"] == "bearer" and grant["expires_in"] == 7200
        assert "media.write" in grant["scope"].split()
        assert grant["refresh_token"] != DEMO.refresh_token
        # The spent refresh token is refused; the new one works once.
        assert (await c.post("/2/oauth2/token", data=form)).status_code == 400
        answer = await initialize(c, 1, "image/png", "tweet_image")
        assert answer.status_code == 401
        c.headers["authorization"] = f"Bearer {grant['access_token']}"
        assert (await initialize(c, 1, "image/png", "tweet_image")).status_code == 200
        wrong_client = dict(form, refresh_token=grant["refresh_token"], client_id="someone-else")
        assert (await c.post("/2/oauth2/token", data=wrong_client)).status_code == 401
        wrong_grant = dict(form, grant_type="password")
        assert (await c.post("/2/oauth2/token", data=wrong_grant)).json()[
            "error"
        ] == "unsupported_grant_type"


async def test_issued_tokens_expire(tmp_path: Path) -> None:
    clock = ManualClock(1_800_000_000)
    emulator = Emulator(clock=clock, token_lifetime_s=60, state=tmp_path / "s.sqlite")
    async with make_client(
        ("https://api.x.com", httpx.ASGITransport(app=emulator.app)), token=None
    ) as c:
        grant = (
            await c.post(
                "/2/oauth2/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": DEMO.refresh_token,
                    "client_id": DEMO.client_id,
                },
            )
        ).json()
        c.headers["authorization"] = f"Bearer {grant['access_token']}"
        assert (await initialize(c, 1, "image/png", "tweet_image")).status_code == 200
        clock.advance(61)
        assert (await initialize(c, 1, "image/png", "tweet_image")).status_code == 401
    emulator.close()


# 1, 2: X's host names, and signatures made for them


async def test_signed_for_x_host_but_sent_elsewhere(base, emu: Emulator) -> None:
    """Clients behind a proxy sign https://api.x.com/... and connect to our address."""
    url, transport = base
    signer = oauth1(emu.clock)
    for x_host in ("api.x.com", "api.twitter.com"):
        signed = httpx.Request(
            "POST",
            f"https://{x_host}/2/media/upload/initialize",
            json={"total_bytes": 5, "media_type": "image/png", "media_category": "tweet_image"},
        )
        flow = signer.sync_auth_flow(signed)
        signed = next(flow)
        async with httpx.AsyncClient(base_url=url, transport=transport) as c:
            answer = await c.post(
                "/2/media/upload/initialize",
                content=signed.content,
                headers={
                    "authorization": signed.headers["authorization"],
                    "content-type": "application/json",
                },
            )
        assert answer.status_code == 200, answer.text
    # A signature for another site's URL is still refused.
    signed = next(
        signer.sync_auth_flow(
            httpx.Request("POST", "https://example.com/2/media/upload/initialize")
        )
    )
    async with httpx.AsyncClient(base_url=url, transport=transport) as c:
        answer = await c.post(
            "/2/media/upload/initialize",
            json={"total_bytes": 5, "media_type": "image/png"},
            headers={"authorization": signed.headers["authorization"]},
        )
    assert answer.status_code == 401


@pytest.mark.parametrize("host", ["api.x.com", "api.twitter.com"])
async def test_both_x_hosts_route_by_path(emu: Emulator, host: str) -> None:
    async with make_client((f"https://{host}", httpx.ASGITransport(app=emu.app))) as c:
        assert (await initialize(c, 5, "image/png", "tweet_image")).status_code == 200


# switchable behaviours (cfg)


async def test_status_of_sync_media_can_return_the_object(tmp_path: Path, media_dir: Path) -> None:
    emulator = Emulator(status_of_sync_media="object", state=tmp_path / "s.sqlite")
    async with make_client(("https://api.x.com", httpx.ASGITransport(app=emulator.app))) as c:
        media_id, _ = await upload_file(c, mf.make_png(media_dir / "p.png", 6, 4), "tweet_image")
        answer = await status(c, media_id)
    assert answer.status_code == 200
    assert answer.json()["data"]["image"] == {"image_type": "image/png", "w": 6, "h": 4}
    emulator.close()


async def test_finalize_twice_can_be_an_error(tmp_path: Path, media_dir: Path) -> None:
    emulator = Emulator(finalize_twice="error", state=tmp_path / "s.sqlite")
    async with make_client(("https://api.x.com", httpx.ASGITransport(app=emulator.app))) as c:
        media_id, _ = await upload_file(c, mf.make_png(media_dir / "p.png"), "tweet_image")
        assert (await finalize(c, media_id)).status_code == 400
    emulator.close()


async def test_declared_type_mismatch_can_be_refused(tmp_path: Path, media_dir: Path) -> None:
    png = mf.make_png(media_dir / "p.png").read_bytes()
    lenient = Emulator(state=tmp_path / "a.sqlite")
    strict = Emulator(check_media_type_matches=True, state=tmp_path / "b.sqlite")
    async with make_client(("https://api.x.com", httpx.ASGITransport(app=lenient.app))) as c:
        _, done = await upload_bytes(c, png, "tweet_image", media_type="image/jpeg")
        assert done.status_code == 200
        assert done.json()["data"]["image"]["image_type"] == "image/png"  # what the bytes are
    async with make_client(("https://api.x.com", httpx.ASGITransport(app=strict.app))) as c:
        _, done = await upload_bytes(c, png, "tweet_image", media_type="image/jpeg")
        assert problem_messages(done) == ["media type unrecognized."]
    lenient.close()
    strict.close()
