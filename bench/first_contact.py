"""How long a newcomer waits: `mediakit demo`, and every notebook in notebooks/, end to end.

- the demo: `python -m mediakit demo` in a fresh process with an empty cache directory and a
  new folder each run (as on a fresh machine after `pip install`), wall time from start to exit,
  and the time it reports for making the samples; aim: under 60 s on 2 cores;
- the notebooks: each one run top to bottom by nbclient in a real ipykernel (as CI runs them,
  tests/nbrun.py), in a temporary folder with an empty cache directory; aim: all of them in
  under 3 minutes.

Usage: python bench/first_contact.py [--demo-runs 3] [--no-notebooks]
Run it from the checkout (it imports tests/nbrun.py); PYTHONPATH picks the mediakit it measures.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, "
        f"load average {load} at start"
    )


def demo_once() -> tuple[float, float | None, int]:
    with tempfile.TemporaryDirectory(prefix="mediakit-bench-") as tmp:
        env = {**os.environ, "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
        env = {k: v for k, v in env.items() if not k.startswith("X_")}
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "mediakit", "demo", "--folder", str(Path(tmp) / "demo")],
            capture_output=True,
            text=True,
            env=env,
        )
        wall = time.perf_counter() - started
    made = re.search(r"Made \d+ sample files .* in ([\d.]+) s", done.stdout)
    return wall, float(made.group(1)) if made else None, done.returncode


def notebooks() -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from tests.nbrun import NOTEBOOKS, execute

    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="mediakit-bench-nb-") as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        for name in [k for k in os.environ if k.startswith("X_")]:
            del os.environ[name]
        for path in NOTEBOOKS:
            copy = Path(tmp) / path.name
            copy.write_bytes(path.read_bytes())
            started = time.perf_counter()
            execute(copy, Path(tmp))
            times[path.stem] = time.perf_counter() - started
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo-runs", type=int, default=3)
    parser.add_argument("--no-notebooks", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    runs = [demo_once() for _ in range(args.demo_runs)]
    walls = [wall for wall, _, _ in runs]
    print(
        f"mediakit demo: median {statistics.median(walls):.1f} s, max {max(walls):.1f} s "
        f"over {len(runs)} runs {[round(w, 1) for w in walls]}; samples made in "
        f"{[m for _, m, _ in runs]} s; exit codes {[c for _, _, c in runs]}"
    )
    if not args.no_notebooks:
        times = notebooks()
        for stem, seconds in times.items():
            print(f"  {stem}: {seconds:.1f} s")
        print(f"notebooks: {sum(times.values()):.1f} s for {len(times)} notebooks")


if __name__ == "__main__":
    main()
