"""The local side of an upload on real generated files: discovery, inspection, chunk plans."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mediakit._errors import ConfigurationError, MediaError
from mediakit._limits import Limits
from mediakit._media import (
    DEFAULT_CHUNK,
    MAX_CHUNK,
    FileCheck,
    MiB,
    discover,
    format_size,
    infer_category,
    inspect_file,
    over_limit_message,
    plan_chunks,
    read_chunk,
)

from . import mediafactory as mf

KiB = 1024
UNRECOGNIZED = "unrecognized media type (not an image, video, GIF or subtitle file X accepts)"


def within(seconds: float, fn: Callable[[], Any], unblock: Path | None = None) -> Any:
    """fn() run in a thread; fails if it has not returned after `seconds` (it would block).

    When it hangs on opening the FIFO `unblock`, a writer is opened so the thread can end.
    """
    result: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if unblock is not None:
            fd = os.open(unblock, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
            thread.join(5)
        pytest.fail(f"did not return within {seconds} s (a FIFO was opened?)")
    if errors:
        raise errors[0]
    return result[0]


def by_name(rows: list[FileCheck], root: Path) -> dict[str, FileCheck]:
    return {row.path.relative_to(root).as_posix(): row for row in rows}


# ---------------------------------------------------------------------------------------------
# discover


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A mixed folder: every kind X takes, junk, an empty and a hidden file, nested folders."""
    root = tmp_path / "campaign"
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / ".git").mkdir()
    mf.make_jpeg(root / "photo.jpg")
    mf.make_png(root / "logo.png")
    mf.make_gif(root / "anim.gif", frames=3)
    mf.make_gif(root / "still.gif")
    mf.make_srt(root / "captions.srt")
    mf.make_noise(root / "noise.bin")
    (root / "empty.jpg").write_bytes(b"")
    mf.make_jpeg(root / ".hidden.jpg")
    mf.make_jpeg(root / ".git" / "inside.jpg")
    mf.make_webp(root / "nested" / "pic.webp")
    mf.make_jpeg(root / "nested" / "deeper" / "deep.jpg")
    return root


def test_discover_mixed_tree(tree: Path) -> None:
    rows = discover(tree)
    assert [row.path for row in rows] == sorted(row.path for row in rows)
    found = by_name(rows, tree)
    assert set(found) == {
        "anim.gif",
        "captions.srt",
        "empty.jpg",
        "logo.png",
        "nested/deeper/deep.jpg",
        "nested/pic.webp",
        "noise.bin",
        "photo.jpg",
        "still.gif",
    }
    expect = {
        "anim.gif": ("image/gif", "gif", "tweet_gif"),
        "still.gif": ("image/gif", "image", "tweet_image"),
        "photo.jpg": ("image/jpeg", "image", "tweet_image"),
        "logo.png": ("image/png", "image", "tweet_image"),
        "nested/pic.webp": ("image/webp", "image", "tweet_image"),
        "nested/deeper/deep.jpg": ("image/jpeg", "image", "tweet_image"),
        "captions.srt": ("text/srt", "subtitles", "subtitles"),
    }
    for name, (media_type, kind, category) in expect.items():
        row = found[name]
        assert row.ok, (name, row.problem)
        assert (row.media_type, row.kind, row.category) == (media_type, kind, category), name
        assert row.size == (tree / name).stat().st_size
        assert row.mtime == (tree / name).stat().st_mtime
        assert (row.chunk_size, row.segments) == (DEFAULT_CHUNK, 1)
    assert found["noise.bin"].problem == UNRECOGNIZED
    assert found["noise.bin"].media_type is None and not found["noise.bin"].ok
    assert found["empty.jpg"].problem == "empty file (0 bytes)"
    assert found["empty.jpg"].size == 0


