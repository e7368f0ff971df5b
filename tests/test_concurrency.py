"""The adaptive concurrency: the controller's decisions on a manual clock, then a batch.

The controller is fed synthetic answers (events timed on a `ManualClock`) and asked what it
decides; nothing here depends on how fast the machine runs. The batch tests go through the
emulator and check what the batch did (states, 429s, the `concurrency` frame, how many files
were in flight at once from the records), never how long it took.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import mediakit as mk
from mediakit._budget import Budget
from mediakit._clock import ManualClock, ScaledClock
from mediakit._concurrency import (
    INITIAL_CONCURRENCY,
    MAX_CONCURRENCY,
    MEMORY_BUDGET,
    Controller,
    Demand,
)
from mediakit._records import Event
from mediakit._slots import Slots
from mediakit.emulator import Emulator
from mediakit.emulator._ratelimit import RateLimits

from . import mediafactory as mf

MiB = 1024 * 1024
START = 1_800_000_000.0


def answer(clock: ManualClock, command: str, took_s: float, size: int = 0) -> Event:
    """One answered request that took `took_s` on the manual clock."""
    started = clock.now()
    clock.advance(took_s)
    return Event(
        batch_id="b",
        file_id=0,
        path="p.jpg",
        command=command,
        attempt=1,
        started_at=started,
        finished_at=clock.now(),
        http_status=200,
        ok=True,
        bytes_sent=size or None,
    )


def photos(waiting: int, uploading: int, *, size: int = MiB) -> Demand:
    """Small files (one segment each): INIT, APPEND and FINALIZE left for every one."""
    files = waiting + uploading
    return Demand(
        requests={"INIT": files, "APPEND": files, "FINALIZE": files},
        files_waiting=waiting,
        files_uploading=uploading,
        file_bytes=size,
        chunk_size=4 * MiB,
        segments_per_file=3,
    )


def one_round(controller: Controller, clock: ManualClock, files: int, rtt_s: float) -> None:
    """Every file in flight answers its three requests in `rtt_s` each."""
    for _ in range(files):
        for command in ("INIT", "APPEND", "FINALIZE"):
            controller.observe(answer(clock, command, rtt_s, MiB if command == "APPEND" else 0))


def plenty(clock: ManualClock) -> dict[str, Budget]:
    return {c: Budget(1875, 1800, clock.now() + 800) for c in ("INIT", "APPEND", "FINALIZE")}


def test_small_files_with_budget_left_go_wide() -> None:
    clock = ManualClock(START)
    controller = Controller()
    limit = controller.decide(clock.now(), photos(200, 0), plenty(clock)).limit
    assert limit == INITIAL_CONCURRENCY
    seen = [limit]
    # Round trips stay at the fastest seen, files wait and the slots are full: it doubles.
    for _ in range(6):
        one_round(controller, clock, limit, 0.125)
        decision = controller.decide(clock.now(), photos(200 - limit, limit), plenty(clock))
        limit = decision.limit
        seen.append(limit)
    assert seen[:3] == [8, 16, 32]
    assert limit == MAX_CONCURRENCY and decision.reason == "ceiling"


def test_it_grows_only_while_files_wait_for_full_slots() -> None:
    clock = ManualClock(START)
    controller = Controller()
    for _ in range(4):
        one_round(controller, clock, 8, 0.125)
        # Seven files are left, fewer than the slots: an idle limit proves nothing.
        assert controller.decide(clock.now(), photos(0, 7), plenty(clock)).limit == 8


def test_round_trips_stretching_back_it_off() -> None:
    clock = ManualClock(START)
    controller = Controller()
    limit = INITIAL_CONCURRENCY
    for _ in range(2):  # up to 32
        one_round(controller, clock, limit, 0.1)
        limit = controller.decide(clock.now(), photos(100, limit), plenty(clock)).limit
    assert limit == 32
    # The server (or this CPU) queues: every answer takes three times the fastest.
    one_round(controller, clock, limit, 0.3)
    decision = controller.decide(clock.now(), photos(100, limit), plenty(clock))
    assert decision.limit == 24 and decision.reason == "measured"
    # Back near the fastest: it grows again, one at a time now (no second doubling).
    one_round(controller, clock, 24, 0.1)
    assert controller.decide(clock.now(), photos(100, 24), plenty(clock)).limit == 25


def test_budget_nearly_spent_paces_to_the_window() -> None:
    clock = ManualClock(START)
    controller = Controller(ceiling=64)  # so that only the budget holds it
    one_round(controller, clock, 4, 1.0)  # a file holds its slot for 3 s
    demand = photos(96, 4)
    # 50 APPENDs left for 100 needed, the window resets in 100 s: 0.5 files/s × 3 s.
    budgets = plenty(clock) | {"APPEND": Budget(1875, 50, clock.now() + 100)}
    decision = controller.decide(clock.now(), demand, budgets)
    assert decision.reason == "paced" and decision.limit == 1
    assert "APPEND: 50 requests left for 100 needed" in decision.detail
    # The same 50 with 10 s to go: 5 files/s × 3 s = 15 files at once spend it evenly.
    budgets["APPEND"] = Budget(1875, 50, clock.now() + 10)
    decision = controller.decide(clock.now(), demand, budgets)
    assert decision.reason == "paced" and decision.limit == 15
    # Once the window turned over, the old count says nothing: no pacing until X says more.
    clock.advance(11)
    assert controller.decide(clock.now(), demand, budgets).reason != "paced"


def test_budget_enough_for_the_whole_batch_is_not_paced() -> None:
    clock = ManualClock(START)
    controller = Controller()
    one_round(controller, clock, 4, 1.0)
    budgets = {c: Budget(1875, 100, clock.now() + 900) for c in ("INIT", "APPEND", "FINALIZE")}
    decision = controller.decide(clock.now(), photos(96, 4), budgets)  # 100 needed, 100 left
    assert decision.reason != "paced"
    budgets["INIT"] = Budget(1875, 99, clock.now() + 900)
    assert controller.decide(clock.now(), photos(96, 4), budgets).reason == "paced"


def test_a_user_ceiling_is_honoured() -> None:
    clock = ManualClock(START)
    controller = Controller(ceiling=6)
    assert controller.decide(clock.now(), photos(200, 0), plenty(clock)).limit == 6
    for _ in range(5):
        one_round(controller, clock, 6, 0.1)
        decision = controller.decide(clock.now(), photos(194, 6), plenty(clock))
        assert decision.limit == 6 and decision.reason == "ceiling"
    # Stretching round trips do not take a user's N lower (they would an adaptive limit).
    one_round(controller, clock, 6, 0.5)
    decision = controller.decide(clock.now(), photos(194, 6), plenty(clock))
    assert decision.limit == 6 and decision.reason == "ceiling"
    # A ceiling is a most, not a must: the budget still paces below it.
    budgets = plenty(clock) | {"INIT": Budget(1875, 2, clock.now() + 600)}
    assert controller.decide(clock.now(), photos(194, 6), budgets).limit == 1


def test_memory_bounds_large_files() -> None:
    clock = ManualClock(START)
    controller = Controller(ceiling=100)
    # Each video holds 3 segments of 4 MiB while it uploads: (256 MiB - 2 chunks) / 12 MiB.
    demand = Demand(
        requests={"INIT": 50, "APPEND": 500, "FINALIZE": 50},
        files_waiting=50,
        files_uploading=0,
        file_bytes=12 * MiB,
        chunk_size=4 * MiB,
        segments_per_file=3,
    )
    decision = controller.decide(clock.now(), demand, plenty(clock))
    assert decision.reason == "memory"
    assert decision.limit == (MEMORY_BUDGET - 8 * MiB) // (12 * MiB) == 20


def test_files_x_will_process_start_together() -> None:
    # Twenty videos and GIFs: each one's processing sets when the batch can end, so all of
    # them start at once (beyond the usual start), within the ceiling.
    demand = Demand(
        requests={"INIT": 50, "APPEND": 50, "FINALIZE": 50},
        files_waiting=50,
        files_uploading=0,
        file_bytes=MiB,
        chunk_size=4 * MiB,
        processed_waiting=20,
    )
    assert Controller().decide(START, demand, {}).limit == 20
    assert Controller(ceiling=6).decide(START, demand, {}).limit == 6
    few = Demand(**{**demand.__dict__, "processed_waiting": 2})
    assert Controller().decide(START, few, {}).limit == INITIAL_CONCURRENCY


def test_open_files_bound_it() -> None:
    controller = Controller(ceiling=100, open_files=128)
    decision = controller.decide(START, photos(100, 0, size=1), {})
    assert decision.reason == "open files" and decision.limit == (128 - 64) // 4


async def test_slots_follow_a_changing_limit_in_order() -> None:
    slots = Slots(2)
    order: list[int] = []

    async def file(n: int) -> None:
        await slots.acquire()
        order.append(n)

    tasks = [asyncio.create_task(file(n)) for n in range(5)]
    await asyncio.sleep(0)
    assert order == [0, 1] and slots.waiting == 3
    slots.set_limit(4)
    await asyncio.sleep(0)
    assert order == [0, 1, 2, 3]
    slots.set_limit(1)  # fewer: nobody new until the files in flight end
    slots.release()
    slots.release()
    slots.release()
    await asyncio.sleep(0)
    assert order == [0, 1, 2, 3] and slots.used == 1
    slots.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]


async def test_slots_keep_bytes_in_flight_within_the_budget() -> None:
    slots = Slots(10, byte_budget=10)
    await slots.acquire(6)
    second = asyncio.create_task(slots.acquire(6))
    third = asyncio.create_task(slots.acquire(1))
    await asyncio.sleep(0)
    # 6 + 6 would not fit, and the small one does not jump the queue.
    assert not second.done() and not third.done()
    slots.release(6)
    await asyncio.gather(second, third)
    assert slots.bytes_used == 7
    # A file larger than the whole budget still goes, alone.
    slots.release(6)
    slots.release(1)
    await slots.acquire(50)
    assert slots.used == 1


async def test_a_cancelled_waiter_lets_the_next_in() -> None:
    slots = Slots(1)
    await slots.acquire()
    stuck = asyncio.create_task(slots.acquire())
    after = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    stuck.cancel()
    await asyncio.gather(stuck, return_exceptions=True)
    slots.release()
    await after
    assert slots.used == 1


# ---------------------------------------------------------------------------------------------
# Through the emulator


def pictures(folder: Path, count: int) -> list[Path]:
    return [mf.make_jpeg(folder / f"p{i:03d}.jpg", 64, 48) for i in range(count)]


def in_flight_at_most(result: mk.UploadResult) -> int:
    """The most files between INIT sent and FINALIZE answered at one time, from the records."""
    steps = []
    for record in result.records:
        assert record.started_at is not None and record.uploaded_at is not None
        steps += [(record.started_at, 1), (record.uploaded_at, -1)]
    peak = running = 0
    for _, step in sorted(steps):
        running += step
        peak = max(peak, running)
    return peak


async def test_budget_short_of_the_batch_paces_without_429(tmp_path: Path, media_dir: Path) -> None:
    # 25 pictures need 25 of each chunked command; the window allows 10. Time moves only
    # when the client waits for the window (a ManualClock), so every step is decided by state.
    clock = ManualClock(START)
    limits = RateLimits(per_user={"INIT": 10, "APPEND": 10, "FINALIZE": 10}, user_window_s=60)
    emu = Emulator(clock=clock, rate_limits=limits, state=tmp_path / "s.sqlite")
    try:
        result = await mk.upload_files_async(
            pictures(media_dir, 25), emulator=emu, progress="none", journal=False
        )
    finally:
        emu.close()
    assert result.ok, result.failures
    assert result.counts == {"succeeded": 25}
    assert 429 not in set(result.events["http_status"])
    frame = result.concurrency
    assert "paced" in set(frame["reason"])
    paced = frame[frame["reason"] == "paced"]
    assert (paced["limit"] == 1).all()
    assert paced["detail"].str.contains("requests left for").all()
    assert "to the rate budget" in result.summary()


async def test_a_given_concurrency_is_a_ceiling(tmp_path: Path, media_dir: Path) -> None:
    emu = Emulator(clock=ScaledClock(50), state=tmp_path / "s.sqlite")
    try:
        result = await mk.upload_files_async(
            pictures(media_dir, 30), emulator=emu, concurrency=3, progress="none", journal=False
        )
    finally:
        emu.close()
    assert result.counts == {"succeeded": 30}
    assert in_flight_at_most(result) <= 3
    assert result.concurrency["limit"].max() <= 3
    assert "up to 3 files at once" in result.summary() or "up to 2 files" in result.summary()


async def test_the_adaptive_default_records_what_it_chose(tmp_path: Path, media_dir: Path) -> None:
    emu = Emulator(clock=ScaledClock(50), state=tmp_path / "s.sqlite")
    try:
        result = await mk.upload_files_async(
            pictures(media_dir, 40), emulator=emu, progress="none", journal=False
        )
    finally:
        emu.close()
    assert result.counts == {"succeeded": 40}
    frame = result.concurrency
    assert list(frame.columns) == [
        "at",
        "elapsed_s",
        "limit",
        "uploading",
        "waiting",
        "reason",
        "detail",
    ]
    assert frame["limit"].iloc[0] == INITIAL_CONCURRENCY and frame["reason"].iloc[0] == "starting"
    assert frame["limit"].max() <= MAX_CONCURRENCY
    assert in_flight_at_most(result) <= frame["limit"].max()
    assert frame["elapsed_s"].is_monotonic_increasing
    assert "files at once" in result.summary()


def test_concurrency_none_is_adaptive_and_a_number_is_checked() -> None:
    assert mk.UploadOptions().concurrency is None
    with pytest.raises(mk.ConfigurationError, match="at least 1"):
        mk.UploadOptions(concurrency=0)


def test_the_progress_line_shows_the_limit_and_pacing() -> None:
    from mediakit._concurrency import Change
    from mediakit._records import FileRecord
    from mediakit._snapshot import Snapshot

    record = FileRecord(batch_id="b", file_id=0, path="p.jpg", state="uploading")
    changes = [Change(START, 8, 0, 10, "starting", ""), Change(START + 1, 3, 8, 2, "paced", "")]
    live = mk.UploadResult(
        [record],
        [],
        target="emulator",
        api="v2",
        batch_id="b",
        clock=ManualClock(START + 2),
        started_at=START,
        finished_at=None,
        concurrency=changes,
    )
    assert live.concurrency_now == (3, "paced")
    assert "≤3 at once (paced)" in Snapshot.take(live).line()
    assert list(live.concurrency["reason"]) == ["starting", "paced"]
