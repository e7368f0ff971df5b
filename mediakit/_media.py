"""The local side of an upload: which files, what they are, and how they will be chunked.

`discover` walks a folder into one `FileCheck` per file; `inspect_file` judges one file (type,
kind, media category, size limit, chunk plan) without decoding it; `plan_chunks` splits a size
into APPEND segments; `read_chunk` reads one segment back, and refuses if the file changed
since it was inspected. Types come from the one content detector (`_detect`), limits from the
one limits table (`_limits`), so what is flagged here is what the emulator refuses.

Sizes are shown as X documents its limits: "MB" is 2**20 bytes (X's "5 MB" image limit is
5242880 bytes), "KB" 2**10, "GB" 2**30, with one decimal unless the value is whole ("16.8 MB",
"15 MB"). When a size over a limit would display as no larger than the limit ("5.0 MB" over
"5 MB"), both are given in exact bytes: "5242881 bytes is over the 5242880-byte limit (5 MB)
for tweet_image".

Special files (FIFOs, sockets, devices) are never opened: opening a FIFO blocks until a writer
comes. Files are opened non-blocking and checked with `fstat` on the open descriptor, so a file
swapped for a FIFO between the check and the open cannot hang a batch either.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ._detect import HEAD_BYTES, MediaInfo, family_of, probe, sniff
from ._errors import ConfigurationError, MediaError
from ._limits import Limits, canonical_category

__all__ = [
    "DEFAULT_CHUNK",
    "FileCheck",
    "MiB",
    "discover",
    "infer_category",
    "inspect_file",
    "inspect_with_info",
    "plan_chunks",
    "read_chunk",
    "recheck",
    "walk",
]

KiB: Final = 1024
MiB: Final = 1024 * 1024
GiB: Final = 1024 * MiB
DEFAULT_CHUNK: Final = 4 * MiB
"""APPEND chunk size unless asked otherwise: its multipart body stays well under the 5 MiB
request-body cap of X's edge (`Limits.max_append_body_bytes`)."""
MAX_CHUNK: Final = Limits().max_client_chunk_bytes
"""The largest chunk planned by default: 5 MiB less 64 KiB of room for multipart framing."""

_GROWTH_STEP: Final = 64 * KiB
"""When a file needs more than the segment cap, chunks grow in steps of this size."""

UNRECOGNIZED: Final = (
    "unrecognized media type (not an image, video, GIF or subtitle file X accepts)"
)
EMPTY: Final = "empty file (0 bytes)"
PERMISSION_DENIED: Final = "permission denied"
BROKEN_SYMLINK: Final = "broken symlink"
SYMLINK_LOOP: Final = "symlink loop"

_KINDS: Final = ("image", "gif", "video", "subtitles")
_OPEN_FLAGS: Final[int] = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


@dataclass(frozen=True)
class FileCheck:
    """What `inspect_file` (or `discover`) found about one file.

    Fields it could not determine are None. `problem` is a reason fit to show a user when the
    file cannot be uploaded; `chunk_size` and `segments` (the APPEND plan) are set only for a
    file that can.
    """

    path: Path
    size: int | None = None
    mtime: float | None = None
    media_type: str | None = None
    kind: str | None = None
    category: str | None = None
    problem: str | None = None
    chunk_size: int | None = None
    segments: int | None = None
    # (device, inode) of the file inspected: a file replaced by another one (a rename over
    # it) is caught even when size and mtime were kept.
    identity: tuple[int, int] | None = None

    @property
    def ok(self) -> bool:
        """Whether the file can be uploaded as planned."""
        return self.problem is None


# ---------------------------------------------------------------------------------------------
# Sizes for people


def format_size(n: int) -> str:
    """`n` bytes as X writes its limits: binary units named KB/MB/GB ("5 MB" = 5242880)."""
    if n < KiB:
        return "1 byte" if n == 1 else f"{n} bytes"
    units = (("KB", KiB), ("MB", MiB), ("GB", GiB))
    for i, (unit, scale) in enumerate(units):
        last = i == len(units) - 1
        if not last and n >= units[i + 1][1]:
            continue
        if n % scale == 0:
            return f"{n // scale} {unit}"
        text = f"{n / scale:.1f}"
        if not last and float(text) >= 1024:  # 1023.96 KB shows as "1.0 MB", not "1024.0 KB"
            continue
        return f"{text} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def _scale_of(n: int) -> int:
    return GiB if n >= GiB else MiB if n >= MiB else KiB if n >= KiB else 1


