"""The `mediakit` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


EXAMPLES = """\
examples:
  mediakit demo                                   # start here: sample media → the emulator
  mediakit upload campaign/ --out results.parquet # the built-in emulator unless --target x
  mediakit upload campaign.csv --target x --journal campaign.sqlite
  mediakit preflight campaign/                    # what X would refuse, why, and what to do
  mediakit plan campaign/                         # requests per endpoint against X's budgets
  mediakit journal campaign.sqlite                # the latest batch's summary
  mediakit emulator --port 8765                   # X's media API, for your own code

`mediakit COMMAND --help` shows each command's options, examples and exit codes.
"""


def _parser() -> argparse.ArgumentParser:
    from . import __version__, _cli_demo, _cli_journal, _cli_plan, _cli_preflight, _cli_upload
    from ._cli_common import Formatter

    parser = argparse.ArgumentParser(
        prog="mediakit",
        description="Batch media uploads to X, and an offline X media API.",
        epilog=EXAMPLES,
        formatter_class=Formatter,
    )
    parser.add_argument("--version", action="version", version=f"mediakit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _cli_demo.add_parser(sub)
    _cli_upload.add_parser(sub)
    _cli_preflight.add_parser(sub)
    _cli_plan.add_parser(sub)
    _cli_journal.add_parser(sub)
    from .emulator._cli import add_parser as add_emulator_parser  # parser and runner

    add_emulator_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ._cli_common import EXIT_CANCELLED, EXIT_FAILED, EXIT_USAGE, UsageError
    from ._errors import ConfigurationError, JournalError, MediaError, MediakitError

    parser = _parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = run(args)
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the batch started
        print(f"mediakit {args.command}: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except (UsageError, ConfigurationError, MediaError, JournalError) as exc:
        # What stops a command before it uploads anything: bad input, missing credentials,
        # no such journal. Per-file problems never get here (they are rows).
        print(f"mediakit {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MediakitError as exc:  # e.g. a server that never answered: the batch stopped early
        print(f"mediakit {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (`mediakit upload … | head`): stop quietly, as Unix tools do,
        # and keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
