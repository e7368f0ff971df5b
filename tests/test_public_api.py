"""The public surface: every public name exported, sorted, and cheap to import."""

from __future__ import annotations

import subprocess
import sys

import mediakit


def test_all_is_sorted_and_complete() -> None:
    assert mediakit.__all__ == sorted(mediakit.__all__)
    public = {name for name in vars(mediakit) if not name.startswith("_")}
    modules = {"emulator", "cli", "samples"}
    assert public - modules - set(mediakit.__all__) == set()
    for name in mediakit.__all__:
        assert hasattr(mediakit, name), name


def test_import_does_not_apply_nest_asyncio_or_load_pandas_widgets() -> None:
    code = (
        "import sys, mediakit; "
        "print(sorted(m for m in ('nest_asyncio2', 'ipywidgets', 'av', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_samples_is_a_lazy_submodule() -> None:
    code = (
        "import sys, mediakit as mk; before = 'PIL' in sys.modules; "
        "f = mk.samples.make_folder; print(before, 'PIL' in sys.modules, f.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "mediakit.samples"]
