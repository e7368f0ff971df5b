"""mediakit: batch media uploads to X from a notebook, with an offline emulator of X's API."""

import typing as _typing

from ._api import (
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
from ._history import open_journal
from ._limits import Limits
from ._plan import UploadPlan, plan
from ._protocol import MediaState
from ._readers import read_csv, read_parquet
from ._result import UploadJob, UploadResult
from .emulator import Emulator

if _typing.TYPE_CHECKING:
    from ._model import ProcessingTimeModel

__version__ = "0.1.0"

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
    "ProcessingTimeModel",
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


def __getattr__(name: str) -> _typing.Any:
    # ProcessingTimeModel needs numpy: loaded when first used, not by `import mediakit`.
    if name == "ProcessingTimeModel":
        from ._model import ProcessingTimeModel

        return ProcessingTimeModel
    raise AttributeError(f"module 'mediakit' has no attribute {name!r}")
