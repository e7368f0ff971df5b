"""What `import mediakit` costs, beside `import pandas`, in fresh interpreters.

Each import runs in a new `python -c` process (nothing cached in memory; the OS file cache
is warm after the first round), alternating the two so both see the same machine state, and
the medians are compared. Also prints how many modules `import mediakit` loads and checks that
no emulator server code (starlette, uvicorn, python-multipart) is among them.

Usage: python bench/import_time.py [--quick] [--json PATH] [--runs 15] (`--quick`: 3 runs)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _workloads as w

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
    w.add_common_args(parser)
    args = parser.parse_args()
    if args.quick:
        args.runs = 3
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
    ratio = mediakit_s / pandas_s
    w.write_json(
        args.json,
        "import_time",
        "Import time: import mediakit against import pandas",
        {"runs": args.runs, "how": "fresh interpreters, alternating, medians"},
        [
            w.figure("import mediakit", round(mediakit_s * 1000), "ms"),
            w.figure("import pandas", round(pandas_s * 1000), "ms"),
            w.figure("mediakit / pandas", round(ratio, 2), "×", ratio=True),
            w.figure("modules loaded by import mediakit", modules, ""),
            w.figure(
                "emulator server modules among them",
                len(servers),
                "",
                aim="0",
                met=not servers,
                note=", ".join(servers) or None,
            ),
        ],
    )


if __name__ == "__main__":
    main()
