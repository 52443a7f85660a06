"""The API error object of YooKassa: ``{type: "error", id, code, description, parameter}``."""

from __future__ import annotations

import uuid
from typing import Any

HTTP_CODES = {
    400: "invalid_request",
    401: "invalid_credentials",
    403: "forbidden",
    404: "not_found",
    405: "invalid_request",
    410: "gone",
    415: "invalid_request",
    429: "too_many_requests",
    500: "internal_server_error",
}


class ApiError(Exception):
    """Raised by the state layer; turned into a JSON error response with the matching HTTP status."""

    def __init__(self, status: int, description: str, parameter: str | None = None, code: str | None = None):
        super().__init__(description)
        self.status = status
        self.code = code or HTTP_CODES.get(status, "error")
        self.description = description
        self.parameter = parameter

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.description, self.parameter)


def error_body(
    code: str, description: str, parameter: str | None = None, retry_after: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "error",
        "id": str(uuid.uuid4()),
        "code": code,
        "description": description,
    }
    if parameter:
        body["parameter"] = parameter
    if retry_after is not None:
        body["retry_after"] = retry_after
    return body


def bad_request(description: str, parameter: str | None = None) -> ApiError:
    return ApiError(400, description, parameter)
