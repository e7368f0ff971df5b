"""The error bodies X sends, so clients see exactly what they would see from X."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from starlette.responses import JSONResponse, Response

__all__ = [
    "V2Problem",
    "invalid_request",
    "not_found",
    "problem",
    "problem_type",
    "reset_problem_host",
    "unauthorized",
    "use_problem_host",
]

# docs.x.com (x-api/fundamentals/response-codes-and-errors.mdx) and OAS v2.167 write
# https://api.x.com/2/problems/…; 2025 captures showed api.twitter.com. The emulator's
# `problem_host` setting picks one; each request reads it through this context variable.
_problem_host: ContextVar[str] = ContextVar("mediakit_problem_host", default="api.x.com")
INVALID_REQUEST_DETAIL = "One or more parameters to your request was invalid."


class V2Problem(Exception):
    """Raised inside a v2 handler to answer with a problem body."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def use_problem_host(host: str) -> object:
    """Name problem URIs after `host` in the request being served (returns a reset token)."""
    return _problem_host.set(host)


def reset_problem_host(token: object) -> None:
    _problem_host.reset(token)  # type: ignore[arg-type]


def problem_type(name: str) -> str:
    """`https://api.x.com/2/problems/<name>` (or the configured host)."""
    return f"https://{_problem_host.get()}/2/problems/{name}"


def problem(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    return JSONResponse(
        dict(body), status_code=status, media_type="application/problem+json", headers=headers
    )


def invalid_request(errors: Sequence[Mapping[str, Any]]) -> Response:
    return problem(
        400,
        {
            "errors": [dict(error) for error in errors],
            "title": "Invalid Request",
            "detail": INVALID_REQUEST_DETAIL,
            "type": problem_type("invalid-request"),
        },
    )


def message(text: str, parameters: Mapping[str, Iterable[str]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {}
    if parameters:
        error["parameters"] = {name: list(values) for name, values in parameters.items()}
    error["message"] = text
    return error


def bad_value(where: str, name: str, value: object, rule: str) -> dict[str, Any]:
    """`The `media_category` query parameter value [x] is not one of [...]`, X's wording."""
    shown = "" if value is None else str(value)
    return message(f"The `{name}` {where} parameter value [{shown}] {rule}", {name: [shown]})


def not_found() -> Response:
    # What X answers for STATUS of media that is unknown, expired, another user's, or was
    # never processed (captured March 2025).
    return invalid_request([message("BadRequest: Not found")])


def unauthorized() -> Response:
    return problem(
        401,
        {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
    )


def forbidden() -> Response:
    return problem(
        403, {"title": "Forbidden", "type": "about:blank", "status": 403, "detail": "Forbidden"}
    )


def unsupported_authentication() -> Response:
    return problem(
        403,
        {
            "title": "Unsupported Authentication",
            "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this "
            "endpoint.  Supported authentication types are [OAuth 1.0a User Context, "
            "OAuth 2.0 User Context].",
            "type": problem_type("unsupported-authentication"),
            "status": 403,
        },
    )


def payload_too_large() -> Response:
    # X's edge answers an oversized APPEND with 413 and no body at all.
    return Response(status_code=413)
