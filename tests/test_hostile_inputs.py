"""Hostile inputs, gathered in one place: names, links, special files, permissions, content,
files that change while they upload, odd DataFrames, absurd options, broken journals.

Every case checks the same promise: a clear reason on the file's own row (or one error that
names the file or the option), no crash, the other files uploaded, and nothing recorded lost
(the journal says what the result says, and a rerun skips what succeeded). Unit-level checks
of the same cases live beside their code (`test_media.py` for discovery and chunk reads,
`test_api_shape.py` for option checks); here they go through whole batches.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import socket
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import mediakit as mk
from mediakit import ManualClock, ScaledClock
from mediakit._records import Event
from mediakit._retry import RetryPolicy
from mediakit.emulator import Emulator, running

from . import mediafactory as mf
from .unprivileged import as_nobody, needs_root, shared_dir

pytestmark = pytest.mark.reliability

START = 1_800_000_000.0
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(
        clock=ScaledClock(50), seed=13, processing_seconds=(1.0, 3.0), state=tmp_path / "h.sqlite"
    )
    yield emu
    emu.close()


def batch(files: Any, emulator: Emulator, journal: Path | bool, **options: Any) -> mk.UploadResult:
    return mk.upload_files(files, emulator=emulator, progress="none", journal=journal, **options)


def folder_batch(
    folder: Path, emulator: Emulator, journal: Path | bool, **options: Any
) -> mk.UploadResult:
    return mk.upload_folder(folder, emulator=emulator, progress="none", journal=journal, **options)


def row(result: mk.UploadResult, name: str) -> pd.Series:
    """The row of the file called `name` (the last part of its path)."""
    items = result.items
    found = items[[os.path.basename(os.fsdecode(p)) == name for p in items["path_bytes"]]]
    assert len(found) == 1, (name, list(items["path"]))
    return found.iloc[0]


def refused(result: mk.UploadResult, name: str, state: str, *words: str) -> pd.Series:
    """The file's row ended `state` with a reason holding `words`."""
    found = row(result, name)
    assert found["state"] == state, (found["state"], found["error_message"])
    reason = found["error_message"]
    assert isinstance(reason, str) and reason, found
    for word in words:
        assert word in reason, (word, reason)
    return found


def nothing_lost(result: mk.UploadResult, journal: Path) -> None:
    """The journal holds what the result says: states and media ids, file by file."""
    read = mk.open_journal(journal).items.set_index("file_id")
    mine = result.items.set_index("file_id")
    assert list(read["state"]) == list(mine["state"])
    assert read["media_id"].fillna("").tolist() == mine["media_id"].fillna("").tolist()
    assert not result.warnings, result.warnings


def fine(folder: Path) -> Path:
    """A good file beside the hostile one: it must upload whatever happens next to it."""
    return mf.make_png(folder / "fine.png", 12, 9)


# --- names ----------------------------------------------------------------------------------

NAMES = {
    "unicode": "фото 📷 写真.png",
    "combining-accent": "cafe\u0301.png",
    "newline": "two\nlines.png",
    "tab-and-cr": "a\tb\rc.png",
    "quotes-backslash": 'it\'s "quoted" \\ here.png',
    "leading-dash": "-rf.png",
    "spaces": "  spaced  .png",
    "255-bytes": "x" * 251 + ".png",
    "255-bytes-of-utf8": "é" * 125 + "x.png",
    "percent-and-plus": "100% + tax&more=yes?.png",
}


@pytest.mark.parametrize("name", list(NAMES.values()), ids=list(NAMES))
def test_odd_names_upload_and_are_kept_exactly(
    emulator: Emulator, media_dir: Path, tmp_path: Path, name: str
) -> None:
    assert len(os.fsencode(name)) <= 255
    mf.make_png(media_dir / name, 10, 10)
    fine(media_dir)
    journal = tmp_path / "j.sqlite"
    result = folder_batch(media_dir, emulator, journal)
    assert result.counts == {"succeeded": 2}
    assert str(media_dir / name) in result.media_ids  # the exact name, usable with open()
    nothing_lost(result, journal)
    again = folder_batch(media_dir, emulator, journal)
    assert again.counts == {"skipped": 2}  # resume knows the file by its exact name


async def test_a_name_that_is_not_utf8_uploads_and_is_kept_exactly(
    emulator: Emulator, media_dir: Path, tmp_path: Path
) -> None:
    raw = os.fsencode(str(media_dir)) + b"/bad\xff.jpg"
    with open(raw, "wb") as handle:
        handle.write(mf.make_jpeg(tmp_path / "src.jpg").read_bytes())
    mf.make_png(media_dir / "ok.png")
    journal = tmp_path / "j.sqlite"
    for kept in (journal, False):
        result = await mk.upload_folder_async(
            media_dir, emulator=emulator, progress="none", journal=kept, force=True
        )
        assert result.counts == {"succeeded": 2}
        items = result.items
        bad = items[items["path"].str.endswith(".jpg")].iloc[0]
        assert bad["path"].endswith("bad\\xff.jpg")  # readable
        assert bad["path_bytes"] == raw  # exact
        items.to_parquet(tmp_path / "items.parquet")
        back = mk.read_parquet(tmp_path / "items.parquet")
        pd.testing.assert_frame_equal(back, items)
        result.events.to_parquet(tmp_path / "events.parquet")
    assert os.fsdecode(raw) in result.media_ids  # the real name, which open() accepts
    read = mk.open_journal(journal).items
    assert raw in set(read["path_bytes"])
    again = await mk.upload_folder_async(
        media_dir, emulator=emulator, progress="none", journal=journal
    )
    assert again.counts == {"skipped": 2}  # resume recognises the file by its exact name


