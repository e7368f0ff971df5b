"""Preflight: what X will refuse, and why, before the first byte is sent.

`check_file` inspects a file (`_media`), measures its headers (`_detect.probe`: headers and
metadata, never whole files; GIFs excepted, whose frames are counted by walking every block)
and judges it (`_judge.judge`, the same judge the emulator applies). `preflight` does it for a
folder, paths or a DataFrame and returns one row per file; `format_preflight` renders that
frame for a terminal (the CLI's `mediakit preflight FOLDER`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._detect import MediaInfo
from ._errors import ConfigurationError
from ._judge import Problem, RepairOptions, _dims, _num, judge
from ._limits import Limits
from ._media import DEFAULT_CHUNK, FileCheck, format_size, inspect_with_info, walk

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Verdict",
    "check_file",
    "check_files",
    "format_preflight",
    "preflight",
    "verdict_of",
]


# ---------------------------------------------------------------------------------------------
# Files


@dataclass(frozen=True)
class Verdict:
    """Preflight of one file: what inspection found, what was measured, and every problem."""

    check: FileCheck
    info: MediaInfo | None
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def path(self) -> Path:
        return self.check.path

    @property
    def category(self) -> str | None:
        return self.check.category

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def fixable(self) -> bool:
        """Some problems, and repair (with the options judged against) fixes every one."""
        return bool(self.problems) and all(p.fixable for p in self.problems)

    @property
    def hints(self) -> tuple[str, ...]:
        seen = dict.fromkeys([*(p.hint for p in self.problems), *self.notes])
        return tuple(hint for hint in seen if hint)


# What a name's extension announces, to say so when the content is something else.
_EXTENSION_TYPES = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
    ".webp": "image/webp", ".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff",
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
    ".ts": "video/mp2t", ".m2ts": "video/mp2t", ".srt": "text/srt", ".vtt": "text/vtt",
}  # fmt: skip


def check_file(
    path: str | os.PathLike[str],
    *,
    category: str = "auto",
    limits: Limits | None = None,
    dm: bool = False,
    options: RepairOptions | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> Verdict:
    """Preflight one file: inspect it (with the APPEND plan for `chunk_size`), measure its
    headers, judge it. Never raises for a bad file (every reason is a problem);
    ConfigurationError for bad arguments."""
    limits = limits or Limits()
    check, info = inspect_with_info(
        path, category=category, limits=limits, dm=dm, chunk_size=chunk_size
    )
    return verdict_of(check, info, limits, options)


def verdict_of(
    check: FileCheck, info: MediaInfo | None, limits: Limits, options: RepairOptions | None
) -> Verdict:
    """The verdict on a file already inspected (`info` None: it could not be measured)."""
    if info is None or check.category is None:
        problem = check.problem or "cannot be measured"
        return Verdict(check, info, (Problem("upload", problem, _hint_for(problem), False),))
    problems = judge(info, check.category, limits, size=check.size, options=options)
    if check.problem is not None and all(p.message != check.problem for p in problems):
        # A problem of the upload itself (too many segments even at 5 MB chunks).
        problems.append(Problem("upload", check.problem, "", False))
    notes: tuple[str, ...] = ()
    announced = _EXTENSION_TYPES.get(check.path.suffix.lower())
    if (
        announced is not None
        and announced != info.media_type
        and not (announced == "image/jpeg" and info.media_type == "image/pjpeg")
    ):
        notes = (
            f"the name says {check.path.suffix} but the content is {info.media_type} "
            "(X goes by the content)",
        )
    return Verdict(check, info, tuple(problems), notes)


def _hint_for(problem: str) -> str:
    if problem.startswith("empty file"):
        return "the file is empty: copy or export it again"
    if problem.startswith("permission denied"):
        return "make the file readable (chmod) or run as its owner"
    if problem.startswith("unrecognized"):
        return "not media X accepts: leave it out (pattern=) or convert it"
    return ""


def check_files(
    files: Iterable[str | os.PathLike[str]] | Any,
    *,
    category: str = "auto",
    limits: Limits | None = None,
    dm: bool = False,
    options: RepairOptions | None = None,
    pattern: str = "*",
    recursive: bool = True,
    workers: int = 4,
    chunk_size: int = DEFAULT_CHUNK,
) -> list[Verdict]:
    """`check_file` for a folder (walked as `discover` does), paths, or a DataFrame with a
    `path` column (and optionally `category`), in input order (a folder's: by path).

    Files are checked by `workers` threads: FFmpeg and file reads release the GIL.
    """
    limits = limits or Limits()
    jobs: list[tuple[str | os.PathLike[str] | FileCheck, str]] = []
    if isinstance(files, str | os.PathLike) and Path(files).is_dir():
        jobs = [(entry, category) for entry in walk(files, pattern, recursive)]
    else:
        jobs = _rows(files, category)

    def one(job: tuple[str | os.PathLike[str] | FileCheck, str]) -> Verdict:
        entry, chosen = job
        if isinstance(entry, FileCheck):
            return verdict_of(entry, None, limits, options)
        return check_file(
            entry, category=chosen, limits=limits, dm=dm, options=options, chunk_size=chunk_size
        )

    if workers <= 1 or len(jobs) <= 1:
        return [one(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mediakit-preflight") as pool:
        return list(pool.map(one, jobs))


def _rows(files: Any, category: str) -> list[tuple[str | os.PathLike[str] | FileCheck, str]]:
    if type(files).__module__.startswith("pandas"):  # a DataFrame; no pandas import otherwise
        import pandas as pd

        if not isinstance(files, pd.DataFrame) or "path" not in files.columns:
            raise ConfigurationError("pass a folder, paths, or a DataFrame with a 'path' column")
        categories = (
            files["category"].tolist() if "category" in files.columns else [None] * len(files)
        )
        return [
            (str(path), str(chosen) if isinstance(chosen, str) and chosen else category)
            for path, chosen in zip(files["path"].tolist(), categories, strict=True)
        ]
    if isinstance(files, str | os.PathLike):
        return [(files, category)]  # one file (a folder is walked by the caller)
    try:
        return [(path, category) for path in files]
    except TypeError:
        raise ConfigurationError(
            "pass a folder, paths, or a DataFrame with a 'path' column"
        ) from None


def preflight(
    files: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | pd.DataFrame,
    *,
    category: str = "auto",
    dm: bool = False,
    limits: Limits | None = None,
    pattern: str = "*",
    recursive: bool = True,
    gif: Literal["mp4", "gif"] = "mp4",
    max_duration: Literal["keep", "trim"] = "keep",
) -> pd.DataFrame:
    """What X will refuse and why, before anything is sent: one row per file.

    `files` is a folder (walked like the upload functions do: `pattern`, `recursive`, hidden
    entries skipped), paths, or a DataFrame with a `path` column (a `category` column sets
    each file's category). Reads headers and metadata only, never whole files (GIFs excepted:
    their frames are counted by walking every block).

    Args:
        files: a folder, paths, or a DataFrame with a `path` column.
        category: "auto" (inferred from the content) or one of X's media categories.
        dm: with category "auto", the dm_ categories.
        limits: the `Limits` to judge by (default: X's documented limits).
        pattern: for a folder, a glob file names must match.
        recursive: for a folder, include sub-folders.
        gif: what repair would do with a GIF over X's GIF limits ("mp4" or "gif"): decides
            `fixable`.
        max_duration: "trim" if repair may cut a video to the maximum duration.

    Returns:
        One row per file: path, media_type, category, bytes, width, height, duration_s, fps,
        frames, video_codec, profile, pix_fmt, audio_codec, audio_channels, ok, problems
        (plain-English reasons naming the limit and the value), hints (what to do), fixable
        (whether `mk.repair` with `gif` and `max_duration` fixes every problem).

    Raises:
        MediaError: a folder that is missing or cannot be read.
        ConfigurationError: a bad argument (named).

    A file that cannot be read or is not media is a row with its reason, never an error.
    """
    from ._media_frames import preflight_frame

    options = RepairOptions(gif=gif, max_duration=max_duration)
    verdicts = check_files(
        files,
        category=category,
        limits=limits,
        dm=dm,
        options=options,
        pattern=pattern,
        recursive=recursive,
    )
    return preflight_frame(verdicts)


# ---------------------------------------------------------------------------------------------
# Text


def format_preflight(frame: pd.DataFrame, *, only_problems: bool = False) -> str:
    """`preflight`'s frame as text for a terminal: a summary line, then one line per file
    (what it is) with its problems and hints indented under it."""
    total = len(frame)
    bad = int((~frame["ok"].astype(bool)).sum()) if total else 0
    fixable = int(frame["fixable"].astype(bool).sum()) if total else 0
    lines = [
        f"{total} file{'s' if total != 1 else ''}: {total - bad} ok, {bad} with problems"
        + (f" ({fixable} fixable)" if bad else "")
    ]
    row: Any
    for row in frame.itertuples(index=False):
        ok = bool(row.ok)
        if ok and only_problems:
            continue
        mark = "ok " if ok else ("fix" if bool(row.fixable) else "NO ")
        lines.append(f"{mark} {row.path}  {_describe_row(row)}")
        lines += [f"      - {text}" for text in row.problems]
        lines += [f"      > {text}" for text in row.hints]
    return "\n".join(lines)


def _describe_row(row: Any) -> str:
    parts: list[str] = []
    if isinstance(row.category, str):
        parts.append(row.category)
    if _present(row.width) and _present(row.height):
        parts.append(_dims(int(row.width), int(row.height)))
    if _present(row.duration_s):
        parts.append(f"{_num(float(row.duration_s))} s")
    if _present(row.fps):
        parts.append(f"{_num(float(row.fps))} fps")
    if _present(row.frames) and row.category in ("tweet_gif", "dm_gif"):
        parts.append(f"{int(row.frames)} frames")
    if isinstance(row.video_codec, str):
        parts.append(row.video_codec + (f" {row.profile}" if isinstance(row.profile, str) else ""))
    if isinstance(row.audio_codec, str):
        parts.append(f"{row.audio_codec} ×{row.audio_channels}")
    if _present(row.bytes):
        parts.append(format_size(int(row.bytes)))
    return " · ".join(parts)


def _present(value: object) -> bool:
    import pandas as pd

    return value is not None and not pd.isna(value)  # type: ignore[call-overload]
