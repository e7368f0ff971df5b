"""APPEND bodies byte by byte (issue #14): what the streaming multipart reader stores, whatever
the pieces the body arrives in, and what it refuses; and FINALIZE's join of the segments.

The emulator's APPEND path was made cheaper (no copy per received piece, segments joined
inside the kernel, the hash beside the decode); these pin what it must still do. Every test
runs in-process (ASGITransport) and over a real socket (uvicorn).
"""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mediakit import Limits, ScaledClock
from mediakit._oauth1 import OAuth1Signer
from mediakit.emulator import DEMO, Emulator, running

from . import mediafactory as mf
from .conftest import make_client
from .emuhelp import append, finalize, initialize

V1_UPLOAD = "/1.1/media/upload.json"
BOUNDARY = b"XyZ123"
# Bytes that look like the delimiter's start, so a reader that matched the boundary too
# early, or lost a partial match between two reads, stores the wrong bytes.
TRICKY = b"hello\r\n--XyZ12 \r\n-\r\n--XyZ1\r\r\n--" + bytes(range(256)) + b"\r\n--XyZ12"


@pytest.fixture(params=["asgi", "socket"])
def served(request: pytest.FixtureRequest, tmp_path: Path):
    """A factory: an emulator (state in tmp_path/NAME.sqlite, its spool beside it) reached by
    the parametrized transport."""
    made: list[Emulator] = []
    stack: list[object] = []

    def serve(name: str = "a", **settings: object):
        settings.setdefault("clock", ScaledClock(50))
        emulator = Emulator(state=tmp_path / f"{name}.sqlite", **settings)  # type: ignore[arg-type]
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


def signer(clock: object) -> OAuth1Signer:
    return OAuth1Signer(
        DEMO.consumer_key, DEMO.consumer_secret, DEMO.access_token, DEMO.access_token_secret,
        clock=clock,  # type: ignore[arg-type]
    )  # fmt: skip


def body(payload: bytes, *, nl: bytes = b"\r\n", preamble: bytes = b"", epilogue: bytes = b"",
         index: bytes = b"0", media_first: bool = False) -> bytes:  # fmt: skip
    index_part = (
        b"--" + BOUNDARY + nl + b'Content-Disposition: form-data; name="segment_index"' + nl + nl
        + index + nl
    )  # fmt: skip
    media_part = (
        b"--" + BOUNDARY + nl + b'Content-Disposition: form-data; name="media"; filename="blob"'
        + nl + b"Content-Type: application/octet-stream" + nl + nl + payload + nl
    )  # fmt: skip
    parts = media_part + index_part if media_first else index_part + media_part
    return preamble + parts + b"--" + BOUNDARY + b"--" + nl + epilogue


async def pieces(data: bytes, cuts: list[int]) -> AsyncIterator[bytes]:
    """`data` sent in the pieces `cuts` make (each a separate body message or write)."""
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        if cut > start:
            yield data[start:cut]
            start = cut


async def raw_append(
    client: httpx.AsyncClient, media_id: str, data: bytes, cuts: list[int] | None = None
) -> httpx.Response:
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY.decode()}"}
    url = f"/2/media/upload/{media_id}/append"
    if cuts is None:
        return await client.post(url, content=data, headers=headers)
    headers["content-length"] = str(len(data))
    return await client.post(url, content=pieces(data, cuts), headers=headers)


def stored(tmp_path: Path, name: str, media_id: str, index: int) -> bytes | None:
    segment = tmp_path / f"{name}.spool" / media_id / f"{index:04d}.part"
    return segment.read_bytes() if segment.exists() else None


def leftovers(tmp_path: Path, name: str, media_id: str) -> list[str]:
    folder = tmp_path / f"{name}.spool" / media_id
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def new_media(client: httpx.AsyncClient, size: int = 10 * 2**20) -> str:
    answer = await initialize(client, size, "video/mp4", "tweet_video")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["data"]["id"])


def messages(answer: httpx.Response) -> list[str]:
    return [e["message"] for e in answer.json()["errors"]]


