"""`mk.preflight`: the frame (columns, dtypes), its inputs, the text the CLI prints, and that it
reads headers, not files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import mediakit as mk
from mediakit._preflight import format_preflight

from . import mediafactory as mf

COLUMNS = [
    "path",
    "media_type",
    "category",
    "bytes",
    "width",
    "height",
    "duration_s",
    "fps",
    "frames",
    "video_codec",
    "profile",
    "pix_fmt",
    "audio_codec",
    "audio_channels",
    "ok",
    "problems",
    "hints",
    "fixable",
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "campaign"
    (root / "sub").mkdir(parents=True)
    mf.make_jpeg(root / "photo.jpg", 64, 48)
    mf.make_video(root / "clip.mp4", seconds=2, fps=30, audio="aac", channels=2)
    mf.make_video(root / "fast.mp4", fps=62.5)
    mf.make_gif(root / "sub" / "anim.gif", frames=4)
    mf.make_video(root / "long.mp4", seconds=150, fps=1, width=32, height=32)
    (root / "notes.txt").write_text("not media\n")
    (root / ".hidden.jpg").write_bytes(b"skipped")
    return root


def test_the_frame(folder: Path) -> None:
    frame = mk.preflight(folder)
    assert list(frame.columns) == COLUMNS
    dtypes = {name: str(dtype) for name, dtype in frame.dtypes.items()}
    assert dtypes == {
        "path": "string",
        "media_type": "string",
        "category": "category",
        "bytes": "Int64",
        "width": "Int32",
        "height": "Int32",
        "duration_s": "Float64",
        "fps": "Float64",
        "frames": "Int64",
        "video_codec": "string",
        "profile": "string",
        "pix_fmt": "string",
        "audio_codec": "string",
        "audio_channels": "Int16",
        "ok": "boolean",
        "problems": "object",
        "hints": "object",
        "fixable": "boolean",
    }
    rows = frame.set_index(frame["path"].map(lambda p: Path(p).name))
    names = ["clip.mp4", "fast.mp4", "long.mp4", "notes.txt", "photo.jpg", "anim.gif"]
    assert list(rows.index) == names  # by path, as discover orders them
    clip = rows.loc["clip.mp4"]
    assert (clip["category"], clip["width"], clip["height"], clip["fps"]) == (
        "tweet_video",
        64,
        48,
        30.0,
    )
    assert (clip["video_codec"], clip["pix_fmt"], clip["audio_codec"]) == ("h264", "yuv420p", "aac")
    assert clip["audio_channels"] == 2 and clip["frames"] == 60
    assert clip["duration_s"] == pytest.approx(2.0, abs=0.05)
    assert bool(clip["ok"]) and clip["problems"] == [] and not bool(clip["fixable"])
    fast = rows.loc["fast.mp4"]
    assert fast["problems"] == ["62.5 fps is over the 60 fps limit for tweet_video"]
    assert fast["hints"] == ["re-encode at 60 fps or less (fix=True or mk.repair fixes it)"]
    assert bool(fast["fixable"]) and not bool(fast["ok"])
    long_clip = rows.loc["long.mp4"]
    assert not bool(long_clip["fixable"])
    assert long_clip["hints"] == [
        'trim it to 140 s (max_duration="trim" with fix=True or mk.repair)'
    ]
    gif = rows.loc["anim.gif"]
    assert (gif["category"], gif["frames"], gif["media_type"]) == ("tweet_gif", 4, "image/gif")
    notes = rows.loc["notes.txt"]
    assert pd.isna(notes["media_type"]) and pd.isna(notes["category"])
    assert notes["problems"][0].startswith("unrecognized media type")


def test_trim_makes_a_long_video_fixable(folder: Path) -> None:
    frame = mk.preflight([folder / "long.mp4"], max_duration="trim")
    assert frame["fixable"].tolist() == [True]
    assert frame["hints"][0] == ["trim it to 140 s (fix=True or mk.repair fixes it)"]


def test_inputs_paths_and_dataframes(folder: Path) -> None:
    paths = [folder / "photo.jpg", folder / "clip.mp4"]
    by_paths = mk.preflight(paths)
    assert by_paths["path"].tolist() == [str(p) for p in paths]
    table = pd.DataFrame({"path": [str(p) for p in paths], "category": ["dm_image", None]})
    by_frame = mk.preflight(table)
    assert by_frame["category"].tolist() == ["dm_image", "tweet_video"]
    forced = mk.preflight(table, dm=True)
    assert forced["category"].tolist() == ["dm_image", "dm_video"]
    wrong = mk.preflight([folder / "clip.mp4"], category="tweet_image")
    assert wrong["problems"][0] == ["a video cannot be uploaded as tweet_image"]
    assert not wrong["fixable"][0]
    with pytest.raises(mk.ConfigurationError):
        mk.preflight(pd.DataFrame({"file": ["a.jpg"]}))
    assert len(mk.preflight(folder, pattern="*.mp4")) == 3
    assert len(mk.preflight(folder, recursive=False)) == 5


def test_empty_folder(tmp_path: Path) -> None:
    frame = mk.preflight(tmp_path)
    assert list(frame.columns) == COLUMNS and len(frame) == 0
    assert format_preflight(frame) == "0 files: 0 ok, 0 with problems"


def test_text_for_the_cli(folder: Path) -> None:
    frame = mk.preflight(folder)
    text = format_preflight(frame)
    lines = text.splitlines()
    assert lines[0] == "6 files: 3 ok, 3 with problems (1 fixable)"
    fast = next(
        i for i, line in enumerate(lines) if line.endswith("fast.mp4") or "fast.mp4 " in line
    )
    assert lines[fast].startswith("fix ")
    assert "tweet_video · 64×48" in lines[fast] and "62.5 fps" in lines[fast]
    assert lines[fast + 1] == "      - 62.5 fps is over the 60 fps limit for tweet_video"
    assert lines[fast + 2] == "      > re-encode at 60 fps or less (fix=True or mk.repair fixes it)"
    only = format_preflight(frame, only_problems=True)
    assert "photo.jpg" not in only and "fast.mp4" in only


def test_headers_not_files(tmp_path: Path) -> None:
    # A 300 MB video (a real clip, then padding) costs a few hundred kilobytes to preflight.
    big = mf.make_big_file(tmp_path / "big.mp4", 300 * 2**20, header="mp4")
    before = _rchar()
    frame = mk.preflight([big])
    read = _rchar() - before
    assert frame["ok"].tolist() == [True]
    assert read < 1 * 2**20, read


def _rchar() -> int:
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar"))
