"""The emulator's v1.1 media API (upload.twitter.com / upload.x.com), checklist item by item
(x-media-api.md §6: 1-3, 5-8, 10-18, 24-29, 31), in-process and over a socket.

Requests are signed with our own `OAuth1Signer` (the urlencoded body is signed, a multipart
body never is) and shaped the way real v1.1 clients shape them: tweepy's urlencoded INIT and
FINALIZE, multipart APPEND with the parameters as fields; x-ruby's parameters in the query
string with a multipart body; `media` as a file part with or without a file name, or as a plain
field; `media_data` base64 in a multipart or urlencoded body.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest

from mediakit import Limits, ManualClock, ScaledClock
from mediakit._oauth1 import OAuth1Signer
from mediakit.emulator import DEMO, Emulator
from mediakit.emulator._ratelimit import RateLimits

from . import mediafactory as mf
from .conftest import make_client

UPLOAD = "/1.1/media/upload.json"
METADATA = "/1.1/media/metadata/create.json"
NOT_FOUND = {"errors": [{"code": 34, "message": "Sorry, that page does not exist"}]}
NO_ACCESS = {
    "errors": [{"code": 220, "message": "Your credentials do not allow access to this resource."}]
}
BAD_AUTH = {"errors": [{"code": 215, "message": "Bad Authentication data."}]}
MiB = 1024 * 1024

Base = tuple[str, httpx.AsyncBaseTransport | None]
# (name, value, filename or None, content type or None); filename None → no filename.
Part = tuple[str, bytes, str | None, str | None]


def signer(
    clock=None,
    token: str = DEMO.access_token,
    secret: str = DEMO.access_token_secret,
    consumer_secret: str = DEMO.consumer_secret,
) -> OAuth1Signer:
    return OAuth1Signer(DEMO.consumer_key, consumer_secret, token, secret, clock=clock)


@pytest.fixture
def v1_base(base: Base) -> Base:
    """v1.1 lives on the upload host; in-process, send it there (over a socket: 127.0.0.1)."""
    url, transport = base
    return ("https://upload.twitter.com", transport) if transport is not None else (url, None)


@pytest.fixture
async def c(v1_base: Base, emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(v1_base, auth=signer(emu.clock)) as client:
        yield client


def error_of(answer: httpx.Response) -> tuple[int, str]:
    """(code, message) of a classic `{"errors":[…]}` body with exactly one error."""
    body = answer.json()
    assert set(body) == {"errors"}, body
    [error] = body["errors"]
    return error["code"], error["message"]


def single_error(answer: httpx.Response, path: str = UPLOAD) -> str:
    """The message of the upload service's `{"request":…, "error":…}` body."""
    body = answer.json()
    assert body == {"request": path, "error": body.get("error")}, body
    return str(body["error"])


def multipart(parts: Sequence[Part]) -> tuple[bytes, str]:
    """A multipart/form-data body built by hand, so every part is exactly as a client sends it."""
    boundary = "mediakit" + secrets.token_hex(8)
    out = bytearray()
    for name, value, filename, kind in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'Content-Disposition: form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += disposition.encode() + b"\r\n"
        if kind:
            out += f"Content-Type: {kind}\r\n".encode()
        out += b"\r\n" + value + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


async def post_multipart(
    c: httpx.AsyncClient, parts: Sequence[Part], params: dict[str, str] | None = None
) -> httpx.Response:
    body, kind = multipart(parts)
    return await c.post(UPLOAD, params=params, content=body, headers={"content-type": kind})


def fields(**values: object) -> list[Part]:
    return [(name, str(value).encode(), None, None) for name, value in values.items()]


async def init(
    c: httpx.AsyncClient, total: int, media_type: str, category: str | None = None, **extra: str
) -> httpx.Response:
    """tweepy's INIT: every parameter in an urlencoded (so signed) body."""
    data = {"command": "INIT", "total_bytes": str(total), "media_type": media_type, **extra}
    if category is not None:
        data["media_category"] = category
    return await c.post(UPLOAD, data=data)


async def init_id(c: httpx.AsyncClient, total: int, media_type: str, category: str | None) -> str:
    answer = await init(c, total, media_type, category)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["media_id_string"])


async def append(
    c: httpx.AsyncClient, media_id: str | int, index: int, chunk: bytes, how: str = "file"
) -> httpx.Response:
    """APPEND with the parameters as multipart fields and the chunk sent `how`."""
    head = fields(command="APPEND", media_id=media_id, segment_index=index)
    if how == "file":  # tweepy, NTA: a file part with a file name
        media: list[Part] = [("media", chunk, "blob", "application/octet-stream")]
    elif how == "file_no_filename":
        media = [("media", chunk, None, "application/octet-stream")]
    elif how == "field":  # a plain field holding the raw bytes
        media = [("media", chunk, None, None)]
    elif how == "media_data":
        media = [("media_data", base64.b64encode(chunk), None, None)]
    else:
        raise AssertionError(how)
    return await post_multipart(c, head + media)


async def finalize(c: httpx.AsyncClient, media_id: str | int) -> httpx.Response:
    return await c.post(UPLOAD, data={"command": "FINALIZE", "media_id": str(media_id)})


