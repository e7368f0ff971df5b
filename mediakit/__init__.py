"""mediakit: batch media uploads to X from a notebook, with an offline emulator of X's API.

``import mediakit as mk; result = mk.upload_folder("campaign/")`` uploads to the built-in
emulator; ``target="x"`` to X. The emulator (starlette, uvicorn) loads the first time it is
used, never at import: `mk.Emulator` and `mediakit.emulator` bring it in.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from ._api import (
    FilesInput,
    upload_files,
    upload_files_async,
    upload_folder,
    upload_folder_async,
)
from ._client import MediaClient, RequestContext
from ._clock import Clock, ManualClock, ScaledClock, SystemClock
from ._credentials import Credentials, CredentialsKind
from ._errors import (
    APIError,
    AuthError,
    ConfigurationError,
    ConfigurationTypeError,
    CredentialsError,
    JournalError,
    MediaError,
    MediakitError,
    ProcessingError,
    RateLimitError,
    TLSError,
    TransportError,
)
from ._history import open_journal
from ._limits import Limits
from ._media import FileCheck
from ._oauth2 import UserToken
from ._options import UploadKwargs, UploadOptions
from ._plan import UploadPlan, plan
from ._preflight import preflight
from ._protocol import ErrorInfo, MediaState
from ._readers import read_csv, read_parquet
from ._records import Event, FileRecord
from ._repair import repair
from ._result import UploadJob, UploadResult
from ._retry import RetryPolicy
from ._view import ProgressView

if _TYPE_CHECKING:
    from .emulator import Emulator

if _TYPE_CHECKING:
    from ._forecast import BatchEstimate
    from ._model import ProcessingTimeModel

if _TYPE_CHECKING:
    from . import samples as samples  # loaded on first use, by __getattr__ below

__version__ = "0.1.0"


__all__ = [
    "APIError",
    "AuthError",
    "BatchEstimate",
    "Clock",
    "ConfigurationError",
    "ConfigurationTypeError",
    "Credentials",
    "CredentialsError",
    "CredentialsKind",
    "Emulator",
    "ErrorInfo",
    "Event",
    "FileCheck",
    "FileRecord",
    "FilesInput",
    "JournalError",
    "Limits",
    "ManualClock",
    "MediaClient",
    "MediaError",
    "MediaState",
    "MediakitError",
    "ProcessingError",
    "ProcessingTimeModel",
    "ProgressView",
    "RateLimitError",
    "RequestContext",
    "RetryPolicy",
    "ScaledClock",
    "SystemClock",
    "TLSError",
    "TransportError",
    "UploadJob",
    "UploadKwargs",
    "UploadOptions",
    "UploadPlan",
    "UploadResult",
    "UserToken",
    "open_journal",
    "plan",
    "preflight",
    "read_csv",
    "read_parquet",
    "repair",
    "upload_files",
    "upload_files_async",
    "upload_folder",
    "upload_folder_async",
]

# Loaded on first use: the emulator imports starlette and uvicorn, the model numpy.
_LAZY = {"BatchEstimate": "_forecast", "Emulator": "emulator", "ProcessingTimeModel": "_model"}


def _publish(obj: _Any) -> None:
    # Show `mediakit.X` in reprs, help() and tracebacks, not the private module (as httpx does).
    if getattr(obj, "__module__", "").startswith("mediakit"):
        obj.__module__ = "mediakit"


for _name in __all__:
    if _name not in _LAZY and _name != "FilesInput":
        _publish(globals()[_name])


def __getattr__(name: str) -> _Any:
    if name == "samples":  # a submodule: Pillow and numpy, which `import mediakit` must not load
        import importlib

        return importlib.import_module(".samples", __name__)
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        _publish(value)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mediakit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
