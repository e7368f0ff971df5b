"""Running the notebooks in `notebooks/` with a real kernel, and reading their dashboards back.

nbclient executes every cell and stores the widget state in the notebook's metadata, as a front
end would save it. One difference from a front end matters here: nbclient 0.11 only reads the
kernel's messages that belong to the cell it is running (`NotebookClient._async_poll_output_msg`
drops any other), while JupyterLab applies every widget update it receives. A background job
(`wait=False`) keeps updating its dashboard from later cells, with the parent header of the cell
that started it, so plain nbclient would store that dashboard as it was when its cell ended.
`FrontEndClient` applies widget updates whatever cell they come from, as JupyterLab does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete
from nbclient.util import ensure_async
from nbformat import NotebookNode

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
FINISHED = ("mediakit-succeeded", "mediakit-failed", "mediakit-cancelled")
# A whole notebook may take this long before it counts as hung (not a speed check).
CELL_TIMEOUT_S = 600

# The override below replaces this coroutine: if nbclient renames it, fail loudly.
assert hasattr(NotebookClient, "_async_poll_output_msg"), "nbclient changed: see tests/nbrun.py"


class FrontEndClient(NotebookClient):
    """nbclient that, like a front end, applies widget updates from any cell."""

    async def _async_poll_output_msg(
        self, parent_msg_id: str, cell: NotebookNode, cell_index: int
    ) -> None:
        assert self.kc is not None
        while True:
            msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=None))
            if msg["parent_header"].get("msg_id") == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    return
            elif msg["msg_type"] in ("comm_open", "comm_msg"):
                self.handle_comm_msg([], msg, cell_index)  # widget state only, no outputs


def execute(source: Path, workdir: Path, *, kernel_name: str = "python3") -> NotebookNode:
    """Run a copy of `source` in `workdir` (relative paths land there) and return it."""
    notebook = nbformat.read(source, as_version=4)
    FrontEndClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(workdir)}},
        store_widget_state=True,
    ).execute()
    nbformat.write(notebook, workdir / source.name)
    return notebook


@dataclass(frozen=True)
class Dashboard:
    classes: tuple[str, ...]
    title: str  # the title's text, HTML tags removed

    @property
    def finished(self) -> bool:
        return any(c in self.classes for c in FINISHED) and "mediakit-running" not in self.classes


def dashboards(notebook: NotebookNode) -> list[Dashboard]:
    """Every mediakit dashboard in the notebook's stored widget state."""
    state: dict[str, Any] = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {})
    models: dict[str, Any] = state.get("state", {})

    def model(ref: str) -> dict[str, Any]:
        found: dict[str, Any] = models[ref.removeprefix("IPY_MODEL_")]["state"]
        return found

    found = []
    for entry in models.values():
        widget = entry["state"]
        classes = tuple(widget.get("_dom_classes", ()))
        if "mediakit-dashboard" not in classes:
            continue
        header = model(widget["children"][0])
        title_html = str(model(header["children"][0]).get("value", ""))
        found.append(Dashboard(classes, re.sub(r"<[^>]+>", "", title_html)))
    return found


def text_outputs(notebook: NotebookNode) -> list[str]:
    """The text each code cell showed: streams and text/plain results, joined per cell."""
    texts = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        parts = []
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                parts.append(str(output.get("data", {}).get("text/plain", "")))
        texts.append("".join(parts))
    return texts
