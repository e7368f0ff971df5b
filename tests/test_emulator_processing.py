"""The processing model (issue #12): per category, base + per MB + per second of video, with
seeded noise; the same content processes the same way in every run and for every client;
injected failures are drawn per content and upload attempt."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import pytest

from mediakit import ManualClock
from mediakit.emulator import DEFAULT_PROCESSING_COSTS, Emulator, ProcessingCost, running
from mediakit.emulator._processing import ProcessingModel

from . import mediafactory as mf
from .conftest import make_client
from .emuhelp import status, upload_bytes
from .test_emulator_v1 import signer
from .test_emulator_v1 import upload as v1_upload

Base = tuple[str, httpx.AsyncBaseTransport | None]
SHA_A = "a" * 64
SHA_B = "b" * 64


def model(**settings: object) -> ProcessingModel:
    from mediakit import Limits

    return ProcessingModel(seed=settings.pop("seed", None), limits=Limits(), **settings)  # type: ignore[arg-type]


def test_the_readme_example_20_mb_30_s_video() -> None:
    cost = DEFAULT_PROCESSING_COSTS["tweet_video"]
    assert cost == ProcessingCost(base_s=3.0, per_mb_s=0.25, per_media_s=0.2, noise_s=2.0)
    assert cost.mean_s(20_000_000, 30.0) == pytest.approx(14.0)  # 3 + 20 × 0.25 + 30 × 0.2
    draws = {model().duration("tweet_video", 20_000_000, 30.0, f"{i:064x}") for i in range(200)}
    assert min(draws) >= 12.0 and max(draws) <= 16.0  # ± noise_s
    assert max(draws) - min(draws) > 3.0  # the noise is there, spread over its range
    gif = DEFAULT_PROCESSING_COSTS["tweet_gif"]
    assert gif.mean_s(4_000_000, None) == pytest.approx(3.5)


def test_duration_is_a_function_of_seed_and_content() -> None:
    first, again = model(seed=5), model(seed=5)
    a = first.duration("tweet_video", 10_000_000, 12.0, SHA_A)
    assert again.duration("tweet_video", 10_000_000, 12.0, SHA_A) == a
    assert first.duration("tweet_video", 10_000_000, 12.0, SHA_B) != a
    assert model(seed=6).duration("tweet_video", 10_000_000, 12.0, SHA_A) != a
    # The scale shortens every time alike; a longer video or a bigger file takes longer.
    assert model(seed=5, scale=0.1).duration("tweet_video", 10_000_000, 12.0, SHA_A) == (
        pytest.approx(a * 0.1)
    )
    flat = model(costs={"tweet_video": ProcessingCost(2.0, per_mb_s=1.0, per_media_s=0.5)})
    assert flat.duration("tweet_video", 3_000_000, 4.0, SHA_A) == pytest.approx(7.0)
    assert flat.duration("tweet_video", 3_000_000, 8.0, SHA_A) == pytest.approx(9.0)
    assert flat.duration("tweet_gif", 3_000_000, None, SHA_A) >= 1.0  # default for the others


def test_settings_are_checked() -> None:
    for bad in (math.nan, -1.0, math.inf):
        with pytest.raises(ValueError, match="base_s"):
            ProcessingCost(base_s=bad)
    with pytest.raises(ValueError, match="processing_failure_rate"):
        Emulator(processing_failure_rate=math.nan)
    with pytest.raises(ValueError, match="processing_scale"):
        Emulator(processing_scale=0)
    with pytest.raises(ValueError, match="processing_seconds"):
        Emulator(processing_seconds=(5, 2))
    with pytest.raises(ValueError, match="tweet_image"):
        Emulator(processing_costs={"tweet_image": ProcessingCost(1.0)})


@pytest.fixture(params=["asgi", "socket"])
def transport_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Served:
    """Emulators on fresh temporary states, each reached by the parametrized transport."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        self._open: list[tuple[Emulator, object]] = []

    def __call__(self, **settings: object) -> tuple[Emulator, Base]:
        settings.setdefault("state", self.tmp_path / f"p{len(self._open)}.sqlite")
        emulator = Emulator(**settings)  # type: ignore[arg-type]
        if self.kind == "asgi":
            self._open.append((emulator, None))
            return emulator, ("https://api.x.com", httpx.ASGITransport(app=emulator.app))
        context = running(emulator)
        url = context.__enter__()
        self._open.append((emulator, context))
        return emulator, (url, None)

    def close(self) -> None:
        for emulator, context in reversed(self._open):
            if context is not None:
                context.__exit__(None, None, None)  # type: ignore[attr-defined]
            emulator.close()