def test_a_name_too_long_for_the_file_system(emulator: Emulator, media_dir: Path) -> None:
    deep = str(media_dir) + "/" + "d/" * 3000 + "x.png"  # longer than PATH_MAX
    result = batch([deep, fine(media_dir)], emulator, False)
    refused(result, "x.png", "invalid", "File name too long")
    assert row(result, "fine.png")["state"] == "succeeded"


# --- links ----------------------------------------------------------------------------------


def test_a_symlink_to_a_file_uploads_the_file_once(emulator: Emulator, media_dir: Path) -> None:
    photo = fine(media_dir)
    (media_dir / "link.png").symlink_to(photo)
    (media_dir / "relative.png").symlink_to("fine.png")
    result = folder_batch(media_dir, emulator, False)
    assert sorted(result.counts.items()) == [("skipped", 2), ("succeeded", 1)]
    assert result.items["media_id"].nunique() == 1
    assert len(emulator.media) == 1


def test_a_symlink_to_a_folder_is_walked_once(emulator: Emulator, tmp_path: Path) -> None:
    top = tmp_path / "top"
    (top / "real").mkdir(parents=True)
    mf.make_png(top / "real" / "a.png")
    (top / "alias").symlink_to(top / "real")
    (top / "real" / "loop").symlink_to(top)  # a folder that leads back up
    result = folder_batch(top, emulator, False)
    assert result.counts == {"succeeded": 1}
    assert result.items["path"].tolist() == [str(top / "real" / "a.png")]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda d: (d / "dangling.png").symlink_to(d / "gone.png"), "broken symlink"),
        (
            lambda d: [
                (d / "loop_a.png").symlink_to(d / "loop_b.png"),
                (d / "loop_b.png").symlink_to(d / "loop_a.png"),
            ],
            "symlink loop",
        ),
        (lambda d: (d / "self.png").symlink_to(d / "self.png"), "symlink loop"),
    ],
    ids=["dangling", "loop", "self"],
)
def test_bad_symlinks_are_rows_with_a_reason(
    emulator: Emulator, media_dir: Path, make: Callable[[Path], Any], reason: str
) -> None:
    make(media_dir)
    fine(media_dir)
    result = folder_batch(media_dir, emulator, False)
    bad = result.items[result.items["state"] != "succeeded"]
    assert len(bad) >= 1 and set(bad["state"]) == {"invalid"}
    assert all(reason in text for text in bad["error_message"])
    assert row(result, "fine.png")["state"] == "succeeded"


# --- special files: never opened, never a hang ------------------------------------------------


def _fifo(d: Path) -> Path:
    os.mkfifo(d / "pipe.mp4")
    return d / "pipe.mp4"


def _socket(d: Path) -> Path:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(d / "sock.png"))
    server.close()
    return d / "sock.png"


def _char_device(d: Path) -> Path:
    if os.geteuid() == 0:
        os.mknod(d / "null.png", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    else:
        (d / "null.png").symlink_to("/dev/null")
    return d / "null.png"


def _block_device(d: Path) -> Path:
    if os.geteuid() != 0:
        needs_root("making a block device node needs root")
    os.mknod(d / "disk.mp4", stat.S_IFBLK | 0o600, os.makedev(7, 0))
    return d / "disk.mp4"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_fifo, "not a regular file (FIFO)"),
        (_socket, "not a regular file (socket)"),
        (_char_device, "not a regular file (character device)"),
        (_block_device, "not a regular file (block device)"),
    ],
    ids=["fifo", "socket", "char-device", "block-device"],
)
def test_special_files_are_invalid_and_never_opened(
    emulator: Emulator, media_dir: Path, make: Callable[[Path], Path], reason: str
) -> None:
    special = make(media_dir)
    fine(media_dir)
    for result in (
        folder_batch(media_dir, emulator, False),
        batch([special, media_dir / "fine.png"], emulator, False),
    ):
        refused(result, special.name, "invalid", reason)
        assert row(result, "fine.png")["state"] == "succeeded"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/dev/zero", "not a regular file (character device)"),  # an endless read, if opened
        ("/dev/urandom", "not a regular file (character device)"),
        ("/proc/self/status", "empty file (0 bytes)"),  # says 0 bytes, yet has content
    ],
)
def test_system_files_given_as_paths(
    emulator: Emulator, media_dir: Path, path: str, reason: str
) -> None:
    result = batch([path, fine(media_dir)], emulator, False)
    refused(result, os.path.basename(path), "invalid", reason)
    assert row(result, "fine.png")["state"] == "succeeded"


# --- permissions: only mean something to another user, so these run as nobody ---------------


