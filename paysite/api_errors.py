"""The contract's error shape for every API answer: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

import logging
from typing import Any

from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from payments.errors import Conflict, DomainError, Forbidden, NotFound, ServiceUnavailable, Unprocessable

logger = logging.getLogger(__name__)


# The domain's refusals, under the names the edges have always used for them.
ApiError = DomainError
__all__ = ["ApiError", "Conflict", "Forbidden", "NotFound", "ServiceUnavailable", "Unprocessable",
           "error_body", "exception_handler", "json_error"]


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def json_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


# Serializer fields whose faults have a more precise code than invalid_request.
_FIELD_CODES = {"amount": "invalid_amount", "currency": "invalid_currency", "payment_method": "invalid_payment_method"}

_DRF_CODES: dict[type[exceptions.APIException], tuple[str, str]] = {
    exceptions.ParseError: ("invalid_request", "The body is not valid JSON."),
    exceptions.NotAuthenticated: ("unauthorized", "A valid API key is required."),
    exceptions.AuthenticationFailed: ("unauthorized", "A valid API key is required."),
    exceptions.PermissionDenied: ("forbidden", "You may not do this."),
    exceptions.NotFound: ("not_found", "Not found."),
    exceptions.MethodNotAllowed: ("method_not_allowed", "This method is not allowed here."),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", "Send the body as application/json."),
    exceptions.NotAcceptable: ("not_acceptable", "This endpoint answers application/json only."),
    exceptions.Throttled: ("too_many_requests", "Too many requests; try again later."),
}


def _validation_response(exc: exceptions.ValidationError) -> Response:
    detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
    fields = {name: [str(message) for message in _as_list(messages)] for name, messages in detail.items()}
    code = next((_FIELD_CODES[name] for name in fields if name in _FIELD_CODES), "invalid_request")
    first = next(iter(fields.items()), ("", ["Invalid input."]))
    message = f"{first[0]}: {first[1][0]}" if first[0] and first[0] != "non_field_errors" else first[1][0]
    if "non_field_errors" in fields:
        fields.pop("non_field_errors")
    return Response(error_body(code, message, fields), status=status.HTTP_400_BAD_REQUEST)


def _as_list(messages: Any) -> list[Any]:
    if isinstance(messages, dict):
        return [f"{key}: {value}" for key, value in messages.items()]
    return list(messages) if isinstance(messages, list) else [messages]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's hook: every failure of an API view answers in the contract's shape, never HTML."""
    if isinstance(exc, ApiError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    if isinstance(exc, exceptions.ValidationError):
        return _validation_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, exceptions.APIException):
        code, message = _DRF_CODES.get(type(exc), ("invalid_request", str(exc.detail)))
        response = Response(error_body(code, message), status=exc.status_code)
        wait = getattr(exc, "wait", None)
        if wait:
            response["Retry-After"] = str(int(wait))
        return response
    logger.exception("Unhandled error in %s", context.get("view"))
    return Response(
        error_body("internal_error", "Something went wrong on our side; nothing was charged twice. Try again."),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
