"""The dashboard in a real browser: JupyterLab on 127.0.0.1 driven by Debian's Chromium.

A notebook (`tests/notebooks/dashboard.ipynb`) uploads to the in-process emulator, one cell at
a time. The test checks that the dashboard rendered as widgets (no "Error displaying widget"),
moved while running, ended at 100 % and green, and that its Cancel button stops a background
job (`wait=False`) and a blocking cell. It saves screenshots; set `MEDIAKIT_SCREENSHOT_DIR`
to keep them (the README's `docs/dashboard.png` is `dashboard.png` from there).

Needs Chromium at /usr/bin/chromium (`apt-get install chromium`; `.ci/run` installs it), and
playwright + jupyterlab + ipykernel (the `dev` extra). Playwright drives the system Chromium
through `executable_path`: no browser is ever downloaded. Without them the test skips, unless
`MEDIAKIT_REQUIRE_BROWSER=1` (set by `.ci/run`) makes that a failure.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .jupyterlab import CHROMIUM_ARGS, Notebook, chromium, lab_server, wait_for_text

NOTEBOOK = Path(__file__).parent / "notebooks" / "dashboard.ipynb"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    with lab_server(tmp_path, NOTEBOOK) as url:
        yield url


def files_shown(dashboard: Any) -> str:
    return str(dashboard.locator(".mediakit-files").inner_text()).strip()


def wait_for_count(dashboard: Any, state: str, n: int, timeout_s: float = 30) -> None:
    """Until the dashboard's count of `state` shows `n`."""
    chip = dashboard.locator(f".mediakit-count-{state}")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if chip.count() and chip.inner_text().strip() == f"{state} {n}":
            return
        time.sleep(0.1)
    raise AssertionError(f"never showed {state} {n}: {dashboard.inner_text()}")


def portions(dashboard: Any) -> dict[str, int]:
    """The files bar's portions that have files: {"succeeded": 8, "invalid": 1, …}."""
    cells = dashboard.locator(".mediakit-bar-files .mediakit-portion")
    found = {}
    for i in range(cells.count()):
        cell = cells.nth(i)
        amount = int(cell.get_attribute("data-amount") or 0)
        if amount:
            found[(cell.get_attribute("class") or "").split("mediakit-portion-")[1].split()[0]] = (
                amount
            )
    return found


