"""`mediakit preflight`: what X would refuse, and why, before anything is sent."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._cli_common import (
    EXIT_INVALID,
    EXIT_OK,
    Formatter,
    add_selection_arguments,
    check_out,
    load_input,
    print_json,
    shown_path,
    write_frame,
)

__all__ = ["add_parser", "run"]

EXAMPLES = """\
examples:
  mediakit preflight campaign/
  mediakit preflight campaign/ --problems           # only the files X would refuse
  mediakit preflight campaign.csv --out preflight.parquet
  mediakit preflight archive/ --json

Nothing is sent: headers and metadata are read (never whole files, GIFs excepted) and judged
against X's documented limits, by the same judge `mediakit upload` and the emulator apply.
Each file is one line (`ok`, `fix`: `mediakit upload --fix` repairs it, `NO`: it cannot be
uploaded), with its problems (`-`) and what to do about them (`>`) indented under it.

exit codes:
  0    every file would be accepted
  2    bad usage
  3    some files would be refused (listed with the reason and a hint)"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(
        "preflight",
        help="what X would refuse and why, file by file; sends nothing",
        description="Inspect every file of FOLDER|CSV|PARQUET (type, dimensions, duration, "
        "fps, codecs, category) and say which ones X would refuse, why, and what to do.",
        epilog=EXAMPLES,
        formatter_class=Formatter,
    )
    add_selection_arguments(cmd)
    cmd.add_argument(
        "--gif",
        choices=("mp4", "gif"),
        default="mp4",
        help="what --fix would make of a GIF over X's GIF limits (decides `fix`; default mp4)",
    )
    cmd.add_argument(
        "--max-duration",
        choices=("keep", "trim"),
        default="keep",
        help="trim: --fix may cut a video to the maximum duration (decides `fix`)",
    )
    cmd.add_argument("--problems", action="store_true", help="list only the files with problems")
    cmd.add_argument(
        "--out", type=Path, metavar="FILE", help="write the table to FILE.parquet or FILE.csv"
    )
    cmd.add_argument("--json", action="store_true", help="print every file's verdict as JSON")
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import mediakit as mk

    from ._preflight import format_preflight

    check_out(args.out)
    source = load_input(args.input)
    frame = mk.preflight(
        source.what,
        category=args.category,
        pattern=args.pattern,
        gif=args.gif,
        max_duration=args.max_duration,
    )
    refused = int((~frame["ok"].fillna(False).astype(bool)).sum())
    code = EXIT_INVALID if refused else EXIT_OK
    if args.out is not None:
        write_frame(frame, args.out)
    if args.json:
        print_json(
            {
                "files": len(frame),
                "ok": len(frame) - refused,
                "refused": refused,
                "exit_code": code,
                "verdicts": [_jsonable(row) for row in frame.to_dict("records")],
            }
        )
        return code
    shown = frame.copy()
    shown["path"] = [shown_path(str(p), source.base) for p in frame["path"]]
    print(format_preflight(shown, only_problems=args.problems))
    if args.out is not None:
        print(f"\nPreflight per file: {args.out}")
    return code


def _jsonable(row: Mapping[Any, Any]) -> dict[str, Any]:
    import pandas as pd

    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, (list, tuple)) or bool(getattr(value, "ndim", False)):
            out[str(key)] = [str(v) for v in value]
        elif value is None or pd.isna(value):
            out[str(key)] = None
        elif hasattr(value, "item"):  # a numpy scalar
            out[str(key)] = value.item()
        else:
            out[str(key)] = value
    return out
