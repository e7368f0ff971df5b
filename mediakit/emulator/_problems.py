"""The error bodies X sends, so clients see exactly what they would see from X."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from starlette.responses import JSONResponse, Response

__all__ = [
    "V2Problem",
    "invalid_request",
    "not_found",
    "problem",
    "unauthorized",
]

PROBLEMS = "https://api.twitter.com/2/problems"
INVALID_REQUEST_DETAIL = "One or more parameters to your request was invalid."


class V2Problem(Exception):
    """Raised inside a v2 handler to answer with a problem body."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


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
            "type": f"{PROBLEMS}/invalid-request",
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
            "type": f"{PROBLEMS}/unsupported-authentication",
            "status": 403,
        },
    )


def payload_too_large() -> Response:
    # X's edge answers an oversized APPEND with 413 and no body at all.
    return Response(status_code=413)
