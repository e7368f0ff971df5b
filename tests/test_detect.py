"""The content detector on real generated media: sniffing, probing, damage, size."""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from mediakit._detect import (
    HEAD_BYTES,
    MediaInfo,
    family_of,
    probe,
    sniff,
    sniff_file,
)
from mediakit._limits import MEDIA_TYPES, MODEL_TYPES

from . import mediafactory as mf

ROOT = Path(__file__).resolve().parents[1]


def head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(HEAD_BYTES)


def probed(path: Path) -> MediaInfo:
    info = probe(path)
    assert info is not None, f"{path.name} was not recognised"
    return info


# ---------------------------------------------------------------------------------------------
# Images

IMAGES: list[tuple[Callable[..., Path], str, str]] = [
    (mf.make_jpeg, "a.jpg", "image/jpeg"),
    (mf.make_png, "a.png", "image/png"),
    (mf.make_webp, "a.webp", "image/webp"),
    (mf.make_bmp, "a.bmp", "image/bmp"),
    (mf.make_tiff, "a.tif", "image/tiff"),
    (mf.make_gif, "a.gif", "image/gif"),
]


@pytest.mark.parametrize(("make", "name", "media_type"), IMAGES)
@pytest.mark.parametrize(("width", "height"), [(64, 48), (17, 9), (9, 300)])
def test_image_type_kind_and_exact_size(
    tmp_path: Path,
    make: Callable[..., Path],
    name: str,
    media_type: str,
    width: int,
    height: int,
) -> None:
    path = make(tmp_path / name, width=width, height=height)
    assert sniff(head(path)) == media_type
    assert sniff_file(path) == media_type
    info = probed(path)
    assert (info.media_type, info.kind) == (media_type, "image")
    assert (info.width, info.height) == (width, height)
    assert info.probe_error is None
    assert info.duration_s is None and info.video_codec is None


def test_big_endian_tiff(tmp_path: Path) -> None:
    path = mf.make_tiff(tmp_path / "mm.tif", 20, 10, big_endian=True)
    assert head(path).startswith(b"MM\x00*")
    info = probed(path)
    assert (info.media_type, info.width, info.height) == ("image/tiff", 20, 10)


@pytest.mark.parametrize(
    ("mode", "options", "chunk"),
    [
        ("RGB", {"quality": 80}, b"VP8 "),
        ("RGB", {"lossless": True}, b"VP8L"),
        ("RGBA", {"quality": 80}, b"VP8X"),
    ],
)
def test_webp_flavours_give_exact_size(
    tmp_path: Path, mode: str, options: dict[str, object], chunk: bytes
) -> None:
    path = tmp_path / "a.webp"
    Image.new(mode, (37, 23), (10, 200, 30, 128)[: len(mode)]).save(path, "WEBP", **options)
    assert head(path)[12:16] == chunk
    info = probed(path)
    assert (info.media_type, info.kind, info.width, info.height) == ("image/webp", "image", 37, 23)
    assert info.frames == 1


def test_static_gif_is_an_image(tmp_path: Path) -> None:
    info = probed(mf.make_gif(tmp_path / "still.gif", 30, 20, frames=1))
    assert (info.media_type, info.kind, info.frames) == ("image/gif", "image", 1)
    assert (info.width, info.height) == (30, 20)
    assert info.duration_s is None


@pytest.mark.parametrize(("frames", "frame_ms"), [(2, 50), (5, 120), (40, 30)])
def test_animated_gif_frames_and_duration(tmp_path: Path, frames: int, frame_ms: int) -> None:
    path = mf.make_gif(tmp_path / "anim.gif", 32, 24, frames=frames, frame_ms=frame_ms)
    info = probed(path)
    assert (info.media_type, info.kind) == ("image/gif", "gif")
    assert (info.width, info.height, info.frames) == (32, 24, frames)
    assert info.duration_s == pytest.approx(frames * frame_ms / 1000)
    # The block walk agrees with Pillow's own count and durations.
    with Image.open(path) as im:
        assert getattr(im, "n_frames", 1) == frames
        total_ms = 0
        for i in range(frames):
            im.seek(i)
            total_ms += im.info["duration"]
    assert info.duration_s == pytest.approx(total_ms / 1000)


