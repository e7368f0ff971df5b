"""`mk.samples.make_folder`: real media, seeded, and what mediakit makes of it end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

import mediakit as mk
from mediakit.emulator import Emulator, running


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> mk.samples.SampleFolder:
    return mk.samples.make_folder(tmp_path_factory.mktemp("samples") / "campaign", n=20, seed=5)


def test_the_mix(made: mk.samples.SampleFolder) -> None:
    kinds = [f.kind for f in made.files]
    assert len(made.files) == 20
    assert kinds.count("bad") == 2
    assert kinds.count("video") == 4 and kinds.count("gif") == 4 and kinds.count("photo") == 10
    assert {f.media_type for f in made.files if f.kind == "photo"} == {
        "image/jpeg",
        "image/png",
        "image/webp",
    }
    assert sorted(p.name for p in made.path.iterdir()) == sorted(f.path.name for f in made.files)
    assert all(f.path.stat().st_size == f.bytes for f in made.files)
    assert all(f.alt_text for f in made.files)
    assert made.notes == ()


def test_photos_and_gifs_are_real_images(made: mk.samples.SampleFolder) -> None:
    for f in made.files:
        if f.kind == "photo":
            with Image.open(f.path) as im:
                im.load()
                assert im.format.lower() in f.media_type and min(im.size) >= 1000
        if f.kind == "gif":
            with Image.open(f.path) as im:
                assert im.format == "GIF" and im.n_frames >= 16 and im.size == (320, 240)


def test_videos_are_h264_mp4_of_a_few_seconds(made: mk.samples.SampleFolder) -> None:
    av = pytest.importorskip("av")
    videos = [f for f in made.files if f.kind == "video"]
    durations = []
    for f in videos:
        with av.open(str(f.path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            assert (stream.width, stream.height) == (640, 360)
            assert stream.codec_context.pix_fmt == "yuv420p"
            frames = sum(1 for _ in container.decode(video=0))
            durations.append(frames / 30)
    assert all(2.9 <= d <= 12.1 for d in durations), durations
    assert max(durations) == pytest.approx(12.0)  # the long one needs two 4 MiB segments
    assert max(f.bytes for f in videos) > 4 * 2**20


def test_the_bad_files_are_what_they_claim(made: mk.samples.SampleFolder) -> None:
    banner, page = made.bad
    limit = mk.Limits().category_max_bytes("tweet_gif")
    assert banner.path.name == "banner.gif" and banner.bytes > limit
    with Image.open(banner.path) as im:  # a real animated GIF, only too big
        assert im.format == "GIF" and im.n_frames > 1
        im.seek(im.n_frames - 1)
        im.load()
    assert page.path.name == "broken_download.jpg"
    assert page.path.read_bytes().startswith(b"<!DOCTYPE html>")
    assert all(f.expected_state == "invalid" for f in made.bad)
    assert all(f.expected_state == "succeeded" for f in made.good)


def test_same_seed_same_files_and_a_rerun_leaves_them_alone(tmp_path: Path) -> None:
    first = mk.samples.make_folder(tmp_path / "a", n=8, seed=3)
    other = mk.samples.make_folder(tmp_path / "b", n=8, seed=3)
    assert [f.path.read_bytes() for f in first.files] == [f.path.read_bytes() for f in other.files]
    different = mk.samples.make_folder(tmp_path / "c", n=8, seed=4)
    assert [f.path.read_bytes() for f in first.files] != [
        f.path.read_bytes() for f in different.files
    ]
    mine = first.path / "mine.txt"
    mine.write_text("keep me")
    mtimes = {f.path: f.path.stat().st_mtime_ns for f in first.files}
    again = mk.samples.make_folder(tmp_path / "a", n=8, seed=3)
    assert {f.path: f.path.stat().st_mtime_ns for f in again.files} == mtimes
    assert mine.read_text() == "keep me"
    damaged = again.good[0].path
    damaged.write_bytes(b"damaged")
    repaired = mk.samples.make_folder(tmp_path / "a", n=8, seed=3)
    assert damaged.read_bytes() == repaired.good[0].path.read_bytes() != b"damaged"
    assert not list(first.path.glob(".*.partial"))


def test_sizes_and_options(tmp_path: Path) -> None:
    assert mk.samples.make_folder(tmp_path / "none", n=0, bad_files=False).files == ()
    only_bad = mk.samples.make_folder(tmp_path / "bad", n=2)
    assert [f.kind for f in only_bad.files] == ["bad", "bad"]
    no_video = mk.samples.make_folder(tmp_path / "nv", n=6, videos=False, bad_files=False)
    assert {f.kind for f in no_video.files} == {"photo", "gif"}
    with pytest.raises(mk.ConfigurationError, match="no room for the 2 bad files"):
        mk.samples.make_folder(tmp_path / "x", n=1)
    with pytest.raises(mk.ConfigurationError, match="whole number"):
        mk.samples.make_folder(tmp_path / "x", n=2.5)  # type: ignore[arg-type]


def test_without_pyav_photos_take_the_videos_place(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['av'] = None\n"  # as if PyAV were not installed
        "import mediakit as mk\n"
        f"f = mk.samples.make_folder({str(tmp_path / 's')!r}, n=10)\n"
        "print(sorted({x.kind for x in f.files})); print(f.notes[0])\n"
        "try:\n"
        f"    mk.samples.make_folder({str(tmp_path / 't')!r}, n=10, videos=True)\n"
        "except mk.ConfigurationError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    kinds, note, error = out.stdout.strip().splitlines()
    assert kinds == "['bad', 'gif', 'photo']"
    assert "PyAV is not installed" in note
    assert "pip install 'mediakit-x[video]'" in error


def test_frame_and_csv(made: mk.samples.SampleFolder, tmp_path: Path) -> None:
    frame = made.frame
    assert list(frame.columns) == [
        "path",
        "kind",
        "media_type",
        "bytes",
        "alt_text",
        "expected_state",
        "problem",
    ]
    assert frame["bytes"].sum() == made.bytes
    listing = made.write_csv(made.path.parent / "campaign.csv")
    read = pd.read_csv(listing)
    assert read["path"].iloc[0] == f"campaign/{made.files[0].path.name}"  # relative to the CSV
    outside = made.write_csv(tmp_path / "elsewhere.csv")
    assert Path(pd.read_csv(outside)["path"].iloc[0]).is_absolute()
    assert str(made) == str(made.path) and Path(made) == made.path
    assert "10 photos, 4 gifs, 4 videos, 2 bad on purpose" in repr(made)


@pytest.mark.parametrize("transport", ["asgi", "socket"])
def test_uploads_as_expected(made: mk.samples.SampleFolder, tmp_path: Path, transport: str) -> None:
    """Every good file succeeds, both bad files are refused locally with their reason."""
    clock = mk.ScaledClock(20.0)
    with Emulator(clock=clock, state=tmp_path / "emu.sqlite", seed=1) as emu:
        options = dict(progress="none", journal=False, clock=clock)
        if transport == "asgi":
            result = mk.upload_folder(made, emulator=emu, **options)
        else:
            with running(emu) as url:
                result = mk.upload_folder(made, base_url=url, **options)
    states = dict(zip(result.items["path"], result.items["state"].astype(str), strict=True))
    assert states == {str(f.path.absolute()): f.expected_state for f in made.files}
    reasons = dict(zip(result.failures["path"], result.failures["error_message"], strict=True))
    banner, page = (str(f.path.absolute()) for f in made.bad)
    assert "over the 15 MB limit for tweet_gif" in reasons[banner]
    assert "unrecognized media type" in reasons[page]
    assert result.items["segments"].max() == 2  # the long video


def test_preflight_passes_the_good_files_and_flags_the_bad_ones(
    made: mk.samples.SampleFolder,
) -> None:
    checked = mk.preflight(made)
    verdicts = dict(zip(checked["path"], checked["ok"], strict=True))
    assert verdicts == {str(f.path.absolute()): f.problem is None for f in made.files}
    problems = dict(zip(checked["path"], checked["problems"], strict=True))
    banner, page = (str(f.path.absolute()) for f in made.bad)
    assert any("over the 15 MB limit for tweet_gif" in p for p in problems[banner])
    assert any("unrecognized media type" in p for p in problems[page])
