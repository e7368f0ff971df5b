"""Running a piece of a test as an unprivileged user (nobody), where permissions bite.

Root reads and writes files whatever their mode, so "unreadable" and "read-only" only mean
something to another user. `as_nobody` forks after every import is done (the child could not
read the Python installation under root's home), drops to nobody in the child, runs the
function and sends back what it returned (JSON), or the error it raised, as text.
"""

from __future__ import annotations

import json
import os
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

NOBODY = 65534

__all__ = ["NOBODY", "as_nobody", "needs_root", "shared_dir"]


def needs_root(why: str) -> None:
    """Skip without root, or fail where root is promised (`MEDIAKIT_REQUIRE_ROOT=1`, as in
    `.ci/run`): there a skip would hide a case that did not run."""
    if os.environ.get("MEDIAKIT_REQUIRE_ROOT") == "1":
        pytest.fail(f"{why}, and MEDIAKIT_REQUIRE_ROOT=1 says the suite runs with it")
    pytest.skip(why)


def shared_dir(prefix: str = "mediakit-nobody-") -> Path:
    """A folder outside root's home that nobody can enter and write."""
    if os.geteuid() != 0:
        needs_root("dropping to another user needs root")
    base = Path(tempfile.mkdtemp(prefix=prefix))
    base.chmod(0o777)
    return base


def as_nobody(function: Callable[[], Any]) -> Any:
    """`function()` run as nobody in a forked child; its JSON-able result, or raises
    AssertionError with the child's traceback."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(read_end)
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                payload = {"ok": function()}
            except BaseException:
                payload = {"error": traceback.format_exc()}
            data = json.dumps(payload, default=str).encode()
            view = memoryview(data)
            while view:
                view = view[os.write(write_end, view) :]
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, data
    payload = json.loads(data)
    if "error" in payload:
        raise AssertionError(f"as nobody:\n{payload['error']}")
    return payload["ok"]
