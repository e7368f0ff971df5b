"""Run every bench and write bench/RESULTS.md: the machine, the versions, every figure.

Usage: python bench/run.py [--quick] [--only NAME,...] [--out PATH]

Each bench is a script run as a subprocess, `python bench/NAME.py [--quick] --json PATH`,
one after the other (never two at once: they would measure each other). Its JSON is a dict;
the shape bench/_workloads.py `write_json` writes is rendered as a table:

    {"bench": "throughput", "title": "...", "settings": {"key": value, ...},
     "figures": [{"name": "...", "value": 1.2, "unit": "×", "ratio": true,
                  "aim": "≥ 0.8", "met": true, "note": "..."}, ...],
     "notes": ["..."], "machine": {...}}

and any other dict as key / value rows. A script missing from this checkout is reported
"not run"; one that fails is reported with the end of its error output, and the run goes on
(exit status 1 at the end). Progress goes to stderr.

`--quick` is the smoke test CI runs: every bench scaled down (under 3 minutes in all); its
figures show the scripts work, not how fast anything is. Its default `--out` is
bench/RESULTS-quick.md (ignored by git). The full run (defaults) is sized to fit in about
30 minutes on 2 cores once the workloads are cached (~/.cache/mediakit-bench; the first run
makes them, a few minutes more).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _workloads as w

ROOT = w.ROOT
BENCH = ROOT / "bench"


@dataclass(frozen=True)
class Bench:
    name: str  # the script is bench/NAME.py
    what: str
    full: tuple[str, ...] = ()  # extra arguments of the full run
    quick: tuple[str, ...] = ()  # extra arguments of the quick run (besides --quick)
    timeout_s: float = 900.0
    quick_timeout_s: float = 300.0  # a smoke run that takes this long is hung, not slow
    rate_limits: str = "off"


BENCHES = (
    Bench(
        "peers",
        "200 photos and 50 mixed files: mediakit against tweepy and xdk, one file at a time",
        rate_limits="on",
        timeout_s=1500,
    ),
    Bench("throughput", "1 GiB of large videos against raw HTTP POSTs of the same bytes"),
    Bench("small_files", "5,000 pictures against a minimal httpx INIT/APPEND/FINALIZE loop"),
    Bench("memory", "peak RSS: a 2 GiB Premium video, and per file of a 10,000-file batch"),
    Bench("rate_pressure", "a batch larger than one window's budget", rate_limits="on"),
    Bench("batch", "50 mixed files against the ideal schedule and one at a time"),
    Bench("preflight", "preflight's bytes read and time, repair's throughput"),
    Bench("batch_preflight", "what preflight adds to a batch of photos", full=("--small",)),
    Bench("repair_overlap", "fix=True: how much of the repair hides behind the uploads"),
    Bench("import_time", "import mediakit against import pandas"),
    Bench("frames", "the events frame of 100,000 events against DataFrame.from_records"),
    Bench("eta", "the dashboard's ETA at 25/50/75 % of a batch against the time really left"),
    Bench("dashboard_overhead", "the widget dashboard's cost in a real kernel"),
    Bench(
        "background_job",
        "a background upload job (wait=False) while other cells block, in a real kernel",
        timeout_s=600,
    ),
)


@dataclass
class Outcome:
    bench: Bench
    status: str  # ok, not run, failed
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)
    stdout: str = ""
    error: str = ""
    stderr: str = ""  # the end of a failed bench's error output


def run_one(bench: Bench, quick: bool, folder: Path) -> Outcome:
    script = BENCH / f"{bench.name}.py"
    if not script.exists():
        w.progress(f"{bench.name}: not run (bench/{bench.name}.py is not in this checkout)")
        return Outcome(bench, "not run", error=f"bench/{bench.name}.py is not in this checkout")
    out = folder / f"{bench.name}.json"
    cmd = [sys.executable, str(script), *(("--quick", *bench.quick) if quick else bench.full)]
    cmd += ["--json", str(out)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("MEDIAKIT_PROGRESS", None)
    w.progress(f"{bench.name}: {' '.join(cmd[1:])}")
    started = time.perf_counter()
    # A session of its own: a timeout ends the bench and the servers it started, together.
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    stderr: list[str] = []
    lines: list[str] = []

    def relay() -> None:  # the bench's progress, shown as it comes and kept for a failure
        assert proc.stderr is not None
        for line in proc.stderr:
            sys.stderr.write(line)
            stderr.append(line)

    def collect() -> None:
        assert proc.stdout is not None
        lines.extend(proc.stdout)

    readers = [threading.Thread(target=f, daemon=True) for f in (relay, collect)]
    for reader in readers:
        reader.start()
    timeout = bench.quick_timeout_s if quick else bench.timeout_s
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return Outcome(bench, "failed", time.perf_counter() - started, stdout="".join(lines),
                       error=f"timed out after {timeout:.0f} s")  # fmt: skip
    for reader in readers:
        reader.join(10)
    stdout = "".join(lines)
    seconds = time.perf_counter() - started
    if proc.returncode != 0 or not out.exists():
        why = f"exit status {proc.returncode}" if proc.returncode else "no JSON written"
        tail = "".join(stderr[-15:]).strip()
        w.progress(f"{bench.name}: FAILED ({why}) after {seconds:.0f} s")
        return Outcome(bench, "failed", seconds, stdout=stdout, error=why, stderr=tail)
    data = json.loads(out.read_text())
    if not isinstance(data, dict) or not data:
        return Outcome(bench, "failed", seconds, stdout=stdout, error="empty JSON")
    w.progress(f"{bench.name}: done in {seconds:.0f} s")
    return Outcome(bench, "ok", seconds, data, stdout)


# ---------------------------------------------------------------------------------------------
# Rendering


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def git_commit() -> str:
    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                              capture_output=True, text=True, check=True)  # fmt: skip
        branch = subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, check=True)  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{done.stdout.strip()} ({branch.stdout.strip()})"


def mediakit_version() -> str:
    done = subprocess.run([sys.executable, "-c", "import mediakit; print(mediakit.__version__)"],
                          cwd=ROOT, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    return done.stdout.strip() or "unknown"


def cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.1f}"
    elif isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    elif isinstance(value, dict | list):
        text = json.dumps(value)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def verdict(row: dict[str, Any]) -> str:
    if "aim" not in row:
        return ""
    return {True: "met", False: "**missed**"}.get(row.get("met"), "?")


def render_figures(data: dict[str, Any]) -> list[str]:
    figures = data.get("figures")
    if isinstance(figures, list) and all(isinstance(f, dict) and "name" in f for f in figures):
        lines = ["| figure | value | aim | |", "|---|---|---|---|"]
        for f in figures:
            value = f"{cell(f.get('value'))} {f.get('unit') or ''}".strip()
            if f.get("ratio"):
                value = f"**{value}**"
            note = f" ({cell(f['note'])})" if f.get("note") else ""
            lines.append(f"| {cell(f['name'])}{note} | {value} | {cell(f.get('aim'))} | "
                         f"{verdict(f)} |")  # fmt: skip
        return lines
    # Another shape: every top-level entry, as it is.
    lines = ["| key | value |", "|---|---|"]
    for key, value in data.items():
        if key not in ("machine",):
            lines.append(f"| {cell(key)} | {cell(value)} |")
    return lines


def aims(outcome: Outcome) -> list[dict[str, Any]]:
    figures = outcome.data.get("figures")
    if not isinstance(figures, list):
        return []
    marked = [f for f in figures if isinstance(f, dict) and "aim" in f]
    # Without an aim, the side-by-side ratios are the headline.
    return marked or [f for f in figures if isinstance(f, dict) and f.get("ratio")]


def render(outcomes: list[Outcome], args: argparse.Namespace, started: dt.datetime,
           load_before: list[float], total_s: float) -> str:  # fmt: skip
    m = w.machine()
    mode = "quick (smoke test: scaled down)" if args.quick else "full"
    lines = ["# mediakit benchmark results", ""]
    if args.quick:
        lines += [
            "> **Quick run (`--quick`)**: every bench scaled down to check the scripts work. "
            "These figures are not results; a full run (`python bench/run.py`) is.",
            "",
        ]
    lines += [
        f"Written by `python bench/run.py{' --quick' if args.quick else ''}"
        f"{' --only ' + args.only if args.only else ''}` on {started:%Y-%m-%d %H:%M} UTC "
        f"({mode}; {total_s / 60:.1f} minutes). Every ratio is measured side by side in this "
        "one run; the scripts' docstrings say exactly what each measures.",
        "",
        "## Machine and versions",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['cpu']} |",
        f"| cores | {m['cores']} (client and servers share them) |",
        f"| memory | {m['memory_gib']} GiB |",
        f"| OS | {m['os']} |",
        f"| Python | {m['python']} |",
        f"| load average | {' '.join(map(str, load_before))} at the start, "
        f"{' '.join(map(str, m['load_average']))} at the end (1, 5, 15 min) |",
        f"| mediakit | {mediakit_version()}, commit {git_commit()} |",
    ]
    for package, shown in (("httpx", "httpx"), ("tweepy", "tweepy"), ("xdk", "xdk"),
                           ("av", "PyAV"), ("pandas", "pandas"), ("starlette", "starlette"),
                           ("uvicorn", "uvicorn")):  # fmt: skip
        lines.append(f"| {shown} | {version(package)} |")
    lines += [
        "",
        "Settings common to all: client and servers on 127.0.0.1, servers in their own "
        "processes; workloads seeded and generated once (real encoded media: Pillow pictures, "
        "PyAV H.264), cached in `~/.cache/mediakit-bench`. Rate limits are off except where "
        "the summary says on.",
        "",
        "## Summary",
        "",
        "| bench | what | rate limits | status | headline figures (aims) |",
        "|---|---|---|---|---|",
    ]
    for o in outcomes:
        marks = aims(o)
        summary = ", ".join(
            (
                f"{cell(f['name'])}: {cell(f.get('value'))} {f.get('unit') or ''}".rstrip()
                + (f" (aim {cell(f['aim'])}, {verdict(f)})" if "aim" in f else "")
            )
            for f in marks
        )
        status = o.status if o.status != "ok" else f"ok ({o.seconds:.0f} s)"
        if o.status == "not run":
            status = f"not run: {o.error}"
        lines.append(f"| [{o.bench.name}](#{o.bench.name.replace('_', '-')}) | {o.bench.what} | "
                     f"{o.bench.rate_limits} | {status} | {summary or '–'} |")  # fmt: skip
    for o in outcomes:
        lines += ["", f"## {o.bench.name}", ""]
        title = o.data.get("title")
        lines.append(f"**{title}** (`bench/{o.bench.name}.py`)." if title else
                     f"`bench/{o.bench.name}.py`: {o.bench.what}.")  # fmt: skip
        lines.append("")
        if o.status == "not run":
            lines.append(f"Not run: {o.error}.")
            continue
        if o.status == "failed":
            lines += [f"**Failed**: {o.error}.", ""]
            if o.stderr:
                lines += ["```", o.stderr[-3000:], "```", ""]
        settings = o.data.get("settings")
        if isinstance(settings, dict) and settings:
            lines.append("Settings: " + "; ".join(f"{k} {cell(v)}" for k, v in settings.items())
                         + ".")  # fmt: skip
            lines.append("")
        if o.data:
            lines += render_figures(o.data)
        for note in o.data.get("notes") or []:
            lines += ["", f"- {note}"]
        if o.stdout.strip():
            lines += ["", "<details><summary>output</summary>", "", "```",
                      o.stdout.strip()[-6000:], "```", "", "</details>"]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="scaled down: the CI smoke test")
    parser.add_argument("--only", help="comma-separated bench names: " +
                        ", ".join(b.name for b in BENCHES))  # fmt: skip
    parser.add_argument("--out", type=Path, help="default bench/RESULTS.md "
                        "(bench/RESULTS-quick.md with --quick)")  # fmt: skip
    args = parser.parse_args()
    chosen = list(BENCHES)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(names) - {b.name for b in BENCHES})
        if unknown:
            parser.error(f"unknown bench names: {', '.join(unknown)}")
        chosen = [b for b in BENCHES if b.name in names]
    out = args.out or BENCH / ("RESULTS-quick.md" if args.quick else "RESULTS.md")
    started = dt.datetime.now(dt.UTC)
    load_before = [round(x, 2) for x in os.getloadavg()]
    clock = time.perf_counter()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="mediakit-bench-") as tmp:
        for index, bench in enumerate(chosen, 1):
            w.progress(
                f"({index}/{len(chosen)}) {bench.name}, {time.perf_counter() - clock:.0f} s in"
            )
            outcomes.append(run_one(bench, args.quick, Path(tmp)))
    total = time.perf_counter() - clock
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(outcomes, args, started, load_before, total))
    failed = [o.bench.name for o in outcomes if o.status == "failed"]
    empty = [o.bench.name for o in outcomes if o.status == "ok" and not o.data.get("figures")]
    w.progress(f"wrote {out} in {total / 60:.1f} minutes"
               + (f"; FAILED: {', '.join(failed)}" if failed else "")
               + (f"; no figures: {', '.join(empty)}" if empty else ""))  # fmt: skip
    return 1 if failed or empty else 0


if __name__ == "__main__":
    sys.exit(main())
