"""The `mediakit` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _processing_seconds(text: str) -> tuple[float, float] | float:
    """'5' → 5 s for every media; '2,10' → uniform between 2 and 10 s."""
    try:
        if "," in text:
            low, high = (float(part) for part in text.split(",", 1))
            if low < 0 or high < low:
                raise ValueError
            return (low, high)
        value = float(text)
        if value < 0:
            raise ValueError
        return value
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected SECONDS or LOW,HIGH (e.g. 5 or 2,10), not {text!r}"
        ) from None


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a rate between 0 and 1, not {text!r}")
    return value


def _fault(text: str) -> tuple[str, int, float]:
    from .emulator._faults import parse_fault

    try:
        return parse_fault(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _latency(text: str) -> float | tuple[float, float]:
    from .emulator._faults import parse_latency

    try:
        return parse_latency(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bandwidth(text: str) -> float:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    raw = text.strip().lower().removesuffix("/s").removesuffix("b")
    scale = units.get(raw[-1:], 1)
    try:
        value = float(raw[:-1] if scale != 1 else raw) * scale
    except ValueError:
        value = -1
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected bytes per second like 2M or 500K, not {text!r}")
    return value


def _emulator_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(
        "emulator",
        help="run the X media API emulator in the foreground",
        description="Serve an emulator of X's media upload API. Without credential flags it "
        "accepts the public demo set it prints.",
    )
    cmd.add_argument("--host", default="127.0.0.1")
    cmd.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    auth = cmd.add_argument_group("credentials it accepts (default: the demo set)")
    auth.add_argument("--consumer-key")
    auth.add_argument("--consumer-secret")
    auth.add_argument("--access-token")
    auth.add_argument("--access-token-secret")
    auth.add_argument("--user-token", help="an OAuth 2.0 user token with media.write")
    auth.add_argument(
        "--user-token-lifetime",
        type=float,
        metavar="SECONDS",
        help="the user token stops working this long after start",
    )
    auth.add_argument("--app-bearer-token", help="an app-only token, refused for uploads as X does")
    tls = cmd.add_argument_group("TLS")
    tls.add_argument("--ssl-certfile")
    tls.add_argument("--ssl-keyfile")
    state = cmd.add_argument_group("state")
    state.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="SQLite state file (kept across restarts, shareable by processes); "
        "default: a temporary one",
    )
    state.add_argument("--keep-media", action="store_true", help="keep uploaded bytes on disk")
    proc = cmd.add_argument_group("processing")
    proc.add_argument(
        "--processing-seconds",
        type=_processing_seconds,
        default=(2.0, 8.0),
        metavar="S|LOW,HIGH",
        help="how long video/GIF processing takes (default 2,8)",
    )
    proc.add_argument("--processing-failure-rate", type=_rate, default=0.0)
    proc.add_argument("--seed", type=int)
    limits = cmd.add_argument_group("rate limits")
    limits.add_argument(
        "--rate-limits",
        choices=("on", "off"),
        default="on",
        help="X's published per-user (15 min) and per-app (24 h) budgets (default on)",
    )
    limits.add_argument(
        "--rate-window",
        type=float,
        metavar="SECONDS",
        help="shorten the 15-minute window (the 24-hour one shrinks in proportion)",
    )
    faults = cmd.add_argument_group("fault injection (seeded by --seed)")
    faults.add_argument(
        "--fault",
        action="append",
        default=[],
        type=_fault,
        metavar="COMMAND:STATUS:RATE",
        help="answer this share of COMMAND requests (INIT, APPEND, FINALIZE, STATUS, UPLOAD, "
        "METADATA or *) with STATUS, e.g. APPEND:503:0.02; repeatable",
    )
    faults.add_argument(
        "--drop-rate",
        type=_rate,
        default=0.0,
        help="share of requests whose connection is closed without an answer",
    )
    faults.add_argument(
        "--latency",
        type=_latency,
        metavar="TIME|LOW-HIGH",
        help="added latency per request, e.g. 150ms or 50ms-200ms",
    )
    faults.add_argument(
        "--bandwidth",
        type=_bandwidth,
        metavar="BYTES/S",
        help="cap on how fast each connection's request body is read, e.g. 2M or 500K",
    )
    compat = cmd.add_argument_group("compatibility")
    compat.add_argument(
        "--allow-command-form",
        action="store_true",
        help="serve the retired POST /2/media/upload?command= form (for old clients)",
    )


def _fault_table(entries: list[tuple[str, int, float]]) -> dict[str, dict[str | int, float]]:
    table: dict[str, dict[str | int, float]] = {}
    for command, status, rate in entries:
        table.setdefault(command, {})[status] = rate
    return table


def _run_emulator(args: argparse.Namespace) -> int:
    from .emulator import Emulator, serve

    if bool(args.consumer_key) != bool(args.consumer_secret):
        print("mediakit emulator: give both --consumer-key and --consumer-secret", file=sys.stderr)
        return 2
    if bool(args.access_token) != bool(args.access_token_secret):
        print(
            "mediakit emulator: give both --access-token and --access-token-secret",
            file=sys.stderr,
        )
        return 2
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        print("mediakit emulator: give both --ssl-certfile and --ssl-keyfile", file=sys.stderr)
        return 2
    emulator = Emulator(
        state=args.state,
        consumer_key=args.consumer_key,
        consumer_secret=args.consumer_secret,
        access_token=args.access_token,
        access_token_secret=args.access_token_secret,
        user_token=args.user_token,
        user_token_lifetime_s=args.user_token_lifetime,
        app_bearer_token=args.app_bearer_token,
        processing_seconds=args.processing_seconds,
        processing_failure_rate=args.processing_failure_rate,
        seed=args.seed,
        keep_media=args.keep_media,
        allow_command_form=args.allow_command_form,
        rate_limits=args.rate_limits == "on",
        rate_window_s=args.rate_window,
        faults=_fault_table(args.fault),
        drop_rate=args.drop_rate,
        latency=args.latency,
        bandwidth=args.bandwidth,
    )
    try:
        serve(
            emulator,
            args.host,
            args.port,
            ssl_certfile=args.ssl_certfile,
            ssl_keyfile=args.ssl_keyfile,
        )
    except OSError as exc:
        print(
            f"mediakit emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        return 1
    finally:
        emulator.close()
    return 0


EXAMPLES = """\
examples:
  mediakit demo                                   # start here: sample media → the emulator
  mediakit upload campaign/ --out results.parquet # the built-in emulator unless --target x
  mediakit upload campaign.csv --target x --journal campaign.sqlite
  mediakit plan campaign/                         # requests per endpoint against X's budgets
  mediakit journal campaign.sqlite                # the latest batch's summary
  mediakit emulator --port 8765                   # X's media API, for your own code

`mediakit COMMAND --help` shows each command's options, examples and exit codes.
"""


def _parser() -> argparse.ArgumentParser:
    from . import __version__, _cli_demo, _cli_journal, _cli_plan, _cli_upload
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
    _cli_plan.add_parser(sub)
    _cli_journal.add_parser(sub)
    _emulator_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ._cli_common import EXIT_CANCELLED, EXIT_FAILED, EXIT_USAGE, UsageError
    from ._errors import ConfigurationError, JournalError, MediaError, MediakitError

    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "emulator":
        return _run_emulator(args)
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