def test_animated_webp_frames_and_duration(tmp_path: Path) -> None:
    path = mf.make_webp(tmp_path / "anim.webp", 40, 30, frames=4, frame_ms=80)
    info = probed(path)
    assert (info.media_type, info.kind) == ("image/webp", "image")
    assert (info.width, info.height, info.frames) == (40, 30, 4)
    assert info.duration_s == pytest.approx(0.32)
    with Image.open(path) as im:
        assert getattr(im, "n_frames", 1) == 4


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    chunk += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + iend


def test_huge_declared_image_reports_its_size_without_a_bomb_error(tmp_path: Path) -> None:
    # Image.open would raise DecompressionBombError (or warn, an error under pytest): the
    # limits table, not Pillow, decides whether 40000x30000 is too large.
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header(40000, 30000))
    info = probed(path)
    assert (info.width, info.height, info.probe_error) == (40000, 30000, None)


# ---------------------------------------------------------------------------------------------
# Videos

VIDEOS: list[tuple[str, Callable[..., Path], dict[str, object], str, str, str | None]] = [
    ("a.mp4", mf.make_mp4, {}, "video/mp4", "h264", None),
    ("aa.mp4", mf.make_mp4, {"audio": True}, "video/mp4", "h264", "aac"),
    ("a.mov", mf.make_mov, {}, "video/quicktime", "h264", None),
    ("aa.mov", mf.make_mov, {"audio": True}, "video/quicktime", "h264", "aac"),
    ("vp8.webm", mf.make_webm, {"codec": "libvpx"}, "video/webm", "vp8", None),
    ("vp9.webm", mf.make_webm, {"codec": "libvpx-vp9", "audio": True}, "video/webm", "vp9", "opus"),
    ("a.ts", mf.make_ts, {}, "video/mp2t", "h264", None),
    ("aa.ts", mf.make_ts, {"audio": True}, "video/mp2t", "h264", "aac"),
    ("a.m2ts", mf.make_ts, {"m2ts": True}, "video/mp2t", "h264", None),
]


@pytest.mark.parametrize(("name", "make", "kwargs", "media_type", "vcodec", "acodec"), VIDEOS)
def test_video_type_size_fps_codecs_duration(
    tmp_path: Path,
    name: str,
    make: Callable[..., Path],
    kwargs: dict[str, object],
    media_type: str,
    vcodec: str,
    acodec: str | None,
) -> None:
    path = make(tmp_path / name, seconds=1.0, width=64, height=48, fps=10, **kwargs)
    assert sniff(head(path)) == media_type
    info = probed(path)
    assert (info.media_type, info.kind, info.probe_error) == (media_type, "video", None)
    assert (info.width, info.height) == (64, 48)
    assert info.fps == pytest.approx(10.0)
    assert info.duration_s == pytest.approx(1.0, abs=0.1)
    assert (info.video_codec, info.pixel_format) == (vcodec, "yuv420p")
    assert info.audio_codec == acodec
    assert info.has_audio is (acodec is not None)
    assert info.audio_channels == (1 if acodec else None)
    assert info.profile == {"h264": "Constrained Baseline", "vp8": None, "vp9": "Profile 0"}[vcodec]
    assert info.audio_profile == ("LC" if acodec == "aac" else None)
    assert info.has_video is True


def test_mov_has_the_quicktime_brand(tmp_path: Path) -> None:
    assert head(mf.make_mov(tmp_path / "a.mov"))[4:12] == b"ftypqt  "


@pytest.mark.parametrize(("seconds", "fps"), [(150.0, 1), (0.3, 10), (2.5, 24)])
def test_video_durations_around_the_limits(tmp_path: Path, seconds: float, fps: int) -> None:
    info = probed(mf.make_mp4(tmp_path / "v.mp4", seconds=seconds, width=32, height=32, fps=fps))
    assert info.duration_s == pytest.approx(seconds, abs=1 / fps + 0.01)
    assert info.fps == pytest.approx(fps)


