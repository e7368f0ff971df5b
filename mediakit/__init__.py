"""mediakit: batch media uploads to X from a notebook, with an offline emulator of X's API."""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._api import (
    open_journal,
    upload_files,
    upload_files_async,
    upload_folder,
    upload_folder_async,
)
from ._auth import Credentials
from ._client import MediaClient, RetryPolicy
from ._clock import Clock, ManualClock, ScaledClock, SystemClock
from ._errors import (
    APIError,
    AuthError,
    ConfigurationError,
    CredentialsError,
    MediaError,
    MediakitError,
    ProcessingError,
    RateLimitError,
)
from ._limits import Limits
from ._plan import UploadPlan, plan
from ._protocol import MediaState
from ._readers import read_csv, read_parquet
from ._result import UploadJob, UploadResult
from .emulator import Emulator

if _TYPE_CHECKING:
    from . import samples as samples  # loaded on first use, by __getattr__ below

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # `mk.samples` loads on first use: it imports Pillow and numpy, which `import mediakit`
    # must not (a notebook's first import stays cheap).
    if name == "samples":
        import importlib

        return importlib.import_module(".samples", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "APIError",
    "AuthError",
    "Clock",
    "ConfigurationError",
    "Credentials",
    "CredentialsError",
    "Emulator",
    "Limits",
    "ManualClock",
    "MediaClient",
    "MediaError",
    "MediaState",
    "MediakitError",
    "ProcessingError",
    "RateLimitError",
    "RetryPolicy",
    "ScaledClock",
    "SystemClock",
    "UploadJob",
    "UploadPlan",
    "UploadResult",
    "open_journal",
    "plan",
    "read_csv",
    "read_parquet",
    "upload_files",
    "upload_files_async",
    "upload_folder",
    "upload_folder_async",
]