def test_discover_video(tmp_path: Path) -> None:
    mf.make_mp4(tmp_path / "clip.mp4")
    mf.make_mov(tmp_path / "clip.mov")
    rows = by_name(discover(tmp_path), tmp_path)
    assert (rows["clip.mp4"].media_type, rows["clip.mp4"].kind) == ("video/mp4", "video")
    assert rows["clip.mp4"].category == "tweet_video"
    assert rows["clip.mov"].media_type == "video/quicktime"
    assert all(row.ok for row in rows.values())


def test_discover_not_recursive_and_pattern(tree: Path) -> None:
    top = by_name(discover(tree, recursive=False), tree)
    assert "nested/pic.webp" not in top and "nested/deeper/deep.jpg" not in top
    assert "photo.jpg" in top and "nested" not in top  # folders are walked, never rows
    jpegs = by_name(discover(tree, "*.jpg"), tree)
    assert set(jpegs) == {"photo.jpg", "empty.jpg", "nested/deeper/deep.jpg"}
    assert set(by_name(discover(tree, "*.jpg", recursive=False), tree)) == {
        "photo.jpg",
        "empty.jpg",
    }
    assert discover(tree, "*.mp4") == []


def test_discover_empty_folder(tmp_path: Path) -> None:
    assert discover(tmp_path) == []
    (tmp_path / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "sub").mkdir()
    assert discover(tmp_path) == []


def test_discover_missing_folder_and_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(MediaError) as info:
        discover(missing)
    assert str(missing) in str(info.value)
    assert info.value.reason == "no such folder"
    assert info.value.path == str(missing)
    a_file = mf.make_jpeg(tmp_path / "a.jpg")
    with pytest.raises(MediaError, match="not a folder") as info:
        discover(str(a_file))
    assert str(a_file) in str(info.value)


def test_discover_through_symlink_to_folder(tree: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tree)
    rows = discover(link)
    assert len(rows) == 9
    assert all(row.path.is_relative_to(link) for row in rows)


def test_fifo_is_a_row_and_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    mf.make_jpeg(tmp_path / "ok.jpg")
    rows = by_name(within(5, lambda: discover(tmp_path), unblock=fifo), tmp_path)
    assert rows["pipe.jpg"].problem == "not a regular file (FIFO)"
    assert rows["pipe.jpg"].media_type is None
    assert rows["ok.jpg"].ok
    check = within(5, lambda: inspect_file(fifo), unblock=fifo)
    assert check.problem == "not a regular file (FIFO)"


def test_fifo_behind_a_symlink(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "video.mp4").symlink_to(fifo)
    rows = by_name(within(5, lambda: discover(tmp_path), unblock=fifo), tmp_path)
    assert rows["video.mp4"].problem == "not a regular file (FIFO)"


