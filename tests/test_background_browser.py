"""A background job's dashboard in a real browser, moving and finishing while another cell sleeps.

JupyterLab 4 and Jupyter Notebook 7 (one test each: ids `jupyterlab`, `notebook7`), on 127.0.0.1
and driven by Debian's Chromium, run `tests/notebooks/background.ipynb` one cell at a time:
a background job (`wait=False`) to the in-process emulator, held at its
first request until the next cell starts; that cell blocks the kernel in `time.sleep` until
this test has seen, in the browser, the dashboard advance and reach 100 % and green. The
job's widget updates are sent from its worker thread while the kernel's own thread sleeps.

The same assertions hold in both front ends. The servers and the cell driver are
`tests/jupyterlab.py`'s, shared with `tests/test_dashboard_browser.py` (same requirements, same
skip rule: `MEDIAKIT_REQUIRE_BROWSER=1` makes a missing browser a failure).
Set `MEDIAKIT_SCREENSHOT_DIR` to keep the screenshots.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .jupyterlab import (
    CHROMIUM_ARGS,
    FRONT_ENDS,
    FrontEnd,
    Notebook,
    chromium,
    lab_server,
    wait_for_kernel_idle,
    wait_for_text,
)

NOTEBOOK = Path(__file__).parent / "notebooks" / "background.ipynb"


@pytest.fixture(params=FRONT_ENDS)
def front_end(request: pytest.FixtureRequest) -> FrontEnd:
    name: FrontEnd = request.param
    return name


@pytest.fixture
def lab(tmp_path: Path, front_end: FrontEnd) -> Iterator[str]:
    with lab_server(tmp_path, NOTEBOOK, front_end) as url:
        yield url


def test_background_dashboard_moves_and_finishes_while_another_cell_sleeps(
    lab: str, front_end: FrontEnd, tmp_path: Path
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
            wait_for_kernel_idle(page)
            # Each page is the front end it claims: only JupyterLab has the status bar, only
            # Notebook 7 the kernel status next to its notebook toolbar.
            lab_page = page.locator(".jp-StatusBar-Widget").count() > 0
            nb7_page = page.locator(".jp-NotebookKernelStatus").count() > 0
            assert (lab_page, nb7_page) == (front_end == "jupyterlab", front_end == "notebook7")
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
                    dashboard.screenshot(path=str(shots / f"background-running-{front_end}.png"))
                time.sleep(0.05)
            wait_for_text(files, r"16 / 16 files · 100 %")
            assert nb.prompt(3) == "[*]:"  # still sleeping: all of this happened meanwhile
            dashboard.screenshot(path=str(shots / f"background-done-{front_end}.png"))
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
