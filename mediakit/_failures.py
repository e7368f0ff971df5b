"""What a failed request means, as the error a caller gets: X's answer kept whole."""

from __future__ import annotations

import ssl
from typing import Any

from ._errors import APIError, AuthError, ProcessingError, RateLimitError, request_id_of
from ._http import httpx
from ._protocol import ErrorInfo, MediaState

__all__ = ["api_error", "certificate_refused", "processing_error"]


def api_error(command: str, response: httpx.Response, error: ErrorInfo) -> APIError:
    """The error for an answer that ends a request: status, X's code/name/body, request id."""
    status = response.status_code
    message = f"{command}: {error.message}"
    kwargs: dict[str, Any] = {
        "status_code": status,
        "code": error.code,
        "name": error.name,
        "body": response.text,
        "request_id": request_id_of(response.headers),
    }
    if status in (401, 403):
        return AuthError(message, **kwargs)
    if status == 429:
        reset = response.headers.get("x-rate-limit-reset")
        reset_at = float(reset) if reset and reset.replace(".", "", 1).isdigit() else None
        return RateLimitError(message, reset_at=reset_at, **kwargs)
    return APIError(message, **kwargs)


def processing_error(state: MediaState) -> ProcessingError:
    error = state.error
    if error is None:
        return ProcessingError(
            f"processing failed ({state.progress_percent or 0} %)", name="Failed"
        )
    return ProcessingError(
        f"processing failed: {error.name or 'error'}: {error.message}",
        code=error.code,
        name=error.name,
    )


def certificate_refused(exc: BaseException) -> bool:
    """Whether a connection failed because the server's TLS certificate was not trusted."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False
