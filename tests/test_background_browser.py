"""A background job's dashboard in a real browser, moving and finishing while another cell sleeps.

JupyterLab on 127.0.0.1, driven by Debian's Chromium, runs `tests/notebooks/background.ipynb`
one cell at a time: a background job (`wait=False`) to the in-process emulator, held at its
first request until the next cell starts; that cell blocks the kernel in `time.sleep` until
this test has seen, in the browser, the dashboard advance and reach 100 % and green. The
job's widget updates are sent from its worker thread while the kernel's own thread sleeps.

The JupyterLab and Chromium setup is the one of `tests/test_dashboard_browser.py` (same
requirements, same skip rule: `MEDIAKIT_REQUIRE_BROWSER=1` makes a missing browser a failure).
Set `MEDIAKIT_SCREENSHOT_DIR` to keep the screenshots.
"""

from __future__ import annotations

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
from typing import Any

import pytest

NOTEBOOK = Path(__file__).parent / "notebooks" / "background.ipynb"
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


def missing() -> str | None:
    if chromium() is None:
        return "Chromium is not installed (apt-get install chromium; .ci/run installs it)"
    for module in ("playwright", "jupyterlab", "ipykernel", "ipywidgets"):
        if find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[dev]')"
    return None


def need_browser() -> None:
    reason = missing()
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
    """User settings of this JupyterLab only: every cell in the DOM, no news, no update check."""
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


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    """A JupyterLab server on 127.0.0.1 with its own token, root, config and cache dirs."""
    need_browser()
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
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
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--port-retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--allow-root",  # CI runs as root
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
                        "JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:]
                    ) from None
                time.sleep(0.25)
        yield f"{base}/lab/tree/{NOTEBOOK.name}?token={token}"
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


def wait_for_text(element: Any, pattern: str, timeout_s: float = 30) -> None:
    """Until the element's text matches `pattern`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if element.count() and re.search(pattern, element.inner_text()):
            return
        time.sleep(0.1)
    raise AssertionError(f"never showed {pattern!r}: {element.inner_text()}")


def test_background_dashboard_moves_and_finishes_while_another_cell_sleeps(
    lab: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    root = tmp_path / "root"
    shots = Path(os.environ.get("MEDIAKIT_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(lab)
            page.wait_for_selector(".jp-Notebook .jp-CodeCell .jp-InputArea-editor", timeout=60_000)
            page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for(timeout=60_000)
            nb = Notebook(page)

            nb.run(1)
            nb.wait_done(1, 60)
            assert "ready" in nb.output_text(1)

            # The job: the cell returns at once, its dashboard on screen, held at 0 files.
            job_cell = nb.run(2)
            nb.wait_done(2, 30)
            dashboard = job_cell.locator(".mediakit-dashboard")
            dashboard.wait_for(timeout=20_000)
            files = dashboard.locator(".mediakit-files")
            wait_for_text(files, r"0 / 16 files")

            # The sleeping cell: while its prompt says it runs, the dashboard moves and ends.
            nb.run(3)
            seen: list[str] = []
            deadline = time.monotonic() + 120
            while "mediakit-succeeded" not in (dashboard.get_attribute("class") or ""):
                assert time.monotonic() < deadline, f"never finished: {dashboard.inner_text()}"
                assert nb.prompt(3) == "[*]:", "the sleeping cell ended before the job"
                shown = str(files.inner_text()).strip()
                if not seen or seen[-1] != shown:
                    seen.append(shown)
                if len(seen) == 3:
                    dashboard.screenshot(path=str(shots / "background-running.png"))
                time.sleep(0.05)
            wait_for_text(files, r"16 / 16 files · 100 %")
            assert nb.prompt(3) == "[*]:"  # still sleeping: all of this happened meanwhile
            dashboard.screenshot(path=str(shots / "background-done.png"))
            assert "✓ 16 uploaded to the emulator" in dashboard.inner_text()
            assert not dashboard.locator(".mediakit-cancel").is_visible()
            # It advanced through intermediate states, not only from 0 to the end.
            middle = [s for s in seen if not s.startswith(("0 / 16", "16 / 16"))]
            assert len(middle) >= 2, seen

            (root / "release").touch()  # lets the sleeping cell end
            nb.wait_done(3, 60)
            wait_for_text(
                nb.cell(3).locator(".jp-OutputArea"), r"SLEPT True \[\('succeeded', 16\)\]"
            )
            assert "Error displaying widget" not in page.content()
        finally:
            browser.close()