async def test_a_boundary_split_across_reads_stores_the_exact_bytes(served, tmp_path: Path) -> None:
    _emulator, base = served()
    data = body(TRICKY)
    start = data.index(TRICKY)
    end = start + len(TRICKY)
    # A cut at every byte around the payload's end (the closing delimiter, its partial
    # look-alikes in the payload) and around its start (the headers' blank line).
    cuts = [*range(end - 24, len(data)), *range(start - 8, start + 8)]
    async with make_client(base) as c:
        media_id = await new_media(c)
        for cut in cuts:
            answer = await raw_append(c, media_id, data, [cut])
            assert answer.status_code == 200, (cut, answer.text)
            assert stored(tmp_path, "a", media_id, 0) == TRICKY, cut
        # One byte per read, the whole body.
        answer = await raw_append(c, media_id, data, list(range(1, len(data))))
        assert answer.status_code == 200 and stored(tmp_path, "a", media_id, 0) == TRICKY
    assert leftovers(tmp_path, "a", media_id) == ["0000.part"]  # no spool file left behind


async def test_a_large_segment_in_uneven_reads_is_stored_whole(served, tmp_path: Path) -> None:
    _emulator, base = served()
    payload = os.urandom(3 * 2**20 + 17)
    data = body(payload)
    cuts = [*range(1, len(data), 65_537), len(data) - 3]
    async with make_client(base) as c:
        media_id = await new_media(c)
        assert (await raw_append(c, media_id, data, cuts)).status_code == 200
    assert stored(tmp_path, "a", media_id, 0) == payload


async def test_the_media_part_may_come_before_segment_index(served, tmp_path: Path) -> None:
    _emulator, base = served()
    async with make_client(base) as c:
        media_id = await new_media(c)
        answer = await raw_append(c, media_id, body(TRICKY, index=b"3", media_first=True))
        assert answer.status_code == 200, answer.text
    assert stored(tmp_path, "a", media_id, 3) == TRICKY


FRAMINGS = {
    "epilogue": body(TRICKY, epilogue=b"trailing epilogue\r\n--XyZ123--\r\n"),
    "blank-line preamble": body(TRICKY, preamble=b"\r\n"),
    "no CRLF after the close": body(TRICKY)[:-2],
    "text preamble": body(TRICKY, preamble=b"this is a preamble\r\n"),
    "bare LF lines": body(TRICKY, nl=b"\n"),
    "space after a delimiter": body(TRICKY).replace(b"XyZ123\r\n", b"XyZ123  \r\n", 1),
    "no closing delimiter": body(TRICKY).replace(b"--XyZ123--\r\n", b""),
    "cut inside the media part": body(TRICKY)[:-20],
}
TEXT_FIRST = "Malformed multipart body: Expected boundary character 45, got 116 at index 2"
NO_CR = "Malformed multipart body: Did not find CR at end of boundary (8)"
TRUNCATED = "Malformed multipart body: truncated part."


@pytest.mark.parametrize(
    ("variant", "status", "message"),
    [
        ("epilogue", 200, None),
        ("blank-line preamble", 200, None),
        ("no CRLF after the close", 200, None),
        ("text preamble", 400, TEXT_FIRST),
        ("bare LF lines", 400, NO_CR),
        ("space after a delimiter", 400, NO_CR),
        ("no closing delimiter", 400, TRUNCATED),
        ("cut inside the media part", 400, TRUNCATED),
    ],
)
async def test_framing_variants(
    served, tmp_path: Path, variant: str, status: int, message: str | None
) -> None:
    _emulator, base = served()
    async with make_client(base) as c:
        media_id = await new_media(c)
        answer = await raw_append(c, media_id, FRAMINGS[variant])
    assert answer.status_code == status, answer.text
    if message is None:
        assert stored(tmp_path, "a", media_id, 0) == TRICKY
    else:
        assert messages(answer) == [message]
        assert answer.json()["title"] == "Invalid Request"
        assert leftovers(tmp_path, "a", media_id) == []  # the refused part's spool is gone


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        (b"media", "The `media` body parameter is missing."),
        (b"segment_index", "The `segment_index` body parameter is missing."),
    ],
)
async def test_a_missing_field_is_refused_and_nothing_is_kept(
    served, tmp_path: Path, drop: bytes, message: str
) -> None:
    parts = body(TRICKY).split(b"--" + BOUNDARY)
    kept = [p for p in parts if b'name="' + drop + b'"' not in p]
    data = (b"--" + BOUNDARY).join(kept)
    _emulator, base = served()
    async with make_client(base) as c:
        media_id = await new_media(c)
        answer = await raw_append(c, media_id, data)
    assert answer.status_code == 400 and messages(answer) == [message]
    assert leftovers(tmp_path, "a", media_id) == []