@pytest.fixture
def nobody_folder(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(a media folder nobody can use, a folder for nobody's journal and emulator state)."""
    base = shared_dir()
    media = base / "media"
    media.mkdir(mode=0o777)
    media.chmod(0o777)
    work = base / "work"
    work.mkdir(mode=0o777)
    work.chmod(0o777)
    # Every import the child needs, done here as root (nobody cannot read the install).
    warm_dir = tmp_path / "warm"
    warm_dir.mkdir()
    with Emulator(clock=ManualClock(START), state=tmp_path / "warm.sqlite") as warm:
        result = mk.upload_folder(warm_dir, emulator=warm, progress="none", journal=False)
        mf.make_png(warm_dir / "w.png")
        assert mk.upload_folder(warm_dir, emulator=warm, progress="none", journal=False).ok
        del result
    yield media, work
    shutil.rmtree(base, ignore_errors=True)


def upload_as_nobody(folder: Path, work: Path, **options: Any) -> list[list[str]]:
    def run() -> list[list[str]]:
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")
        with Emulator(clock=ManualClock(START), state=work / "state.sqlite") as emu:
            result = mk.upload_folder(folder, emulator=emu, progress="none", **options)
        return result.items[["path", "state", "error_message"]].astype(str).values.tolist()

    return as_nobody(run)


def test_an_unreadable_file(nobody_folder: tuple[Path, Path]) -> None:
    media, work = nobody_folder
    mf.make_png(media / "ok.png").chmod(0o644)
    mf.make_png(media / "locked.png").chmod(0o000)
    rows = {Path(p).name: (s, e) for p, s, e in upload_as_nobody(media, work)}
    assert rows["ok.png"][0] == "succeeded"
    assert rows["locked.png"][0] == "invalid" and "permission denied" in rows["locked.png"][1]


def test_an_unreadable_folder_inside(nobody_folder: tuple[Path, Path]) -> None:
    media, work = nobody_folder
    mf.make_png(media / "ok.png").chmod(0o644)
    (media / "private").mkdir()
    mf.make_png(media / "private" / "hidden.png")
    (media / "private").chmod(0o000)
    rows = {Path(p).name: (s, e) for p, s, e in upload_as_nobody(media, work)}
    assert rows["ok.png"][0] == "succeeded"
    state, reason = rows["private"]
    assert state == "invalid" and reason == "folder cannot be read: permission denied"


def test_a_folder_nobody_may_enter(nobody_folder: tuple[Path, Path]) -> None:
    media, work = nobody_folder
    locked = media / "locked"
    locked.mkdir()
    mf.make_png(locked / "a.png")
    locked.chmod(0o000)

    def run() -> str:
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")
        try:
            mk.upload_folder(locked, progress="none", journal=False)
        except mk.MediaError as error:
            return str(error)
        return "uploaded"

    assert as_nobody(run) == f"{locked}: permission denied"


def test_a_file_made_unreadable_mid_batch(nobody_folder: tuple[Path, Path]) -> None:
    import threading
    import time

    media, work = nobody_folder
    for i, side in enumerate((30, 20, 10)):  # the biggest first: p2 goes last
        mf.make_png(media / f"p{i}.png", side, side).chmod(0o644)
    flag = work / "first-done"
    locked = threading.Event()

    def lock_p2_when_told() -> None:  # root's side: only the owner can take the right away
        while not flag.exists() and not locked.is_set():
            time.sleep(0.005)
        (media / "p2.png").chmod(0o000)
        locked.set()

    def run() -> list[list[str]]:
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")

        def first_done(event: Event) -> None:
            if event.command == "FINALIZE" and event.ok and not flag.exists():
                flag.touch()
                while (media / "p2.png").stat().st_mode & 0o444:  # until root locked it
                    time.sleep(0.005)

        with Emulator(clock=ManualClock(START), state=work / "state.sqlite") as emu:
            result = mk.upload_folder(
                media, emulator=emu, progress="none", concurrency=1, on_event=first_done
            )
        return result.items[["path", "state", "error_message"]].astype(str).values.tolist()

    thread = threading.Thread(target=lock_p2_when_told, daemon=True)
    thread.start()
    try:
        rows = {Path(p).name: (s, e) for p, s, e in as_nobody(run)}
    finally:
        locked.set()
        thread.join(timeout=10)
    assert rows["p0.png"][0] == "succeeded" and rows["p1.png"][0] == "succeeded"
    assert rows["p2.png"] == ("invalid", "permission denied")


# --- content ----------------------------------------------------------------------------------


def test_a_zero_byte_file(emulator: Emulator, media_dir: Path, tmp_path: Path) -> None:
    (media_dir / "empty.jpg").write_bytes(b"")
    fine(media_dir)
    journal = tmp_path / "j.sqlite"
    result = folder_batch(media_dir, emulator, journal)
    refused(result, "empty.jpg", "invalid", "empty file (0 bytes)")
    nothing_lost(result, journal)


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("notes.jpg", lambda p: p.write_text("not a picture\n" * 50), "unrecognized media type"),
        ("noise.gif", lambda p: mf.make_noise(p, 5000), "unrecognized media type"),
        ("html.png", lambda p: p.write_text("<html><body>404</body></html>"), "unrecognized"),
        (
            "huge.png",
            lambda p: mf.make_big_file(p, 6 * 2**20, header="png"),
            "over the 5 MB limit for tweet_image",
        ),
        (
            "huge.mp4",
            lambda p: mf.make_big_file(p, 600 * 2**20, header="mp4"),
            "over the 512 MB limit for tweet_video",
        ),
    ],
    ids=["text-as-jpg", "noise-as-gif", "html-as-png", "image-over-limit", "video-over-limit"],
)
def test_content_that_is_not_what_x_takes(
    emulator: Emulator, media_dir: Path, tmp_path: Path, name: str, make: Any, reason: str
) -> None:
    make(media_dir / name)
    fine(media_dir)
    journal = tmp_path / "j.sqlite"
    result = folder_batch(media_dir, emulator, journal)
    refused(result, name, "invalid", reason)
    assert row(result, "fine.png")["state"] == "succeeded"
    assert len(emulator.media) == 1  # nothing was sent for it
    nothing_lost(result, journal)


