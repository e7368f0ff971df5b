"""A background job (`wait=False`) keeps uploading while the caller's thread is busy.

In Jupyter the caller's thread is the kernel's: a cell that blocks (`time.sleep`, a long
computation) must not stall the job, and its dashboard must keep moving. The job runs on its
own event loop in a worker thread; these tests hold the job at its first HTTP attempt (an
`on_event` listener waits for a gate) until the caller's thread is blocked, then release it,
so everything after that first attempt provably happens while the caller blocks. The deadlines
only end a test that would otherwise hang.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mediakit as mk
from mediakit._widgets import WidgetView
from mediakit.emulator import Emulator
from tests import mediafactory as mf
from tests.kernelrun import Kernel

HANG_S = 120  # a failure guard, never a speed check


class Gate:
    """An `on_event` listener that holds the job's loop at its first HTTP attempt until `open()`."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.opened = threading.Event()
        self.threads: set[int] = set()

    def __call__(self, event: Any) -> None:
        self.threads.add(threading.get_ident())
        self.reached.set()
        assert self.opened.wait(HANG_S), "the gate was never opened"

    def open(self) -> None:
        self.opened.set()


def block_until(condition: Callable[[], bool]) -> None:
    """Block this thread (no await: as a busy cell does) until `condition()`."""
    deadline = time.monotonic() + HANG_S
    while not condition():
        assert time.monotonic() < deadline, "the state never came"
        time.sleep(0.02)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def photos(folder: Path, n: int) -> Path:
    folder.mkdir(exist_ok=True)
    for i in range(n):
        mf.make_jpeg(folder / f"p{i:02}.jpg", 160, 120)
    return folder


async def test_a_job_started_in_a_running_loop_uploads_while_that_thread_blocks(
    tmp_path: Path,
) -> None:
    # A running loop here, as in a Jupyter cell; blocking this thread blocks that loop.
    gate = Gate()
    view = WidgetView()
    emu = Emulator(latency=(0.01, 0.02), seed=1, state=tmp_path / "e.sqlite")
    try:
        job = mk.upload_folder(
            photos(tmp_path / "media", 6),
            emulator=emu,
            progress=view,
            on_event=gate,
            journal=tmp_path / "j.sqlite",
            wait=False,
        )
        assert gate.reached.wait(HANG_S)
        gate.open()
        block_until(job.done)  # the whole batch but its first request, with this loop blocked
        assert threading.get_ident() not in gate.threads
        result = await job  # awaiting a finished job from async code
    finally:
        emu.close()
    assert result.counts == {"succeeded": 6}
    assert job.items["state"].tolist() == ["succeeded"] * 6
    assert "mediakit-succeeded" in view.box._dom_classes  # the dashboard's final state
    # 100 % means done: every file uploaded (the stacked bars' caption).
    assert "6 / 6 files · 100 %" in re.sub(r"<[^>]+>", "", view.bars.value)
    assert mk.open_journal(tmp_path / "j.sqlite").items["state"].tolist() == ["succeeded"] * 6


async def test_awaiting_a_running_job_lets_the_loop_run(tmp_path: Path) -> None:
    emu = Emulator(latency=(0.01, 0.02), seed=2, state=tmp_path / "e.sqlite")
    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(ticking())
    try:
        job = mk.upload_folder(
            photos(tmp_path / "media", 3), emulator=emu, progress="none", wait=False
        )
        result = await job
    finally:
        ticker.cancel()
        emu.close()
    assert result.counts == {"succeeded": 3}
    assert ticks > 0  # the loop ran other tasks while the job went on elsewhere


def test_job_items_are_read_on_the_jobs_thread_while_it_runs(tmp_path: Path) -> None:
    gate = Gate()
    emu = Emulator(latency=(0.01, 0.02), seed=3, state=tmp_path / "e.sqlite")
    try:
        job = mk.upload_folder(
            photos(tmp_path / "media", 4), emulator=emu, progress="none", on_event=gate, wait=False
        )
        assert gate.reached.wait(HANG_S)
        # The job's loop is held inside the listener: a read waits for the next step, so
        # it can never see a batch half-way through one.
        reader: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: reader.setdefault("live", job.result))
        thread.start()
        thread.join(0.2)  # how long we look: the read cannot end while the loop is held
        assert thread.is_alive() and "live" not in reader
        gate.open()
        thread.join(HANG_S)
        assert len(reader["live"].items) == 4
        result = job.wait(timeout=HANG_S)
    finally:
        gate.open()
        emu.close()
    assert result.counts == {"succeeded": 4}