async def test_a_segment_over_the_chunk_cap_is_refused_as_x_does(served, tmp_path: Path) -> None:
    cap = 64 * 1024  # under the 5 MiB body cap, so the segment cap is what refuses
    emulator, base = served(limits=Limits(max_chunk_bytes=cap))
    async with make_client(base) as c:
        media_id = await new_media(c, 2**20)
        assert (await append(c, media_id, 0, b"\1" * cap)).status_code == 200
        refused = await raw_append(c, media_id, body(b"\2" * (cap + 1), index=b"1"), [cap // 2])
        assert refused.status_code == 413 and refused.content == b""
    assert leftovers(tmp_path, "a", media_id) == ["0000.part"]
    assert stored(tmp_path, "a", media_id, 0) == b"\1" * cap
    # v1.1 command=APPEND, on the upload host, signed with OAuth 1.0a.
    url, transport = base
    v1_base = ("https://upload.twitter.com", transport) if transport is not None else (url, None)
    async with make_client(v1_base, auth=signer(emulator.clock)) as c1:
        init = await c1.post(
            V1_UPLOAD,
            data={"command": "INIT", "total_bytes": str(2**20), "media_type": "video/mp4",
                  "media_category": "tweet_video"},
        )  # fmt: skip
        assert init.status_code == 200, init.text
        v1_id = init.json()["media_id_string"]
        command = {"command": "APPEND", "media_id": v1_id, "segment_index": "0"}
        over = await c1.post(
            V1_UPLOAD, data=command, files={"media": ("blob", b"\3" * (cap + 1), "x/y")}
        )
        assert over.status_code == 400, over.text
        assert over.json() == {"request": V1_UPLOAD, "error": f"Segment size exceeds {cap} bytes."}
        assert leftovers(tmp_path, "a", v1_id) == []
        fits = await c1.post(V1_UPLOAD, data=command, files={"media": ("blob", b"\3" * cap, "x/y")})
        assert fits.status_code == 204, fits.text
    assert stored(tmp_path, "a", v1_id, 0) == b"\3" * cap


@pytest.mark.parametrize("copy", ["kernel", "no copy_file_range", "copy_file_range fails"])
async def test_finalize_joins_uneven_segments_sent_out_of_order(
    served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, copy: str
) -> None:
    if copy == "no copy_file_range":
        monkeypatch.delattr(os, "copy_file_range", raising=False)
    elif copy == "copy_file_range fails":

        def refuse(*_args: object) -> int:
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(os, "copy_file_range", refuse, raising=False)
    image = mf.make_noise_png(tmp_path / "p.png", 300, 200).read_bytes()
    cut1, cut2 = 1000, len(image) - 7
    segments = {2: image[cut2:], 0: image[:cut1], 1: image[cut1:cut2]}
    emulator, base = served("k", keep_media=True)
    async with make_client(base) as c:
        answer = await initialize(c, len(image), "image/png", "tweet_image")
        media_id = answer.json()["data"]["id"]
        for index, chunk in segments.items():
            assert (await append(c, media_id, index, chunk)).status_code == 200
        done = await finalize(c, media_id)
    assert done.status_code == 200, done.text
    assert (tmp_path / "k.spool" / media_id / "media.bin").read_bytes() == image
    record = emulator.media_by_id(media_id)
    assert record is not None and (record.width, record.height) == (300, 200)
