"""Reliability: each place a hostile run found where something was lost, uploaded twice or
stalled (issue #13, "Found"), kept fixed. Every test here failed before its fix.

The suites that go with them: `test_soak.py` (1,000 files under every fault at once),
`test_crash.py` (SIGKILLed clients and servers), `test_hostile_inputs.py`, `test_secrets.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import mediakit as mk
from mediakit import ManualClock
from mediakit._records import Event
from mediakit.emulator import Emulator
from mediakit.emulator._ratelimit import RateLimits

from . import mediafactory as mf

pytestmark = pytest.mark.reliability

START = 1_800_000_000.0


def quiet(**extra: object) -> dict[str, object]:
    return {"progress": "none", "journal": False, **extra}


# --- a 429 with budget left is a burst: back off briefly, do not wait for the reset -----------


async def test_a_429_with_budget_left_backs_off_briefly(tmp_path: Path, media_dir: Path) -> None:
    clock = ManualClock(START)  # every wait is counted exactly, none is waited for real
    emu = Emulator(
        clock=clock, faults={"INIT": {429: 0.4}}, seed=11, state=tmp_path / "burst.sqlite"
    )
    for i in range(8):
        mf.make_png(media_dir / f"p{i}.png", 10 + i, 10)
    events: list[Event] = []
    with emu:
        result = await mk.upload_folder_async(
            media_dir, emulator=emu, on_event=events.append, concurrency=1, **quiet()
        )
    bursts = [e for e in events if e.http_status == 429]
    assert bursts, "the seed must inject at least one 429"
    # Each 429 said the window still had budget, with its reset 15 minutes away ...
    assert all(e.rate_limit_remaining and e.rate_limit_remaining > 1000 for e in bursts)
    assert all(e.rate_limit_reset and e.rate_limit_reset - e.started_at > 800 for e in bursts)
    assert result.counts == {"succeeded": 8}
    # ... so the client backed off for seconds, not until the reset.
    assert clock.now() - START < 60 * len(bursts), clock.now() - START


async def test_a_429_with_the_window_spent_waits_for_the_reset(
    tmp_path: Path, media_dir: Path
) -> None:
    clock = ManualClock(START)
    limits = RateLimits(per_user={"INIT": 2}, user_window_s=900)
    emu = Emulator(clock=clock, rate_limits=limits, state=tmp_path / "spent.sqlite")
    for i in range(3):
        mf.make_png(media_dir / f"p{i}.png", 10 + i, 10)
    events: list[Event] = []
    with emu:
        result = await mk.upload_folder_async(
            media_dir, emulator=emu, on_event=events.append, concurrency=1, **quiet()
        )
    assert result.counts == {"succeeded": 3}
    inits = [e for e in events if e.command == "INIT" and e.ok]
    assert inits[-1].started_at >= START + 900  # the third INIT waited for the new window


# --- a folder deleted mid-batch: each file is checked before its INIT ------------------------


async def test_a_folder_deleted_mid_batch_sends_no_init_for_the_files_gone(
    tmp_path: Path, media_dir: Path
) -> None:
    import shutil

    for i in range(20):
        mf.make_png(media_dir / f"p{i:02}.png", 10 + i, 10)
    emu = Emulator(clock=ManualClock(START), state=tmp_path / "gone.sqlite")

    def delete_the_folder_after_the_first_file(event: Event) -> None:
        if event.command == "FINALIZE" and event.ok and media_dir.exists():
            shutil.rmtree(media_dir)

    with emu:
        result = await mk.upload_folder_async(
            media_dir,
            emulator=emu,
            concurrency=1,
            on_event=delete_the_folder_after_the_first_file,
            **quiet(),
        )
        inits = [r for r in emu.requests if r.command == "INIT"]
    items = result.items
    assert result.counts == {"succeeded": 1, "invalid": 19}
    assert len(inits) == 1  # no INIT for a file that was already gone: no orphan sessions
    gone = items[items["state"] == "invalid"]
    assert all("no such file" in reason for reason in gone["error_message"]), gone