@pytest.mark.parametrize(
    ("name", "make", "category"),
    [
        ("photo.mp4", lambda p: mf.make_png(p, 20, 20), "tweet_image"),
        ("clip.jpg", lambda p: mf.make_mp4(p, seconds=1.0), "tweet_video"),
        ("anim.png", lambda p: mf.make_gif(p, frames=3), "tweet_gif"),
    ],
    ids=["png-named-mp4", "mp4-named-jpg", "gif-named-png"],
)
def test_lying_extensions_go_by_the_content(
    emulator: Emulator, media_dir: Path, name: str, make: Any, category: str
) -> None:
    if category == "tweet_video":
        pytest.importorskip("av")
    make(media_dir / name)
    result = folder_batch(media_dir, emulator, False)
    found = row(result, name)
    assert found["state"] == "succeeded", found["error_message"]
    assert found["media_category"] == category


@pytest.mark.parametrize("kind", ["jpeg", "png", "gif", "mp4"])
def test_truncated_media_ends_in_one_state_with_a_reason(
    emulator: Emulator, media_dir: Path, tmp_path: Path, kind: str
) -> None:
    if kind == "mp4":
        pytest.importorskip("av")
    makers = {
        "jpeg": lambda p: mf.make_jpeg(p, 200, 150),
        "png": lambda p: mf.make_png(p, 200, 150),
        "gif": lambda p: mf.make_gif(p, frames=6),
        "mp4": lambda p: mf.make_mp4(p, seconds=2.0),
    }
    whole = makers[kind](tmp_path / f"whole.{kind}")
    mf.copy_truncated(whole, media_dir / f"cut.{kind}", whole.stat().st_size // 2)
    fine(media_dir)
    journal = tmp_path / "j.sqlite"
    result = folder_batch(media_dir, emulator, journal)
    found = row(result, f"cut.{kind}")
    # X may take a cut file (its bytes still sniff right) or refuse it; either way it ends
    # in one final state, and with a reason when it is not a success.
    assert found["state"] in ("succeeded", "failed", "invalid")
    if found["state"] != "succeeded":
        assert found["error_message"]
    assert row(result, "fine.png")["state"] == "succeeded"
    nothing_lost(result, journal)


# --- files that change while they upload ------------------------------------------------------


def change_after_first_segment(
    path: Path, change: Callable[[Path], None]
) -> Callable[[Event], None]:
    """An `on_event` that changes `path` once its first APPEND was acknowledged."""
    done: list[bool] = []

    def hook(event: Event) -> None:
        if (
            not done
            and event.command == "APPEND"
            and event.ok
            and event.path is not None
            and Path(event.path).name == path.name
        ):
            done.append(True)
            change(path)

    return hook


def _grow(p: Path) -> None:
    with open(p, "ab") as handle:
        handle.write(b"more bytes")


def _shrink(p: Path) -> None:
    with open(p, "r+b") as handle:
        handle.truncate(p.stat().st_size - 1000)


def _vanish(p: Path) -> None:
    p.unlink()


def _replace_same_size_and_mtime(p: Path) -> None:
    """Another file renamed over it, with the same size and modification time."""
    before = p.stat()
    other = p.with_name("other.tmp")
    other.write_bytes(b"\x00" * before.st_size)
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(other, p)


def _touch(p: Path) -> None:
    os.utime(p, (p.stat().st_atime, p.stat().st_mtime + 5))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_grow, "changed while uploading (size was"),
        (_shrink, "changed while uploading (size was"),
        (_vanish, "file disappeared"),
        (_replace_same_size_and_mtime, "changed while uploading (replaced by another file)"),
        (_touch, "changed while uploading (modified since it was inspected)"),
    ],
    ids=["grows", "shrinks", "vanishes", "replaced", "touched"],
)
def test_a_file_that_changes_while_it_uploads(
    emulator: Emulator, media_dir: Path, tmp_path: Path, change: Any, reason: str
) -> None:
    path = mf.make_big_file(media_dir / "clip.mp4", 40 * 64 * 1024, header="mp4")
    fine(media_dir)
    journal = tmp_path / "j.sqlite"
    result = folder_batch(
        media_dir,
        emulator,
        journal,
        chunk_size=64 * 1024,
        segment_concurrency=1,
        on_event=change_after_first_segment(path, change),
    )
    found = refused(result, "clip.mp4", "failed", reason)
    assert found["media_id"]  # the session it started is on the row
    assert row(result, "fine.png")["state"] == "succeeded"
    nothing_lost(result, journal)


