"""One exception tree for everything mediakit raises.

    MediakitError
    ├── ConfigurationError        bad arguments, a missing or unusable setting
    │   └── CredentialsError      no credentials, or a kind X refuses (app-only bearer)
    ├── MediaError                a local file that cannot be uploaded (names file and reason)
    └── APIError                  an answer from X (or the emulator) that ends the request
        ├── AuthError             401 / 403
        ├── RateLimitError        429 that retries could not outwait
        └── ProcessingError       processing_info.error, or state "failed"

Every error carries a message fit to show a user; none carries a secret.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIError",
    "AuthError",
    "ConfigurationError",
    "CredentialsError",
    "MediaError",
    "MediakitError",
    "ProcessingError",
    "RateLimitError",
]


class MediakitError(Exception):
    """The root of every error mediakit raises."""


class ConfigurationError(MediakitError, ValueError):
    """An argument or setting that cannot work."""


class CredentialsError(ConfigurationError):
    """Credentials missing, incomplete, or of a kind X refuses for uploads."""


class MediaError(MediakitError):
    """A local file that cannot be uploaded; the message names the file and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class APIError(MediakitError):
    """An HTTP answer that ends a request, with X's own code, name and message kept."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: int | str | None = None,
        name: str | None = None,
        body: Any = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.name = name
        self.body = body
        self.request_id = request_id


class AuthError(APIError):
    """401 or 403: credentials refused, or missing a permission such as `media.write`."""


class RateLimitError(APIError):
    """429 after retries, with the reset time when X gave one."""

    def __init__(self, message: str, *, reset_at: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reset_at = reset_at


class ProcessingError(APIError):
    """X could not process the media (processing_info.error or state "failed")."""