async def status(c: httpx.AsyncClient, media_id: str | int) -> httpx.Response:
    return await c.get(UPLOAD, params={"command": "STATUS", "media_id": str(media_id)})


async def upload(
    c: httpx.AsyncClient,
    data: bytes,
    media_type: str,
    category: str | None,
    chunk: int = 64 * 1024,
    how: str = "file",
) -> tuple[str, httpx.Response]:
    media_id = await init_id(c, len(data), media_type, category)
    for index, start in enumerate(range(0, len(data), chunk)):
        answer = await append(c, media_id, index, data[start : start + chunk], how)
        assert answer.status_code == 204, answer.text
        assert answer.content == b""
    return media_id, await finalize(c, media_id)


def assert_ids(body: dict, media_id: str | None = None) -> None:
    """Item 6: media_id a JSON number and media_id_string the same value as a string."""
    assert isinstance(body["media_id"], int) and not isinstance(body["media_id"], bool)
    assert str(body["media_id"]) == body["media_id_string"]
    assert len(body["media_id_string"]) == 19
    if media_id is not None:
        assert body["media_id_string"] == media_id


# 6, 7, 8, 9: INIT


async def test_init_answers_ids_key_and_expiry(c: httpx.AsyncClient) -> None:
    answer = await init(c, 1000, "video/mp4", "tweet_video")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"media_id", "media_id_string", "media_key", "expires_after_secs"}
    assert_ids(body)
    assert body["media_key"] == f"7_{body['media_id_string']}"
    assert 86390 <= body["expires_after_secs"] <= 86400
    # The number in the JSON text is exact (no float rounding), as X sends it.
    assert f'"media_id":{body["media_id_string"]},' in answer.text
    image = (await init(c, 10, "image/png", "tweet_image")).json()
    assert image["media_key"].startswith("3_")
    assert int(image["media_id_string"]) > int(body["media_id_string"])
    gif = (await init(c, 10, "image/gif", "tweet_gif")).json()
    assert gif["media_key"].startswith("16_")
    amplify = (await init(c, 10, "video/mp4", "amplify_video")).json()
    assert amplify["media_key"].startswith("13_")


# 28: media_category in every spelling X accepted, echoed nowhere


@pytest.mark.parametrize(
    ("spelling", "category", "prefix"),
    [
        ("tweet_gif", "tweet_gif", "16_"),
        ("TWEET_GIF", "tweet_gif", "16_"),
        ("TweetGif", "tweet_gif", "16_"),
        ("tweetGif", "tweet_gif", "16_"),
        ("DmVideo", "dm_video", "7_"),
        ("AmplifyVideo", "amplify_video", "13_"),
        ("AMPLIFY_VIDEO", "amplify_video", "13_"),
        ("TweetImage", "tweet_image", "3_"),
        ("Subtitles", "subtitles", "3_"),
    ],
)
async def test_media_category_spellings(
    c: httpx.AsyncClient, emu: Emulator, spelling: str, category: str, prefix: str
) -> None:
    answer = await init(c, 10, "image/gif", spelling)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["media_key"].startswith(prefix)
    assert "media_category" not in body and spelling not in answer.text
    record = emu.media_by_id(body["media_id_string"])
    assert record is not None and record.media_category == category


async def test_unknown_media_category_is_refused(c: httpx.AsyncClient) -> None:
    answer = await init(c, 10, "image/png", "TweetPicture")
    assert answer.status_code == 400
    assert error_of(answer) == (324, "Unsupported raw media category")


# 10, 12, 14: the image path, with every way of sending the chunk


