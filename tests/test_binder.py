"""Binder's setup (`binder/`), as far as it can be tried without building a Binder image.

What repo2docker does for this repository, step by step: install `binder/requirements.txt` with
pip from the repository's root into a fresh environment, run `binder/postBuild` there, then the
notebooks run in a kernel of that environment, from `notebooks/`.

What this proves: the requirements file installs the project (with its `notebook` extra) from
the repository's root, postBuild runs with what it installed and makes the quick start's sample
folder, and every notebook runs top to bottom in a kernel of that environment, its dashboards
finishing (the same checks as tests/test_notebooks.py), with the mediakit that pip installed.

What it does not prove: the environment is a `venv --system-site-packages`, so the packages the
project depends on come from this machine (the same versions the rest of the suite uses) rather
than from a resolution on an empty image. pip builds the project with build isolation, as on
Binder, so it fetches setuptools from the package index (as `pip install -e .` does). It runs the
Python of this machine, not the 3.12 of `runtime.txt`; and it builds no Docker image and starts
no JupyterLab front end (tests/test_dashboard_browser.py covers the front end).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from .nbrun import NOTEBOOKS, ROOT, execute
from .test_notebooks import check_content, check_dashboards

IGNORED = shutil.ignore_patterns(
    ".git",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "node_modules",
    "build",
    "dist",
    "*.egg-info",
    ".ci",
    "campaign",
    "archive",
    "real-account-samples",
    "*.sqlite",
    "*.parquet",
)
KERNEL = "mediakit-binder"


def _run(args: list[str | Path], *, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_binder_requirements_postbuild_and_notebooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=IGNORED)
    assert (repo / "binder" / "runtime.txt").read_text().strip() == "python-3.12"
    venv = tmp_path / "venv"
    # Without pip of its own: Python 3.11's ensurepip would also bring setuptools 65, too old
    # for this pyproject, and shadow the machine's; the machine's pip installs into it.
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], check=True
    )
    python = venv / "bin" / "python"

    # The environment Binder's steps see: no PYTHONPATH (the suite's points at the checkout),
    # the new environment first on PATH, no X credentials.
    for name in list(os.environ):
        if name == "PYTHONPATH" or name.startswith("X_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PATH", f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    env = dict(os.environ)

    requirements = repo / "binder" / "requirements.txt"
    _run(
        [python, "-m", "pip", "install", "-q", "-r", requirements],
        cwd=repo,
        env=env,
    )
    where = _run([python, "-c", "import mediakit; print(mediakit.__file__)"], cwd=tmp_path, env=env)
    assert Path(where.strip()).is_relative_to(venv), where  # pip's copy, not the checkout's

    _run([repo / "binder" / "postBuild"], cwd=repo, env=env)
    campaign = repo / "notebooks" / "campaign"
    made = {path.name: path.stat().st_mtime_ns for path in campaign.iterdir()}
    assert len(made) == 20, sorted(made)

    # A kernel of the new environment, found before any other (JUPYTER_PATH comes first).
    kernels = tmp_path / "kernels"
    _run(
        [python, "-m", "ipykernel", "install", "--prefix", kernels, "--name", KERNEL],
        cwd=tmp_path,
        env=env,
    )
    monkeypatch.setenv("JUPYTER_PATH", str(kernels / "share" / "jupyter"))
    probe = nbformat.v4.new_notebook()
    probe.cells.append(
        nbformat.v4.new_code_cell(
            "import sys, mediakit; print(sys.prefix); print(mediakit.__file__)"
        )
    )
    nbformat.write(probe, tmp_path / "probe.ipynb")
    ran = execute(tmp_path / "probe.ipynb", tmp_path, kernel_name=KERNEL)
    prefix, module = ran.cells[0].outputs[0].text.split()
    assert Path(prefix) == venv and Path(module).is_relative_to(venv), (prefix, module)

    folder = repo / "notebooks"
    for path in NOTEBOOKS:
        notebook = execute(folder / path.name, folder, kernel_name=KERNEL)
        check_dashboards(notebook, path.stem)
        check_content(notebook, path.stem)
    # 01 made the same sample files postBuild had made, so it left them untouched.
    assert {p.name: p.stat().st_mtime_ns for p in campaign.iterdir()} == made
