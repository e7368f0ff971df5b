"""What a failed request means, as the error a caller gets: X's answer kept whole."""

from __future__ import annotations

import ssl
from typing import Any

from ._errors import (
    APIError,
    AuthError,
    ProcessingError,
    RateLimitError,
    TLSError,
    TransportError,
    request_id_of,
)
from ._http import httpx
from ._protocol import ErrorInfo, MediaState
from ._records import Event

__all__ = [
    "UNREACHED_ATTEMPTS",
    "a_refusal",
    "answer_lost",
    "api_error",
    "certificate_refused",
    "processing_error",
    "transport_failure",
    "unconfirmed_finalize",
]

UNREACHED_ATTEMPTS = 2
"""Attempts per request while no request to the server has been answered yet."""

# Transport errors raised before a request left the machine: it cannot have been done.
_NEVER_SENT = frozenset({"ConnectError", "ConnectTimeout", "PoolTimeout", "UnsupportedProtocol"})


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


def transport_failure(
    command: str,
    attempt: int,
    exc: httpx.TransportError,
    *,
    url: str,
    reached: bool,
    max_attempts: int,
) -> TransportError | None:
    """The error to raise for a request that got no answer, or None to retry it.

    A refused certificate is never retried; while no request to the server was ever
    answered (`reached`), a failure to connect or a timeout is tried only
    `UNREACHED_ATTEMPTS` times. A connection that opened and then closed without an answer is
    a server that is there and dropped it: retried like any lost answer, up to `max_attempts`.
    """
    reason = str(exc) or type(exc).__name__
    if certificate_refused(exc):
        return TLSError(
            f"{command}: the TLS certificate of {url} was refused ({reason}); pass "
            "verify= the path of the CA bundle that signed it (or verify=False for a "
            "test server you trust)",
            url=url,
            reached=reached,
        )
    no_answer = isinstance(exc, (httpx.ConnectError, httpx.TimeoutException))
    if not reached and no_answer and attempt >= min(UNREACHED_ATTEMPTS, max_attempts):
        return TransportError(
            f"cannot reach {url}: {reason} (no request to it has been answered yet: is "
            "the server running and the URL right?)",
            url=url,
            reached=False,
        )
    if attempt >= max_attempts:
        return TransportError(
            f"{command} failed after {attempt} attempts without an answer: {reason}", url=url
        )
    return None


def answer_lost(event: Event) -> bool:
    """Whether X may have done this attempt's work although no answer came back: the
    connection failed after the request was sent, or a gateway answered 5xx or 408."""
    if event.http_status is None:
        return event.ok is False and event.error_name not in _NEVER_SENT
    return event.http_status >= 500 or event.http_status == 408


def a_refusal(error: APIError) -> bool:
    """A 4xx refusal of the request itself (not of the credentials, not a rate limit)."""
    return (
        error.status_code is not None
        and 400 <= error.status_code < 500
        and not isinstance(error, AuthError | RateLimitError)
    )


def unconfirmed_finalize(media_id: str, refusal: APIError, unknown: APIError) -> APIError:
    """A retried FINALIZE refused after its first answer was lost, and STATUS not knowing
    the id: images and subtitles are never reported by STATUS, so a finalized image and an
    unknown id look the same. Say so instead of calling either a success."""
    error = APIError(
        f"FINALIZE: the answer to an earlier FINALIZE of media id {media_id} was lost; X now "
        f"refuses FINALIZE ({refusal.message}) and STATUS does not report the id "
        f"({unknown.message}), so whether X finalized it cannot be confirmed (a rerun "
        "uploads the file again)",
        status_code=refusal.status_code,
        code=refusal.code,
        name=refusal.name,
        body=refusal.body,
        request_id=refusal.request_id,
    )
    error.after_lost_answer = True
    return error
