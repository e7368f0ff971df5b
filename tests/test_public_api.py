"""The public surface: every public name exported, sorted, and cheap to import."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

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


def test_import_loads_no_emulator_server_code_until_the_emulator_is_used() -> None:
    code = (
        "import mediakit, sys\n"
        "servers = {'starlette', 'uvicorn', 'multipart', 'python_multipart'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in servers))\n"
        "emu = mediakit.Emulator()\n"
        "print(type(emu).__module__, 'starlette' in sys.modules)\n"
        "emu.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["[]", "mediakit True"]


def test_public_names_show_as_mediakit() -> None:
    for name in mediakit.__all__:
        value = getattr(mediakit, name)
        if isinstance(value, type) or inspect.isfunction(value):
            assert value.__module__ == "mediakit", name
    assert repr(mediakit.UploadResult) == "<class 'mediakit.UploadResult'>"


_PUBLIC_FUNCTIONS = (
    "upload_files",
    "upload_files_async",
    "upload_folder",
    "upload_folder_async",
    "open_journal",
    "plan",
    "preflight",
    "repair",
    "read_csv",
    "read_parquet",
)


def test_public_functions_document_their_arguments_returns_and_raises() -> None:
    for name in _PUBLIC_FUNCTIONS:
        doc = inspect.getdoc(getattr(mediakit, name)) or ""
        assert doc, name
        assert "Args" in doc or "Args and raises" in doc, name
        assert "Returns" in doc or "Returns an" in doc or "Returns:" in doc, name
        if name not in ("read_csv", "read_parquet"):
            assert "Raises" in doc or "raises" in doc, name


def _names_in(annotation: str) -> set[str]:
    # Unqualified names only: `httpx.AsyncClient`, `pd.DataFrame` are other libraries' types.
    return set(re.findall(r"(?<![\w.])([A-Z][A-Za-z0-9]+)\b", annotation))


_NOT_OURS = {
    "Any", "Iterable", "Sequence", "Mapping", "Callable", "Literal", "Unpack", "DataFrame",
    "PathLike", "Path", "Figure", "Timedelta", "Generator", "Collection", "None", "True",
    "False", "AsyncBaseTransport", "Series", "TypeAlias", "Awaitable", "TextIO",
}  # fmt: skip


def test_every_type_in_a_public_signature_is_exported() -> None:
    exported = set(mediakit.__all__)
    objects: list[tuple[str, object]] = [(n, getattr(mediakit, n)) for n in _PUBLIC_FUNCTIONS]
    for cls_name in ("MediaClient", "UploadResult", "UploadJob", "UploadPlan", "Credentials"):
        cls = getattr(mediakit, cls_name)
        for attr, value in vars(cls).items():
            if attr.startswith("_") and attr != "__init__":
                continue
            if isinstance(value, property):
                value = value.fget
            if isinstance(value, classmethod | staticmethod):
                value = value.__func__
            if callable(value):
                objects.append((f"{cls_name}.{attr}", value))
    for where, function in objects:
        if where in ("UploadResult.__init__", "UploadJob.__init__"):
            continue  # built by mediakit, never by users
        for pname, annotation in inspect.get_annotations(function).items():  # type: ignore[arg-type]
            if pname.startswith("_"):
                continue
            unknown = _names_in(str(annotation)) - exported - _NOT_OURS
            assert not unknown, f"{where}({pname}: {annotation}) uses unexported {unknown}"


def test_no_module_is_over_about_600_lines() -> None:
    package = Path(mediakit.__file__).parent
    sizes = {
        str(p.relative_to(package)): len(p.read_text().splitlines()) for p in package.rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n > 620} == {}