def test_portrait_video_dimensions(tmp_path: Path) -> None:
    info = probed(mf.make_mp4(tmp_path / "p.mp4", seconds=0.5, width=48, height=64))
    assert (info.width, info.height) == (48, 64)


def test_minimal_webm_header_sniffs(tmp_path: Path) -> None:
    path = tmp_path / "min.webm"
    path.write_bytes(mf._MINIMAL_WEBM_HEADER)
    assert sniff_file(path) == "video/webm"


def test_matroska_that_is_not_webm_is_unrecognised(tmp_path: Path) -> None:
    path = mf.make_mkv(tmp_path / "a.mkv")
    assert head(path).startswith(b"\x1a\x45\xdf\xa3")
    assert sniff(head(path)) is None
    assert probe(path) is None


# ---------------------------------------------------------------------------------------------
# Hand-made heads


def _box(box_type: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I", 8 + len(payload)) + box_type + payload


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2"), "video/mp4"),
        (_box(b"ftyp", b"mp42\x00\x00\x00\x00mp42"), "video/mp4"),
        (_box(b"ftyp", b"M4V \x00\x00\x00\x00"), "video/mp4"),
        (_box(b"ftyp", b"qt  \x00\x00\x02\x00qt  "), "video/quicktime"),
        (_box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic"), None),
        (_box(b"ftyp", b"avif\x00\x00\x00\x00"), None),
        (_box(b"wide") + _box(b"mdat", b"\x00" * 32), "video/quicktime"),
        (_box(b"mdat", b"\x00" * 32) + _box(b"moov"), "video/quicktime"),
        (_box(b"moov", b"\x00" * 100), "video/quicktime"),
        (_box(b"free", b"\x00" * 8) + _box(b"mdat"), "video/quicktime"),
        (b"\x00\x00\x00\x04moov", None),  # box smaller than its own header
        (b"BM" + b"hello, this is not a bitmap header at all", None),
        (b"G" + b"x" * 400, None),  # one 0x47 is not a transport stream
        (bytes([0x47]) + b"\x00" * 187, None),  # neither is a single packet
        ((bytes([0x47]) + b"\x00" * 187) * 3, "video/mp2t"),
        ((b"\x00" * 4 + bytes([0x47]) + b"\x00" * 187) * 3, "video/mp2t"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", None),
        (b"GIF88a", None),
        (b"", None),
    ],
)
def test_sniff_hand_made_heads(data: bytes, expected: str | None) -> None:
    assert sniff(data) == expected


@pytest.mark.parametrize(
    "make",
    [mf.make_jpeg, mf.make_png, mf.make_webp, mf.make_bmp, mf.make_tiff, mf.make_gif, mf.make_srt],
)
def test_sniff_never_raises_on_any_prefix(tmp_path: Path, make: Callable[..., Path]) -> None:
    data = head(make(tmp_path / "f"))
    for n in range(min(len(data), 200)):
        assert sniff(data[:n]) in (None, *MEDIA_TYPES)


@pytest.mark.parametrize("make", [mf.make_mp4, mf.make_mov, mf.make_webm, mf.make_ts])
def test_sniff_never_raises_on_any_video_prefix(tmp_path: Path, make: Callable[..., Path]) -> None:
    data = head(make(tmp_path / "f"))
    for n in range(min(len(data), 600)):
        assert sniff(data[:n]) in (None, *MEDIA_TYPES)


# ---------------------------------------------------------------------------------------------
# Subtitles and text


@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize("bom", [False, True])
def test_srt(tmp_path: Path, crlf: bool, bom: bool) -> None:
    path = mf.make_srt(tmp_path / "a.srt", crlf=crlf, bom=bom)
    assert (b"\r\n" in path.read_bytes()) is crlf
    assert sniff(head(path)) == "text/srt"
    info = probed(path)
    assert (info.media_type, info.kind, info.width, info.height) == (
        "text/srt",
        "subtitles",
        None,
        None,
    )


@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize("bom", [False, True])
def test_vtt(tmp_path: Path, crlf: bool, bom: bool) -> None:
    path = mf.make_vtt(tmp_path / "a.vtt", crlf=crlf, bom=bom)
    info = probed(path)
    assert (info.media_type, info.kind, info.width) == ("text/vtt", "subtitles", None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"WEBVTT", "text/vtt"),
        (b"WEBVTT - A title\n\n", "text/vtt"),
        (b"WEBVTT\tx\n", "text/vtt"),
        (b"WEBVTTX\n", None),
        (b"webvtt\n", None),
        (b"\n\n1\n00:00:01,000 --> 00:00:02,000\nhi\n", "text/srt"),
        (b"12\n01:02:03.004 --> 01:02:04.500 X1:10 X2:20\nhi\n", "text/srt"),
        (b"1\nhello there\n", None),
        (b"1\n00:00:01 --> 00:00:02\nno millis\n", None),
        (b"00:00:01,000 --> 00:00:02,000\nno number\n", None),
        (b"Lorem ipsum dolor sit amet,\nconsectetur adipiscing elit.\n", None),
        (b'{"media": "not really"}\n', None),
        (b"\xef\xbb\xbfjust a BOM and text\n", None),
    ],
)
def test_text_heads(text: bytes, expected: str | None) -> None:
    assert sniff(text) == expected


