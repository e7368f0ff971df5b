"""`mediakit emulator`: serve the X media API emulator in the foreground.

Bad flag values are refused by argparse (exit code 2, a message naming the flag), never
accepted silently and never with a traceback. Secrets may come from flags, a secrets file or
the environment (a flag shows in the process list; the other two do not): for each, a flag
wins over the file, and the file over the environment.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["SECRET_ENV", "add_parser", "run"]

# Where each credential may also come from: an environment variable, or the same NAME=value
# line in a --secrets-file.
SECRET_ENV: Mapping[str, str] = {
    "consumer_key": "MEDIAKIT_EMULATOR_CONSUMER_KEY",
    "consumer_secret": "MEDIAKIT_EMULATOR_CONSUMER_SECRET",
    "access_token": "MEDIAKIT_EMULATOR_ACCESS_TOKEN",
    "access_token_secret": "MEDIAKIT_EMULATOR_ACCESS_TOKEN_SECRET",
    "user_token": "MEDIAKIT_EMULATOR_USER_TOKEN",
    "app_bearer_token": "MEDIAKIT_EMULATOR_APP_BEARER_TOKEN",
}
# X's fault commands (mediakit.emulator._faults.COMMANDS), repeated so --help needs no import.
FAULT_COMMANDS = "INIT, APPEND, FINALIZE, STATUS, UPLOAD, METADATA, SUBTITLES or *"

EXAMPLES = """\
examples:
  mediakit emulator --port 8765
  mediakit emulator --state emu.sqlite --log-requests
  mediakit emulator --processing-scale 0.1 --fault APPEND:503:0.02 --fault FINALIZE:lost:0.05
  MEDIAKIT_EMULATOR_USER_TOKEN=... mediakit emulator --secrets-file secrets.env
