"""JupyterLab or Jupyter Notebook 7, and Debian's Chromium, for the browser tests: a server of
the test's own, and the notebook's cells driven through Playwright.

Needs Chromium at /usr/bin/chromium (`apt-get install chromium`; `.ci/run` installs it), and
playwright + jupyterlab + notebook + ipykernel (the `dev` extra). Playwright drives the system
Chromium through `executable_path`: no browser is ever downloaded. Without them a browser test
skips, unless `MEDIAKIT_REQUIRE_BROWSER=1` (set by `.ci/run`) makes that a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal

import pytest

__all__ = [
    "CHROMIUM_ARGS",
    "FRONT_ENDS",
    "FrontEnd",
    "Notebook",
    "chromium",
    "lab_server",
    "wait_for_kernel_idle",
    "wait_for_text",
]

FrontEnd = Literal["jupyterlab", "notebook7"]
# Both are built from the same JupyterLab components and served by one jupyter_server (which
# loads both server extensions either way); they differ in the page around the notebook
# (Notebook 7: one document per browser tab, no status bar) and in its URL.
FRONT_ENDS: tuple[FrontEnd, ...] = ("jupyterlab", "notebook7")
_MODULE: dict[FrontEnd, str] = {"jupyterlab": "jupyterlab", "notebook7": "notebook"}
_URL: dict[FrontEnd, str] = {"jupyterlab": "/lab/tree/", "notebook7": "/notebooks/"}

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def missing(front_end: FrontEnd = "jupyterlab") -> str | None:
    if chromium() is None:
        return "Chromium is not installed (apt-get install chromium; .ci/run installs it)"
    for module in ("playwright", _MODULE[front_end], "ipykernel", "ipywidgets"):
        if find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[dev]')"
    return None


def need_browser(front_end: FrontEnd = "jupyterlab") -> None:
    reason = missing(front_end)
    if reason is None:
        return
    if os.environ.get("MEDIAKIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"MEDIAKIT_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_settings(folder: Path) -> None:
    """User settings of this server only (Notebook 7 reads the same plugins' settings): every
    cell in the DOM, no news, no update check."""
    settings = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
    }
    for name, values in settings.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@contextlib.contextmanager
def lab_server(tmp_path: Path, notebook: Path, front_end: FrontEnd = "jupyterlab") -> Iterator[str]:
    """A JupyterLab (or Notebook 7) server on 127.0.0.1 with its own token, root, config and
    cache dirs, `notebook` copied into its root; yields the notebook's URL. Skips (or fails,
    with `MEDIAKIT_REQUIRE_BROWSER=1`) when the browser or the front end is missing."""
    need_browser(front_end)
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(notebook, root / notebook.name)
    write_settings(tmp_path / "lab-settings")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "MEDIAKIT_"))}
    env.update(
        XDG_CACHE_HOME=str(tmp_path / "cache"),  # the built-in emulator's state and the journal
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    )
    port, token = free_port(), secrets.token_hex(16)
    log = (tmp_path / "lab.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            _MODULE[front_end],
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--port-retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--allow-root",  # CI runs as root
            # No update check, no extension manager asking PyPI: JupyterLab's server extension
            # runs under `python -m notebook` too (logged "Extension Manager is 'readonly'").
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ],
        env=env,
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError(
                        f"{front_end} did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:]
                    ) from None
                time.sleep(0.25)
        yield f"{base}{_URL[front_end]}{notebook.name}?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


class Notebook:
    """Run cells of the open notebook and read their outputs."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def cell(self, index: int) -> Any:
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index)

    def run(self, index: int) -> Any:
        cell = self.cell(index)
        cell.locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Control+Enter")
        return cell

    def prompt(self, index: int) -> str:
        return str(self.cell(index).locator(".jp-InputPrompt").first.inner_text()).strip()

    def wait_done(self, index: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if re.fullmatch(r"\[\d+\]:", self.prompt(index)):
                return
            time.sleep(0.1)
        raise AssertionError(
            f"cell {index} still running after {timeout_s} s: {self.prompt(index)}"
        )

    def output_text(self, index: int) -> str:
        return str(self.cell(index).locator(".jp-OutputArea").inner_text())


# The notebook toolbar's execution indicator, in both front ends (Notebook 7 has no status bar,
# so JupyterLab's "| Idle" there is no use). Its data-status is the kernel's display status,
# but it starts at "idle" before any kernel exists ("No Kernel"), then goes through
# initializing, connecting and unknown while the kernel process starts (about 2 s here) first.
_KERNEL_READY = """() => {
    const shown = document.querySelector(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator");
    if (!shown) return false;
    if (shown.dataset.status !== "idle") window.__mediakitKernelStarting = true;
    return shown.dataset.status === "idle" && window.__mediakitKernelStarting === true;
}"""


def wait_for_kernel_idle(page: Any, timeout_s: float = 60) -> None:
    """Until the notebook's kernel is started, connected and idle: a cell run before then is
    lost. Waits for the indicator to leave its initial "idle" and come back to it, checked at
    every animation frame (`raf`), so the seconds of starting cannot go unseen."""
    page.wait_for_function(_KERNEL_READY, polling="raf", timeout=timeout_s * 1000)


def wait_for_text(element: Any, pattern: str, timeout_s: float = 30) -> None:
    """Until the element's text matches `pattern`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if element.count() and re.search(pattern, element.inner_text()):
            return
        time.sleep(0.1)
    raise AssertionError(f"never showed {pattern!r}: {element.inner_text()}")