def test_a_folder_deleted_mid_batch_sends_no_init_for_the_files_gone(
    tmp_path: Path, media_dir: Path
) -> None:
    for i in range(20):
        mf.make_png(media_dir / f"p{i:02}.png", 10 + i, 10)
    emu = Emulator(clock=ManualClock(START), state=tmp_path / "gone.sqlite")

    def delete_the_folder_after_the_first_file(event: Event) -> None:
        if event.command == "FINALIZE" and event.ok and media_dir.exists():
            shutil.rmtree(media_dir)

    journal = tmp_path / "j.sqlite"
    with emu:
        result = folder_batch(
            media_dir,
            emu,
            journal,
            concurrency=1,
            on_event=delete_the_folder_after_the_first_file,
        )
        inits = [r for r in emu.requests if r.command == "INIT"]
    assert result.counts == {"succeeded": 1, "invalid": 19}
    assert len(inits) == 1  # no INIT for a file that was already gone: no orphan sessions
    gone = result.items[result.items["state"] == "invalid"]
    assert all("no such file" in reason for reason in gone["error_message"]), gone
    nothing_lost(result, journal)


def test_a_sub_folder_replaced_by_a_file_mid_batch(emulator: Emulator, tmp_path: Path) -> None:
    top = tmp_path / "top"
    (top / "sub").mkdir(parents=True)
    mf.make_png(top / "a_first.png", 40, 40)
    for i in range(3):
        mf.make_png(top / "sub" / f"s{i}.png", 10 + i, 10)

    def swap(event: Event) -> None:
        if event.command == "FINALIZE" and event.ok and (top / "sub").is_dir():
            shutil.rmtree(top / "sub")
            (top / "sub").write_text("now a file")

    result = folder_batch(top, emulator, False, concurrency=1, on_event=swap)
    assert result.counts == {"succeeded": 1, "invalid": 3}
    gone = result.items[result.items["state"] == "invalid"]
    assert all(reason for reason in gone["error_message"])


# --- what a batch is given --------------------------------------------------------------------


async def test_bad_path_values_are_invalid_rows_and_the_rest_upload(
    emulator: Emulator, media_dir: Path
) -> None:
    good = mf.make_jpeg(media_dir / "good.jpg")
    frame = pd.DataFrame(
        {
            "path": [str(good), None, math.nan, 42, b"a.jpg", "a\x00b.jpg", "", str(good) + "x"],
            "campaign": list("abcdefgh"),
        },
        dtype=object,
    )
    result = await mk.upload_files_async(frame, emulator=emulator, progress="none", journal=False)
    items = result.items
    assert items["state"].tolist() == ["succeeded", *["invalid"] * 7]
    reasons = items["error_message"].tolist()
    assert "missing" in reasons[1] and "missing" in reasons[2]
    assert "must be text, not int 42" in reasons[3]
    assert "bytes" in reasons[4] and "os.fsdecode" in reasons[4]
    assert "NUL byte" in reasons[5]
    assert "empty" in reasons[6]
    assert "no such file" in reasons[7]
    assert items["campaign"].tolist() == list("abcdefgh")  # every row kept its columns
    plan = mk.plan(frame)
    assert plan.files["ok"].tolist() == [True, *[False] * 7]


async def test_the_same_file_given_twice_uploads_once(emulator: Emulator, media_dir: Path) -> None:
    photo = mf.make_jpeg(media_dir / "photo.jpg")
    (media_dir / "link.jpg").symlink_to(photo)
    os.link(photo, media_dir / "hard.jpg")
    result = await mk.upload_files_async(
        [photo, str(photo), media_dir / "link.jpg", media_dir / "hard.jpg"],
        emulator=emulator,
        progress="none",
        journal=False,
    )
    items = result.items
    assert items["state"].tolist() == ["succeeded", "skipped", "skipped", "skipped"]
    assert items["media_id"].nunique() == 1
    assert items["error_message"].tolist()[1:] == ["same file as row 0"] * 3
    assert len(emulator.media) == 1
    folder = await mk.upload_folder_async(
        media_dir, emulator=emulator, progress="none", journal=False
    )
    assert sorted(folder.counts.items()) == [("skipped", 2), ("succeeded", 1)]


async def test_a_copy_of_a_file_that_failed_ends_as_it_did(
    emulator: Emulator, media_dir: Path
) -> None:
    pytest.importorskip("av")
    clip = mf.make_mp4(media_dir / "clip.mp4", seconds=1.0)
    failing = Emulator(
        clock=emulator.clock, processing_seconds=1.0, processing_failure_rate=1.0, seed=1
    )
    with failing:
        result = await mk.upload_files_async(
            [clip, clip], emulator=failing, progress="none", journal=False
        )
    items = result.items
    assert items["state"].tolist() == ["failed", "failed"]
    assert items["error_message"].iloc[1].startswith("same file as row 0, which ended failed")
    assert len(failing.requests) > 0


