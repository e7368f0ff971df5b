"""What preflight costs a batch of photos: the same 1,000-photo upload, before and after.

Every batch now runs preflight before anything is sent (`mediakit/_fix.py`: headers read, the
limits judged, on a few threads). This measures what that costs on the batch it touches most:
1,000 distinct JPEG photos of 1-5 MB (typical camera and phone sizes, about 2.6 GiB in all) uploaded
to the in-process emulator (rate limits off, no added latency, `progress="none"`,
`journal=False`): the whole batch's wall time, and the stage that turns the folder into
inputs alone (`discover` before, `preflight_folder` after).

"Before" and "after" are two mediakit source trees (by default /work/main and this checkout),
each run in a fresh subprocess, alternating, `--rounds` times; the medians are compared. The
photos are seeded noise (incompressible, so their sizes are real) written once into
`--cache` and reused; each is a distinct file (the batch uploads a file given twice once).
Files come warm from the page cache: the times are CPU and in-process transfer, not disk.

`--small` uses photos of 50-200 KB instead, where the upload itself is short and a per-file
cost shows most.

With `--json PATH` (as bench/run.py runs it) only this checkout runs, and the stage's cost
is preflight against `discover` (inspection alone) timed in the same process, each round;
`--quick` is 100 small photos, one round.

Usage: python bench/batch_preflight.py [--files 1000] [--rounds 3] [--small] [--before PATH]
       [--after PATH] [--cache DIR] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB = 2**20
sys.path.insert(0, str(ROOT / "bench"))
import _workloads as w  # noqa: E402


def machine() -> str:
    model = "unknown CPU"
    found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
    if found:
        model = found.group(1).strip()
    return f"{len(os.sched_getaffinity(0))} cores, {model}, Python {sys.version.split()[0]}"


PHOTO_SIDES = (900, 1250, 1600, 1900)  # about 1.0, 1.9, 3.2 and 4.5 MB at quality 92
SMALL_SIDES = (200, 260, 320, 400)  # about 50-200 KB: per-file costs show most


def make_photos(
    folder: Path, count: int, sides: tuple[int, ...] = PHOTO_SIDES, seed: int = 1
) -> Path:
    """`count` distinct JPEGs (by default of 1-5 MB): a few noise pictures, each copy with its
    own tail after the end-of-image marker (viewers and X ignore it), so every file differs."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    done = folder / ".complete"
    if done.exists() and done.read_text() == str(count):
        return folder
    rng = np.random.default_rng(seed)
    sources = []
    for side in sides:
        pixels = rng.integers(0, 255, (side, int(side * 1.333), 3), dtype=np.uint8)
        path = folder / f".source_{side}.jpg"
        Image.fromarray(pixels).save(path, quality=92)
        sources.append(path.read_bytes())
    pick = random.Random(seed)
    for i in range(count):
        data = pick.choice(sources)
        (folder / f"photo_{i:04d}.jpg").write_bytes(data + i.to_bytes(4, "big"))
    done.write_text(str(count))
    return folder


def measure(folder: Path) -> dict[str, float]:
    """One run, in this process, of the code on sys.path."""
    import mediakit as mk
    from mediakit.emulator import Emulator

    discover_s = None
    try:
        from mediakit._media import discover

        started = time.perf_counter()
        discover(folder, "*", True)  # what inspection alone costs, in the same tree
        discover_s = time.perf_counter() - started
    except ImportError:
        pass
    started = time.perf_counter()
    try:
        from mediakit._fix import preflight_folder  # after: the batch's preflight

        found = preflight_folder(folder, "*", True, category="auto", chunk_size=4 * MB, dm=False)
    except ImportError:  # before: inspection only
        from mediakit._media import discover

        found = discover(folder, "*", True)  # type: ignore[assignment]
    stage_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        emu = Emulator(state=Path(tmp) / "e.sqlite", rate_limits=None)
        started = time.perf_counter()
        result = mk.upload_folder(folder, emulator=emu, progress="none", journal=False)
        batch_s = time.perf_counter() - started
        emu.close()
    assert result.counts == {"succeeded": len(found)}, result.counts
    out = {"stage_s": stage_s, "batch_s": batch_s, "files": len(found)}
    if discover_s is not None:
        out["discover_s"] = discover_s
    return out


