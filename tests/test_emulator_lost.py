"""The lost-answer fault (issue #12): the work is done and committed, the answer never comes.

A faulty server (`lost`) and a healthy one share one state file, as servers behind one front
end do: the command goes through the faulty one, the checks and retries through the other.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mediakit import ScaledClock
from mediakit._http import asgi_transport
from mediakit.emulator import AnswerLost, Emulator, running
from mediakit.emulator._faults import parse_fault

from . import mediafactory as mf
from .conftest import make_client
from .emuhelp import append, finalize, initialize, status, upload_bytes

Base = tuple[str, httpx.AsyncBaseTransport | None]
LOST_ERRORS = (httpx.RemoteProtocolError, httpx.ReadError)


class Servers:
    def __init__(self, kind: str, state: Path, command: str, **healthy: object) -> None:
        clock = ScaledClock(50)
        self.faulty = Emulator(state=state, clock=clock, faults={command: {"lost": 1.0}})
        self.healthy = Emulator(state=state, clock=clock, **healthy)  # type: ignore[arg-type]
        self._contexts = []
        if kind == "socket":
            self._contexts = [running(self.faulty), running(self.healthy)]
            urls = [c.__enter__() for c in self._contexts]
            self.lossy: Base = (urls[0], None)
            self.good: Base = (urls[1], None)
        else:
            self.lossy = ("https://api.x.com", asgi_transport(self.faulty.app))
            self.good = ("https://api.x.com", httpx.ASGITransport(app=self.healthy.app))

    def close(self) -> None:
        for context in reversed(self._contexts):
            context.__exit__(None, None, None)
        self.faulty.close()
        self.healthy.close()


@pytest.fixture(params=["asgi", "socket"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def servers(kind: str, tmp_path: Path) -> Iterator[object]:
    made: list[Servers] = []

    def make(command: str, **healthy: object) -> Servers:
        made.append(Servers(kind, tmp_path / f"l{len(made)}.sqlite", command, **healthy))
        return made[-1]

    yield make
    for each in made:
        each.close()


async def test_lost_init_leaves_an_orphan_session(servers) -> None:
    s = servers("INIT")
    async with make_client(s.lossy) as lossy, make_client(s.good) as good:
        with pytest.raises(LOST_ERRORS):
            await initialize(lossy, 100, "image/png", "tweet_image")
        retried = await initialize(good, 100, "image/png", "tweet_image")
    assert retried.status_code == 200
    sessions = s.healthy.media
    # The lost INIT created a session nobody will ever finish: an orphan.
    assert len(sessions) == 2 and {m.state for m in sessions} == {"initialized"}
    assert [r.extra.get("lost") for r in s.faulty.requests] == [True]
    assert s.faulty.requests[0].status == 200  # it was answered, then the answer was lost


async def test_lost_append_is_replaced_by_its_retry(servers) -> None:
    s = servers("APPEND")
    async with make_client(s.lossy) as lossy, make_client(s.good) as good:
        media_id = (await initialize(good, 10, "image/png", "tweet_image")).json()["data"]["id"]
        with pytest.raises(LOST_ERRORS):
            await append(lossy, media_id, 0, b"0123456789")
        record = s.healthy.media_by_id(media_id)
        assert record is not None and record.segments == 1 and record.received_bytes == 10
        assert (await append(good, media_id, 0, b"0123456789")).status_code == 200
    record = s.healthy.media_by_id(media_id)
    assert record is not None and record.segments == 1 and record.received_bytes == 10


@pytest.mark.parametrize("twice", ["idempotent", "error"])
async def test_lost_finalize_then_retry(servers, media_dir: Path, twice: str) -> None:
    s = servers("FINALIZE", finalize_twice=twice)
    clip = mf.make_mp4(media_dir / "c.mp4").read_bytes()
    async with make_client(s.lossy) as lossy, make_client(s.good) as good:
        media_id = (await initialize(good, len(clip), "video/mp4", "tweet_video")).json()["data"][
            "id"
        ]
        assert (await append(good, media_id, 0, clip)).status_code == 200
        with pytest.raises(LOST_ERRORS):
            await finalize(lossy, media_id)
        # X did the work: the media is finalized and processing.
        assert s.healthy.media_by_id(media_id).state in ("pending", "in_progress", "succeeded")  # type: ignore[union-attr]
        again = await finalize(good, media_id)
        polled = await status(good, media_id)
    if twice == "idempotent":
        # The default: the second FINALIZE answers with the media as it is now.
        assert again.status_code == 200
        assert again.json()["data"]["id"] == media_id and "processing_info" in again.json()["data"]
    else:
        assert again.status_code == 400
        assert again.json()["errors"][0]["message"] == "BadRequest: Not found"
    # Either way STATUS tells a retrying client what became of it.
    assert polled.status_code == 200 and polled.json()["data"]["id"] == media_id


async def test_lost_status_one_shot_metadata_and_subtitles(servers, media_dir: Path) -> None:
    png = mf.make_png(media_dir / "p.png").read_bytes()
    clip = mf.make_mp4(media_dir / "c.mp4").read_bytes()
    srt = mf.make_srt(media_dir / "s.srt").read_bytes()
    for command in ("STATUS", "UPLOAD", "METADATA", "SUBTITLES"):
        s = servers(command)
        async with make_client(s.lossy) as lossy, make_client(s.good) as good:
            video_id, _ = await upload_bytes(good, clip, "tweet_video")
            subs_id, _ = await upload_bytes(good, srt, "subtitles", "text/srt")
            with pytest.raises(LOST_ERRORS):
                if command == "STATUS":
                    await status(lossy, video_id)
                elif command == "UPLOAD":
                    await lossy.post(
                        "/2/media/upload",
                        json={
                            "media": base64.b64encode(png).decode(),
                            "media_category": "tweet_image",
                        },
                    )
                elif command == "METADATA":
                    await lossy.post(
                        "/2/media/metadata",
                        json={"id": video_id, "metadata": {"alt_text": {"text": "a clip"}}},
                    )
                else:
                    await lossy.post(
                        "/2/media/subtitles",
                        json={
                            "id": video_id,
                            "media_category": "TweetVideo",
                            "subtitles": {
                                "id": subs_id,
                                "language_code": "EN",
                                "display_name": "English",
                            },
                        },
                    )
        media = {m.media_id: m for m in s.healthy.media}
        if command == "UPLOAD":
            assert [m.state for m in media.values() if m.media_type == "image/png"] == ["ready"]
        if command == "METADATA":
            assert media[video_id].alt_text == "a clip"
        assert [r.extra.get("lost") for r in s.faulty.requests] == [True], command


async def test_lost_answers_are_seeded_per_command(tmp_path: Path) -> None:
    patterns = []
    for run in range(2):
        emulator = Emulator(
            state=tmp_path / f"s{run}.sqlite", faults={"APPEND": {"lost": 0.4}}, seed=9
        )
        base = ("https://api.x.com", asgi_transport(emulator.app))
        async with make_client(base) as c:
            media_id = (await initialize(c, 10**6, "video/mp4", "tweet_video")).json()["data"]["id"]
            for index in range(30):
                with contextlib.suppress(httpx.RemoteProtocolError):
                    await append(c, media_id, index, b"x")
        patterns.append([bool(r.extra.get("lost")) for r in emulator.requests])
        # Only APPEND answers are lost, and every APPEND stored its segment all the same.
        assert emulator.media_by_id(media_id).segments == 30  # type: ignore[union-attr]
        emulator.close()
    assert patterns[0] == patterns[1]
    assert patterns[0][0] is False  # the INIT
    assert 5 <= sum(patterns[0]) <= 20


async def test_in_process_a_plain_asgi_transport_sees_answer_lost(tmp_path: Path) -> None:
    emulator = Emulator(state=tmp_path / "p.sqlite", faults={"*": {"lost": 1.0}})
    base = ("https://api.x.com", httpx.ASGITransport(app=emulator.app))
    async with make_client(base) as c:
        with pytest.raises(AnswerLost) as lost:
            await initialize(c, 5, "image/png", None)
    assert isinstance(lost.value, ConnectionResetError)
    assert [m.state for m in emulator.media] == ["initialized"]
    emulator.close()


def test_parsing_and_checking_lost_faults() -> None:
    assert parse_fault("FINALIZE:lost:0.05") == ("FINALIZE", "lost", 0.05)
    assert parse_fault("*:LOST:1") == ("*", "lost", 1.0)
    for bad in ("APEND:503:0.5", "FINALIZE:lost:nan", "FINALIZE:lost:-0.1", "FINALIZE:gone:0.1"):
        with pytest.raises(ValueError, match=r"APEND|rate|STATUS"):
            parse_fault(bad)
    with pytest.raises(ValueError, match="unknown command 'APEND'"):
        Emulator(faults={"APEND": {"lost": 0.1}})
    with pytest.raises(ValueError, match="between 0 and 1"):
        Emulator(faults={"APPEND": {503: 1.5}})
