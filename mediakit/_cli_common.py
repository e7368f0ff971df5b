"""What the `mediakit` subcommands share: exit codes, inputs, outputs, running a batch.

Only the public API (`import mediakit as mk`) is used here, as a user's own script would.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import pandas as pd

    import mediakit as mk

__all__ = [
    "CATEGORIES",
    "EXIT_CANCELLED",
    "EXIT_CODES_HELP",
    "EXIT_FAILED",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_USAGE",
    "Formatter",
    "Input",
    "UsageError",
    "add_selection_arguments",
    "check_out",
    "exit_code",
    "failure_lines",
    "load_input",
    "print_json",
    "run_job",
    "write_frame",
]

EXIT_OK = 0  # every file succeeded or was already uploaded
EXIT_FAILED = 1  # some file failed: X refused it, processing failed, retries ran out
EXIT_USAGE = 2  # bad usage (argparse's own code)
EXIT_INVALID = 3  # nothing failed, but some files were invalid (refused before sending)
EXIT_CANCELLED = 130  # Ctrl-C: 128 + SIGINT, as shells report it

EXIT_CODES_HELP = """\
exit codes:
  0    every file succeeded or was already uploaded (skipped, its media id still valid)
  1    some file failed: X refused it, processing failed, or retries ran out; or the
       server could not be reached at all
  2    bad usage: an unknown flag, a missing input, missing or refused credentials
  3    no file failed, but some were invalid (not media, empty, too large for X...):
       nothing was sent for them
  130  cancelled (Ctrl-C): files in flight end cancelled, the summary is still printed
  When several apply, cancelled wins over failed, and failed over invalid."""

# X's media categories, for --category (the limits table, mediakit._limits, holds the same).
CATEGORIES = (
    "auto",
    "tweet_image",
    "tweet_gif",
    "tweet_video",
    "amplify_video",
    "dm_image",
    "dm_gif",
    "dm_video",
    "subtitles",
)

# The columns that mark a file as a mediakit `items` export (`--out`, `result.items`).
_ITEMS_MARKERS = ("batch_id", "file_id", "media_id", "state")


class Formatter(argparse.HelpFormatter):
    """Wraps one-paragraph descriptions; keeps texts of several lines (examples, exit codes)
    as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class UsageError(Exception):
    """A command that cannot run as asked: printed as one line, exit code 2."""


def add_selection_arguments(cmd: argparse.ArgumentParser) -> None:
    """INPUT, --category and --pattern of the commands that look at files without sending
    them (`plan`, `preflight`)."""
    cmd.add_argument("input", metavar="FOLDER|CSV|PARQUET", help="what would be uploaded")
    cmd.add_argument(
        "--category",
        choices=CATEGORIES,
        default="auto",
        metavar="CATEGORY",
        help="one media category for every file: " + ", ".join(CATEGORIES),
    )
    cmd.add_argument("--pattern", default="*", metavar="GLOB")


def exit_code(counts: Mapping[str, int], *, interrupted: bool = False) -> int:
    """The exit code for a batch's counts by state: cancelled > failed > invalid > ok."""
    if interrupted or counts.get("cancelled", 0):
        return EXIT_CANCELLED
    if counts.get("failed", 0):
        return EXIT_FAILED
    if counts.get("invalid", 0):
        return EXIT_INVALID
    return EXIT_OK


# --- inputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    """What to upload: a folder, or files (a DataFrame with a `path` column)."""

    source: Path
    folder: Path | None = None
    files: pd.DataFrame | None = None

    @property
    def what(self) -> Any:
        """What `mk.plan` and the upload functions take."""
        return self.folder if self.folder is not None else self.files

    @property
    def base(self) -> Path:
        """The folder that paths are shown relative to."""
        return self.folder if self.folder is not None else self.source.parent


def load_input(text: str) -> Input:
    """A folder; a CSV or Parquet list of files (a `path` column, plus `alt_text`,
    `category` and your own columns); or one media file."""
    import pandas as pd

    import mediakit as mk

    source = Path(text)
    if source.is_dir():
        return Input(source, folder=source)
    if not source.exists():
        raise UsageError(f"{text}: no such file or folder")
    suffix = source.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        return Input(source, files=pd.DataFrame({"path": [str(source)]}))
    if suffix == ".csv":
        frame = mk.read_csv(source)
    else:
        if importlib.util.find_spec("pyarrow") is None:
            raise UsageError(
                f"{text}: reading Parquet needs pyarrow: pip install 'mediakit-x[parquet]'"
            )
        frame = mk.read_parquet(source)
    if "path" not in frame.columns:
        raise UsageError(
            f"{text}: no 'path' column (it has {', '.join(map(str, frame.columns)) or 'none'})"
        )
    if all(name in frame.columns for name in _ITEMS_MARKERS):
        # A results file: upload its files again (the journal skips what is still uploaded),
        # without carrying the old outcome along as columns of the user's.
        frame = frame[[c for c in ("path", "alt_text") if c in frame.columns]]
    frame = frame.copy()
    base = source.absolute().parent
    # Relative paths are relative to the list's own folder, so a folder and its list move together.
    frame["path"] = [
        value if not isinstance(value, str) or os.path.isabs(value) else str(base / value)
        for value in frame["path"]
    ]
    return Input(source, files=frame)