@pytest.mark.parametrize(
    ("frame", "error", "words"),
    [
        (
            lambda: pd.DataFrame([["a.jpg", "b.jpg"]], columns=["path", "path"]),
            mk.ConfigurationError,
            "exactly one 'path' column (it has 2)",
        ),
        (lambda: pd.DataFrame({"file": ["a.jpg"]}), mk.ConfigurationError, "'path' column"),
        (
            lambda: pd.DataFrame([["a.jpg", 1, 2]], columns=["path", "x", "x"]),
            mk.ConfigurationError,
            "columns named twice: ['x']",
        ),
        (lambda: 42, mk.ConfigurationTypeError, "files must be paths"),
        (lambda: b"a.jpg", mk.ConfigurationTypeError, "files must be paths"),
    ],
    ids=["two-path-columns", "no-path-column", "a-column-twice", "a-number", "bytes"],
)
def test_input_that_is_not_files_is_refused_at_the_call(
    emulator: Emulator, frame: Callable[[], Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as caught:
        batch(frame(), emulator, False)
    assert words in str(caught.value)
    assert emulator.requests == []


def test_a_frame_with_odd_columns_and_values(emulator: Emulator, media_dir: Path) -> None:
    a, b, c = (mf.make_png(media_dir / f"{n}.png", 10 + i, 10) for i, n in enumerate("abc"))
    frame = pd.DataFrame(
        {
            "path": [str(a), str(b), str(c)],
            0: ["int", "column", "name"],  # not a string
            "alt_text": [math.nan, "x" * 5000, "fine alt text"],
            "category": [None, None, "tweet_photo"],
        }
    )
    result = batch(frame, emulator, False)
    items = result.items
    assert items["state"].tolist() == ["succeeded", "failed", "invalid"]
    assert items["0"].tolist() == ["int", "column", "name"]  # carried through as text
    too_long = items.loc[1, "error_message"]
    assert "uploaded, but setting the alt text failed" in too_long
    assert "longer than 1000 characters" in too_long
    assert items.loc[1, "media_id"]  # the upload itself is kept
    assert "unknown media category 'tweet_photo'" in items.loc[2, "error_message"]


@pytest.mark.parametrize(
    "files",
    [pd.DataFrame({"path": []}), [], pd.Series([], dtype=object)],
    ids=["empty-frame", "empty-list", "empty-series"],
)
def test_nothing_to_upload(emulator: Emulator, files: Any) -> None:
    result = batch(files, emulator, False)
    assert result.counts == {} and result.summary().startswith("no media files")
    assert emulator.requests == []


def test_paths_from_a_generator_and_a_series(emulator: Emulator, media_dir: Path) -> None:
    paths = [mf.make_png(media_dir / f"g{i}.png", 10 + i, 10) for i in range(3)]
    assert batch((p for p in paths), emulator, False).counts == {"succeeded": 3}
    assert batch(pd.Series([str(p) for p in paths]), emulator, False, force=True).ok


# --- absurd options ---------------------------------------------------------------------------


def test_concurrency_far_beyond_the_files(emulator: Emulator, media_dir: Path) -> None:
    for i in range(5):
        mf.make_png(media_dir / f"p{i}.png", 10 + i, 10)
    result = folder_batch(media_dir, emulator, False, concurrency=10_000, segment_concurrency=1000)
    assert result.counts == {"succeeded": 5}


def test_one_byte_chunks(emulator: Emulator, media_dir: Path) -> None:
    photo = mf.make_png(media_dir / "p.png", 8, 8)
    result = folder_batch(media_dir, emulator, False, chunk_size=1)
    assert result.ok
    appends = result.events[result.events["command"] == "APPEND"]
    assert len(appends) == photo.stat().st_size  # one byte each, as asked, and it works


def test_a_status_deadline_nothing_can_meet(emulator: Emulator, media_dir: Path) -> None:
    pytest.importorskip("av")
    mf.make_mp4(media_dir / "clip.mp4", seconds=1.0)
    fine(media_dir)
    result = folder_batch(media_dir, emulator, False, status_deadline_s=1e-6)
    refused(result, "clip.mp4", "failed", "processing did not finish within 0 s")
    assert row(result, "fine.png")["state"] == "succeeded"  # no processing: no deadline


def test_a_request_timeout_nothing_can_meet(tmp_path: Path, media_dir: Path) -> None:
    fine(media_dir)
    with (
        Emulator(state=tmp_path / "t.sqlite", latency=0.2) as emu,
        running(emu) as url,
        pytest.raises(mk.TransportError) as caught,
    ):
        mk.upload_folder(
            media_dir, base_url=url, progress="none", journal=False, request_timeout=0.001
        )
    error = caught.value
    assert "cannot reach" in error.message and url in error.message
    assert error.result.counts == {"failed": 1}  # every file final, with the reason


def test_a_single_attempt_under_faults(emulator: Emulator, tmp_path: Path, media_dir: Path) -> None:
    for i in range(12):
        mf.make_png(media_dir / f"p{i:02}.png", 10 + i, 10)
    faulty = Emulator(
        clock=emulator.clock, faults={"APPEND": {503: 0.5}}, seed=3, state=tmp_path / "f.sqlite"
    )
    with faulty:
        result = folder_batch(media_dir, faulty, False, retry=RetryPolicy(max_attempts=1))
    failed = result.items[result.items["state"] == "failed"]
    assert len(failed) and len(failed) < 12
    assert all("Service Unavailable" in reason for reason in failed["error_message"])


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda tmp: mk.upload_folder(tmp / "missing", progress="none"), "no such folder"),
        (
            lambda tmp: mk.upload_folder(mf.make_png(tmp / "a.png"), progress="none"),
            "not a folder",
        ),
    ],
    ids=["missing-folder", "a-file-as-folder"],
)
def test_a_folder_that_is_not_one(tmp_path: Path, call: Any, words: str) -> None:
    with pytest.raises(mk.MediaError) as caught:
        call(tmp_path)
    assert words in str(caught.value) and str(tmp_path) in str(caught.value)


