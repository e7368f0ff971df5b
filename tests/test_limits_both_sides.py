"""Every limit of the table on both sides of its boundary, through preflight AND the emulator.

The media is real (PyAV H.264/HEVC/VP9, AAC/Opus/MP3, Pillow images, animated GIFs) and made
once per session. Each file goes through `check_file` (preflight) and, separately, up to the
emulator as raw bytes (preflight bypassed: INIT, APPEND, FINALIZE, STATUS by hand), over
ASGITransport and a real socket. Preflight passes a file exactly when the emulator accepts it,
and preflight's first reason is the emulator's failure message (X's own wording for the
duration).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mediakit import Limits, ScaledClock
from mediakit._preflight import check_file
from mediakit.emulator import Emulator

from . import mediafactory as mf
from .conftest import make_client
from .emuhelp import upload_bytes, wait_processed


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], Path]
    category: str
    limit: str | None = None  # the Limits field the file is over; None: it passes
    message: str | None = None  # preflight's first reason
    x_message: str | None = None  # what the emulator says, when X's wording differs


def video(**kwargs: object) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        return mf.make_video(path, **kwargs)  # type: ignore[arg-type]

    return make


def gif(width: int, height: int, frames: int) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        return mf.make_gif_tiles(path, width, height, frames, frame_ms=50)

    return make


def png(width: int, height: int) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        return mf.make_png(path, width, height)

    return make


TV = "tweet_video"
CASES = [
    # duration 0.5 … 140 s
    Case("duration_0.6s", video(seconds=0.6), TV),
    Case(
        "duration_0.3s",
        video(seconds=0.3),
        TV,
        "min_video_duration_s",
        "0.3 s is under the 0.5 s minimum for tweet_video",
        "Duration 300.milliseconds is shorter than min duration of 500.milliseconds",
    ),
    Case("duration_139s", video(seconds=139, fps=1, width=32, height=32), TV),
    Case(
        "duration_141s",
        video(seconds=141, fps=1, width=32, height=32),
        TV,
        "max_video_duration_s",
        "141 s is over the 140 s limit for tweet_video",
        "Duration 2.minutes+21.seconds exceeds max duration of 2.minutes+20.seconds",
    ),
    # dimensions by orientation: long side ≤ 1280, short side ≤ 1024, both ≥ 32
    Case("landscape_1280x720", video(width=1280, height=720), TV),
    Case(
        "landscape_1282x720",
        video(width=1282, height=720),
        TV,
        "video_max_long_side",
        "1282×720 is over the 1280×1024 limit for tweet_video (long side 1282 > 1280)",
    ),
    Case("portrait_720x1280", video(width=720, height=1280), TV),
    Case(
        "portrait_720x1282",
        video(width=720, height=1282),
        TV,
        "video_max_long_side",
        "720×1282 is over the 1280×1024 limit for tweet_video (long side 1282 > 1280)",
    ),
    Case("short_side_1280x1024", video(width=1280, height=1024), TV),
    Case(
        "short_side_1280x1026",
        video(width=1280, height=1026),
        TV,
        "video_max_short_side",
        "1280×1026 is over the 1280×1024 limit for tweet_video (short side 1026 > 1024)",
    ),
    Case("min_side_32x32", video(width=32, height=32), TV),
    Case(
        "min_side_30x32",
        video(width=30, height=32),
        TV,
        "video_min_side",
        "30×32 is under the 32×32 minimum for tweet_video",
    ),
    # frame rate ≤ 60
    Case("fps_60", video(fps=60), TV),
    Case(
        "fps_62.5",
        video(fps=62.5),
        TV,
        "video_max_fps",
        "62.5 fps is over the 60 fps limit for tweet_video",
    ),
    Case(
        "fps_62.5_dm",
        video(fps=62.5),
        "dm_video",
        "video_max_fps",
        "62.5 fps is over the 60 fps limit for dm_video",
    ),
    # aspect 1:3 … 3:1
    Case("aspect_3:1", video(width=96, height=32), TV),
    Case(
        "aspect_3.06:1",
        video(width=98, height=32),
        TV,
        "video_max_aspect",
        "aspect ratio 3.06:1 (98×32) is outside the 1:3 to 3:1 range for tweet_video",
    ),
    Case("aspect_1:3", video(width=32, height=96), TV),
    Case(
        "aspect_1:3.06",
        video(width=32, height=98),
        TV,
        "video_min_aspect",
        "aspect ratio 1:3.06 (32×98) is outside the 1:3 to 3:1 range for tweet_video",
    ),
    # codec, profile, pixel format
    Case("h264_baseline", video(profile="baseline"), TV),
    Case("h264_main", video(profile="main"), TV),
    Case("h264_high", video(profile="high"), TV),
    Case("h264_yuvj420p", video(pix_fmt="yuvj420p"), TV),
    Case(
        "hevc",
        video(codec="libx265"),
        TV,
        "video_codecs",
        "video codec hevc is not accepted for tweet_video (H.264 only)",
    ),
    Case(
        "vp9_webm",
        video(container="webm", codec="libvpx-vp9"),
        TV,
        "video_codecs",
        "video codec vp9 is not accepted for tweet_video (H.264 only)",
    ),
    Case(
        "yuv422p",
        video(pix_fmt="yuv422p"),
        TV,
        "video_pix_fmts",
        "h264 profile High 4:2:2 is not accepted for tweet_video "
        "(Constrained Baseline, Baseline, Main or High)",
    ),
    Case(
        "yuv420p10",
        video(pix_fmt="yuv420p10le"),
        TV,
        "video_pix_fmts",
        "h264 profile High 10 is not accepted for tweet_video "
        "(Constrained Baseline, Baseline, Main or High)",
    ),
    # audio: AAC-LC mono or stereo, or none
    Case("aac_mono", video(audio="aac", channels=1), TV),
    Case("aac_stereo", video(audio="aac", channels=2), TV),
    Case(
        "aac_5.1",
        video(audio="aac", channels=6),
        TV,
        "audio_max_channels",
        "6 audio channels is over the 2-channel limit for tweet_video (mono or stereo)",
    ),
    Case(
        "opus",
        video(audio="libopus", channels=2),
        TV,
        "audio_codecs",
        "audio codec opus is not accepted for tweet_video (AAC only)",
    ),
    Case(
        "mp3",
        video(audio="libmp3lame", channels=2),
        TV,
        "audio_codecs",
        "audio codec mp3 is not accepted for tweet_video (AAC only)",
    ),
    # GIF: screen ≤ 1280×1080, ≤ 350 frames, width × height × frames ≤ 300 million
    Case("gif_1280x1080", gif(1280, 1080, 2), "tweet_gif"),
    Case(
        "gif_1282x1080",
        gif(1282, 1080, 2),
        "tweet_gif",
        "gif_max_width",
        "1282×1080 is over the 1280×1080 limit for tweet_gif",
    ),
    Case(
        "gif_1280x1082",
        gif(1280, 1082, 2),
        "dm_gif",
        "gif_max_height",
        "1280×1082 is over the 1280×1080 limit for dm_gif",
    ),
    Case("gif_350_frames", gif(8, 8, 350), "tweet_gif"),
    Case(
        "gif_351_frames",
        gif(8, 8, 351),
        "tweet_gif",
        "gif_max_frames",
        "351 frames is over the 350-frame limit for tweet_gif",
    ),
    Case("gif_299.98M_pixels", gif(1280, 1080, 217), "tweet_gif"),
    Case(
        "gif_301.36M_pixels",
        gif(1280, 1080, 218),
        "tweet_gif",
        "gif_max_total_pixels",
        "width × height × frames = 301,363,200 is over the 300,000,000 limit for tweet_gif",
    ),
    # images ≤ 8192 a side
    Case("image_8192", png(8192, 16), "tweet_image"),
    Case(
        "image_8194",
        png(8194, 16),
        "tweet_image",
        "image_max_side",
        "8194×16 is over the 8192×8192 limit for tweet_image",
    ),
    Case(
        "image_8194_tall",
        png(16, 8194),
        "dm_image",
        "image_max_side",
        "16×8194 is over the 8192×8192 limit for dm_image",
    ),
]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("limits")
    return {case.name: case.make(folder / f"{case.name}.bin") for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_preflight_side(case: Case, media: dict[str, Path]) -> None:
    verdict = check_file(media[case.name], category=case.category)
    if case.limit is None:
        assert verdict.ok, [p.message for p in verdict.problems]
        return
    assert not verdict.ok
    assert case.limit in {p.limit for p in verdict.problems}
    assert verdict.problems[0].message == case.message
    assert all(p.fixable for p in verdict.problems) is (case.limit != "max_video_duration_s")


async def _emulator_outcome(
    client: httpx.AsyncClient, clock: ScaledClock, data: bytes, category: str
) -> tuple[bool, str | None]:
    """(accepted, the refusal's message) from uploading `data` as raw bytes."""
    media_id, done = await upload_bytes(client, data, category)
    if category.endswith("image"):
        if done.status_code == 200:
            return True, None
        assert done.status_code == 400, done.text
        return False, done.json()["errors"][0]["message"]
    assert done.status_code == 200, done.text
    final = (await wait_processed(client, media_id, clock.sleep))[-1]["processing_info"]
    if final["state"] == "succeeded":
        return True, None
    error = final["error"]
    assert error["name"] in ("InvalidMedia", "UnsupportedMedia")
    return False, error["message"]


async def test_emulator_side(
    client: httpx.AsyncClient, clock: ScaledClock, media: dict[str, Path]
) -> None:
    outcomes = await asyncio.gather(
        *(
            _emulator_outcome(client, clock, media[case.name].read_bytes(), case.category)
            for case in CASES
        )
    )
    for case, (accepted, message) in zip(CASES, outcomes, strict=True):
        assert accepted is (case.limit is None), (case.name, message)
        if case.limit is not None:
            assert message == (case.x_message or case.message), case.name


async def test_overridden_limits_apply_to_both_sides(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    # One table for both: a stricter profile list and a longer duration, set once.
    limits = Limits(video_profiles=("Constrained Baseline", "High"), max_video_duration_s=150.0)
    baseline, long_clip = media["h264_main"], media["duration_141s"]
    verdict = check_file(baseline, category="tweet_video", limits=limits)
    assert [p.message for p in verdict.problems] == [
        "h264 profile Main is not accepted for tweet_video (Constrained Baseline or High)"
    ]
    assert check_file(long_clip, category="tweet_video", limits=limits).ok
    clock = ScaledClock(50)
    emu = Emulator(
        clock=clock, limits=limits, processing_seconds=1.0, state=tmp_path / "emu.sqlite"
    )
    try:
        async with make_client(("https://api.x.com", httpx.ASGITransport(app=emu.app))) as c:
            refused = await _emulator_outcome(c, clock, baseline.read_bytes(), "tweet_video")
            accepted = await _emulator_outcome(c, clock, long_clip.read_bytes(), "tweet_video")
    finally:
        emu.close()
    assert refused == (False, verdict.problems[0].message)
    assert accepted == (True, None)