# --- outputs -------------------------------------------------------------------------------


def check_out(path: Path | None) -> None:
    """Refuse an `--out` that cannot be written before any work is done."""
    if path is None:
        return
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise UsageError(f"--out {path}: name a .parquet or .csv file")
    if suffix != ".csv" and importlib.util.find_spec("pyarrow") is None:
        raise UsageError(
            f"--out {path}: Parquet needs pyarrow (pip install 'mediakit-x[parquet]'), "
            "or name a .csv file"
        )
    parent = path.absolute().parent
    if not parent.is_dir():
        raise UsageError(f"--out {path}: no such folder {parent}")


def write_frame(frame: pd.DataFrame, path: Path) -> Path:
    """Parquet or CSV by the file's suffix; `mk.read_parquet` / `mk.read_csv` read it back."""
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def shown_path(path: str, base: Path | None) -> str:
    """A path relative to `base` when it is below it (shorter to read), else as it is."""
    if base is not None:
        try:
            return str(Path(path).relative_to(base.absolute()))
        except ValueError:
            pass
    return path


def failure_lines(result: mk.UploadResult, base: Path | None, *, limit: int = 50) -> list[str]:
    """`  banner.gif · invalid · 16.5 MB is over the 15 MB limit for tweet_gif`, one a file."""
    failures = result.failures
    if failures.empty:
        return []
    lines = [f"Not uploaded ({len(failures)}):"]
    for row in failures.head(limit).itertuples(index=False):
        reason = _reason(row)
        lines.append(f"  {shown_path(str(row.path), base)} · {row.state} · {reason}")
    if len(failures) > limit:
        lines.append(f"  … and {len(failures) - limit} more (write them all with --out FILE)")
    return lines


def _reason(row: Any) -> str:
    from ._snapshot import failure_reason

    message = _text(getattr(row, "error_message", None))
    name = _text(getattr(row, "error_name", None))
    return failure_reason(str(row.state), name, message)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def result_json(result: mk.UploadResult, code: int, **extra: Any) -> dict[str, Any]:
    """The outcome as JSON: counts, the exit code, and every file with its reason."""
    files = []
    for row in result.items.itertuples(index=False):
        expires: Any = getattr(row, "expires_at", None)
        size: Any = row.bytes
        files.append(
            {
                "path": str(row.path),
                "state": str(row.state),
                "media_id": _text(row.media_id),
                "media_category": _text(row.media_category),
                "bytes": None if _text(size) is None else int(size),
                "expires_at": None if _text(expires) is None else expires.isoformat(),
                "reason": _reason(row) if row.state in ("failed", "invalid", "cancelled") else None,
            }
        )
    return {
        "target": result.target,
        "api": result.api,
        "batch_id": result.batch_id,
        "summary": result.summary(),
        "counts": result.counts,
        "elapsed_s": result.elapsed_s,
        "exit_code": code,
        **extra,
        "files": files,
    }


def print_json(data: Mapping[str, Any], out: TextIO | None = None) -> None:
    print(json.dumps(data, indent=2, default=str), file=out or sys.stdout, flush=True)


# --- running a batch -----------------------------------------------------------------------


def run_job(start: Callable[[], mk.UploadJob], err: TextIO | None = None) -> tuple[Any, bool]:
    """Run a background job to its end; Ctrl-C cancels it and still returns what was done.

    A job (`wait=False`) rather than a blocking call: on Ctrl-C the blocking call raises and
    its result is lost, while a cancelled job gives back every file's outcome, the cancelled
    ones included. A second Ctrl-C stops waiting for the cleanup (KeyboardInterrupt).
    """
    job = start()
    try:
        return job.wait(), False
    except KeyboardInterrupt:
        print(
            "\nmediakit: cancelling: files in flight end cancelled (Ctrl-C again to quit now)",
            file=err or sys.stderr,
            flush=True,
        )
        job.cancel()
        return job.wait(), True


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