@pytest.mark.parametrize("how", ["file", "file_no_filename", "field", "media_data"])
async def test_chunked_image_every_media_encoding(
    c: httpx.AsyncClient, media_dir: Path, how: str
) -> None:
    data = mf.make_jpeg(media_dir / "photo.jpg", width=321, height=123).read_bytes()
    media_id, done = await upload(c, data, "image/jpeg", "tweet_image", len(data) // 3 + 1, how)
    assert done.status_code == 200, done.text
    body = done.json()
    assert_ids(body, media_id)
    assert body["media_key"] == f"3_{media_id}"
    assert body["size"] == len(data)
    assert body["image"] == {"image_type": "image/jpeg", "w": 321, "h": 123}
    assert "processing_info" not in body and "data" not in body
    assert 86390 <= body["expires_after_secs"] <= 86400
    # 18: STATUS of media that never needed processing: X's 404 code 34.
    answer = await status(c, media_id)
    assert answer.status_code == 404
    assert answer.json() == NOT_FOUND


async def test_append_with_urlencoded_media_data(c: httpx.AsyncClient, media_dir: Path) -> None:
    """twitter-lite / twit style: media_data in an urlencoded body, signed with the rest."""
    data = mf.make_png(media_dir / "p.png", 20, 10).read_bytes()
    media_id = await init_id(c, len(data), "image/png", None)
    answer = await c.post(
        UPLOAD,
        data={
            "command": "APPEND",
            "media_id": media_id,
            "segment_index": "0",
            "media_data": base64.b64encode(data).decode(),
        },
    )
    assert answer.status_code == 204, answer.text
    done = await finalize(c, media_id)
    assert done.status_code == 200, done.text
    assert done.json()["image"] == {"image_type": "image/png", "w": 20, "h": 10}


async def test_chunks_out_of_order_and_retried(c: httpx.AsyncClient, media_dir: Path) -> None:
    data = mf.make_png(media_dir / "p.png", 40, 30).read_bytes()
    half = len(data) // 2
    media_id = await init_id(c, len(data), "image/png", "tweet_image")
    assert (await append(c, media_id, 1, data[half:])).status_code == 204
    assert (await append(c, media_id, 0, b"\0" * 7)).status_code == 204
    assert (await append(c, media_id, 0, data[:half])).status_code == 204  # the retry wins
    done = await finalize(c, media_id)
    assert done.status_code == 200, done.text
    assert done.json()["image"] == {"image_type": "image/png", "w": 40, "h": 30}


# 29: parameters in the query string (x-ruby before 2025) or the body, interchangeably


async def test_params_in_query_string_with_multipart_body(
    c: httpx.AsyncClient, media_dir: Path
) -> None:
    data = mf.make_gif(media_dir / "g.gif", 16, 16).read_bytes()
    answer = await c.post(
        UPLOAD,
        params={"command": "INIT", "total_bytes": str(len(data)), "media_type": "image/gif"},
    )
    assert answer.status_code == 200, answer.text
    media_id = answer.json()["media_id_string"]
    query = {"command": "APPEND", "media_id": media_id, "segment_index": "0"}
    appended = await post_multipart(c, [("media", data, "g.gif", "image/gif")], params=query)
    assert appended.status_code == 204, appended.text
    done = await c.post(UPLOAD, params={"command": "FINALIZE", "media_id": media_id})
    assert done.status_code == 200, done.text
    assert done.json()["image"]["image_type"] == "image/gif"


async def test_params_split_between_query_and_body(c: httpx.AsyncClient) -> None:
    answer = await c.post(
        UPLOAD,
        params={"command": "INIT"},
        data={"total_bytes": "3", "media_type": "image/png", "media_category": "dm_image"},
    )
    assert answer.status_code == 200, answer.text
    media_id = answer.json()["media_id_string"]
    appended = await post_multipart(
        c,
        [*fields(segment_index=0), ("media", b"abc", "b", None)],
        params={"command": "APPEND", "media_id": media_id},
    )
    assert appended.status_code == 204, appended.text


async def test_params_as_file_parts_still_count(c: httpx.AsyncClient) -> None:
    """Some clients send every multipart part with a file name; X reads them as parameters."""
    media_id = await init_id(c, 3, "image/png", "tweet_image")
    parts: list[Part] = [
        ("command", b"APPEND", "command", "text/plain"),
        ("media_id", media_id.encode(), "media_id", "text/plain"),
        ("segment_index", b"0", "segment_index", "text/plain"),
        ("media", b"abc", "media", "application/octet-stream"),
    ]
    assert (await post_multipart(c, parts)).status_code == 204


# media_id as a number or a string


async def test_media_id_as_number_or_string(c: httpx.AsyncClient, media_dir: Path) -> None:
    data = mf.make_png(media_dir / "p.png", 8, 8).read_bytes()
    init_body = (await init(c, len(data), "image/png", "tweet_image")).json()
    number = init_body["media_id"]  # what tweepy passes on: the JSON number
    assert (await append(c, number, 0, data)).status_code == 204
    done = await finalize(c, number)
    assert done.status_code == 200, done.text
    assert done.json()["media_id"] == number
    # JSON bodies (metadata/create) take it either way too.
    for value in (number, str(number)):
        answer = await c.post(METADATA, json={"media_id": value, "alt_text": {"text": "x"}})
        assert answer.status_code == 200, answer.text


# 24, 25: commands and missing parameters


async def test_command_is_required_and_case_sensitive(c: httpx.AsyncClient) -> None:
    answer = await c.post(UPLOAD, data={"total_bytes": "3", "media_type": "image/png"})
    assert answer.status_code == 400
    assert error_of(answer) == (38, "command parameter is missing.")
    for command in ("init", "Init", "STATUS", "DELETE"):
        answer = await c.post(UPLOAD, data={"command": command, "total_bytes": "3"})
        assert answer.status_code == 400
        assert error_of(answer) == (44, "command parameter is invalid.")
    answer = await c.get(UPLOAD, params={"media_id": "1"})
    assert error_of(answer) == (38, "command parameter is missing.")
    answer = await c.get(UPLOAD, params={"command": "status", "media_id": "1"})
    assert error_of(answer) == (44, "command parameter is invalid.")


async def test_missing_parameters_are_code_38(c: httpx.AsyncClient) -> None:
    cases: list[tuple[list[Part], str]] = [
        ([*fields(command="APPEND", segment_index=0), ("media", b"x", "m", None)], "media_id"),
        (fields(command="APPEND", media_id="1" * 19, segment_index=0), "media"),
        (
            [*fields(command="APPEND", media_id="1" * 19), ("media", b"x", "m", None)],
            "segment_index",
        ),
        (fields(command="FINALIZE"), "media_id"),
        (fields(command="INIT", media_type="image/png"), "total_bytes"),
        (fields(command="INIT", total_bytes=3), "media_type"),
    ]
    for parts, name in cases:
        answer = await post_multipart(c, parts)
        assert answer.status_code == 400, (name, answer.text)
        assert error_of(answer) == (38, f"{name} parameter is missing.")
    answer = await c.get(UPLOAD, params={"command": "STATUS"})
    assert answer.status_code == 400
    assert error_of(answer) == (38, "media_id parameter is missing.")


async def test_unreadable_media_id(c: httpx.AsyncClient) -> None:
    for value in ("abc", "", "12345678901234567890"):
        answer = await c.post(UPLOAD, data={"command": "FINALIZE", "media_id": value})
        assert answer.status_code == 400
        assert single_error(answer) == f"Invalid media_id: Some({value})."


async def test_unknown_foreign_and_expired_ids_are_not_found(
    c: httpx.AsyncClient, v1_base: Base, emu: Emulator, media_dir: Path
) -> None:
    unknown = "1" * 19
    assert (await status(c, unknown)).json() == NOT_FOUND
    answer = await append(c, unknown, 0, b"abc")
    assert answer.status_code == 404 and answer.json() == NOT_FOUND
    answer = await finalize(c, unknown)
    assert answer.status_code == 404 and answer.json() == NOT_FOUND
    # Another user's media does not exist for them.
    media_id = await init_id(c, 3, "image/png", "tweet_image")
    other = signer(emu.clock, DEMO.other_access_token, DEMO.other_access_token_secret)
    async with make_client(v1_base, auth=other) as them:
        assert (await append(them, media_id, 0, b"abc")).status_code == 404
        assert (await finalize(them, media_id)).json() == NOT_FOUND
    assert (await append(c, media_id, 0, b"abc")).status_code == 204


async def test_additional_owners(c: httpx.AsyncClient, v1_base: Base, emu: Emulator) -> None:
    answer = await init(c, 3, "image/png", "tweet_image", additional_owners=DEMO.other_user_id)
    media_id = answer.json()["media_id_string"]
    other = signer(emu.clock, DEMO.other_access_token, DEMO.other_access_token_secret)
    async with make_client(v1_base, auth=other) as them:
        assert (await append(them, media_id, 0, b"abc")).status_code == 204
    answer = await init(c, 3, "image/png", "tweet_image", additional_owners="1,x")
    assert error_of(answer) == (44, "additional_owners parameter is invalid.")
    many = ",".join(str(10**18 + i) for i in range(101))
    answer = await init(c, 3, "image/png", "tweet_image", additional_owners=many)
    assert answer.status_code == 400
    assert error_of(answer) == (44, "additional_owners parameter is invalid.")


async def test_session_and_media_expiry(tmp_path: Path, media_dir: Path) -> None:
    clock = ManualClock(1_800_000_000.0)
    emulator = Emulator(clock=clock, state=tmp_path / "e.sqlite")
    base = ("https://upload.x.com", httpx.ASGITransport(app=emulator.app))
    async with make_client(base, auth=signer(clock)) as c:
        stale = await init_id(c, 3, "image/png", "tweet_image")
        data = mf.make_png(media_dir / "p.png").read_bytes()
        media_id, done = await upload(c, data, "image/png", "tweet_image")
        assert done.status_code == 200
        clock.advance(86401)
        assert (await append(c, stale, 0, b"abc")).json() == NOT_FOUND
        assert (await finalize(c, stale)).status_code == 404
        answer = await c.post(METADATA, json={"media_id": media_id, "alt_text": {"text": "x"}})
        assert answer.status_code == 404 and answer.json() == NOT_FOUND
    emulator.close()


# 11, 26: APPEND payloads


async def test_media_and_media_data_together_are_refused(c: httpx.AsyncClient) -> None:
    media_id = await init_id(c, 3, "image/png", "tweet_image")
    parts = fields(command="APPEND", media_id=media_id, segment_index=0)
    parts += [("media", b"abc", "b", None), ("media_data", b"YWJj", None, None)]
    answer = await post_multipart(c, parts)
    assert answer.status_code == 400
    code, _message = error_of(answer)
    assert code == 44
    # The same for a simple upload.
    answer = await post_multipart(
        c, [("media", b"abc", "b", None), ("media_data", b"YWJj", None, None)]
    )
    assert answer.status_code == 400


@pytest.mark.parametrize("index", [1000, -1, 5000])
async def test_segment_index_out_of_range(c: httpx.AsyncClient, index: int) -> None:
    media_id = await init_id(c, 3, "image/png", "tweet_image")
    answer = await append(c, media_id, index, b"abc")
    assert answer.status_code == 400
    assert single_error(answer) == "SegmentIndex must be between 0 and 999."


async def test_segment_index_not_a_number(c: httpx.AsyncClient) -> None:
    media_id = await init_id(c, 3, "image/png", "tweet_image")
    parts = fields(command="APPEND", media_id=media_id, segment_index="one")
    answer = await post_multipart(c, [*parts, ("media", b"abc", "b", None)])
    assert error_of(answer) == (44, "segment_index parameter is invalid.")


async def test_oversized_chunk(c: httpx.AsyncClient) -> None:
    media_id = await init_id(c, 6 * MiB, "video/mp4", "tweet_video")
    answer = await append(c, media_id, 0, b"\0" * (5 * MiB + 1))
    assert answer.status_code == 400
    assert single_error(answer) == "Segment size exceeds 5242880 bytes."
    big = base64.b64encode(b"\0" * (5 * MiB + 1))
    parts = fields(command="APPEND", media_id=media_id, segment_index=0)
    answer = await post_multipart(c, [*parts, ("media_data", big, None, None)])
    assert single_error(answer) == "Segment size exceeds 5242880 bytes."
    assert (await append(c, media_id, 0, b"\0" * (5 * MiB))).status_code == 204


async def test_raw_bytes_as_media_data_do_not_add_up(c: httpx.AsyncClient) -> None:
    """X decodes media_data leniently: raw bytes 'upload' and FINALIZE finds the sum wrong."""
    data = bytes(range(256)) * 4
    media_id = await init_id(c, len(data), "image/png", "tweet_image")
    parts = fields(command="APPEND", media_id=media_id, segment_index=0)
    answer = await post_multipart(c, [*parts, ("media_data", data, None, None)])
    assert answer.status_code == 204, answer.text
    done = await finalize(c, media_id)
    assert single_error(done) == "Segments do not add up to provided total file size."


# 27: sizes at INIT


@pytest.mark.parametrize(
    ("media_type", "category", "limit"),
    [
        ("image/gif", "tweet_gif", 15 * MiB),
        ("image/gif", "DmGif", 15 * MiB),
        ("image/jpeg", "tweet_image", 5 * MiB),
        ("image/jpeg", "dm_image", 5 * MiB),
        ("image/jpeg", None, 5 * MiB),
        ("image/gif", None, 5 * MiB),
        ("video/mp4", None, 15 * MiB),
        ("video/mp4", "tweet_video", 512 * MiB),
        ("video/mp4", "amplify_video", 512 * MiB),
    ],
)
async def test_size_over_limit_at_init(
    c: httpx.AsyncClient, media_type: str, category: str | None, limit: int
) -> None:
    assert (await init(c, limit, media_type, category)).status_code == 200
    answer = await init(c, limit + 1, media_type, category)
    assert answer.status_code == 400
    assert single_error(answer) == f"File size exceeds {limit} bytes."


async def test_init_media_types(c: httpx.AsyncClient) -> None:
    # v1.1 clients' own spellings (NTA: text/plain, x-ruby: application/x-subrip) are fine.
    for media_type in ("image/jpg", "text/plain", "application/x-subrip", "IMAGE/PNG"):
        assert (await init(c, 10, media_type, None)).status_code == 200, media_type
    answer = await init(c, 10, "not a type", None)
    assert error_of(answer) == (44, "media_type parameter is invalid.")
    assert (await init(c, 0, "image/png", None)).status_code == 200
    answer = await c.post(
        UPLOAD, data={"command": "INIT", "total_bytes": "ten", "media_type": "image/png"}
    )
    assert error_of(answer) == (44, "total_bytes parameter is invalid.")


# 12, 13, 15, 16: FINALIZE


async def test_finalize_segments_do_not_add_up(c: httpx.AsyncClient) -> None:
    media_id = await init_id(c, 10, "image/png", "tweet_image")
    nothing = await finalize(c, media_id)  # no segment at all
    assert single_error(nothing) == "Segments do not add up to provided total file size."
    assert (await append(c, media_id, 0, b"12345")).status_code == 204
    answer = await finalize(c, media_id)
    assert answer.status_code == 400
    assert single_error(answer) == "Segments do not add up to provided total file size."


async def test_finalize_unrecognized_media(c: httpx.AsyncClient, media_dir: Path) -> None:
    data = mf.make_noise(media_dir / "n.bin", 3000).read_bytes()
    _, done = await upload(c, data, "image/jpeg", "tweet_image")
    assert done.status_code == 400
    assert single_error(done) == "media type unrecognized."


async def test_large_video_cannot_be_finalized_synchronously(
    tmp_path: Path, media_dir: Path
) -> None:
    pytest.importorskip("av")
    video = mf.make_mp4(media_dir / "v.mp4").read_bytes()
    emulator = Emulator(limits=Limits(sync_video_max_bytes=1000), state=tmp_path / "l.sqlite")
    base = ("https://upload.twitter.com", httpx.ASGITransport(app=emulator.app))
    async with make_client(base, auth=signer(emulator.clock)) as c:
        # Declared as an image (5 MiB allowed at INIT), no category: the bytes are a video.
        _, done = await upload(c, video, "image/jpeg", None)
    assert done.status_code == 400
    assert single_error(done) == "Large file can not be finalized synchronously."
    emulator.close()


async def test_finalize_twice_answers_the_same_object(
    c: httpx.AsyncClient, media_dir: Path
) -> None:
    data = mf.make_png(media_dir / "p.png").read_bytes()
    media_id, done = await upload(c, data, "image/png", "tweet_image")
    again = await finalize(c, media_id)
    assert again.status_code == 200
    assert again.json()["image"] == done.json()["image"]


# 14, 17, 18: video with processing, and STATUS


async def test_video_processing_and_status(
    c: httpx.AsyncClient, clock: ScaledClock, media_dir: Path, emu: Emulator
) -> None:
    pytest.importorskip("av")
    data = mf.make_mp4(media_dir / "v.mp4", seconds=1.0).read_bytes()
    media_id, done = await upload(c, data, "video/mp4", "TweetVideo", chunk=1024)
    assert done.status_code == 200, done.text
    body = done.json()
    assert_ids(body, media_id)
    assert body["media_key"] == f"7_{media_id}"
    assert body["size"] == len(data)
    assert body["processing_info"]["state"] == "pending"
    assert body["processing_info"]["check_after_secs"] >= 1
    assert "video" not in body
    seen = []
    wait = body["processing_info"]["check_after_secs"]
    for _ in range(100):
        await clock.sleep(wait)
        answer = await status(c, media_id)
        assert answer.status_code == 200, answer.text
        polled = answer.json()
        assert_ids(polled, media_id)
        seen.append(polled)
        info = polled["processing_info"]
        if info["state"] in ("succeeded", "failed"):
            break
        assert info["state"] in ("pending", "in_progress")
        assert info["check_after_secs"] >= 1
        wait = info["check_after_secs"]
    final = seen[-1]
    assert final["processing_info"] == {"state": "succeeded", "progress_percent": 100}
    assert final["video"] == {"video_type": "video/mp4"}
    assert final["media_key"] == f"7_{media_id}"
    assert final["size"] == len(data)
    assert 0 < final["expires_after_secs"] <= 86400
    records = [r for r in emu.requests if r.api == "v1.1" and r.command == "STATUS"]
    assert records and all(r.media_id == media_id for r in records)


async def test_animated_gif_processing(
    c: httpx.AsyncClient, clock: ScaledClock, media_dir: Path
) -> None:
    data = mf.make_gif(media_dir / "a.gif", 24, 24, frames=4).read_bytes()
    media_id, done = await upload(c, data, "image/gif", "tweet_gif")
    assert done.json()["processing_info"]["state"] == "pending"
    for _ in range(100):
        await clock.sleep(1)
        body = (await status(c, media_id)).json()
        if body["processing_info"]["state"] == "succeeded":
            break
    assert body["video"] == {"video_type": "video/mp4"}
    assert body["media_key"] == f"16_{media_id}"


async def test_processing_failure(tmp_path: Path, media_dir: Path) -> None:
    clock = ManualClock(1_800_000_000.0)
    emulator = Emulator(
        clock=clock,
        processing_failure_rate=1.0,
        processing_seconds=4.0,
        seed=3,
        state=tmp_path / "f.sqlite",
    )
    data = mf.make_gif(media_dir / "a.gif", 24, 24, frames=3).read_bytes()
    base = ("https://upload.twitter.com", httpx.ASGITransport(app=emulator.app))
    async with make_client(base, auth=signer(clock)) as c:
        media_id, done = await upload(c, data, "image/gif", "TWEET_GIF")
        assert done.json()["processing_info"]["state"] == "pending"
        clock.advance(10)
        answer = await status(c, media_id)
    assert answer.status_code == 200
    body = answer.json()
    assert_ids(body, media_id)
    info = body["processing_info"]
    assert info["state"] == "failed"
    assert info["error"]["code"] == 1 and info["error"]["name"] == "InvalidMedia"
    assert 0 < info["progress_percent"] <= 100
    assert "expires_after_secs" not in body  # as in X's failed example
    assert "video" not in body
    emulator.close()


# the simple upload (no command)


async def test_simple_upload_file_part(c: httpx.AsyncClient, media_dir: Path) -> None:
    data = mf.make_jpeg(media_dir / "s.jpg", 50, 40).read_bytes()
    answer = await post_multipart(c, [("media", data, "s.jpg", "image/jpeg")])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert_ids(body)
    assert "media_key" not in body  # no media_category given
    assert body["size"] == len(data)
    assert 86390 <= body["expires_after_secs"] <= 86400
    assert body["image"] == {"image_type": "image/jpeg", "w": 50, "h": 40}


@pytest.mark.parametrize("how", ["file_no_filename", "field", "media_data", "urlencoded"])
async def test_simple_upload_every_encoding_with_category(
    c: httpx.AsyncClient, media_dir: Path, how: str
) -> None:
    data = mf.make_png(media_dir / "s.png", 30, 20).read_bytes()
    if how == "urlencoded":
        answer = await c.post(
            UPLOAD,
            data={"media_data": base64.b64encode(data).decode(), "media_category": "TweetImage"},
        )
    else:
        part: Part = {
            "file_no_filename": ("media", data, None, "image/png"),
            "field": ("media", data, None, None),
            "media_data": ("media_data", base64.b64encode(data), None, None),
        }[how]
        answer = await post_multipart(c, [*fields(media_category="tweet_image"), part])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["media_key"] == f"3_{body['media_id_string']}"
    assert body["image"] == {"image_type": "image/png", "w": 30, "h": 20}


async def test_simple_upload_too_large_image(c: httpx.AsyncClient, media_dir: Path) -> None:
    path = mf.make_big_file(media_dir / "big.jpg", 5 * MiB + 1, header="jpeg")
    answer = await post_multipart(c, [("media", path.read_bytes(), "big.jpg", "image/jpeg")])
    assert answer.status_code == 400
    assert error_of(answer) == (324, "Image file size must be <= 5242880 bytes")
    exact = mf.make_big_file(media_dir / "ok.jpg", 5 * MiB, header="jpeg").read_bytes()
    assert (await post_multipart(c, [("media", exact, "ok.jpg", None)])).status_code == 200


async def test_simple_upload_refuses_video_categories(
    c: httpx.AsyncClient, media_dir: Path
) -> None:
    data = mf.make_gif(media_dir / "a.gif", 8, 8, frames=2).read_bytes()
    answer = await post_multipart(
        c, [*fields(media_category="tweet_gif"), ("media", data, "a.gif", None)]
    )
    assert answer.status_code == 400
    assert error_of(answer) == (324, "Unsupported raw media category")


async def test_simple_upload_unrecognized(c: httpx.AsyncClient, media_dir: Path) -> None:
    data = mf.make_noise(media_dir / "n.bin", 500).read_bytes()
    answer = await post_multipart(c, [("media", data, "n.bin", None)])
    assert single_error(answer) == "media type unrecognized."


# alt text: POST /1.1/media/metadata/create.json


async def test_metadata_create(c: httpx.AsyncClient, emu: Emulator, media_dir: Path) -> None:
    data = mf.make_png(media_dir / "p.png").read_bytes()
    media_id = (await post_multipart(c, [("media", data, "p.png", None)])).json()["media_id_string"]
    answer = await c.post(
        METADATA, json={"media_id": media_id, "alt_text": {"text": "A tiny picture"}}
    )
    assert answer.status_code == 200
    assert answer.content == b""
    record = emu.media_by_id(media_id)
    assert record is not None and record.alt_text == "A tiny picture"
    # Errors.
    answer = await c.post(METADATA, data={"media_id": media_id, "alt_text": "x"})
    assert answer.status_code == 400
    assert single_error(answer, METADATA) == "Invalid json payload."
    answer = await c.post(METADATA, content=b"{nope", headers={"content-type": "application/json"})
    assert single_error(answer, METADATA) == "Invalid json payload."
    answer = await c.post(METADATA, json={"alt_text": {"text": "x"}})
    assert error_of(answer) == (38, "media_id parameter is missing.")
    answer = await c.post(METADATA, json={"media_id": media_id})
    assert error_of(answer) == (38, "alt_text parameter is missing.")
    answer = await c.post(METADATA, json={"media_id": media_id, "alt_text": {"text": "x" * 1001}})
    assert error_of(answer) == (44, "alt_text parameter is invalid.")
    answer = await c.post(METADATA, json={"media_id": "1" * 19, "alt_text": {"text": "x"}})
    assert answer.status_code == 404 and answer.json() == NOT_FOUND


# 1, 2, 3: auth, and X's host names in the signed URL


async def test_auth_refusals(v1_base: Base, emu: Emulator) -> None:
    data = {"command": "INIT", "total_bytes": "3", "media_type": "image/png"}
    async with make_client(v1_base, token=None) as c:
        answer = await c.post(UPLOAD, data=data)
        assert answer.status_code == 400 and answer.json() == BAD_AUTH
        answer = await c.get(UPLOAD, params={"command": "STATUS", "media_id": "1"})
        assert answer.status_code == 400 and answer.json() == BAD_AUTH
        answer = await c.post(UPLOAD, data=data, headers={"authorization": "OAuth garbage"})
        assert answer.status_code == 400 and answer.json() == BAD_AUTH
        answer = await c.post(METADATA, json={}, headers={"authorization": "Basic eDp5"})
        assert answer.status_code == 400 and answer.json() == BAD_AUTH
    # Any bearer token, even a v2 user token with media.write: 403, as users report from X.
    for token in (DEMO.user_token, DEMO.app_bearer_token, "nonsense"):
        async with make_client(v1_base, token=token) as c:
            answer = await c.post(UPLOAD, data=data)
            assert answer.status_code == 403 and answer.json() == NO_ACCESS
            body, kind = multipart([("media", b"abc", "a", None)])
            answer = await c.post(UPLOAD, content=body, headers={"content-type": kind})
            assert answer.status_code == 403 and answer.json() == NO_ACCESS
    async with make_client(v1_base, auth=signer(emu.clock, consumer_secret="wrong")) as c:
        answer = await c.post(UPLOAD, data=data)
        assert answer.status_code == 401
        assert error_of(answer) == (32, "Could not authenticate you.")
    stale = ManualClock(emu.clock.now() - 3600)
    async with make_client(v1_base, auth=signer(stale)) as c:
        answer = await c.post(UPLOAD, data=data)
        assert answer.status_code == 401
        assert error_of(answer) == (135, "Timestamp out of bounds.")
    async with make_client(v1_base, auth=signer(emu.clock, token="7-unknown", secret="s")) as c:
        answer = await c.get(UPLOAD, params={"command": "STATUS", "media_id": "1"})
        assert answer.status_code == 401
        assert error_of(answer) == (89, "Invalid or expired token.")


async def test_urlencoded_body_is_signed_multipart_is_not(v1_base: Base, emu: Emulator) -> None:
    url, transport = v1_base
    sign = signer(emu.clock)
    signed = httpx.Request(
        "POST",
        f"{url}{UPLOAD}",
        data={"command": "INIT", "total_bytes": "3", "media_type": "image/png"},
    )
    signed = next(sign.sync_auth_flow(signed))
    headers = {
        "authorization": signed.headers["authorization"],
        "content-type": "application/x-www-form-urlencoded",
    }
    async with httpx.AsyncClient(base_url=url, transport=transport) as c:
        assert (await c.post(UPLOAD, content=signed.content, headers=headers)).status_code == 200
        # Another body under the same signature: refused.
        tampered = signed.content.replace(b"total_bytes=3", b"total_bytes=4")
        answer = await c.post(UPLOAD, content=tampered, headers=headers)
        assert answer.status_code == 401
        assert error_of(answer) == (32, "Could not authenticate you.")
    # A multipart body: the signature covers only oauth_* and the query, whatever the fields.
    async with make_client(v1_base, auth=sign) as c:
        media_id = await init_id(c, 3, "image/png", "tweet_image")
        assert (await append(c, media_id, 0, b"abc")).status_code == 204


@pytest.mark.parametrize("x_host", ["upload.twitter.com", "upload.x.com"])
async def test_signed_for_x_upload_host_but_sent_here(
    v1_base: Base, emu: Emulator, x_host: str
) -> None:
    url, transport = v1_base
    form = {"command": "INIT", "total_bytes": "3", "media_type": "image/png"}
    request = httpx.Request("POST", f"https://{x_host}{UPLOAD}", data=form)
    request = next(signer(emu.clock).sync_auth_flow(request))
    async with httpx.AsyncClient(base_url=url, transport=transport) as c:
        answer = await c.post(
            UPLOAD,
            content=request.content,
            headers={
                "authorization": request.headers["authorization"],
                "content-type": "application/x-www-form-urlencoded",
            },
        )
    assert answer.status_code == 200, answer.text
    # A signature made for some other site is refused.
    request = httpx.Request("POST", f"https://example.com{UPLOAD}", data=form)
    request = next(signer(emu.clock).sync_auth_flow(request))
    async with httpx.AsyncClient(base_url=url, transport=transport) as c:
        answer = await c.post(
            UPLOAD,
            content=request.content,
            headers={
                "authorization": request.headers["authorization"],
                "content-type": "application/x-www-form-urlencoded",
            },
        )
    assert answer.status_code == 401


@pytest.mark.parametrize("host", ["upload.twitter.com", "upload.x.com", "api.x.com"])
async def test_routes_by_path_on_any_host(emu: Emulator, host: str) -> None:
    base = (f"https://{host}", httpx.ASGITransport(app=emu.app))
    async with make_client(base, auth=signer(emu.clock)) as c:
        assert (await init(c, 3, "image/png", "tweet_image")).status_code == 200


# 31: rate limits in v1.1's words


async def test_rate_limit_is_code_88(tmp_path: Path) -> None:
    clock = ManualClock(1_800_000_000.0)
    limits = RateLimits(per_user={"INIT": 2, "STATUS": 1}, user_window_s=60)
    emulator = Emulator(clock=clock, rate_limits=limits, state=tmp_path / "r.sqlite")
    base = ("https://upload.twitter.com", httpx.ASGITransport(app=emulator.app))
    async with make_client(base, auth=signer(clock)) as c:
        first = await init(c, 3, "image/png", "tweet_image")
        assert first.status_code == 200
        assert first.headers["x-rate-limit-limit"] == "2"
        assert first.headers["x-rate-limit-remaining"] == "1"
        assert (await init(c, 3, "image/png", "tweet_image")).status_code == 200
        answer = await init(c, 3, "image/png", "tweet_image")
        assert answer.status_code == 429
        assert answer.json() == {"errors": [{"code": 88, "message": "Rate limit exceeded"}]}
        assert answer.headers["x-rate-limit-remaining"] == "0"
        assert (await status(c, "1" * 19)).status_code == 404
        assert (await status(c, "1" * 19)).status_code == 429
        clock.advance(61)
        assert (await init(c, 3, "image/png", "tweet_image")).status_code == 200
    emulator.close()


# never a 500, never a v2 problem body


async def test_malformed_requests_answer_in_v1_form(c: httpx.AsyncClient) -> None:
    answer = await c.post(
        UPLOAD,
        content=b'--x\r\nContent-Disposition: form-data; name="media"\r\n\r\nabc',
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert answer.status_code == 400
    assert "request" in answer.json() and "error" in answer.json()
    answer = await c.post(
        UPLOAD, content=b"\xff\xfe", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code in (400, 401)
    assert "application/problem+json" not in answer.headers["content-type"]
    answer = await c.delete(UPLOAD)
    assert answer.status_code == 404 and answer.json() == NOT_FOUND
    answer = await c.post(UPLOAD, json={"command": "INIT"})  # X never read JSON here
    assert error_of(answer) == (38, "command parameter is missing.")
    answer = await c.post(
        UPLOAD,
        data={"command": "INIT", "total_bytes": "1", "media_type": "image/png", "shared": "maybe"},
    )
    assert error_of(answer) == (44, "shared parameter is invalid.")
