"""Repair: every fixable reason fixed, the copy accepted by preflight AND the emulator,
originals untouched, copies cached by content and settings, workers in other processes."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import httpx
import pandas as pd
import pytest

import mediakit as mk
from mediakit import ScaledClock
from mediakit._detect import probe
from mediakit._judge import RepairOptions
from mediakit._preflight import check_file
from mediakit._repair import RepairPool, repair_file

from . import mediafactory as mf
from .emuhelp import initialize, upload_bytes, wait_processed

MAKERS: dict[str, Callable[[Path], Path]] = {
    **mf.FIXABLE,
    "long.mp4": lambda p: mf.make_video(p, seconds=150, fps=1, width=32, height=32),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def fixable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fixable")
    for name, make in MAKERS.items():
        make(folder / name)
    mf.make_video(folder / "fine.mp4")  # needs nothing
    return folder


@pytest.fixture(scope="module")
def repaired(fixable: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    out = tmp_path_factory.mktemp("repaired")
    before = {p.name: (sha256(p), p.stat().st_mtime_ns) for p in fixable.iterdir()}
    frame = mk.repair(fixable, out=out, max_duration="trim", workers=2)
    after = {p.name: (sha256(p), p.stat().st_mtime_ns) for p in fixable.iterdir()}
    assert after == before  # originals never touched
    return frame, out


def test_every_fixable_file_is_repaired_and_passes_preflight(
    repaired: tuple[pd.DataFrame, Path], fixable: Path
) -> None:
    frame, out = repaired
    states = dict(zip(frame["path"].map(lambda p: Path(p).name), frame["state"], strict=True))
    assert states.pop("fine.mp4") == "unchanged"
    assert set(states.values()) == {"repaired"}, frame[frame["state"] != "repaired"]
    assert frame["ok"].all()
    for row in frame[frame["state"] == "repaired"].itertuples():
        copy = Path(row.repaired_path)
        assert copy.is_relative_to(out) and copy.is_file()
        assert check_file(copy, category=row.category).ok, row.path
        assert row.source_bytes == Path(row.path).stat().st_size
        assert row.bytes == copy.stat().st_size
        assert row.repair  # in words


def test_what_was_done_in_words(repaired: tuple[pd.DataFrame, Path]) -> None:
    frame, _ = repaired
    words = {Path(p).name: w for p, w in zip(frame["path"], frame["repair"], strict=True)}
    assert words["fps120.mp4"] == "120 fps → 60 fps"
    assert words["fps62_5.mp4"] == "62.5 fps → 60 fps"  # the limit, not half the motion
    assert words["fullhd.mp4"] == "1920×1080 → 1280×720"
    assert words["tiny.mp4"] == "16×16 → 32×32"
    assert words["tall.mp4"] == "padded to 108×320"
    assert words["hevc.mp4"] == "hevc Main → H.264 High"
    assert words["yuv444.mov"] == (
        "h264 High 4:4:4 Predictive → H.264 High; yuv444p → yuv420p; MOV → MP4"
    )
    assert words["opus.mp4"] == "video stream copied as it is; opus 2 ch → AAC-LC stereo"
    assert words["surround.mp4"] == "video stream copied as it is; aac LC 6 ch → AAC-LC stereo"
    assert words["short.mp4"] == "0.2 s → 0.5 s (last frame held)"
    assert words["long.mp4"] == "video stream copied as it is; 150 s → 140 s (trimmed)"
    assert words["wide.gif"].startswith("GIF (3 frames, 0.3 s) → MP4 for tweet_video")
    assert words["noise.png"].startswith("PNG → JPEG (quality ")
    assert words["alpha.png"].startswith("1300×1300 → ")
    assert "PNG (transparency kept)" in words["alpha.png"]
    assert words["wide.jpg"].startswith("9000×120 → 8192×109; JPEG → JPEG (quality ")


def test_repaired_media_measures_as_promised(repaired: tuple[pd.DataFrame, Path]) -> None:
    frame, _ = repaired
    done = frame[frame["state"] == "repaired"]
    copies = {
        Path(p).name: Path(c) for p, c in zip(done["path"], done["repaired_path"], strict=True)
    }
    fps120 = probe(copies["fps120.mp4"])
    assert fps120 is not None and (fps120.fps, fps120.audio_codec) == (60.0, "aac")
    assert fps120.audio_channels == 1 and fps120.profile == "High"  # mono AAC passes: copied
    long_clip = probe(copies["long.mp4"])
    assert long_clip is not None and long_clip.duration_s == pytest.approx(140, abs=1)
    gif = probe(copies["wide.gif"])
    assert gif is not None and gif.media_type == "video/mp4"
    assert gif.duration_s == pytest.approx(0.5, abs=0.05)  # 0.3 s held to the minimum
    noise = probe(copies["noise.png"])
    assert noise is not None and noise.media_type == "image/jpeg"
    alpha = probe(copies["alpha.png"])
    assert alpha is not None and alpha.media_type == "image/png"
    assert copies["noise.png"].stat().st_size <= 5 * 2**20
    assert (
        frame.set_index(frame["path"].map(lambda p: Path(p).name)).loc[
            "many_frames.gif", "category"
        ]
        == "tweet_video"
    )


async def test_the_emulator_accepts_every_repaired_copy(
    client: httpx.AsyncClient, clock: ScaledClock, repaired: tuple[pd.DataFrame, Path]
) -> None:
    frame, _ = repaired
    rows = list(frame[frame["state"] == "repaired"].itertuples())

    async def outcome(path: Path, category: str) -> str:
        data = path.read_bytes()
        if len(data) > mk.Limits().category_max_bytes(category):
            init = await initialize(client, len(data), "image/png", category)
            return f"refused at INIT: {init.status_code}"
        media_id, done = await upload_bytes(client, data, category)
        if category.endswith("image"):
            return "succeeded" if done.status_code == 200 else done.text
        assert done.status_code == 200, done.text
        final = (await wait_processed(client, media_id, clock.sleep))[-1]["processing_info"]
        return str(final["state"]) if final["state"] == "succeeded" else str(final)

    results = await asyncio.gather(*(outcome(Path(r.repaired_path), r.category) for r in rows))
    assert results == ["succeeded"] * len(rows)
    # ...and the originals, preflight bypassed, it refuses.
    originals = await asyncio.gather(
        *(outcome(Path(r.path), str(check_file(r.path).category)) for r in rows)
    )
    assert "succeeded" not in originals


def test_a_rerun_reuses_every_copy(repaired: tuple[pd.DataFrame, Path], fixable: Path) -> None:
    frame, out = repaired
    slots = sorted(p.name for p in out.iterdir())
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = mk.repair(fixable, out=out, max_duration="trim", workers=1)
    assert set(again["state"]) == {"reused", "unchanged"}
    assert again["repaired_path"].tolist() == frame["repaired_path"].tolist()
    assert again["repair"].tolist() == frame["repair"].tolist()
    assert sorted(p.name for p in out.iterdir()) == slots
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps


@pytest.mark.parametrize(
    ("source", "target"),
    [(62.5, 60.0), (100, 60.0), (120, 60.0), (Fraction(120000, 1001), 59.94), (240, 60.0)],
    ids=["62.5", "100", "120", "119.88", "240"],
)
def test_a_frame_rate_over_the_limit_goes_to_it_or_to_a_whole_fraction_just_under(
    tmp_path: Path, source: float | Fraction, target: float
) -> None:
    """62.5 fps becomes 60 (not 31.25: half the motion lost to drop one frame in 25); an
    exact fraction of the source within 10 % under the limit keeps an even cadence."""
    clip = mf.make_video(tmp_path / "fast.mp4", fps=source, seconds=1.0)
    done = repair_file(clip, tmp_path / "out")
    assert done.state == "repaired" and done.repaired is not None
    assert done.repair == f"{float(source):.2f}".rstrip("0").rstrip(".") + f" fps → {target:g} fps"
    info = probe(done.repaired)
    assert info is not None and info.fps == pytest.approx(target, abs=0.01)
    assert info.frames == pytest.approx(target, abs=2)  # one second of it
    assert check_file(done.repaired).ok


def test_other_settings_make_another_copy(fixable: Path, tmp_path: Path) -> None:
    gif = fixable / "many_frames.gif"
    as_mp4 = repair_file(gif, tmp_path)
    as_gif = repair_file(gif, tmp_path, options=RepairOptions(gif="gif"))
    assert as_mp4.state == as_gif.state == "repaired"
    assert as_mp4.repaired is not None and as_gif.repaired is not None
    assert as_mp4.repaired.parent != as_gif.repaired.parent
    assert (as_mp4.category, as_mp4.repaired.suffix) == ("tweet_video", ".mp4")
    assert (as_gif.category, as_gif.repaired.suffix) == ("tweet_gif", ".gif")
    assert as_gif.repair == "351 frames → 176 (every 2nd kept)"
    info = probe(as_gif.repaired)
    assert info is not None and info.frames == 176
    assert info.duration_s == pytest.approx(351 * 0.04, abs=0.05)  # the timing is kept
    assert repair_file(gif, tmp_path, options=RepairOptions(gif="gif")).state == "reused"


def test_a_long_video_stays_invalid_unless_trim_is_asked(fixable: Path, tmp_path: Path) -> None:
    kept = repair_file(fixable / "long.mp4", tmp_path)
    assert kept.state == "failed" and not kept.ok and kept.repaired is None
    assert kept.problems == ("150 s is over the 140 s limit for tweet_video",)
    assert not any(tmp_path.iterdir())  # nothing written


def test_an_incomplete_copy_is_redone(fixable: Path, tmp_path: Path) -> None:
    first = repair_file(fixable / "tiny.mp4", tmp_path)
    assert first.repaired is not None
    (first.repaired.parent / "repair.json").unlink()  # as if the worker died before its record
    first.repaired.write_bytes(b"half")
    again = repair_file(fixable / "tiny.mp4", tmp_path)
    assert again.state == "repaired" and again.repaired == first.repaired
    assert check_file(again.repaired).ok


def test_the_pool_repairs_in_worker_processes_as_each_finishes(
    fixable: Path, tmp_path: Path
) -> None:
    names = ["tiny.mp4", "short.mp4", "fine.mp4", "wide.gif"]
    with RepairPool(tmp_path, workers=2) as pool:
        results = list(pool.as_completed([fixable / n for n in names]))
        workers = multiprocessing.active_children()
        assert workers and all(w.pid != os.getpid() for w in workers)
    assert sorted(r.path.name for r in results) == sorted(names)
    assert {r.path.name: r.state for r in results}["fine.mp4"] == "unchanged"
    assert all(r.ok for r in results)


async def test_the_pool_from_asyncio(fixable: Path, tmp_path: Path) -> None:
    with RepairPool(tmp_path, workers=1) as pool:
        one = await pool.repair(fixable / "tall.mp4")
        assert one.state == "repaired" and one.upload_path == one.repaired
        seen = [r.path.name async for r in pool.as_completed_async([fixable / "fine.mp4"])]
    assert seen == ["fine.mp4"]
    assert one.upload_path.suffix == ".mp4"


def test_repair_frame_schema(repaired: tuple[pd.DataFrame, Path]) -> None:
    frame, _ = repaired
    assert list(frame.columns) == [
        "path",
        "state",
        "repaired_path",
        "repair",
        "category",
        "source_bytes",
        "bytes",
        "ok",
        "problems",
        "seconds",
    ]
    assert str(frame["source_bytes"].dtype) == "Int64" and str(frame["ok"].dtype) == "boolean"
    assert isinstance(frame["state"].dtype, pd.CategoricalDtype)
    fine = frame[frame["state"] == "unchanged"].iloc[0]
    assert pd.isna(fine["repaired_path"]) and fine["problems"] == []
