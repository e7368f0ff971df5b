"""`mediakit journal`: what a journal says about its batches, in this or any other process."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._cli_common import (
    EXIT_OK,
    Formatter,
    check_out,
    failure_lines,
    print_json,
    result_json,
    write_frame,
)

__all__ = ["add_parser", "run"]

EXAMPLES = """\
examples:
  mediakit journal campaign.sqlite                     # the latest batch's summary
  mediakit journal campaign.sqlite --batch all --out everything.parquet
  mediakit journal                                     # the default journal (your cache directory)
  mediakit journal campaign.sqlite --table events --out events.csv

It can be read while a batch runs (what has happened so far) or after a crash.

exit codes:
  0    the journal was read
  2    bad usage: no such journal, no such batch"""

TABLES = ("items", "events", "responses")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(
        "journal",
        help="the summary of a journaled batch, and its files or requests as a table",
        description="Show the latest batch of a journal (or one by id, or all of them): "
        "summary, counts by state and every file that was not uploaded.",
        epilog=EXAMPLES,
        formatter_class=Formatter,
    )
    cmd.add_argument(
        "file",
        nargs="?",
        type=Path,
        metavar="FILE",
        help="the journal (default: the one in your cache directory)",
    )
    cmd.add_argument(
        "--batch", default="latest", metavar="latest|all|ID", help="which batch (default latest)"
    )
    cmd.add_argument(
        "--table",
        choices=TABLES,
        default="items",
        help="what --out writes: items (one row per file, the default), events (one per HTTP "
        "attempt) or responses (FINALIZE and STATUS answers)",
    )
    cmd.add_argument(
        "--out", type=Path, metavar="FILE", help="write the table to FILE.parquet or FILE.csv"
    )
    cmd.add_argument("--json", action="store_true", help="print the batch as JSON")
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import mediakit as mk

    check_out(args.out)
    result = mk.open_journal(args.file, batch=args.batch)
    if args.out is not None:
        write_frame(getattr(result, args.table), args.out)
    if args.json:
        print_json(result_json(result, EXIT_OK, out=str(args.out) if args.out else None))
        return EXIT_OK
    counts = " · ".join(f"{state} {count}" for state, count in result.counts.items())
    print(f"Batch {result.batch_id} to {result.target} (API {result.api}): {result.summary()}")
    if counts:
        print(f"  {counts}")
    for line in failure_lines(result, None):
        print(line)
    if args.out is not None:
        print(f"{args.table}: {args.out}")
    return EXIT_OK
