"""`mediakit plan`: what a batch will ask of X, before anything is sent."""

from __future__ import annotations

import argparse
from pathlib import Path

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
  mediakit plan campaign/
  mediakit plan campaign.csv --out plan.csv       # one row per file: segments, ok, problem
  mediakit plan archive/ --json

Nothing is sent: the files are inspected locally, and the requests they need are counted
against X's 15-minute per-user budgets (STATUS polls are an estimate).

exit codes:
  0    every file can be uploaded
  2    bad usage
  3    some files cannot be uploaded (listed with the reason)"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(
        "plan",
        help="the requests a batch needs per endpoint against X's rate limits; sends nothing",
        description="Count the requests uploading FOLDER|CSV|PARQUET needs per endpoint, "
        "against X's 15-minute budgets, and list the files that cannot be uploaded.",
        epilog=EXAMPLES,
        formatter_class=Formatter,
    )
    add_selection_arguments(cmd)
    cmd.add_argument(
        "--out", type=Path, metavar="FILE", help="write plan.files to FILE.parquet or FILE.csv"
    )
    cmd.add_argument("--json", action="store_true", help="print the plan as JSON")
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import mediakit as mk

    check_out(args.out)
    source = load_input(args.input)
    plan = mk.plan(source.what, category=args.category, pattern=args.pattern)
    files = plan.files
    bad = files[~files["ok"].fillna(False).astype(bool)]
    code = EXIT_INVALID if len(bad) else EXIT_OK
    if args.out is not None:
        write_frame(files, args.out)
    if args.json:
        endpoints = plan.endpoints.astype(object).where(plan.endpoints.notna(), None)
        print_json(
            {
                "summary": plan.summary(),
                "windows": plan.windows,
                "min_duration_s": plan.min_duration_s,
                "endpoints": endpoints.to_dict("records"),
                "not_uploadable": [
                    {"path": str(row.path), "problem": str(row.problem)}
                    for row in bad.itertuples(index=False)
                ],
                "exit_code": code,
            }
        )
        return code
    print(plan.summary())
    print()
    print(plan.endpoints.to_string(index=False))
    if len(bad):
        print()
        print(f"Cannot be uploaded ({len(bad)}):")
        for row in bad.itertuples(index=False):
            print(f"  {shown_path(str(row.path), source.base)} · {row.problem}")
    if args.out is not None:
        print(f"\nPlan per file: {args.out}")
    return code
