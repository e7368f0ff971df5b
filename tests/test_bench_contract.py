"""bench/peers.py and bench/background_job.py write what bench/run.py renders (its docstring's
shape): a figures list with ratios and aims, judged against the measurements they were given.
Their measurements themselves come from `python bench/run.py --quick` (CI), never from here."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
KEYS = {"bench", "title", "settings", "figures", "notes", "machine"}


@functools.cache
def load(name: str) -> ModuleType:
    """bench/NAME.py as the module `bench_NAME` (registered first: its dataclasses need it)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run() -> ModuleType:
    return load("run")


def check_rows(figures: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    for row in figures:
        assert {"name", "value", "unit", "ratio"} <= set(row)
        assert ("aim" in row) == ("met" in row)
    by_name = {row["name"]: row for row in figures}
    assert len(by_name) == len(figures), "two figures of one name"
    return by_name


def peers_batches() -> dict[str, Any]:
    def client(wall: float, **more: Any) -> dict[str, Any]:
        return {"wall_s": wall, "ok": 4, "http_429": 0, "rss_peak_above_start_mib": 20.0, **more}

    return {
        "photos": {
            "files": 4,
            "runs": {
                "mediakit": client(2.0, bound_s=1.0, bound_concurrency=4),
                "tweepy": client(30.0),
                "xdk": client(8.0),
            },
            "mediakit_over_bound": 2.0,
            "tweepy_over_mediakit": 15.0,
            "xdk_over_mediakit": 4.0,
        },
        "mixed": {
            "files": 4,
            "runs": {
                "mediakit": client(5.0, bound_s=4.5, bound_concurrency=4),
                "tweepy": client(50.0),
                "xdk": client(60.0),
            },
            "mediakit_over_bound": 5.0 / 4.5,
            "tweepy_over_mediakit": 10.0,
            "xdk_over_mediakit": 12.0,
        },
    }


def test_peers_figures_are_both_peers_and_the_bound_per_batch_with_their_aims(
    run: ModuleType, tmp_path: Path
) -> None:
    peers = load("peers")
    data = peers.w.write_json(tmp_path / "peers.json", "peers", "t", {},
                              peers.figures_of(peers_batches()))  # fmt: skip
    assert set(data) >= KEYS
    rows = check_rows(data["figures"])
    ratios = {name: row for name, row in rows.items() if row["ratio"]}
    expected = {
        ("photos", "tweepy / mediakit"): (15.0, True),
        ("photos", "xdk / mediakit"): (4.0, False),  # under the aim of 5×
        ("photos", "mediakit / its bound"): (2.0, False),  # over the aim of 1.25×
        ("mixed", "tweepy / mediakit"): (10.0, True),
        ("mixed", "xdk / mediakit"): (12.0, True),
        ("mixed", "mediakit / its bound"): (1.11, True),
    }
    assert len(ratios) == len(expected)
    for (batch, what), (value, met) in expected.items():
        (row,) = [r for n, r in ratios.items() if n.startswith(batch) and n.endswith(what)]
        assert (row["value"], row["met"]) == (value, met)
        assert "aim" in row
    outcome = run.Outcome(run.BENCHES[0], "ok", data=data)
    assert len(run.aims(outcome)) == len(expected)  # the summary's headline: every aim
    table = "\n".join(run.render_figures(data))
    assert "| **4 ×** | ≥ 5 | **missed** |" in table


def test_peers_figures_leave_out_a_peer_not_run() -> None:
    peers = load("peers")
    batches = peers_batches()
    for entry in batches.values():
        del entry["runs"]["xdk"], entry["xdk_over_mediakit"]
    names = [row["name"] for row in peers.figures_of(batches)]
    assert not [n for n in names if "xdk" in n.split(": ")[1]]
    assert len([n for n in names if n.endswith("tweepy / mediakit")]) == 2


def test_background_job_figures_judge_the_ratio_of_the_medians(run: ModuleType) -> None:
    job = load("background_job")
    walls = {"alone": [2.0, 2.2, 9.0], "with sleeps": [2.1, 2.4, 2.5]}
    during = [{"succeeded": 10, "uploading": 2}, {"succeeded": 12}, {"succeeded": 11}]
    data = job.w.write_json(None, "background_job", "t", {},
                            job.figures_of(walls, during, 12, 4.0))  # fmt: skip
    rows = check_rows(data["figures"])
    (ratio,) = [row for row in rows.values() if row["ratio"]]
    assert (ratio["value"], ratio["met"]) == (round(2.4 / 2.2, 2), True)
    assert rows["files done when the second sleep began"]["value"] == 11
    stalled = job.figures_of({"alone": [2.0], "with sleeps": [10.0]}, during, 12, 4.0)
    assert [row["met"] for row in stalled if row["ratio"]] == [False]


def test_run_py_lists_every_bench_it_names_and_each_script_exists(run: ModuleType) -> None:
    names = [b.name for b in run.BENCHES]
    assert len(set(names)) == len(names)
    assert {"peers", "background_job"} <= set(names)
    for name in names:
        assert (BENCH / f"{name}.py").is_file(), name


def test_ci_runs_every_bench() -> None:
    ci = (BENCH.parent / ".ci" / "run").read_text()
    commands = [line for line in ci.splitlines() if not line.lstrip().startswith("#")]
    (line,) = [line for line in commands if "bench/run.py" in line]
    assert "--quick" in line
    assert "--only" not in line and not line.rstrip().endswith("\\")