def test_plain_text_file_is_unrecognised(tmp_path: Path) -> None:
    path = tmp_path / "notes.srt"
    path.write_text("These are my notes.\n1. buy milk\n2. upload video\n", encoding="utf-8")
    assert probe(path) is None


# ---------------------------------------------------------------------------------------------
# Nothing, damage, size


def test_noise_is_unrecognised(tmp_path: Path) -> None:
    path = mf.make_noise(tmp_path / "noise.bin", 64 * 1024)
    assert sniff(head(path)) is None
    assert probe(path) is None


def test_empty_file_is_unrecognised(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert probe(path) is None


def _truncate_images(tmp: Path) -> list[tuple[Path, str]]:
    jpeg = mf.make_jpeg(tmp / "src.jpg")
    png = mf.make_png(tmp / "src.png")
    return [
        (mf.copy_truncated(jpeg, tmp / "cut.jpg", 10), "image/jpeg"),
        (mf.copy_truncated(jpeg, tmp / "cut2.jpg", 100), "image/jpeg"),
        (mf.copy_truncated(png, tmp / "cut.png", 30), "image/png"),
        (mf.copy_truncated(mf.make_bmp(tmp / "src.bmp"), tmp / "cut.bmp", 30), "image/bmp"),
        (mf.copy_truncated(mf.make_tiff(tmp / "src.tif"), tmp / "cut.tif", 8), "image/tiff"),
        (mf.copy_truncated(mf.make_gif(tmp / "src.gif"), tmp / "cut.gif", 13), "image/gif"),
        (
            mf.copy_truncated(mf.make_gif(tmp / "anim.gif", frames=6), tmp / "cut_a.gif", 2000),
            "image/gif",
        ),
        (
            mf.copy_truncated(mf.make_webp(tmp / "a.webp", frames=3), tmp / "cut.webp", 100),
            "image/webp",
        ),
        (mf.copy_truncated(mf.make_webp(tmp / "s.webp"), tmp / "cut_s.webp", 20), "image/webp"),
    ]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_damaged_images_report_a_probe_error(tmp_path: Path) -> None:
    cases = _truncate_images(tmp_path)
    noise = mf.make_noise(tmp_path / "noise", 2000).read_bytes()
    cases += [
        (_write(tmp_path / "garbage.png", b"\x89PNG\r\n\x1a\n" + noise), "image/png"),
        (_write(tmp_path / "garbage.jpg", b"\xff\xd8\xff\xe0" + noise), "image/jpeg"),
        (_write(tmp_path / "garbage.gif", b"GIF89a" + noise), "image/gif"),
    ]
    for path, media_type in cases:
        info = probe(path)
        assert info is not None, path.name
        assert info.media_type == media_type, path.name
        assert info.probe_error, f"{path.name}: {info}"


def test_a_cut_animated_gif_keeps_its_size(tmp_path: Path) -> None:
    gif = mf.make_gif(tmp_path / "anim.gif", 30, 20, frames=6)
    info = probed(mf.copy_truncated(gif, tmp_path / "cut.gif", gif.stat().st_size // 2))
    assert (info.width, info.height, info.frames) == (30, 20, None)
    assert info.probe_error is not None and "GIF" in info.probe_error


@pytest.mark.parametrize(
    ("make", "name", "media_type", "keep"),
    [
        (mf.make_mp4, "a.mp4", "video/mp4", 0.5),
        (mf.make_mp4, "b.mp4", "video/mp4", 40),
        (mf.make_mov, "a.mov", "video/quicktime", 0.5),
        (mf.make_webm, "a.webm", "video/webm", 60),
        (mf.make_ts, "a.ts", "video/mp2t", 376),
        (mf.make_ts, "b.ts", "video/mp2t", 1000),
    ],
)
def test_damaged_videos_report_a_probe_error(
    tmp_path: Path, make: Callable[..., Path], name: str, media_type: str, keep: float
) -> None:
    src = make(tmp_path / f"src_{name}")
    size = int(src.stat().st_size * keep) if keep < 1 else int(keep)
    info = probed(mf.copy_truncated(src, tmp_path / name, size))
    assert (info.media_type, info.kind) == (media_type, "video")
    assert info.probe_error, info
    assert str(tmp_path) not in info.probe_error  # no file names in messages


def test_video_garbage_after_a_valid_head(tmp_path: Path) -> None:
    noise = mf.make_noise(tmp_path / "n", 5000).read_bytes()
    path = _write(tmp_path / "g.mp4", _box(b"ftyp", b"isom\x00\x00\x02\x00isom") + noise)
    info = probed(path)
    assert info.media_type == "video/mp4" and info.probe_error


BIG = 200_000_000


@pytest.mark.parametrize(("header", "media_type"), [("jpeg", "image/jpeg"), ("png", "image/png")])
def test_big_image_is_probed_without_reading_it(
    tmp_path: Path, header: str, media_type: str
) -> None:
    path = mf.make_big_file(tmp_path / "big", BIG, header=header)
    assert path.stat().st_size == BIG
    tracemalloc.start()
    try:
        info = probed(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (info.media_type, info.width, info.height) == (media_type, 64, 48)
    assert peak < 1_000_000, f"peak {peak} bytes for a {BIG}-byte file"


def test_big_video_is_probed_without_reading_it(tmp_path: Path) -> None:
    # Python-side allocations are traced; PyAV's own buffers are C memory, bounded by
    # PROBE_OPTIONS (the bench counts the bytes read).
    path = mf.make_big_file(tmp_path / "big.mp4", BIG, header="mp4")
    tracemalloc.start()
    try:
        info = probed(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (info.media_type, info.width, info.height) == ("video/mp4", 64, 48)
    assert info.duration_s == pytest.approx(1.0, abs=0.1)
    assert peak < 1_000_000, f"peak {peak} bytes for a {BIG}-byte file"


def test_big_file_without_header_is_unrecognised(tmp_path: Path) -> None:
    path = mf.make_big_file(tmp_path / "zeros", BIG)
    assert path.stat().st_size == BIG
    assert probe(path) is None


# ---------------------------------------------------------------------------------------------
# Families


def test_kind_of_covers_every_recognisable_type() -> None:
    families = {t: family_of(t) for t in MEDIA_TYPES}
    assert {t for t, k in families.items() if k is None} == set(MODEL_TYPES)
    assert families["image/gif"] == families["image/pjpeg"] == "image"
    assert families["video/quicktime"] == families["video/mp2t"] == "video"
    assert families["text/srt"] == families["text/vtt"] == "subtitles"
    assert family_of("application/octet-stream") is None