def test_socket_and_device(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    here = Path.cwd()
    os.chdir(tmp_path)  # AF_UNIX paths are limited to ~100 characters
    try:
        sock.bind("s.sock")
    finally:
        os.chdir(here)
        sock.close()
    (tmp_path / "null.png").symlink_to(os.devnull)
    rows = by_name(within(5, lambda: discover(tmp_path)), tmp_path)
    assert rows["s.sock"].problem == "not a regular file (socket)"
    assert rows["null.png"].problem == "not a regular file (character device)"
    assert inspect_file(tmp_path).problem == "not a regular file (folder)"


def test_symlink_loop_folder_ends(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    mf.make_jpeg(tmp_path / "a" / "one.jpg")
    mf.make_png(tmp_path / "top.png")
    (tmp_path / "a" / "link").symlink_to("..")
    (tmp_path / "a" / "self").symlink_to(".")
    rows = by_name(within(5, lambda: discover(tmp_path)), tmp_path)
    assert set(rows) == {"a/one.jpg", "top.png"}


def test_symlinked_folders_walked_once_real_paths_first(tmp_path: Path) -> None:
    (tmp_path / "z" / "inner").mkdir(parents=True)
    mf.make_jpeg(tmp_path / "z" / "inner" / "pic.jpg")
    (tmp_path / "a_first").symlink_to(tmp_path / "z")  # sorts before the real folder
    (tmp_path / "b_second").symlink_to(tmp_path / "z" / "inner")
    (tmp_path / "out").mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    mf.make_png(outside / "far.png")
    (tmp_path / "out" / "ext").symlink_to(outside)
    (tmp_path / "out" / "ext2").symlink_to(outside)
    try:
        rows = by_name(discover(tmp_path), tmp_path)
    finally:
        shutil.rmtree(outside)
    assert set(rows) == {"z/inner/pic.jpg", "out/ext/far.png"}


def test_symlinked_file_followed(tmp_path: Path) -> None:
    target = mf.make_png(tmp_path.parent / f"{tmp_path.name}-t.png")
    (tmp_path / "alias.png").symlink_to(target)
    [row] = discover(tmp_path)
    assert row.path == tmp_path / "alias.png"
    assert row.ok and row.media_type == "image/png"
    assert row.size == target.stat().st_size


def test_broken_symlink_and_eloop(tmp_path: Path) -> None:
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "does-not-exist.jpg")
    (tmp_path / "self.jpg").symlink_to("self.jpg")
    (tmp_path / "ping").symlink_to("pong")
    (tmp_path / "pong").symlink_to("ping")
    rows = by_name(within(5, lambda: discover(tmp_path)), tmp_path)
    assert rows["gone.jpg"].problem == "broken symlink"
    assert rows["self.jpg"].problem == "symlink loop"
    assert rows["ping"].problem == rows["pong"].problem == "symlink loop"
    assert rows["gone.jpg"].size is None and not rows["gone.jpg"].ok
    assert set(by_name(discover(tmp_path, "*.jpg"), tmp_path)) == {"gone.jpg", "self.jpg"}
    assert inspect_file(tmp_path / "self.jpg").problem == "symlink loop"
    assert inspect_file(tmp_path / "gone.jpg").problem == "broken symlink"
    assert inspect_file(tmp_path / "never.jpg").problem == "no such file"


# ---------------------------------------------------------------------------------------------
# categories


@pytest.mark.parametrize(
    ("media_type", "kind", "dm", "category"),
    [
        ("image/jpeg", "image", False, "tweet_image"),
        ("image/png", "image", False, "tweet_image"),
        ("image/webp", "image", False, "tweet_image"),
        ("image/bmp", "image", False, "tweet_image"),
        ("image/tiff", "image", False, "tweet_image"),
        ("image/gif", "image", False, "tweet_image"),
        ("image/gif", "gif", False, "tweet_gif"),
        ("video/mp4", "video", False, "tweet_video"),
        ("video/quicktime", "video", False, "tweet_video"),
        ("video/webm", "video", False, "tweet_video"),
        ("video/mp2t", "video", False, "tweet_video"),
        ("text/srt", "subtitles", False, "subtitles"),
        ("text/vtt", "subtitles", False, "subtitles"),
        ("image/jpeg", "image", True, "dm_image"),
        ("image/gif", "image", True, "dm_image"),
        ("image/gif", "gif", True, "dm_gif"),
        ("video/mp4", "video", True, "dm_video"),
        ("text/vtt", "subtitles", True, "subtitles"),
    ],
)
def test_infer_category(media_type: str, kind: str, dm: bool, category: str) -> None:
    assert infer_category(media_type, kind, dm=dm) == category


def test_infer_category_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        infer_category("image/jpeg", "photo")
    with pytest.raises(ValueError):
        infer_category("image/png", "gif")
    with pytest.raises(ValueError):
        infer_category("video/mp4", "image")


def test_dm_inference_on_files(tree: Path) -> None:
    rows = by_name(discover(tree, dm=True), tree)
    assert rows["anim.gif"].category == "dm_gif"
    assert rows["photo.jpg"].category == "dm_image"
    assert rows["captions.srt"].category == "subtitles"


@pytest.mark.parametrize(
    ("name", "category", "chosen", "problem"),
    [
        ("anim.gif", "tweet_image", "tweet_image", None),  # X takes it (first frame)
        ("anim.gif", "TweetGif", "tweet_gif", None),
        ("anim.gif", "DM_GIF", "dm_gif", None),
        ("still.gif", "tweet_gif", "tweet_gif", None),
        ("photo.jpg", "dm_image", "dm_image", None),
        ("photo.jpg", "tweet_gif", "tweet_gif", "an image cannot be uploaded as tweet_gif"),
        ("photo.jpg", "tweet_video", "tweet_video", "an image cannot be uploaded as tweet_video"),
        (
            "anim.gif",
            "amplify_video",
            "amplify_video",
            "an animated GIF cannot be uploaded as amplify_video",
        ),
        ("still.gif", "subtitles", "subtitles", "a static GIF cannot be uploaded as subtitles"),
        (
            "captions.srt",
            "tweet_image",
            "tweet_image",
            "a subtitle file cannot be uploaded as tweet_image",
        ),
        ("captions.srt", "Subtitles", "subtitles", None),
        ("photo.jpg", "tweet_photo", None, "unknown media category 'tweet_photo'"),
        ("photo.jpg", "auto", "tweet_image", None),
        ("photo.jpg", "AUTO", "tweet_image", None),
    ],
)
def test_explicit_categories(
    tree: Path, name: str, category: str, chosen: str | None, problem: str | None
) -> None:
    check = inspect_file(tree / name, category=category)
    assert check.category == chosen
    assert check.problem == problem
    assert check.ok is (problem is None)
    assert (check.segments is not None) is (problem is None)


def test_video_categories(tmp_path: Path) -> None:
    clip = mf.make_mp4(tmp_path / "clip.mp4")
    check = inspect_file(clip, category="tweet_image")
    assert check.problem == "a video cannot be uploaded as tweet_image"
    assert (check.media_type, check.kind) == ("video/mp4", "video")
    assert inspect_file(clip, category="amplify_video").ok
    assert inspect_file(clip, category="amplify_video").category == "amplify_video"
    assert inspect_file(clip).category == "tweet_video"  # never amplify_video by itself
    assert inspect_file(clip, dm=True).category == "dm_video"
    assert inspect_file(clip, category="tweet_gif").problem == (
        "a video cannot be uploaded as tweet_gif"
    )


# ---------------------------------------------------------------------------------------------
# limits


def test_format_size() -> None:
    assert format_size(0) == "0 bytes"
    assert format_size(1) == "1 byte"
    assert format_size(1023) == "1023 bytes"
    assert format_size(1024) == "1 KB"
    assert format_size(1536) == "1.5 KB"
    assert format_size(MiB - 1) == "1.0 MB"
    assert format_size(5 * MiB) == "5 MB"
    assert format_size(5242880) == "5 MB"
    assert format_size(int(16.8 * MiB)) == "16.8 MB"
    assert format_size(512 * MiB) == "512 MB"
    assert format_size(16 * 1024 * MiB) == "16 GB"


def test_over_limit_messages() -> None:
    assert over_limit_message(int(16.8 * MiB), 15 * MiB, "tweet_gif") == (
        "16.8 MB is over the 15 MB limit for tweet_gif"
    )
    assert over_limit_message(5 * MiB + 1, 5 * MiB, "tweet_image") == (
        "5242881 bytes is over the 5242880-byte limit (5 MB) for tweet_image"
    )
    # 5.04 MB would show as "5.0 MB": exact bytes too
    assert over_limit_message(int(5.04 * MiB), 5 * MiB, "dm_image").startswith("5284823 bytes")
    assert over_limit_message(int(5.06 * MiB), 5 * MiB, "dm_image") == (
        "5.1 MB is over the 5 MB limit for dm_image"
    )


def test_gif_one_byte_over_the_limit(tmp_path: Path) -> None:
    gif = mf.make_big_file(tmp_path / "banner.gif", 15 * MiB + 1, header="gif")
    check = inspect_file(gif, category="tweet_gif")
    assert check.problem == ("15728641 bytes is over the 15728640-byte limit (15 MB) for tweet_gif")
    assert check.category == "tweet_gif" and check.segments is None
    exact = mf.make_big_file(tmp_path / "exact.gif", 15 * MiB, header="gif")
    assert inspect_file(exact, category="tweet_gif").ok
    assert inspect_file(exact, category="tweet_gif").segments == 4


def test_animated_gif_over_the_limit(tmp_path: Path) -> None:
    gif = mf.make_gif(tmp_path / "banner.gif", frames=3)
    with gif.open("r+b") as f:
        f.truncate(int(16.8 * MiB))
    check = inspect_file(gif)
    assert check.kind == "gif" and check.category == "tweet_gif"
    assert check.problem == "16.8 MB is over the 15 MB limit for tweet_gif"
    [row] = discover(tmp_path)
    assert row.problem == check.problem


def test_image_limit_and_premium_override(tmp_path: Path) -> None:
    big = mf.make_big_file(tmp_path / "big.png", 5 * MiB + 1, header="png")
    assert inspect_file(big).problem == (
        "5242881 bytes is over the 5242880-byte limit (5 MB) for tweet_image"
    )
    assert "for dm_image" in (inspect_file(big, dm=True).problem or "")
    roomy = Limits(max_bytes={"tweet_image": 8 * MiB})
    assert inspect_file(big, limits=roomy).ok
    assert discover(tmp_path, limits=roomy)[0].ok


def test_video_sizes_and_chunk_growth(tmp_path: Path) -> None:
    over = mf.make_big_file(tmp_path / "long.mp4", 512 * MiB + 300 * KiB, header="mp4")
    assert inspect_file(over).problem == "512.3 MB is over the 512 MB limit for tweet_video"
    premium = Limits(max_bytes={"tweet_video": 16 * 1024 * MiB})
    big = mf.make_big_file(tmp_path / "premium.mp4", 4000 * MiB + 1, header="mp4")
    check = inspect_file(big, limits=premium)
    assert check.ok
    assert check.chunk_size == 4 * MiB + 64 * KiB
    assert check.segments is not None and check.segments <= 1000
    huge = mf.make_big_file(tmp_path / "huge.mp4", 1000 * MAX_CHUNK + 1, header="mp4")
    assert inspect_file(huge, limits=premium).problem == (
        "too large to upload in 1000 segments of at most 4.9 MB"
    )


# ---------------------------------------------------------------------------------------------
# chunk plans


@pytest.mark.parametrize(
    ("size", "chunk", "plan"),
    [
        (1, DEFAULT_CHUNK, (DEFAULT_CHUNK, 1)),
        (DEFAULT_CHUNK, DEFAULT_CHUNK, (DEFAULT_CHUNK, 1)),
        (DEFAULT_CHUNK + 1, DEFAULT_CHUNK, (DEFAULT_CHUNK, 2)),
        (8 * MiB, DEFAULT_CHUNK, (DEFAULT_CHUNK, 2)),
        (3 * MiB, MiB, (MiB, 3)),
        (3 * MiB + 1, MiB, (MiB, 4)),
        (1000 * DEFAULT_CHUNK, DEFAULT_CHUNK, (DEFAULT_CHUNK, 1000)),  # exactly at the cap
        (1000 * DEFAULT_CHUNK + 1, DEFAULT_CHUNK, (DEFAULT_CHUNK + 64 * KiB, 985)),
        (1000 * MiB + 1, MiB, (MiB + 64 * KiB, 942)),
        # The largest chunk stays 64 KiB under the 5 MiB body cap of X's edge.
        (1000 * MAX_CHUNK, DEFAULT_CHUNK, (MAX_CHUNK, 1000)),  # the largest possible
        (1000 * MAX_CHUNK - 1, DEFAULT_CHUNK, (MAX_CHUNK, 1000)),
        (5 * MiB, MAX_CHUNK, (MAX_CHUNK, 2)),
        (0, DEFAULT_CHUNK, (DEFAULT_CHUNK, 0)),
    ],
)
def test_plan_chunks(size: int, chunk: int, plan: tuple[int, int]) -> None:
    assert plan_chunks(size, chunk) == plan
    chunk_size, segments = plan
    assert segments <= 1000 and chunk_size <= MAX_CHUNK == 5 * MiB - 64 * KiB
    assert chunk_size * segments >= size
    assert size == 0 or chunk_size * (segments - 1) < size


def test_plan_chunks_growth_keeps_limits() -> None:
    for size in range(4000 * MiB + 1, 1000 * MAX_CHUNK, 37 * MiB + 12345):
        chunk_size, segments = plan_chunks(size)
        assert chunk_size % (64 * KiB) == 0 and chunk_size <= MAX_CHUNK
        assert segments <= 1000 and chunk_size * segments >= size


def test_plan_chunks_refusals() -> None:
    with pytest.raises(
        ValueError, match=r"too large to upload in 1000 segments of at most 4\.9 MB"
    ):
        plan_chunks(1000 * MAX_CHUNK + 1)
    with pytest.raises(ValueError, match="too large to upload in 10 segments of at most 1 MB"):
        plan_chunks(10 * MiB + 1, MiB, max_chunk=MiB, max_segments=10)
    assert plan_chunks(10 * MiB, 64 * KiB, max_chunk=MiB, max_segments=10) == (MiB, 10)
    with pytest.raises(ValueError, match="over the"):
        plan_chunks(10, 5 * MiB + 1)
    with pytest.raises(ValueError):
        plan_chunks(10, 0)
    with pytest.raises(ValueError):
        plan_chunks(-1)


def test_inspect_file_bad_chunk_size(tree: Path) -> None:
    with pytest.raises(ConfigurationError):
        inspect_file(tree / "photo.jpg", chunk_size=6 * MiB)
    with pytest.raises(ConfigurationError):
        discover(tree, chunk_size=0)
    check = inspect_file(tree / "photo.jpg", chunk_size=100)
    size = (tree / "photo.jpg").stat().st_size
    assert (check.chunk_size, check.segments) == (100, -(-size // 100))


# ---------------------------------------------------------------------------------------------
# read_chunk


def test_read_chunk_each_index(tmp_path: Path) -> None:
    data = os.urandom(10_000)
    path = tmp_path / "clip.bin"
    path.write_bytes(data)
    st = path.stat()
    pieces = [
        read_chunk(path, i, 3000, expect_size=st.st_size, expect_mtime=st.st_mtime)
        for i in range(4)
    ]
    assert pieces == [data[0:3000], data[3000:6000], data[6000:9000], data[9000:]]
    assert b"".join(pieces) == data
    beyond = read_chunk(str(path), 4, 3000, expect_size=10_000, expect_mtime=None)
    assert beyond == b""


def test_read_chunk_follows_the_plan(tree: Path) -> None:
    check = inspect_file(tree / "anim.gif", chunk_size=256)
    assert check.ok and check.chunk_size == 256 and check.segments is not None
    assert check.size is not None
    chunks = [
        read_chunk(check.path, i, 256, expect_size=check.size, expect_mtime=check.mtime)
        for i in range(check.segments)
    ]
    assert all(len(c) == 256 for c in chunks[:-1]) and 0 < len(chunks[-1]) <= 256
    assert b"".join(chunks) == (tree / "anim.gif").read_bytes()


def test_read_chunk_detects_a_changed_file(tree: Path) -> None:
    path = tree / "photo.jpg"
    check = inspect_file(path)
    assert check.size is not None
    with path.open("ab") as f:
        f.write(b"more")
    with pytest.raises(MediaError) as info:
        read_chunk(path, 0, DEFAULT_CHUNK, expect_size=check.size, expect_mtime=check.mtime)
    assert info.value.reason == (
        f"changed while uploading (size was {check.size}, now {check.size + 4})"
    )
    assert str(path) in str(info.value)


def test_read_chunk_detects_a_touched_file(tree: Path) -> None:
    path = tree / "logo.png"
    check = inspect_file(path)
    assert check.size is not None and check.mtime is not None
    os.utime(path, (check.mtime + 10, check.mtime + 10))
    with pytest.raises(MediaError, match="changed while uploading"):
        read_chunk(path, 0, DEFAULT_CHUNK, expect_size=check.size, expect_mtime=check.mtime)
    # without an mtime to compare, only the size counts
    assert read_chunk(path, 0, DEFAULT_CHUNK, expect_size=check.size, expect_mtime=None)


def test_read_chunk_file_disappeared(tree: Path) -> None:
    path = tree / "photo.jpg"
    check = inspect_file(path)
    assert check.size is not None
    path.unlink()
    with pytest.raises(MediaError, match="file disappeared"):
        read_chunk(path, 0, DEFAULT_CHUNK, expect_size=check.size, expect_mtime=check.mtime)


def test_read_chunk_never_opens_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "swapped.jpg"
    os.mkfifo(fifo)

    def read() -> bytes:
        return read_chunk(fifo, 0, DEFAULT_CHUNK, expect_size=10, expect_mtime=None)

    with pytest.raises(MediaError, match="no longer a regular file"):
        within(5, read, unblock=fifo)


def test_read_chunk_bad_arguments(tree: Path) -> None:
    with pytest.raises(ValueError):
        read_chunk(tree / "photo.jpg", -1, DEFAULT_CHUNK, expect_size=1, expect_mtime=None)
    with pytest.raises(ValueError):
        read_chunk(tree / "photo.jpg", 0, 0, expect_size=1, expect_mtime=None)


# ---------------------------------------------------------------------------------------------
# unreadable files


def _traversable(path: Path) -> bool:
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in [path, *path.parents])


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_unreadable_file_is_permission_denied() -> None:
    base = Path(tempfile.mkdtemp(prefix="mediakit-perm-", dir="/tmp"))
    try:
        base.chmod(0o755)
        if not _traversable(base):
            pytest.skip("no folder an unprivileged user can traverse")
        secret = mf.make_jpeg(base / "secret.jpg")
        secret.chmod(0o000)
        mf.make_png(base / "open.png").chmod(0o644)
        locked = base / "locked"
        locked.mkdir(mode=0o700)
        mf.make_jpeg(locked / "inside.jpg")
        locked.chmod(0o700 if os.geteuid() == 0 else 0o000)
        if os.geteuid() != 0:
            problem = inspect_file(secret).problem
            rows = by_name(discover(base), base)
        else:
            problem, rows = _as_nobody(base, secret)
        assert problem == "permission denied"
        assert rows["secret.jpg"].problem == "permission denied"
        assert rows["secret.jpg"].size == secret.stat().st_size
        assert rows["open.png"].ok
        assert rows["locked"].problem == "folder cannot be read: permission denied"
        assert set(rows) == {"locked", "open.png", "secret.jpg"}
    finally:
        (base / "locked").chmod(0o700)
        shutil.rmtree(base)


def _as_nobody(base: Path, secret: Path) -> tuple[str | None, dict[str, FileCheck]]:
    """inspect_file and discover run by uid/gid 65534 in a forked child; results via a pipe."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() while other threads run; the child only makes
        # syscalls and already-imported calls before os._exit, so it cannot deadlock.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            problem = inspect_file(secret).problem
            found = discover(base)
            lines = [f"{problem}"] + [f"{r.path.name}\t{r.problem}\t{r.size}" for r in found]
            os.write(write_end, "\n".join(lines).encode())
            code = 0
        except BaseException as exc:
            os.write(write_end, f"child failed: {exc!r}".encode())
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        output = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output
    first, *rest = output.split("\n")
    rows: dict[str, FileCheck] = {}
    for line in rest:
        name, row_problem, size = line.split("\t")
        rows[name] = FileCheck(
            base / name,
            size=None if size == "None" else int(size),
            problem=None if row_problem == "None" else row_problem,
        )
    return first, rows
