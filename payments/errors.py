"""The domain's refusals: what services raise when they will not do what was asked.

No HTTP here beyond a number: each refusal carries a stable `code` for the API's error shape and the
status the edges answer with (`paysite/api_errors.py` for the API, the pages and the mid-office).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class DomainError(Exception):
    """A refusal that services raise and the edges (API, pages, mid-office) turn into an answer."""

    status_code: int = HTTPStatus.BAD_REQUEST.value
    code: str = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fields = fields or {}


class Forbidden(DomainError):
    status_code = HTTPStatus.FORBIDDEN.value
    code = "forbidden"


class NotFound(DomainError):
    status_code = HTTPStatus.NOT_FOUND.value
    code = "not_found"


class Conflict(DomainError):
    status_code = HTTPStatus.CONFLICT.value
    code = "conflict"


class Unprocessable(DomainError):
    status_code = HTTPStatus.UNPROCESSABLE_ENTITY.value
    code = "unprocessable"


class ServiceUnavailable(DomainError):
    status_code = HTTPStatus.SERVICE_UNAVAILABLE.value
    code = "service_unavailable"
