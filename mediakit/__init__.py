"""mediakit: batch media uploads to X from a notebook, with an offline emulator of X's API."""

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
from .emulator import Emulator

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "AuthError",
    "Clock",
    "ConfigurationError",
    "CredentialsError",
    "Emulator",
    "Limits",
    "ManualClock",
    "MediaError",
    "MediakitError",
    "ProcessingError",
    "RateLimitError",
    "ScaledClock",
    "SystemClock",
]
