"""How far off the dashboard's ETA is at 25, 50 and 75 % of a batch (aim: within ±30 %).

A mixed sample folder (`mk.samples.make_folder`: photos, animated GIFs, H.264 videos; the two
bad files left out) is uploaded on a scaled clock (default 3×) with added latency per request
and the emulator's default processing model (time per category from size and video seconds,
with noise), in two scenarios: processing-bound (the in-process emulator: uploads are quick,
X's processing is most of the batch) and upload-bound (the emulator on a socket with a
bandwidth cap per connection, default 1 MiB/s: sending is most of the batch). A progress view
records, at every redraw (at least one a second), what the dashboard would show: the ETA of
`mediakit._eta.EtaEstimator` (the dashboard's), and beside it the ETA mediakit showed before
(`old_eta`: bytes left at the recent rate, or X's processing extrapolated from its last
percent as if reported now, whichever is later).

Afterwards the batch's true end is known (the last file's `finished_at`, on the batch's clock).
At 25/50/75 % of the batch's duration the nearest redraw's ETA is compared with the time that
was really left: error = (ETA - left) / left. Printed per run and as the median |error| over
runs, for both estimators side by side. A redraw with no ETA (nothing known yet) counts as
missing, not as 0.

Usage: python bench/eta.py [--files 40] [--runs 3] [--scale 3] [--latency-ms 150] [--mib-s 1]
       [--seed 1] [--history] [--trace] [--quick] [--json PATH]
       (exit 1 when a median error of the new ETA is over 30 %, except with --json, where the
       figures say it: bench/run.py reads them)

--quick: 10 files, one run per scenario: a smoke test of the script, not a measurement.

--history: the ETA starts from what one earlier batch of the same mix measured (another
seed; `History.from_items` of its items, as a journal would give), instead of the documented
defaults: how much of the error early in a batch is the prior's. --trace prints every
redraw's ETA parts (`EtaEstimator.last`) against the time really left.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import mediakit as mk
from mediakit._eta import EtaEstimator
from mediakit._forecast import History
from mediakit._records import FINAL_STATES, FileRecord
from mediakit._snapshot import Throughput
from mediakit._view import NullView
from mediakit.emulator import Emulator, running

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _workloads as w

FRACTIONS = (0.25, 0.5, 0.75)
PARTS = ("processing_s", "uploads_s", "queue_s")  # EtaEstimator.last, printed by --trace


def old_eta(records: list[FileRecord], now: float, rate: Throughput) -> float | None:
    """The ETA as mediakit computed it before `_eta` (kept here to measure the change)."""
    left = sum(1 for r in records if r.state not in FINAL_STATES)
    if left == 0:
        return 0.0
    sent = sum(min(r.bytes or 0, r.bytes_done) for r in records if r.state != "invalid")
    done = len(records) - left
    rate.add(sent, done)
    bytes_per_s, files_per_s = rate.rates()
    bytes_left = sum(
        max(0, (r.bytes or 0) - r.bytes_done) for r in records if r.state not in FINAL_STATES
    )
    estimates = []
    for r in records:
        since = r.uploaded_at
        if r.state == "processing" and r.progress_percent and since is not None and now > since:
            p = min(r.progress_percent, 100)
            estimates.append((now - since) * (100 - p) / p)
    if bytes_left > 0 and bytes_per_s:
        estimates.append(bytes_left / bytes_per_s)
    if estimates:
        return max(estimates)
    return left / files_per_s if files_per_s else None


class Recorder(NullView):
    """Records (batch time, new ETA, old ETA) at every redraw, as the dashboard would see."""

    def __init__(self, history: History | None = None) -> None:
        super().__init__()
        self.eta = EtaEstimator(history)
        self.old_rate: Throughput | None = None
        self.samples: list[tuple[float, float | None, float | None]] = []
        self.trace: list[tuple[float, dict[str, float], str]] = []  # for --trace

    def draw(self) -> None:
        assert self.live is not None
        result = self.live()
        if result.started_at is None or result.elapsed_s is None:
            return
        now = result.started_at + result.elapsed_s
        if self.old_rate is None:
            self.old_rate = Throughput(now=lambda: self._now)
        self._now = now
        records = result.records
        self.eta.observe(records, now, result.event_log)
        new = self.eta.estimate(records, now)
        old = old_eta(records, now, self.old_rate)
        self.samples.append((now, new, old))
        states: dict[str, int] = {}
        for r in records:
            states[r.state] = states.get(r.state, 0) + 1
        counts = " ".join(f"{k}={v}" for k, v in states.items())
        self.trace.append((now, dict(self.eta.last), counts))


def one_run(
    files: Any,
    args: argparse.Namespace,
    seed: int,
    scenario: str,
    history: History | None = None,
) -> dict[str, Any]:
    clock = mk.ScaledClock(args.scale)
    with tempfile.TemporaryDirectory() as tmp:
        # Bandwidth is capped in real time per connection: in batch time it is cap × scale.
        bandwidth = args.mib_s * 2**20 / args.scale if scenario == "upload-bound" else None
        emu = Emulator(
            clock=clock,
            seed=seed,
            latency=args.latency_ms / 1000,
            bandwidth=bandwidth,
            rate_limits=False,
            state=Path(tmp) / "emu.sqlite",
        )
        view = Recorder(history)
        options: dict[str, Any] = {"clock": clock, "progress": view, "journal": False}
        try:
            if scenario == "upload-bound":
                with running(emu) as url:
                    result = asyncio.run(mk.upload_files_async(files, base_url=url, **options))
            else:
                result = asyncio.run(mk.upload_files_async(files, emulator=emu, **options))
        finally:
            emu.close()
    assert result.ok, result.summary()
    records = result.records
    start = min(r.started_at for r in records if r.started_at is not None)
    end = max(r.finished_at for r in records if r.finished_at is not None)
    duration = end - start
    out: dict[str, Any] = {"duration_s": duration, "draws": len(view.samples), "result": result}
    if args.trace:
        print("    t(from start)  true left   ETA   processing_s uploads_s queue_s  states")
        for (now, new, _), (_, parts, states) in zip(view.samples, view.trace, strict=True):
            cells = " ".join(f"{parts.get(k, 0.0):9.1f}" for k in PARTS)
            eta = "  none" if new is None else f"{new:6.1f}"
            print(f"    {now - start:8.1f} {end - now:12.1f} {eta} {cells}  {states}")
    for fraction in FRACTIONS:
        at = start + fraction * duration
        now, new, old = min(view.samples, key=lambda s: abs(s[0] - at))
        left = end - now
        out[fraction] = tuple(None if e is None else (e - left) / left for e in (new, old))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=3.0, help="batch seconds per second")
    parser.add_argument("--latency-ms", type=float, default=150.0, help="added per request")
    parser.add_argument(
        "--mib-s", type=float, default=1.0, help="upload-bound: MiB/s per connection"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--only", choices=("processing-bound", "upload-bound"), help="run one scenario"
    )
    parser.add_argument(
        "--history", action="store_true", help="start from an earlier batch's measurements"
    )
    parser.add_argument(
        "--trace", action="store_true", help="print each redraw's ETA parts against the truth"
    )
    parser.add_argument("--quick", action="store_true", help="10 files, 1 run: a smoke test")
    parser.add_argument("--json", type=Path, help="write the figures for bench/run.py")
    args = parser.parse_args()
    if args.quick:
        args.files, args.runs = 10, 1

    worst = 0.0
    figures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = mk.samples.make_folder(Path(tmp) / "campaign", args.files + 2, seed=args.seed)
        frame = folder.frame
        good = frame[frame["expected_state"] == "succeeded"]
        files = good[["path"]].reset_index(drop=True)
        kinds = good["kind"].value_counts()
        print(
            f"{len(files)} files ({', '.join(f'{n} {k}' for k, n in kinds.items())}), "
            f"{good['bytes'].sum() / 2**20:.1f} MiB; clock {args.scale:g}×, latency "
            f"{args.latency_ms:g} ms, the emulator's default processing model, no rate limits"
        )
        for scenario, where in (
            ("processing-bound", "in-process emulator, no bandwidth cap"),
            ("upload-bound", f"emulator on a socket, {args.mib_s:g} MiB/s per connection"),
        ):
            if args.only and scenario != args.only:
                continue
            print(f"\n{scenario} ({where}):")
            runs = []
            history = None
            if args.history:  # an earlier batch of the same mix, not measured
                earlier = one_run(files, args, args.seed + 1000, scenario)["result"]
                history = History.from_items(earlier.items)
                print(f"  prior: {history.note}; {history.model.summary()}")
            for run in range(args.runs):
                got = one_run(files, args, args.seed + run, scenario, history)
                runs.append(got)
                cells = "  ".join(
                    f"{int(f * 100)} %: new {_pct(got[f][0])} old {_pct(got[f][1])}"
                    for f in FRACTIONS
                )
                print(f"  run {run + 1}: {got['duration_s']:5.1f} s of batch clock  {cells}")
            print("  median |error| over runs (aim: new within ±30 %):")
            for fraction in FRACTIONS:
                row = []
                for i, name in enumerate(("new", "old")):
                    errors = [abs(r[fraction][i]) for r in runs if r[fraction][i] is not None]
                    missing = sum(1 for r in runs if r[fraction][i] is None)
                    median = statistics.median(errors) if errors else float("nan")
                    if name == "new" and errors:
                        worst = max(worst, median)
                    if errors:
                        figures.append(
                            w.figure(
                                f"{scenario}, at {int(fraction * 100)} %: "
                                + ("ETA" if name == "new" else "the earlier ETA (bytes, percent)"),
                                round(median * 100, 1),
                                "% median |error|" + (f", {missing} no ETA" if missing else ""),
                                aim="within ±30" if name == "new" else None,
                                met=median <= 0.30 if name == "new" else None,
                            )
                        )
                    none = f" ({missing} no ETA)" if missing else ""
                    row.append(f"{name} {median * 100:5.1f} %{none}")
                print(f"    at {int(fraction * 100)} %: " + "   ".join(row))
    if args.json is not None:
        w.write_json(
            args.json,
            "eta",
            "The dashboard's ETA against the time really left",
            {
                "files": len(files),
                "runs per scenario": args.runs,
                "clock": f"{args.scale:g}×",
                "latency per request": f"{args.latency_ms:g} ms",
                "upload-bound bandwidth": f"{args.mib_s:g} MiB/s per connection",
                "processing": "the emulator's default model (size, video seconds, noise)",
                "prior": "one earlier batch" if args.history else "the documented defaults",
                "rate limits": "off",
            },
            figures,
            notes=[
                "error = (ETA − time left) / time left at the redraw nearest 25/50/75 % of the "
                "batch's duration; the median of the runs' absolute errors.",
                "At 25 % of a processing-bound batch no video has reported processing yet: the "
                "estimate is the prior's (X's documented defaults), about twice what this "
                "emulator takes.",
            ],
        )
        return 0
    return 0 if worst <= 0.30 else 1


def _pct(error: float | None) -> str:
    return "  none" if error is None else f"{error * 100:+5.0f} %"


if __name__ == "__main__":
    sys.exit(main())