def test_a_pattern_that_matches_nothing(emulator: Emulator, media_dir: Path) -> None:
    fine(media_dir)
    result = folder_batch(media_dir, emulator, False, pattern="*.mov")
    assert result.counts == {} and emulator.requests == []


# --- journals: not a journal, damaged, read-only, on a full disk (issue #13, "Found") ----------------------


def make_journal(path: Path, media_dir: Path, tmp_path: Path) -> list[str]:
    """A real journal of one batch of three images; the media ids it holds."""
    for i in range(3):
        mf.make_png(media_dir / f"j{i}.png", 10 + i, 10)
    with Emulator(clock=ManualClock(START), state=tmp_path / "journal-emu.sqlite") as emu:
        result = mk.upload_folder(media_dir, emulator=emu, progress="none", journal=path)
    assert result.ok
    return sorted(result.media_ids.values())


def test_a_read_only_journal_still_opens_for_reading(tmp_path: Path, media_dir: Path) -> None:
    base = shared_dir()
    journal = base / "folder" / "journal.sqlite"
    media_dir = base / "media"
    media_dir.mkdir(mode=0o755)
    media_ids = make_journal(journal, media_dir, tmp_path)
    assert len(mk.open_journal(journal).items) == 3  # every import the child needs, as root
    journal.chmod(0o444)

    def read() -> list[str]:
        return sorted(mk.open_journal(journal).items["media_id"])

    assert as_nobody(read) == media_ids  # the file read-only, its folder writable
    journal.parent.chmod(0o555)
    assert as_nobody(read) == media_ids  # the folder read-only too: nothing can be created

    # An upload needs to write its journal: one clear error before anything is sent.
    def upload() -> str:
        with Emulator(clock=ManualClock(START), state=base / "up.sqlite") as emu:
            try:
                mk.upload_folder(media_dir, emulator=emu, progress="none", journal=journal)
            except mk.JournalError as error:
                return f"{error}|{len(emu.requests)}"
        return "uploaded"

    message, sent = as_nobody(upload).rsplit("|", 1)
    assert message.startswith(f"journal {journal}: is read-only")
    assert "journal=False" in message and "mk.open_journal reads it" in message
    assert sent == "0"


def corrupt(path: Path) -> Path:
    with open(path, "r+b") as handle:  # page 1 after its header: the schema is unreadable
        handle.seek(100)
        handle.write(bytes(range(256)) * 16)
    return path


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p, m, t: p.write_text("campaign notes, not a journal\n"), "not a SQLite database"),
        (lambda p, m, t: p.write_bytes(bytes(range(256)) * 64), "not a SQLite database"),
        (lambda p, m, t: p.mkdir(), "is a folder, not a journal file"),
        (
            lambda p, m, t: __import__("sqlite3").connect(p).execute("CREATE TABLE photos (x)"),
            "a SQLite database but not a mediakit journal (its tables: photos)",
        ),
        (lambda p, m, t: corrupt(p) if make_journal(p, m, t) else None, "is damaged"),
    ],
    ids=["text", "random-bytes", "folder", "other-sqlite", "damaged"],
)
def test_a_file_that_is_not_a_usable_journal_is_named_and_explained(
    tmp_path: Path, media_dir: Path, make: Any, words: str
) -> None:
    journal = tmp_path / "journal.sqlite"
    make(journal, media_dir, tmp_path)
    mf.make_png(media_dir / "new.png")
    with Emulator(clock=ManualClock(START), state=tmp_path / "e.sqlite") as emu:
        with pytest.raises(mk.JournalError) as upload_error:
            mk.upload_folder(media_dir, emulator=emu, progress="none", journal=journal)
        assert emu.requests == []  # refused before anything was sent
    with pytest.raises(mk.JournalError) as read_error:
        mk.open_journal(journal)
    for error in (upload_error.value, read_error.value):
        assert str(error).startswith(f"journal {journal}: ")
        assert words in str(error)
        assert "journal=" in str(error) or "move it aside" in str(error)  # what to do
        assert error.path == str(journal)


# --- the journal's disk fills up mid-batch: nothing X acknowledged is lost silently -----------


@contextmanager
def small_disk(where: Path, size: str) -> Iterator[Callable[[str], None]]:
    """A real file system of `size` (tmpfs) at `where`; yields a function that resizes it."""
    import subprocess

    where.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mount.returncode != 0:
        needs_root(
            f"cannot mount a small tmpfs here ({mount.stderr.strip()}); the same case "
            "runs without privileges in test_a_journal_that_hits_its_file_size_limit"
        )

    def resize(new: str) -> None:
        subprocess.run(
            ["mount", "-o", f"remount,size={new}", str(where)], check=True, capture_output=True
        )

    try:
        yield resize
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def journal_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "mediakit" and r.levelname == "WARNING" and "journal" in r.getMessage()
    ]


