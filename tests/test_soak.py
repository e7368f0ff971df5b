"""The soak: 1,000 files through a socket emulator in this process, under every fault at once.

5 % of requests answered 503, 1 % of connections dropped, 2 % of answers lost after the work
was done, 2 % of the files failing processing, 429 bursts while the window has budget, and
budgets small enough that windows are spent and must be waited out. Client and server share
one scaled clock (10x) and a 60-second rate window.

The invariants (issue #13): every file ends in one final state; every `succeeded` media id is
held by the emulator as succeeded; no media id receives a segment twice except a retried one;
no stall longer than the longest injected wait, measured on the shared clock. Beside them:
the only failures are the processing failures the emulator decided, and every session a lost
answer may have orphaned is reported.
"""

from __future__ import annotations

import shutil
from collections import Counter, defaultdict
from pathlib import Path

import pytest

import mediakit as mk
from mediakit import ScaledClock
from mediakit._records import Event
from mediakit._retry import RetryPolicy
from mediakit.emulator import Emulator, running
from mediakit.emulator._ratelimit import RateLimits

from . import mediafactory as mf

pytestmark = pytest.mark.reliability

FILES = {"image": 800, "gif": 150, "video": 50}
SCALE = 10.0
WINDOW_S = 60.0
RETRY = RetryPolicy(max_attempts=8, backoff_base_s=1.0, backoff_max_s=8.0)
MAX_CHECK_AFTER_S = 5  # the emulator's longest check_after_secs
# The longest wait anything injects: a spent window is waited out until its reset (X's reset
# is whole seconds, and the client waits one more).
LONGEST_WAIT_S = max(WINDOW_S + 2.0, RETRY.backoff_max_s, MAX_CHECK_AFTER_S + 1.0)


def make_files(folder: Path, tmp: Path) -> None:
    """1,000 files: images of one segment, GIFs and 5-segment videos that X processes."""
    folder.mkdir()
    templates = [mf.make_png(tmp / f"t{i}.png", 16 + i, 12) for i in range(8)]
    gifs = [mf.make_gif(tmp / f"t{i}.gif", frames=3 + i) for i in range(3)]
    for i in range(FILES["image"]):
        shutil.copyfile(templates[i % len(templates)], folder / f"image{i:04}.png")
    for i in range(FILES["gif"]):
        shutil.copyfile(gifs[i % len(gifs)], folder / f"anim{i:04}.gif")
    for i in range(FILES["video"]):
        mf.make_big_file(folder / f"clip{i:03}.mp4", 5 * 64 * 1024 - 100 * i, header="mp4")


STATUS_BUDGET = 250


def spend_the_status_window(emu: Emulator) -> None:
    """Use up the STATUS window before the batch starts, in-process (every request counts),
    so the batch's first polls meet a spent window however fast this machine is."""
    import asyncio

    import httpx

    from mediakit.emulator import DEMO

    async def spend() -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=emu.app),
            base_url="https://api.x.com",
            headers={"authorization": f"Bearer {DEMO.user_token}"},
        ) as client:
            for _ in range(STATUS_BUDGET):
                await client.get("/2/media/upload", params={"media_id": "1"})
            spent = await client.get("/2/media/upload", params={"media_id": "1"})
            assert spent.status_code == 429 and spent.headers["x-rate-limit-remaining"] == "0"

    asyncio.run(spend())


def longest_stall(events: list[Event], start: float, end: float) -> float:
    """The longest stretch of the batch, on its clock, with no request in flight."""
    spans = sorted((e.started_at, e.finished_at or e.started_at) for e in events)
    longest, covered = 0.0, start
    for began, ended in spans:
        longest = max(longest, began - covered)
        covered = max(covered, ended)
    return max(longest, end - covered)