def test_dashboard_in_jupyterlab(lab: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("MEDIAKIT_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(lab)
            page.wait_for_selector(".jp-Notebook .jp-CodeCell .jp-InputArea-editor", timeout=60_000)
            # The kernel is up when the status bar says so; a cell run before that is lost.
            page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for(timeout=60_000)
            nb = Notebook(page)

            # The setup cell: also waits for the kernel to start.
            nb.run(1)
            nb.wait_done(1, 60)
            assert "ready" in nb.output_text(1)

            # 1. A blocking batch: the dashboard renders, moves, ends at 100 % and green.
            cell = nb.run(2)
            dashboard = cell.locator(".mediakit-dashboard")
            dashboard.wait_for(timeout=20_000)
            assert dashboard.locator(".mediakit-bar").count() == 2  # files and bytes
            seen: list[str] = []
            while not re.fullmatch(r"\[\d+\]:", nb.prompt(2)):
                seen.append(files_shown(dashboard))
                if len(seen) == 12:
                    dashboard.screenshot(path=str(shots / "dashboard-running.png"))
                time.sleep(0.1)
            # The prompt (the shell's reply) and the last widget updates (iopub) travel apart.
            wait_for_text(dashboard.locator(".mediakit-files"), r"22 / 22 files · 100 %")
            assert "mediakit-succeeded" in (dashboard.get_attribute("class") or "")
            assert "✓ 22 uploaded to the emulator" in dashboard.inner_text()
            assert portions(dashboard) == {"succeeded": 22}  # the whole bar green
            bytes_shown = dashboard.locator(".mediakit-bytes").inner_text()
            assert bytes_shown.endswith("· 100 %"), bytes_shown
            assert len(set(seen)) >= 3, seen  # it moved while running
            assert not dashboard.locator(".mediakit-cancel").is_visible()
            wait_for_text(cell.locator(".jp-OutputArea"), r"22 uploaded to the emulator")
            assert cell.locator(".mediakit-result.mediakit-succeeded").count() == 1
            dashboard.screenshot(path=str(shots / "dashboard-done.png"))

            # 2. A background job: the cell returns at once, the dashboard keeps going, and
            #    its Cancel button stops the job.
            cell = nb.run(3)
            nb.wait_done(3, 20)
            dashboard = cell.locator(".mediakit-dashboard")
            dashboard.wait_for(timeout=10_000)
            wait_for_count(dashboard, "processing", 4)
            wait_for_count(dashboard, "succeeded", 8)  # the photos are done: 4 GIFs processing
            assert "broken.jpg" in dashboard.locator(".mediakit-failures").inner_text()
            # X's processing percentages shown, for the screenshot (a state, not a delay).
            wait_for_text(dashboard.locator(".mediakit-in-flight"), r"processing [1-9]\d* %")
            dashboard.screenshot(path=str(shots / "dashboard.png"))
            dashboard.locator(".mediakit-cancel").click()
            # Red: a file was invalid; the title says what was cancelled.
            # Each widget's update is its own message: wait for the text, then the class.
            wait_for_text(dashboard, r"4 cancelled")
            cell.locator(".mediakit-dashboard.mediakit-failed").wait_for(timeout=10_000)
            nb.run(4)
            nb.wait_done(4, 20)
            wait_for_text(nb.cell(4).locator(".jp-OutputArea"), r"JOB True .*\('cancelled', 4\)")
            # 100 % means uploaded, not ended: the bar's portions in their own colours.
            wait_for_text(
                dashboard.locator(".mediakit-files"),
                r"8 / 13 files · 61 % · 1 invalid · 4 cancelled",
            )
            assert portions(dashboard) == {"succeeded": 8, "invalid": 1, "cancelled": 4}
            colours = {
                part: dashboard.locator(
                    f".mediakit-bar-files .mediakit-portion-{part}"
                ).first.evaluate("e => getComputedStyle(e).backgroundColor")
                for part in ("succeeded", "invalid", "cancelled")
            }
            assert len(set(colours.values())) == 3, colours

            # A narrow window (1,000 px): the title stays on one line, the bars stay aligned.
            page.set_viewport_size({"width": 1000, "height": 1000})
            title = dashboard.locator(".mediakit-title")
            one_line = title.evaluate(
                "e => parseFloat(getComputedStyle(e.firstElementChild).lineHeight) || 20"
            )
            assert title.bounding_box()["height"] <= 1.5 * one_line + 8  # type: ignore[index]
            files_bar, bytes_bar = (
                dashboard.locator(f".mediakit-bar-{kind}").bounding_box()
                for kind in ("files", "bytes")
            )
            assert files_bar and bytes_bar
            assert abs(files_bar["x"] - bytes_bar["x"]) < 1
            assert abs(files_bar["width"] - bytes_bar["width"]) < 1
            dashboard.screenshot(path=str(shots / "dashboard-narrow.png"))
            page.set_viewport_size({"width": 1280, "height": 1000})

            # 3. A blocking cell: Cancel works while the cell runs (JupyterLab 4.4+ sends
            #    widget messages to an ipykernel 7 subshell, so they arrive mid-cell).
            cell = nb.run(5)
            dashboard = cell.locator(".mediakit-dashboard")
            dashboard.wait_for(timeout=20_000)
            wait_for_count(dashboard, "processing", 3)
            wait_for_count(dashboard, "succeeded", 2)  # both photos done: only GIFs are left
            dashboard.locator(".mediakit-cancel").click()
            nb.wait_done(5, 25)  # not the 30-60 s of processing: the click stopped it
            wait_for_text(
                nb.cell(5).locator(".jp-OutputArea"),
                r"BLOCKING \[\('cancelled', 3\), \('succeeded', 2\)\]",
            )

            html = page.content()
            assert "Error displaying widget" not in html
        finally:
            browser.close()
