"""`mediakit upload`: a folder, a CSV or a Parquet list of files, with the text dashboard."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from ._cli_common import (
    CATEGORIES,
    EXIT_CODES_HELP,
    Formatter,
    check_out,
    exit_code,
    failure_lines,
    load_input,
    print_json,
    result_json,
    run_job,
    write_frame,
)

__all__ = ["add_parser", "positive_int", "run"]

EXAMPLES = """\
examples:
  mediakit upload campaign/                          # the built-in emulator: nothing is sent to X
  mediakit upload campaign/ --out results.parquet    # every file's outcome, for pandas
  mediakit upload campaign.csv --target x --journal campaign.sqlite
  mediakit upload campaign/ --base-url http://127.0.0.1:8765 --api v1.1
  mediakit upload results.parquet                    # again: what is still uploaded is skipped
  mediakit upload campaign/ --fix                    # re-encode what X would refuse, then upload

The input is a folder (every file below it, hidden ones skipped), a CSV or Parquet list of
files (a `path` column, relative to the list's folder; `alt_text`, `category` and your own
columns are carried into the results), or one media file. With --target x, credentials come
from the environment: X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET
(OAuth 1.0a), or X_USER_TOKEN (an OAuth 2.0 user token with media.write).

Every batch is journaled (--journal, or one journal in your cache directory): run the same
command again after a crash or a Ctrl-C and what already succeeded is skipped.
"""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return value


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(
        "upload",
        help="upload a folder, or a CSV/Parquet list of files, and list what failed",
        description="Upload media to X's chunked media API (or the built-in emulator) with a "
        "text dashboard, then print the summary and every file that was not uploaded, "
        "with its reason.",
        epilog=EXAMPLES + "\n" + EXIT_CODES_HELP,
        formatter_class=Formatter,
    )
    cmd.add_argument("input", metavar="FOLDER|CSV|PARQUET", help="what to upload")
    where = cmd.add_argument_group("where to")
    where.add_argument(
        "--target",
        choices=("emulator", "x"),
        help="the built-in emulator (the default) or X itself, with credentials from the "
        "environment",
    )
    where.add_argument(
        "--base-url",
        metavar="URL",
        help="any other server, e.g. a `mediakit emulator` at http://127.0.0.1:8765",
    )
    where.add_argument("--api", choices=("v2", "v1.1"), default="v2", help="X's API (default v2)")
    how = cmd.add_argument_group("how")
    how.add_argument(
        "--category",
        choices=CATEGORIES,
        default="auto",
        metavar="CATEGORY",
        help="X's media category for every file: " + ", ".join(CATEGORIES) + " (default auto: "
        "from each file's content)",
    )
    how.add_argument(
        "--concurrency",
        type=positive_int,
        default=None,
        metavar="N",
        help="the most files uploading at once (default: adaptive, up to 32)",
    )
    how.add_argument(
        "--pattern", default="*", metavar="GLOB", help="in a folder, only names matching GLOB"
    )
    how.add_argument(
        "--force", action="store_true", help="upload everything again, even what is journaled"
    )
    fix = cmd.add_argument_group("repair (every file is checked against X's limits first)")
    fix.add_argument(
        "--fix",
        action="store_true",
        help="re-encode what X would refuse and upload the copies (originals are never touched)",
    )
    fix.add_argument(
        "--gif",
        choices=("mp4", "gif"),
        default="mp4",
        help="with --fix, a GIF over X's GIF limits becomes an MP4 (default) or a smaller GIF",
    )
    fix.add_argument(
        "--max-duration",
        choices=("keep", "trim"),
        default="keep",
        help="with --fix, a video over 140 s stays invalid (keep, default) or is cut (trim)",
    )
    out = cmd.add_argument_group("results")
    out.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="write one row per file (result.items) to FILE.parquet or FILE.csv",
    )
    out.add_argument(
        "--journal",
        type=Path,
        metavar="FILE",
        help="the SQLite journal (default: one in your cache directory)",
    )
    out.add_argument(
        "--json",
        action="store_true",
        help="print the outcome as JSON on stdout (the dashboard goes to stderr)",
    )
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import mediakit as mk

    check_out(args.out)
    source = load_input(args.input)
    options: dict[str, Any] = {
        "target": args.target,
        "base_url": args.base_url,
        "api": args.api,
        "concurrency": args.concurrency,
        "force": args.force,
        "fix": args.fix,
        "gif": args.gif,
        "max_duration": args.max_duration,
        "progress": "text",
    }
    if args.journal is not None:
        options["journal"] = args.journal

    def start() -> mk.UploadJob:
        # With --json, stdout is for the JSON: the text view writes where stdout is now.
        with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
            if source.folder is not None:
                return mk.upload_folder(
                    source.folder,
                    wait=False,
                    category=args.category,
                    pattern=args.pattern,
                    **options,
                )
            return mk.upload_files(source.what, wait=False, category=args.category, **options)

    result, interrupted = run_job(start)
    code = exit_code(result.counts, interrupted=interrupted)
    if args.out is not None:
        write_frame(result.items, args.out)
    if args.json:
        print_json(
            result_json(
                result,
                code,
                out=str(args.out) if args.out else None,
                journal=str(args.journal) if args.journal else None,
            )
        )
        return code
    for line in failure_lines(result, source.base):
        print(line)
    if args.out is not None:
        reader = "read_csv" if args.out.suffix.lower() == ".csv" else "read_parquet"
        print(f"Results: {args.out} (one row per file; mk.{reader} reads it back)")
    return code