def test_an_error_in_the_job_reaches_wait_and_await(tmp_path: Path) -> None:
    folder = photos(tmp_path / "media", 1)
    job = mk.upload_folder(
        folder,
        base_url=f"http://127.0.0.1:{closed_port()}",  # nothing listens there
        progress="none",
        journal=False,
        wait=False,
    )
    with pytest.raises(mk.TransportError):
        job.wait(timeout=HANG_S)
    assert job.done()

    async def awaited() -> None:
        await job

    with pytest.raises(mk.TransportError):
        asyncio.run(awaited())


def test_a_keyboard_interrupt_in_the_job_reaches_wait(tmp_path: Path) -> None:
    def interrupted(event: Any) -> None:
        raise KeyboardInterrupt

    emu = Emulator(seed=4, state=tmp_path / "e.sqlite")
    try:
        job = mk.upload_folder(
            photos(tmp_path / "media", 2),
            emulator=emu,
            progress="none",
            on_event=interrupted,
            journal=False,
            wait=False,
        )
        with pytest.raises(KeyboardInterrupt):
            job.wait(timeout=HANG_S)
    finally:
        emu.close()
    assert job.done()


# --- a real kernel ------------------------------------------------------------------------

SETUP = """
import json, pathlib, threading, time
import mediakit as mk
from mediakit._widgets import WidgetView
from tests import mediafactory as mf
from tests.test_background import Gate, photos

gate = Gate()
emu = mk.Emulator(latency=(0.05, 0.1), seed=1)
view = WidgetView()
job = mk.upload_folder(
    photos(pathlib.Path("media"), 12), emulator=emu, progress=view, on_event=gate,
    concurrency=2, journal=False, wait=False,
)
print(json.dumps({"box": view.box.model_id, "bar": view.bars.model_id}))
"""

# The blocking cell: time.sleep on the kernel's thread until the job is done.
BLOCKING = """
assert gate.reached.wait(120) and not job.done()
gate.open()
deadline = time.monotonic() + 120
while not job.done() and time.monotonic() < deadline:
    time.sleep(0.05)
print(json.dumps({
    "done": job.done(),
    "counts": job.result.counts,
    "kernel_thread_ran_it": threading.get_ident() in gate.threads,
}))
"""


def test_in_a_real_kernel_the_job_and_its_dashboard_go_on_while_a_cell_sleeps(
    tmp_path: Path,
) -> None:
    with Kernel(tmp_path) as kernel:
        started = kernel.run(SETUP)
        ids = json.loads(started.stdout.strip().splitlines()[-1])
        blocking = kernel.run(BLOCKING)
        out = json.loads(blocking.stdout.strip().splitlines()[-1])
        assert out == {"done": True, "counts": {"succeeded": 12}, "kernel_thread_ran_it": False}

        def updates(messages: list[dict[str, Any]], comm: str) -> list[dict[str, Any]]:
            return [
                m["content"]["data"]["state"]
                for m in messages
                if m["msg_type"] == "comm_msg"
                and m["content"]["comm_id"] == comm
                and m["content"]["data"].get("method") == "update"
            ]

        # While the cell slept, the dashboard's bars moved: the kernel sent the widget
        # updates made on the job's thread (with the parent header of the job's cell).
        during = updates(blocking.messages, ids["bar"])
        values = [s["value"] for s in during if "value" in s]
        assert len(set(values)) >= 2, during
        assert all(
            m["parent_header"]["msg_id"] == started.msg_id
            for m in blocking.messages
            if m["msg_type"] == "comm_msg"
        )

        # And it reached its final state (the last update may come after the cell's idle:
        # IOPub orders messages per thread, not across threads).
        def finished() -> bool:
            every = [m for _, m in kernel.iopub]
            return any(
                "mediakit-succeeded" in s.get("_dom_classes", ())
                for s in updates(every, ids["box"])
            )

        deadline = time.monotonic() + HANG_S
        while not finished():
            assert time.monotonic() < deadline, "the dashboard never showed the end"
            kernel.drain(time.monotonic() + 0.5)
