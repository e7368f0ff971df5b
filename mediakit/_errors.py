"""One exception tree for everything mediakit raises.

    MediakitError
    ├── ConfigurationError (ValueError)    a bad argument or setting: names it and what it accepts
    │   ├── ConfigurationTypeError (TypeError)   …of the wrong type
    │   └── CredentialsError               no credentials, or a kind X refuses (app-only bearer)
    ├── MediaError                         a local file that cannot be uploaded (file and reason)
    ├── JournalError                       a journal that cannot be opened, read or written
    ├── TransportError                     no answer at all: connection refused or dropped, timeout
    │   └── TLSError                       the server's certificate was refused (never retried)
    └── APIError                           an answer from X (or the emulator) that ends the request
        ├── AuthError                      401 / 403
        ├── RateLimitError                 429 that retries could not outwait
        └── ProcessingError                processing_info.error, or state "failed"

Every error carries a message fit to show a user and none carries a secret. Every error
pickles and unpickles with its attributes (results and errors cross process boundaries:
worker processes, `multiprocessing`, notebook kernels that pickle tracebacks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "DISTRIBUTION",
    "REQUEST_ID_HEADERS",
    "APIError",
    "AuthError",
    "ConfigurationError",
    "ConfigurationTypeError",
    "CredentialsError",
    "JournalError",
    "MediaError",
    "MediakitError",
    "ProcessingError",
    "RateLimitError",
    "TLSError",
    "TransportError",
    "install_hint",
    "request_id_of",
]

DISTRIBUTION = "mediakit-x"
"""The name on the package index (`mediakit` there is an unrelated project); imported as
`mediakit`."""


def install_hint(extra: str) -> str:
    """How to install an optional extra, from the index and from a checkout."""
    return f"pip install '{DISTRIBUTION}[{extra}]' (from a checkout: pip install -e '.[{extra}]')"


# Where X puts the id its support asks for: `x-transaction-id` today, `x-transaction` on
# older v1.1 answers; proxies and other servers use the generic names.
REQUEST_ID_HEADERS = ("x-transaction-id", "x-transaction", "x-request-id", "x-response-id")


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """The request id an answer carries, from the first header of `REQUEST_ID_HEADERS` set."""
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def _rebuild(cls: type[MediakitError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class MediakitError(Exception):
    """The root of every error mediakit raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword arguments that `Exception.__reduce__` would drop.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class ConfigurationError(MediakitError, ValueError):
    """An argument or setting that cannot work; the message names it and what is accepted."""


class ConfigurationTypeError(ConfigurationError, TypeError):
    """An argument of the wrong type (also a `TypeError`)."""


class CredentialsError(ConfigurationError):
    """Credentials missing, incomplete, or of a kind X refuses for uploads."""


class MediaError(MediakitError):
    """A local file that cannot be uploaded; the message names the file and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class JournalError(MediakitError):
    """A journal that cannot be used; the message names the file, the problem, what to do."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"journal {path}: {reason}")
        self.path = path
        self.reason = reason


class TransportError(MediakitError):
    """No answer came: the connection was refused, dropped or timed out.

    `reached` says whether any earlier request to the same server had been answered: when
    none had, the server is most likely unreachable (a wrong `base_url`, no network, an
    emulator that is not running) and a batch stops at once instead of retrying every file.
    """

    def __init__(self, message: str, *, url: str | None = None, reached: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.reached = reached
        self.result: Any = None  # a batch that stopped attaches what it did (an UploadResult)


class TLSError(TransportError):
    """The server's TLS certificate was refused. Retrying cannot help, so nothing retries."""


class APIError(MediakitError):
    """An HTTP answer that ends a request, with X's own code, name and message kept.

    `status_code` is the HTTP status, `code`/`name` X's error code and title, `body` the answer
    as X sent it (its `errors` list or problem document, as text), `request_id` the id X's
    support asks for (`x-transaction-id`). `after_lost_answer` is True when an earlier attempt
    of the same request got no answer (or a 5xx): X may have done that attempt's work.
    """

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
        self.after_lost_answer = False

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} (request id {self.request_id})"
        return self.message


class AuthError(APIError):
    """401 or 403: credentials refused, or missing a permission such as `media.write`."""


class RateLimitError(APIError):
    """429 after retries, with the reset time when X gave one."""

    def __init__(self, message: str, *, reset_at: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reset_at = reset_at


class ProcessingError(APIError):
    """X could not process the media (processing_info.error or state "failed")."""
