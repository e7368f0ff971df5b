"""A real ipykernel, driven cell by cell, with every IOPub message it sends kept in order.

nbclient reads only the messages of the cell it runs; a background job's widget updates carry
the parent header of the cell that started it, so to see what the kernel sends while another
cell runs, this reads the IOPub channel itself (`tests/test_background.py`, `bench/`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parent.parent
# A cell may take this long before it counts as hung (a failure guard, not a speed check).
CELL_TIMEOUT_S = 300


@dataclass
class Cell:
    """One executed cell: its messages (from its execute_input to its idle) and its outcome."""

    msg_id: str
    status: str
    stdout: str
    error: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    started: float = 0.0  # time.monotonic() of its execute_input
    ended: float = 0.0  # ... and of its idle status


class Kernel:
    """`with Kernel(cwd) as k: k.run("x = 1")`; mediakit imported from this checkout."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        kernel_env = dict(os.environ)
        kernel_env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT), kernel_env.get("PYTHONPATH")])
        )
        kernel_env.update(env or {})
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(cwd=str(cwd), env=kernel_env)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)
        self.iopub: list[tuple[float, dict[str, Any]]] = []  # every message, as received

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)

    def run(self, code: str, timeout: float = CELL_TIMEOUT_S) -> Cell:
        """Execute `code`, reading IOPub until the cell is idle; raise if it raised."""
        cell = self.run_unchecked(code, timeout)
        if cell.status != "ok":
            raise AssertionError(f"cell failed:\n{code}\n{cell.error}\n{cell.stdout}")
        return cell

    def run_unchecked(self, code: str, timeout: float = CELL_TIMEOUT_S) -> Cell:
        msg_id = self.client.execute(code)
        deadline = time.monotonic() + timeout
        cell = Cell(msg_id, "", "", "")
        stdout: list[str] = []
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"cell hung:\n{code}"
            msg = self.client.get_iopub_msg(timeout=left)
            now = time.monotonic()
            self.iopub.append((now, msg))
            mine = msg["parent_header"].get("msg_id") == msg_id
            kind = msg["msg_type"]
            if mine and kind == "execute_input":
                cell.started = now
            if cell.started:
                cell.messages.append(msg)
            if mine and kind == "stream":
                stdout.append(msg["content"]["text"])
            if mine and kind == "error":
                cell.error = "\n".join(msg["content"]["traceback"])
            if mine and kind == "status" and msg["content"]["execution_state"] == "idle":
                cell.ended = now
                break
        reply = self.client.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
        cell.status = reply["content"]["status"]
        cell.stdout = "".join(stdout)
        return cell

    def drain(self, until: float) -> None:
        """Keep reading IOPub (messages sent between cells) until `until` (monotonic)."""
        while (left := until - time.monotonic()) > 0:
            try:
                msg = self.client.get_iopub_msg(timeout=left)
            except Exception:  # queue.Empty: nothing more came
                return
            self.iopub.append((time.monotonic(), msg))
