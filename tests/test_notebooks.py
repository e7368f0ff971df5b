"""The notebooks in `notebooks/`: stored without outputs, and run top to bottom in a real kernel.

Each runs as a copy in a temporary folder (the sample folders and results it writes land
there), with a real ipykernel driven by nbclient, against the built-in emulator of the test's
own cache directory, with no X credentials in the environment. The stored widget state is read
back: every dashboard must have reached its finished state.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest

from .nbrun import NOTEBOOKS, dashboards, execute, text_outputs

# How many dashboards each of our notebooks shows (a notebook not listed: any number).
EXPECTED_DASHBOARDS = {"01-quickstart": 1, "02-long-batch": 2, "04-real-account": 1}


def test_the_notebooks_exist() -> None:
    names = {path.stem for path in NOTEBOOKS}
    assert set(EXPECTED_DASHBOARDS) <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has outputs: strip them"
            assert cell.execution_count is None, f"{path.name} cell {index} has a count"
    assert "widgets" not in notebook.metadata, f"{path.name} stores widget state: strip it"


def _without_x_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI must never reach X, whatever the machine's environment holds."""
    for name in list(os.environ):
        if name.startswith("X_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_top_to_bottom_and_every_dashboard_finishes(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_x_credentials(monkeypatch)
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    notebook = execute(copy, tmp_path)
    check_dashboards(notebook, path.stem)
    check_content(notebook, path.stem)


def check_dashboards(notebook: nbformat.NotebookNode, stem: str) -> None:
    shown = dashboards(notebook)
    if stem in EXPECTED_DASHBOARDS:
        assert len(shown) == EXPECTED_DASHBOARDS[stem], shown
    for dashboard in shown:
        assert dashboard.finished, f"{stem}: a dashboard did not finish: {dashboard}"
        assert dashboard.title[:1] in "✓✗■" and " uploaded to " in dashboard.title, dashboard


def check_content(notebook: nbformat.NotebookNode, stem: str) -> None:
    """What each of our notebooks must have shown (beyond running without an error)."""
    texts = text_outputs(notebook)
    if stem == "01-quickstart":
        assert any("18 uploaded to the emulator" in t for t in texts), texts
        assert any("16.5 MB is over the 15 MB limit for tweet_gif" in t for t in texts)
    elif stem == "02-long-batch":
        background, rerun = dashboards(notebook)
        # Cancelled once ten files were up: the rest were queued or in flight.
        assert " cancelled (see result.failures) in " in background.title, background
        assert "already uploaded (skipped)" in rerun.title, rerun
        assert any(t.startswith("Batch ") and "skipped" in t for t in texts), texts  # !mediakit
    elif stem == "04-real-account":
        first = next(t for t in texts if t)
        assert "runs against the built-in EMULATOR" in first, first
        assert "Nothing is sent to X" in first