def run(tree: Path, folder: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def same_tree(args: argparse.Namespace) -> None:
    """This checkout only: preflight's stage against `discover`'s, and the batch, per round."""
    sides = SMALL_SIDES if args.small else PHOTO_SIDES
    folder = make_photos(
        w.cache_root() / f"photos-{args.files}{'-small' if args.small else ''}", args.files, sides
    )
    size = sum(p.stat().st_size for p in folder.glob("photo_*.jpg"))
    runs = []
    for round_ in range(args.rounds):
        runs.append(run(ROOT, folder))
        w.progress(f"batch_preflight round {round_ + 1}: {runs[-1]}")
    med = {k: statistics.median(r[k] for r in runs) for k in ("stage_s", "discover_s", "batch_s")}
    added = (med["stage_s"] - med["discover_s"]) / args.files * 1000
    share = (med["stage_s"] - med["discover_s"]) / med["batch_s"]
    print(f"{args.files} photos ({size / 2**30:.2f} GiB), {args.rounds} rounds: preflight stage "
          f"{med['stage_s']:.2f} s, discover alone {med['discover_s']:.2f} s, batch "
          f"{med['batch_s']:.2f} s; preflight adds {added:.2f} ms a file ({100 * share:.1f} % "
          "of the batch)")  # fmt: skip
    w.write_json(
        args.json,
        "batch_preflight",
        "What preflight adds to a batch of photos",
        {
            "photos": args.files,
            "size": f"{size / 2**20:.0f} MiB",
            "photo sizes": "50-200 KB" if args.small else "1-5 MB",
            "rounds": args.rounds,
            "emulator": "in-process, rate limits off",
            "journal": "off",
        },
        [
            w.figure("stage with preflight (preflight_folder)", round(med["stage_s"], 3), "s"),
            w.figure(
                "stage without (discover: inspection alone)", round(med["discover_s"], 3), "s"
            ),
            w.figure("preflight added per file", round(added, 3), "ms"),
            w.figure("the whole batch", round(med["batch_s"], 2), "s"),
            w.figure("preflight's share of the batch", round(100 * share, 2), "%", ratio=True),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, default=Path("/work/main"))
    parser.add_argument("--after", type=Path, default=ROOT)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mk-photos")
    parser.add_argument("--small", action="store_true", help="photos of 50-200 KB instead")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    w.add_common_args(parser)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure)))
        return
    if args.quick:
        args.files, args.rounds, args.small = 100, 1, True
    if args.json is not None:
        same_tree(args)
        return
    sides = SMALL_SIDES if args.small else PHOTO_SIDES
    folder = make_photos(
        args.cache / f"{args.files}{'-small' if args.small else ''}", args.files, sides
    )
    size = sum(p.stat().st_size for p in folder.glob("photo_*.jpg"))
    print(f"{args.files} photos, {size / 2**30:.2f} GiB, on {machine()}")
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for round_ in range(args.rounds):
        for name, tree in (("before", args.before), ("after", args.after)):
            figures = run(tree, folder)
            runs[name].append(figures)
            print(
                f"round {round_ + 1} {name:6}: stage {figures['stage_s']:.2f} s, "
                f"batch {figures['batch_s']:.2f} s"
            )
    medians = {
        name: {k: statistics.median(r[k] for r in rs) for k in ("stage_s", "batch_s")}
        for name, rs in runs.items()
    }
    b, a = medians["before"], medians["after"]
    print(
        f"median stage: before {b['stage_s']:.2f} s ({b['stage_s'] / args.files * 1000:.2f} ms "
        f"a file), after {a['stage_s']:.2f} s ({a['stage_s'] / args.files * 1000:.2f} ms a file)"
    )
    print(
        f"median batch: before {b['batch_s']:.2f} s, after {a['batch_s']:.2f} s "
        f"({(a['batch_s'] / b['batch_s'] - 1) * 100:+.1f} %)"
    )


if __name__ == "__main__":
    main()