"""


# value parsers: each raises ArgumentTypeError, which argparse turns into exit code 2


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, not {text!r}")
    return value


def _seconds(text: str) -> float:
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, not {text!r}")
    return value


def _positive(text: str) -> float:
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, not {text!r}")
    return value


def _rate(text: str) -> float:
    value = _finite(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a rate between 0 and 1, not {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(
            f"expected a port between 0 and 65535 (0 picks a free one), not {text!r}"
        )
    return value


def _check_after(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected whole seconds >= 1, not {text!r}")
    return value


def _processing_seconds(text: str) -> tuple[float, float] | float:
    """'5' → 5 s for every media; '2,10' → between 2 and 10 s, drawn per content."""
    try:
        parts = [float(part) for part in text.split(",")]
    except ValueError:
        parts = []
    ok = len(parts) in (1, 2) and all(math.isfinite(v) and v >= 0 for v in parts)
    if not ok or (len(parts) == 2 and parts[1] < parts[0]):
        raise argparse.ArgumentTypeError(
            f"expected SECONDS or LOW,HIGH with 0 <= LOW <= HIGH (e.g. 5 or 2,10), not {text!r}"
        )
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


_COST_KINDS = {
    "video": ("tweet_video", "dm_video", "amplify_video"),
    "gif": ("tweet_gif", "dm_gif"),
}


def _processing_cost(text: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """'video=3,0.25,0.2,2' → the categories it names and BASE,PER_MB,PER_SECOND[,NOISE]."""
    name, _, numbers = text.partition("=")
    name = name.strip().lower()
    categories = _COST_KINDS.get(name) or (
        (name,) if name in {c for group in _COST_KINDS.values() for c in group} else ()
    )
    try:
        values = tuple(float(part) for part in numbers.split(","))
    except ValueError:
        values = ()
    if (
        not categories
        or len(values) not in (3, 4)
        or not all(math.isfinite(v) and v >= 0 for v in values)
    ):
        raise argparse.ArgumentTypeError(
            "expected CATEGORY=BASE,PER_MB,PER_SECOND[,NOISE] with numbers >= 0, CATEGORY "
            f"video, gif or one of {', '.join(c for g in _COST_KINDS.values() for c in g)}; "
            f"not {text!r}"
        )
    return categories, values


def _wrap(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parsed(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parsed


def _fault(text: str) -> Any:
    from ._faults import parse_fault

    return _wrap(parse_fault)(text)


def _latency(text: str) -> Any:
    from ._faults import parse_latency

    return _wrap(parse_latency)(text)


def _bandwidth(text: str) -> float:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    raw = text.strip().lower().removesuffix("/s").removesuffix("b")
    scale = units.get(raw[-1:], 1)
    try:
        value = float(raw[:-1] if scale != 1 else raw) * scale
    except ValueError:
        value = -1
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected bytes per second like 2M or 500K, not {text!r}")
    return value


# the parser


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `mediakit emulator` on the `mediakit` command's subparsers."""
    cmd = sub.add_parser(
        "emulator",
        help="run the X media API emulator in the foreground",
        description="Serve an emulator of X's media upload API. Without credential flags it "
        "accepts the public demo set it prints. Ctrl-C or SIGTERM stops it.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("--host", default="127.0.0.1")
    cmd.add_argument("--port", type=_port, default=8765, help="0 picks a free port")
    cmd.add_argument(
        "--log-requests", action="store_true", help="print one line per request (to stderr)"
    )
    cmd.add_argument(
        "--keep-alive",
        type=_seconds,
        metavar="SECONDS",
        help="how long idle connections stay open (default 400, as X's front end)",
    )
    auth = cmd.add_argument_group(
        "credentials it accepts (default: the demo set); each also from "
        + ", ".join(sorted(SECRET_ENV.values()))
        + " or a --secrets-file line NAME=value"
    )
    auth.add_argument("--consumer-key")
    auth.add_argument("--consumer-secret")
    auth.add_argument("--access-token")
    auth.add_argument("--access-token-secret")
    auth.add_argument("--user-token", help="an OAuth 2.0 user token with media.write")
    auth.add_argument(
        "--user-token-lifetime",
        type=_seconds,
        metavar="SECONDS",
        help="the user token stops working this long after start",
    )
    auth.add_argument("--app-bearer-token", help="an app-only token, refused for uploads as X does")
    auth.add_argument("--secrets-file", type=Path, metavar="FILE", help="NAME=value lines")
    tls = cmd.add_argument_group("TLS")
    tls.add_argument("--ssl-certfile")
    tls.add_argument("--ssl-keyfile")
    state = cmd.add_argument_group("state")
    state.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="SQLite state file (kept across restarts, shareable by processes); "
        "default: a temporary one, removed on exit",
    )
    state.add_argument("--keep-media", action="store_true", help="keep uploaded bytes on disk")
    proc = cmd.add_argument_group("processing (README: 'Processing model')")
    proc.add_argument(
        "--processing-cost",
        type=_processing_cost,
        action="append",
        default=[],
        metavar="CATEGORY=BASE,PER_MB,PER_S[,NOISE]",
        help="seconds of processing: BASE + PER_MB x MB + PER_S x seconds of video, "
        "± NOISE; CATEGORY video, gif or a category; repeatable",
    )
    proc.add_argument(
        "--processing-seconds",
        type=_processing_seconds,
        metavar="S|LOW,HIGH",
        help="replace the model: a fixed time, or a range drawn per content",
    )
    proc.add_argument(
        "--processing-scale",
        type=_positive,
        metavar="FACTOR",
        help="multiply every processing time (0.1: ten times faster)",
    )
    proc.add_argument("--processing-failure-rate", type=_rate, default=0.0)
    proc.add_argument("--max-check-after", type=_check_after, metavar="SECONDS", help="default 10")
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
        type=_seconds,
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
        help=f"answer this share of COMMAND requests ({FAULT_COMMANDS}) with STATUS, e.g. "
        "APPEND:503:0.02; STATUS 'lost' does the work and closes the connection without an "
        "answer, e.g. FINALIZE:lost:0.05; repeatable",
    )
    faults.add_argument(
        "--drop-rate",
        type=_rate,
        default=0.0,
        help="share of requests whose connection is closed without an answer, before any work",
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
    compat = cmd.add_argument_group("compatibility (X's behaviour changed over time)")
    compat.add_argument(
        "--allow-command-form",
        action="store_true",
        help="serve the retired POST /2/media/upload?command= form (for old clients)",
    )
    compat.add_argument("--finalize-twice", choices=("idempotent", "error"))
    compat.add_argument("--problem-host", choices=("api.x.com", "api.twitter.com"))
    compat.add_argument("--v1-bearer-status", type=int, choices=(403, 400))
    compat.add_argument("--v2-missing-category", choices=("post", "sync"))
    compat.add_argument("--one-shot-spec", choices=("2026", "2025"))
    compat.add_argument("--status-of-sync-media", choices=("not_found", "object"))
    cmd.set_defaults(run=run)


# running it


def _fail(message: str) -> int:
    print(f"mediakit emulator: {message}", file=sys.stderr)
    return 2


def _read_secrets_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    known = set(SECRET_ENV.values())
    for number, raw in enumerate(path.read_text("utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        name = name.strip()
        if not sep or name not in known:
            raise ValueError(
                f"{path}:{number}: expected NAME=value with NAME one of {', '.join(sorted(known))}"
            )
        values[name] = value.strip().strip("'\"")
    return values


def _credentials(args: argparse.Namespace) -> dict[str, str | None]:
    """Each credential from its flag, else the secrets file, else the environment."""
    from_file = _read_secrets_file(args.secrets_file) if args.secrets_file else {}
    found: dict[str, str | None] = {}
    for name, env in SECRET_ENV.items():
        found[name] = getattr(args, name) or from_file.get(env) or os.environ.get(env) or None
    return found


def _fault_table(entries: list[tuple[str, int | str, float]]) -> dict[str, dict[str | int, float]]:
    table: dict[str, dict[str | int, float]] = {}
    for command, status, rate in entries:
        table.setdefault(command, {})[status] = rate
    return table


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The Emulator settings the flags ask for; unset flags keep the Emulator's defaults."""
    from ._processing import DEFAULT_PROCESSING_COSTS, ProcessingCost

    settings: dict[str, Any] = {}
    optional = {
        "processing_seconds": args.processing_seconds,
        "processing_scale": args.processing_scale,
        "max_check_after_secs": args.max_check_after,
        "keep_alive_s": args.keep_alive,
        "finalize_twice": args.finalize_twice,
        "problem_host": args.problem_host,
        "v1_bearer_status": args.v1_bearer_status,
        "v2_missing_category": args.v2_missing_category,
        "one_shot_spec": args.one_shot_spec,
        "status_of_sync_media": args.status_of_sync_media,
    }
    settings.update({name: value for name, value in optional.items() if value is not None})
    if args.processing_cost:
        costs = dict(DEFAULT_PROCESSING_COSTS)
        for categories, values in args.processing_cost:
            base, per_mb, per_s, *noise = values
            for category in categories:
                costs[category] = ProcessingCost(base, per_mb, per_s, noise[0] if noise else 0.0)
        settings["processing_costs"] = costs
    return settings


def _configure_logging(log_requests: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    emulator_log = logging.getLogger("mediakit.emulator")
    emulator_log.addHandler(handler)
    emulator_log.setLevel(logging.WARNING)
    emulator_log.propagate = False
    logging.getLogger("mediakit.emulator.requests").setLevel(
        logging.INFO if log_requests else logging.WARNING
    )


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM; 0 then, 1 when it cannot listen, 2 for bad usage."""
    from ._server import _interrupt_on_stop_signals

    # Stop signals raise KeyboardInterrupt from here on, so the temporary state is removed
    # whenever the process is asked to stop, even before the server runs.
    try:
        _interrupt_on_stop_signals()
        return _serve(args)
    except KeyboardInterrupt:
        return 0


def _serve(args: argparse.Namespace) -> int:
    from ._app import Emulator
    from ._server import serve
    from ._store import NotAStateFile, check_state_file

    try:
        creds = _credentials(args)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return _fail(f"--secrets-file: {exc}")
    for first, second in (
        ("consumer_key", "consumer_secret"),
        ("access_token", "access_token_secret"),
    ):
        if bool(creds[first]) != bool(creds[second]):
            flags = f"--{first.replace('_', '-')} and --{second.replace('_', '-')}"
            return _fail(f"give both {flags} (or {SECRET_ENV[first]} and {SECRET_ENV[second]})")
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        return _fail("give both --ssl-certfile and --ssl-keyfile")
    if args.state is not None:
        try:
            check_state_file(args.state)
        except NotAStateFile as exc:
            return _fail(f"--state: {exc}")
    _configure_logging(args.log_requests)
    try:
        emulator = Emulator(
            state=args.state,
            consumer_key=creds["consumer_key"],
            consumer_secret=creds["consumer_secret"],
            access_token=creds["access_token"],
            access_token_secret=creds["access_token_secret"],
            user_token=creds["user_token"],
            user_token_lifetime_s=args.user_token_lifetime,
            app_bearer_token=creds["app_bearer_token"],
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
            **_settings(args),
        )
    except NotAStateFile as exc:
        return _fail(f"--state: {exc}")
    except ValueError as exc:
        return _fail(str(exc))
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
