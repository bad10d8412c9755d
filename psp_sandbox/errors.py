"""The contract's error shape, raised as an exception by any layer."""

from __future__ import annotations


class ApiError(Exception):
    """An answer in the shape `{"error": {"code": ..., "message": ...}}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, object]:
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message}}


def invalid_request(message: str, status: int = 422) -> ApiError:
    # 400 is for a body that is not a JSON object or a malformed header; every
    # field-level problem is 422 (docs/psp-protocol.md, "Errors").
    return ApiError(status, "invalid_request", message)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")