def test_a_thousand_files_under_every_fault(tmp_path: Path) -> None:
    folder = tmp_path / "media"
    make_files(folder, tmp_path)
    clock = ScaledClock(SCALE)
    budgets = RateLimits(
        per_user={"INIT": 250, "APPEND": 800, "FINALIZE": 300, "STATUS": STATUS_BUDGET},
        user_window_s=WINDOW_S,
    )
    emu = Emulator(
        clock=clock,
        seed=2026,
        processing_seconds=(2.0, 10.0),
        processing_failure_rate=(0.02 * sum(FILES.values())) / (FILES["gif"] + FILES["video"]),
        rate_limits=budgets,
        # A 429 while the window has budget is a burst; a lost answer comes after the work
        # is done and committed (the emulator's own `lost` fault, as `--fault *:lost:0.02`).
        faults={"*": {503: 0.05, 429: 0.01, "lost": 0.02}},
        drop_rate=0.01,
        state=tmp_path / "emu.sqlite",
    )
    spend_the_status_window(emu)
    journal = tmp_path / "journal.sqlite"
    with emu, running(emu) as url:
        result = mk.upload_folder(
            folder,
            base_url=url,
            clock=clock,
            journal=journal,
            progress="none",
            concurrency=8,
            chunk_size=64 * 1024,
            retry=RETRY,
        )
        held = {m.media_id: m for m in emu.media}
        served = emu.requests
    lost = [r for r in served if r.extra.get("lost")]
    records, events = result.records, list(result._events)
    states = Counter(r.state for r in records)

    # The faults happened, all of them.
    statuses = Counter(e.http_status for e in events)
    assert statuses[503] > 100 and statuses[429] > 10 and statuses[None] > 20, statuses
    assert statuses[500] == 0  # nothing injects a 500: one would be a bug of the emulator
    assert len(lost) > 50 and {r.command for r in lost} == {"INIT", "APPEND", "FINALIZE", "STATUS"}
    spent = [e for e in events if e.http_status == 429 and e.rate_limit_remaining == 0]
    assert spent and {e.command for e in spent} >= {"STATUS"}  # a spent window, waited out

    # 1. Every file ends in one final state; the only failures are X's processing failures.
    assert len(records) == sum(FILES.values())
    assert set(states) <= {"succeeded", "failed"}, states
    failed = [r for r in records if r.state == "failed"]
    assert failed, "the seed must make some processing fail"
    for record in failed:
        assert record.media_id is not None and held[record.media_id].state == "failed", (
            record.path,
            record.error_message,
        )
    assert len(failed) == sum(1 for m in held.values() if m.state == "failed")

    # 2. Every succeeded media id is held by the emulator as succeeded.
    for record in records:
        if record.state == "succeeded":
            assert record.media_id is not None
            assert held[record.media_id].state in ("ready", "succeeded"), record
    finished = {m.media_id for m in held.values() if m.state not in ("initialized", "expired")}
    assert finished == {r.media_id for r in records}  # and nothing else was finalized

    # 3. No media id receives a segment twice except a retried one.
    attempts: dict[tuple[str, int], list[Event]] = defaultdict(list)
    for event in events:
        if event.command == "APPEND" and event.media_id and event.segment_index is not None:
            attempts[(event.media_id, event.segment_index)].append(event)
    received = Counter(
        (r.media_id, r.segment_index)
        for r in served
        if r.command == "APPEND" and r.status and 200 <= r.status < 300
    )
    for key, tries in attempts.items():
        tries.sort(key=lambda e: e.attempt)
        assert [e.ok for e in tries].count(True) <= 1 and all(not e.ok for e in tries[:-1])
        assert received[key] <= len(tries), (key, received[key], len(tries))
    assert not set(received) - set(attempts)  # the server got no segment the client did not send
    assert any(n > 1 for n in received.values())  # lost answers made retried segments

    # 4. No stall longer than the longest injected wait, on the shared clock.
    assert result.started_at is not None and result.finished_at is not None
    stall = longest_stall(events, result.started_at, result.finished_at)
    assert stall <= LONGEST_WAIT_S, f"stalled {stall:.1f} s (longest wait {LONGEST_WAIT_S} s)"
    print(  # the figures, for `pytest -s`
        f"soak: {len(events)} attempts, {dict(statuses)}, {len(lost)} answers lost, "
        f"{len(failed)} processing failures, {len(spent)} spent-window 429s, longest stall "
        f"{stall:.1f} s of {LONGEST_WAIT_S:.0f}, batch {result.elapsed_s:.0f} s on the clock"
    )

    # Every session a lost INIT answer may have left open is reported as a possible orphan.
    open_sessions = sum(1 for m in held.values() if m.state == "initialized")
    reported = sum(r.orphan_sessions for r in records)
    assert open_sessions <= reported
    assert [w for w in result.warnings if "orphan" not in w] == []
    # And the journal agrees with the result, file by file.
    read = mk.open_journal(journal).items
    assert Counter(read["state"]) == states
