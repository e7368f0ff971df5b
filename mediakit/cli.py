"""The `mediakit` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mediakit", description="Batch media uploads to X, and an offline X media API."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from .emulator._cli import add_parser as add_emulator_parser  # its parser and runner

    add_emulator_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "emulator":
        return int(args.run(args))
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
