"""The `mediakit` command."""

from __future__ import annotations

import argparse
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
    compat = cmd.add_argument_group("compatibility")
    compat.add_argument(
        "--allow-command-form",
        action="store_true",
        help="serve the retired POST /2/media/upload?command= form (for old clients)",
    )


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mediakit", description="Batch media uploads to X, and an offline X media API."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _emulator_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "emulator":
        return _run_emulator(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