@pytest.fixture
def served(transport_kind: str, tmp_path: Path):
    made = Served(transport_kind, tmp_path)
    yield made
    made.close()


async def test_same_content_same_processing_every_run_and_client(served, media_dir: Path) -> None:
    clip = mf.make_mp4(media_dir / "a.mp4", seconds=2.0).read_bytes()
    other = mf.make_mp4(media_dir / "b.mp4", seconds=3.0).read_bytes()
    times = []
    for _run in range(2):
        emulator, base = served(clock=ManualClock(1_800_000_000))
        async with make_client(base) as c:
            v2_id, _ = await upload_bytes(c, clip, "tweet_video")
            other_id, _ = await upload_bytes(c, other, "tweet_video")
        v1_base = ("https://upload.twitter.com", base[1]) if base[1] is not None else base
        async with make_client(v1_base, auth=signer(emulator.clock)) as c:
            v1_id, done = await v1_upload(c, clip, "video/mp4", "tweet_video", chunk=4096)
            assert done.status_code == 200, done.text
        record = {i: emulator.media_by_id(i) for i in (v2_id, other_id, v1_id)}
        times.append([record[i].processing_s for i in (v2_id, other_id, v1_id)])  # type: ignore[union-attr]
    # v2 and v1.1 clients, two fresh states: one clip, one time; another clip, its own.
    assert times[0] == times[1]
    clip_time, other_time, v1_time = times[0]
    assert clip_time == v1_time != other_time
    # The default model, on a 2 s clip of a few KB: about base + 0.4 s, within the noise.
    assert 1.0 <= clip_time <= 3.0 + 0.4 + 2.0 + 0.1


async def test_progress_rises_and_check_after_tells_the_time_left(served, media_dir: Path) -> None:
    clock = ManualClock(1_800_000_000)
    cost = ProcessingCost(base_s=24.0)  # no noise: 24 s exactly
    emulator, base = served(clock=clock, processing_costs={"tweet_video": cost})
    clip = mf.make_mp4(media_dir / "c.mp4").read_bytes()
    async with make_client(base) as c:
        media_id, done = await upload_bytes(c, clip, "tweet_video")
        # X's FINALIZE answer: pending, come back in 1 s (captures; docs.x.com quickstart).
        assert done.json()["data"]["processing_info"] == {"state": "pending", "check_after_secs": 1}
        seen = []
        for _step in range(8):
            clock.advance(3.0)
            info = (await status(c, media_id)).json()["data"]["processing_info"]
            seen.append(info)
            if info["state"] == "succeeded":
                break
    states = [i["state"] for i in seen]
    assert states[-1] == "succeeded" and seen[-1]["progress_percent"] == 100
    running_infos = [i for i in seen if i["state"] == "in_progress"]
    progress = [i["progress_percent"] for i in running_infos]
    assert progress == sorted(progress) and len(set(progress)) == len(progress)
    # At 3 s of 24: 12 %, 21 s left, told to wait at most the configured 10 s.
    assert running_infos[0] == {
        "state": "in_progress",
        "check_after_secs": 10,
        "progress_percent": 12,
    }
    # Near the end the wait is the time left: at 21 s of 24, 3 s.
    assert running_infos[-1]["check_after_secs"] == 3
    assert emulator.media_by_id(media_id).processing_s == 24.0  # type: ignore[union-attr]


async def test_failures_are_drawn_per_content_and_attempt(served, media_dir: Path) -> None:
    clip = mf.make_mp4(media_dir / "c.mp4").read_bytes()
    runs = []
    for _run in range(2):
        emulator, base = served(processing_failure_rate=0.5, seed=3, processing_seconds=1.0)
        async with make_client(base) as c:
            ids = [(await upload_bytes(c, clip, "tweet_video"))[0] for _ in range(10)]
        runs.append([emulator.media_by_id(i).error_name for i in ids])  # type: ignore[union-attr]
    # The attempt (how often this state finalized the same bytes) is part of the draw: some
    # attempts of one file fail and others succeed, and a fresh state replays the sequence.
    assert runs[0] == runs[1]
    assert set(runs[0]) == {None, "InvalidMedia"}
    retried = list(zip(runs[0], runs[0][1:], strict=False))
    assert ("InvalidMedia", None) in retried  # a failed upload, retried, succeeds