def over_limit_message(size: int, limit: int, category: str) -> str:
    """'16.8 MB is over the 15 MB limit for tweet_gif', in exact bytes when it would look equal."""
    scale = _scale_of(limit)
    shown_size = format_size(size)
    shown_limit = format_size(limit)
    if shown_size == shown_limit or round(size / scale, 1) <= round(limit / scale, 1):
        return f"{size} bytes is over the {limit}-byte limit ({shown_limit}) for {category}"
    return f"{shown_size} is over the {shown_limit} limit for {category}"


# ---------------------------------------------------------------------------------------------
# Categories


def infer_category(media_type: str, kind: str, *, dm: bool = False) -> str:
    """The media_category X expects for this content: tweet_image, tweet_gif (animated GIFs),
    tweet_video, subtitles; the dm_ variants with dm=True (subtitles have none).

    amplify_video is never inferred: it is for promoted videos and must be asked for.
    Raises ValueError when `kind` is unknown or does not fit `media_type`.
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown kind {kind!r} (expected one of {', '.join(_KINDS)})")
    category = "subtitles" if kind == "subtitles" else f"{'dm' if dm else 'tweet'}_{kind}"
    if media_type not in Limits.accepted_types(category):
        raise ValueError(f"{media_type!r} content cannot be of kind {kind!r}")
    return category


def _noun(media_type: str, kind: str) -> str:
    if kind == "video":
        return "a video"
    if kind == "subtitles":
        return "a subtitle file"
    if kind == "gif":
        return "an animated GIF"
    return "a static GIF" if media_type == "image/gif" else "an image"


def _category_problem(category: str, media_type: str, kind: str) -> str | None:
    """Why content of this type and kind cannot go up as `category`, or None if it can.

    The same rules as the emulator's: image categories take any image (GIFs too), GIF
    categories any GIF (a one-frame GIF too), video and subtitle categories their own kind.
    """
    wanted = Limits.kind_of(category)
    if wanted == "image":
        fits = kind in ("image", "gif")
    elif wanted == "gif":
        fits = media_type == "image/gif"
    else:
        fits = kind == wanted
    if fits and media_type in Limits.accepted_types(category):
        return None
    return f"{_noun(media_type, kind)} cannot be uploaded as {category}"


# ---------------------------------------------------------------------------------------------
# Chunk plan


def plan_chunks(
    size: int,
    chunk_size: int = DEFAULT_CHUNK,
    *,
    max_chunk: int = MAX_CHUNK,
    max_segments: int = 1000,
) -> tuple[int, int]:
    """(chunk size, segment count) for uploading `size` bytes.

    `chunk_size` is kept unless the file would need more than `max_segments` segments; then
    chunks grow (in steps of 64 KB) just enough, up to `max_chunk`. Size 0 gives 0 segments,
    which is no upload (`inspect_file` reports the file empty). Raises ValueError for a
    chunk size outside 1..max_chunk, a negative size, or a file too large even for
    `max_segments` chunks of `max_chunk`.
    """
    if max_chunk <= 0 or max_segments <= 0:
        raise ValueError("max_chunk and max_segments must be positive")
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, not {chunk_size}")
    if chunk_size > max_chunk:
        raise ValueError(
            f"chunk_size {chunk_size} ({format_size(chunk_size)}) is over the "
            f"{max_chunk}-byte ({format_size(max_chunk)}) limit"
        )
    if size < 0:
        raise ValueError(f"size must not be negative, not {size}")
    if size > max_segments * max_chunk:
        raise ValueError(
            f"too large to upload in {max_segments} segments of at most {format_size(max_chunk)}"
        )
    segments = -(-size // chunk_size)
    if segments > max_segments:
        needed = -(-size // max_segments)
        chunk_size = min(max_chunk, -(-needed // _GROWTH_STEP) * _GROWTH_STEP)
        segments = -(-size // chunk_size)
    return chunk_size, segments


def _check_chunk_size(chunk_size: int, limits: Limits) -> None:
    largest = limits.max_client_chunk_bytes
    if not 0 < chunk_size <= largest:
        raise ConfigurationError(
            f"chunk_size must be between 1 and {largest} bytes "
            f"({format_size(largest)}), not {chunk_size}"
        )


# ---------------------------------------------------------------------------------------------
# One file


def _special_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISDIR(mode):
        return "folder"
    return "unknown type"


def _not_regular(path: Path, st: os.stat_result) -> FileCheck:
    return FileCheck(
        path,
        size=st.st_size,
        mtime=st.st_mtime,
        problem=f"not a regular file ({_special_kind(st.st_mode)})",
    )


def _stat_problem(path: Path, exc: OSError) -> str:
    """Why `os.stat` (which follows symlinks) failed, in words."""
    if exc.errno == errno.ELOOP:
        return SYMLINK_LOOP
    if isinstance(exc, PermissionError):
        return PERMISSION_DENIED
    if isinstance(exc, FileNotFoundError):
        return BROKEN_SYMLINK if os.path.islink(path) else "no such file"
    return _os_problem(exc)


def _os_problem(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return PERMISSION_DENIED
    if isinstance(exc, FileNotFoundError):
        return "file disappeared"
    return f"cannot be read ({exc.strerror or type(exc).__name__})"


def inspect_file(
    path: str | os.PathLike[str],
    *,
    category: str = "auto",
    limits: Limits | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    dm: bool = False,
) -> FileCheck:
    """Judge one file for upload: type, kind, media category, size limit and chunk plan.

    Reads the first few kilobytes (and a GIF's block headers, to tell animated from static);
    videos are not decoded here. `category="auto"` infers it from the content (`dm=True` for
    the dm_ categories); any other value is a category X accepts, in any spelling X accepted.
    A file that cannot be uploaded gets a `problem`; this function raises only for a bad
    `chunk_size` (ConfigurationError).
    """
    return inspect_with_info(
        path, category=category, limits=limits, chunk_size=chunk_size, dm=dm, measure=False
    )[0]


def inspect_with_info(
    path: str | os.PathLike[str],
    *,
    category: str = "auto",
    limits: Limits | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    dm: bool = False,
    measure: bool = True,
) -> tuple[FileCheck, MediaInfo | None]:
    """`inspect_file`, and what `probe` measured in the file (always when `measure`, else for
    GIFs only, which must be probed to tell animated from static); None when not probed.

    Preflight uses it so that a GIF's blocks are walked once, not twice.
    """
    limits = limits or Limits()
    _check_chunk_size(chunk_size, limits)
    file = Path(path)
    try:
        st = os.stat(file)
    except OSError as exc:
        return FileCheck(file, problem=_stat_problem(file, exc)), None
    if not stat.S_ISREG(st.st_mode):
        return _not_regular(file, st), None
    if st.st_size == 0:
        return FileCheck(file, size=0, mtime=st.st_mtime, problem=EMPTY), None
    try:
        fd = os.open(file, _OPEN_FLAGS)
    except OSError as exc:
        problem = _os_problem(exc)
        return FileCheck(file, size=st.st_size, mtime=st.st_mtime, problem=problem), None
    try:
        st = os.fstat(fd)  # what we read is what we judge
        if not stat.S_ISREG(st.st_mode):
            return _not_regular(file, st), None
        head = os.read(fd, HEAD_BYTES)
    except OSError as exc:
        problem = _os_problem(exc)
        return FileCheck(file, size=st.st_size, mtime=st.st_mtime, problem=problem), None
    finally:
        os.close(fd)
    size, mtime = st.st_size, st.st_mtime
    if size == 0:
        return FileCheck(file, size=0, mtime=mtime, problem=EMPTY), None

    media_type = sniff(head)
    family = family_of(media_type) if media_type is not None else None
    if media_type is None or family is None:
        return FileCheck(file, size=size, mtime=mtime, problem=UNRECOGNIZED), None
    kind: str = family
    info: MediaInfo | None = None
    if measure or media_type == "image/gif":
        # Animated or not decides tweet_gif or tweet_image; probe walks the GIF's blocks only.
        try:
            info = probe(file)
        except OSError as exc:
            return FileCheck(file, size, mtime, media_type, problem=_os_problem(exc)), None
        if media_type == "image/gif":
            kind = info.kind if info is not None else "image"

    def check(chosen: str | None, problem: str | None) -> tuple[FileCheck, MediaInfo | None]:
        return FileCheck(file, size, mtime, media_type, kind, chosen, problem), info

    if category.strip().lower() == "auto":
        chosen = infer_category(media_type, kind, dm=dm)
    else:
        canonical = canonical_category(category)
        if canonical is None:
            return check(None, f"unknown media category {category!r}")
        chosen = canonical
        mismatch = _category_problem(chosen, media_type, kind)
        if mismatch is not None:
            return check(chosen, mismatch)

    limit = limits.category_max_bytes(chosen)
    if size > limit:
        return check(chosen, over_limit_message(size, limit, chosen))
    try:
        planned, segments = plan_chunks(
            size,
            chunk_size,
            max_chunk=limits.max_client_chunk_bytes,
            max_segments=limits.max_segments,
        )
    except ValueError as exc:
        return check(chosen, str(exc))
    return (
        FileCheck(
            file,
            size,
            mtime,
            media_type,
            kind,
            chosen,
            None,
            planned,
            segments,
            (st.st_dev, st.st_ino),
        ),
        info,
    )


# ---------------------------------------------------------------------------------------------
# A folder


def discover(
    folder: str | os.PathLike[str],
    pattern: str = "*",
    recursive: bool = True,
    *,
    category: str = "auto",
    limits: Limits | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    dm: bool = False,
) -> list[FileCheck]:
    """Every file below `folder` whose name matches the glob `pattern`, inspected, by path.

    Hidden entries (names starting with ".") are skipped, folders included. Symlinks to files
    are followed; a symlinked folder is walked once per real folder, real paths first, so
    loops end. Broken symlinks, symlink loops, FIFOs, sockets, devices and unreadable
    sub-folders are rows with a problem (special files are never opened). The keyword
    arguments go to `inspect_file`. An empty folder gives []. Raises MediaError when `folder`
    is missing, not a folder, or cannot be read.
    """
    limits = limits or Limits()
    _check_chunk_size(chunk_size, limits)
    rows = [
        entry
        if isinstance(entry, FileCheck)
        else inspect_file(entry, category=category, limits=limits, chunk_size=chunk_size, dm=dm)
        for entry in walk(folder, pattern, recursive)
    ]
    rows.sort(key=lambda row: row.path)
    return rows


def walk(
    folder: str | os.PathLike[str], pattern: str = "*", recursive: bool = True
) -> list[Path | FileCheck]:
    """The files `discover` would inspect, by path, not yet opened; entries that are not
    regular files (broken links, loops, FIFOs, unreadable folders) as a `FileCheck` with their
    problem. Raises MediaError as `discover` does."""
    root = os.fspath(folder)
    try:
        root_stat = os.stat(root)
    except OSError as exc:
        reason = "no such folder" if isinstance(exc, FileNotFoundError) else None
        raise MediaError(root, reason or _stat_problem(Path(root), exc)) from None
    if not stat.S_ISDIR(root_stat.st_mode):
        raise MediaError(root, "not a folder")

    rows: list[Path | FileCheck] = []
    seen = {(root_stat.st_dev, root_stat.st_ino)}
    linked_dirs: deque[str] = deque()

    def scan(top: str) -> None:
        """Walk the real sub-folders of `top`; symlinked folders wait in `linked_dirs`."""
        stack = [top]
        while stack:
            directory = stack.pop()
            try:
                with os.scandir(directory) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                if directory == root:
                    raise MediaError(root, _os_problem(exc)) from None
                rows.append(
                    FileCheck(Path(directory), problem=f"folder cannot be read: {_os_problem(exc)}")
                )
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                path = Path(entry.path)
                try:
                    st = os.stat(entry.path)
                except OSError as exc:
                    if fnmatch.fnmatch(entry.name, pattern):
                        rows.append(FileCheck(path, problem=_stat_problem(path, exc)))
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if not recursive:
                        continue
                    if entry.is_symlink():
                        linked_dirs.append(entry.path)
                        continue
                    key = (st.st_dev, st.st_ino)
                    if key not in seen:
                        seen.add(key)
                        stack.append(entry.path)
                    continue
                if not fnmatch.fnmatch(entry.name, pattern):
                    continue
                if stat.S_ISREG(st.st_mode):
                    rows.append(path)
                else:
                    rows.append(_not_regular(path, st))

    scan(root)
    while linked_dirs:
        link = linked_dirs.popleft()
        try:
            st = os.stat(link)
        except OSError as exc:  # the link changed since it was listed
            rows.append(FileCheck(Path(link), problem=_stat_problem(Path(link), exc)))
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            continue
        seen.add(key)
        scan(link)
    rows.sort(key=lambda row: row if isinstance(row, Path) else row.path)
    return rows


# ---------------------------------------------------------------------------------------------
# Reading a chunk


def read_chunk(
    path: str | os.PathLike[str],
    index: int,
    chunk_size: int,
    *,
    expect_size: int,
    expect_mtime: float | None,
    expect_identity: tuple[int, int] | None = None,
) -> bytes:
    """Segment `index` of the file: at most `chunk_size` bytes from `index * chunk_size`.

    Only this chunk is read into memory. Raises MediaError when the file's size, mtime or
    identity (`expect_identity`: device and inode) no longer match what was inspected
    (checked on the open file before and after reading), when it disappeared or cannot be
    read; ValueError for a negative index or chunk size.
    """
    if index < 0:
        raise ValueError(f"segment index must not be negative, not {index}")
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, not {chunk_size}")
    name = os.fspath(path)
    try:
        fd = os.open(name, _OPEN_FLAGS)
    except OSError as exc:
        raise MediaError(name, _os_problem(exc)) from None
    try:
        _check_unchanged(name, os.fstat(fd), expect_size, expect_mtime, expect_identity)
        offset = index * chunk_size
        parts: list[bytes] = []
        wanted = min(chunk_size, max(0, expect_size - offset))
        got = 0
        os.lseek(fd, offset, os.SEEK_SET)
        while got < wanted:
            part = os.read(fd, wanted - got)
            if not part:
                break
            parts.append(part)
            got += len(part)
        _check_unchanged(name, os.fstat(fd), expect_size, expect_mtime, expect_identity)
    except OSError as exc:
        raise MediaError(name, _os_problem(exc)) from None
    finally:
        os.close(fd)
    return b"".join(parts)


def recheck(check: FileCheck) -> str | None:
    """Why the inspected file can no longer be uploaded as planned, or None if it still can.

    Called just before a file's upload starts: a file (or its whole folder) gone, changed or
    made unreadable since it was inspected is refused before any request is sent for it.
    """
    name = os.fspath(check.path)
    try:
        fd = os.open(name, _OPEN_FLAGS)
    except FileNotFoundError:
        return "no such file (it disappeared after the batch started)"
    except OSError as exc:
        return _os_problem(exc)
    try:
        _check_unchanged(name, os.fstat(fd), check.size or 0, check.mtime, check.identity)
    except MediaError as exc:
        return exc.reason.replace("while uploading", "since it was inspected")
    finally:
        os.close(fd)
    return None


def _check_unchanged(
    name: str,
    st: os.stat_result,
    expect_size: int,
    expect_mtime: float | None,
    expect_identity: tuple[int, int] | None = None,
) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise MediaError(name, "changed while uploading (no longer a regular file)")
    if expect_identity is not None and (st.st_dev, st.st_ino) != expect_identity:
        raise MediaError(name, "changed while uploading (replaced by another file)")
    if st.st_size != expect_size:
        raise MediaError(
            name, f"changed while uploading (size was {expect_size}, now {st.st_size})"
        )
    if expect_mtime is not None and st.st_mtime != expect_mtime:
        raise MediaError(name, "changed while uploading (modified since it was inspected)")