def check_nothing_lost(
    result: mk.UploadResult, journal: Path, emu: Emulator
) -> tuple[set[str], set[str]]:
    """Every media id X finalized is journaled as succeeded, or named in a warning.

    Returns (paths journaled as succeeded, paths named as not journaled)."""
    finalized = {m.media_id for m in emu.media if m.state == "ready"}
    by_id = {r.media_id: r.path for r in result.records if r.media_id}
    assert finalized <= set(by_id)  # every finalized id belongs to a file of the result
    read = mk.open_journal(journal).items
    journaled = set(read.loc[read["state"] == "succeeded", "path"])
    named = set(result.not_journaled["path"])
    shown = [path for path in named if any(path in w for w in result.warnings)]
    assert len(shown) == min(10, len(named))  # the warning names them (the first ten)
    for media_id in finalized:
        assert by_id[media_id] in journaled | named, (media_id, by_id[media_id])
    return journaled, named


def test_a_full_disk_under_the_journal_loses_nothing_silently(
    tmp_path: Path, media_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(40):
        mf.make_png(media_dir / f"p{i:02}.png", 10 + i, 10)
    caplog.set_level(logging.INFO, logger="mediakit")
    with (
        small_disk(tmp_path / "disk", "1m") as resize,
        Emulator(clock=ScaledClock(50), state=tmp_path / "emu.sqlite") as emu,
    ):
        journal = tmp_path / "disk" / "journal.sqlite"
        # Four at once, so files succeed while the journal still has room (all 40 at once
        # would journal every file's start before any success, then fill).
        result = mk.upload_folder(
            media_dir, emulator=emu, progress="none", journal=journal, concurrency=4
        )
        # The batch finished and returned its result, whatever the journal could write.
        assert result.counts == {"succeeded": 40}
        assert len(journal_warnings(caplog)) == 1  # warned once, not once per write
        assert len(result.warnings) == 1
        warning = result.warnings[0]
        assert warning.startswith(f"journal {journal}: cannot be written: the disk is full")
        assert "not journaled" in warning
        assert "1 warning (see result.warnings)" in result.summary()
        journaled, named = check_nothing_lost(result, journal, emu)
        assert named and journaled  # the disk filled mid-batch
        # With room again, a rerun skips what the journal recorded and uploads only the rest.
        resize("16m")
        again = mk.upload_folder(media_dir, emulator=emu, progress="none", journal=journal)
    items = again.items.set_index("path")
    assert set(items.loc[sorted(journaled), "state"]) == {"skipped"}
    rest = items.loc[sorted(set(items.index) - journaled)]
    assert set(rest["state"]) == {"succeeded"}, rest[["state", "error_message"]].to_string()


def test_room_again_mid_batch_journals_everything_kept_in_memory(
    tmp_path: Path, media_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(40):
        mf.make_png(media_dir / f"p{i:02}.png", 10 + i, 10)
    with (
        small_disk(tmp_path / "disk", "192k") as resize,
        Emulator(clock=ScaledClock(50), state=tmp_path / "emu.sqlite") as emu,
    ):

        class MakeRoom(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.levelno == logging.WARNING and "journal" in record.getMessage():
                    resize("16m")  # the user freed some space

        handler = MakeRoom()
        logging.getLogger("mediakit").addHandler(handler)
        try:
            journal = tmp_path / "disk" / "journal.sqlite"
            result = mk.upload_folder(media_dir, emulator=emu, progress="none", journal=journal)
        finally:
            logging.getLogger("mediakit").removeHandler(handler)
        assert result.counts == {"succeeded": 40}
        assert result.warnings == []  # the retried writes got everything in
        again = mk.upload_folder(media_dir, emulator=emu, progress="none", journal=journal)
    assert again.counts == {"skipped": 40}


FILE_SIZE_LIMITED = """
import json, resource, signal, sys
import mediakit as mk
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
limit = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
# Four at once, so files succeed before the journal reaches its limit (see the full-disk test).
result = mk.upload_folder(
    sys.argv[1], base_url=sys.argv[2], journal=sys.argv[4], progress="none", concurrency=4
)
print(json.dumps({
    "counts": result.counts,
    "warnings": result.warnings,
    "summary": result.summary(),
    "not_journaled": list(result.not_journaled["path"]),
    "media_ids": {r.path: r.media_id for r in result.records},
}))
"""


def test_a_journal_that_hits_its_file_size_limit(tmp_path: Path, media_dir: Path) -> None:
    """The full-disk case without privileges: the uploading process may not grow any file
    past 512 KiB (RLIMIT_FSIZE), so its journal's writes start failing mid-batch."""
    import json
    import os
    import subprocess
    import sys

    for i in range(40):
        mf.make_png(media_dir / f"p{i:02}.png", 10 + i, 10)
    journal = tmp_path / "journal.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with Emulator(state=tmp_path / "emu.sqlite") as emu, running(emu) as url:
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                FILE_SIZE_LIMITED,
                str(media_dir),
                url,
                str(512 * 1024),
                str(journal),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert child.returncode == 0, child.stderr
        out = json.loads(child.stdout.strip().splitlines()[-1])
        assert out["counts"] == {"succeeded": 40}
        assert len(out["warnings"]) == 1 and f"journal {journal}: " in out["warnings"][0]
        assert child.stderr.count("the batch goes on") == 1  # warned once
        finalized = {m.media_id for m in emu.media if m.state == "ready"}
    read = mk.open_journal(journal).items
    journaled = set(read.loc[read["state"] == "succeeded", "path"])
    named = set(out["not_journaled"])
    assert journaled and named  # the limit was hit mid-batch
    by_id = {media_id: path for path, media_id in out["media_ids"].items()}
    assert all(by_id[m] in journaled | named for m in finalized)
