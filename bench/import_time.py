"""What `import mediakit` costs, beside `import pandas`, in fresh interpreters.

Each import runs in a new `python -c` process (nothing cached in memory; the OS file cache
is warm after the first round), alternating the two so both see the same machine state, and
the medians are compared. Also prints how many modules `import mediakit` loads and checks that
no emulator server code (starlette, uvicorn, python-multipart) is among them.

Usage: python bench/import_time.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

PROBE = (
    "import sys, time; t = time.perf_counter(); import {module}; "
    "d = time.perf_counter() - t; import json; "
    "print(json.dumps([d, len(sys.modules), sorted(m for m in sys.modules "
    "if m.split('.')[0] in {{'starlette', 'uvicorn', 'multipart', 'python_multipart'}})]))"
)


def once(module: str) -> tuple[float, int, list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, count, servers = json.loads(out.stdout)
    return float(seconds), int(count), list(servers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    once("mediakit"), once("pandas")  # warm the file cache
    ours: list[float] = []
    theirs: list[float] = []
    modules, servers = 0, []
    started = time.perf_counter()
    for _ in range(args.runs):
        seconds, modules, servers = once("mediakit")
        ours.append(seconds)
        theirs.append(once("pandas")[0])
    mediakit_s, pandas_s = statistics.median(ours), statistics.median(theirs)
    print(
        f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    print(f"import mediakit: {mediakit_s * 1000:.0f} ms median of {args.runs} ({modules} modules)")
    print(f"import pandas:   {pandas_s * 1000:.0f} ms median of {args.runs}")
    print(f"ratio mediakit / pandas: {mediakit_s / pandas_s:.2f}")
    print(f"emulator server modules loaded by import mediakit: {servers or 'none'}")
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
