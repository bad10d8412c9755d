"""Request guards that hold for every machine-facing path (API and webhooks)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from paysite.api_errors import json_error

logger = logging.getLogger(__name__)

MACHINE_PATHS = ("/api/", "/webhooks/")


def is_machine_path(path: str) -> bool:
    return path.startswith(MACHINE_PATHS) and not path.startswith("/api/docs")


class BodySizeLimitMiddleware:
    """Refuse an oversized body from its Content-Length, before anything reads it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error(400, "invalid_request", "The Content-Length header is malformed.")
        if length > settings.API_MAX_BODY_BYTES:
            return json_error(
                413, "payload_too_large", f"The body may be at most {settings.API_MAX_BODY_BYTES} bytes."
            )
        return self.get_response(request)


class JsonErrorsMiddleware:
    """Machine paths never answer with an HTML page: not for a 404, not for a crash, not in DEBUG."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not is_machine_path(request.path) or response.get("Content-Type", "").startswith("application/"):
            return response
        if response.status_code == 404:
            return json_error(404, "not_found", "Not found.")
        if response.status_code == 405:
            return json_error(405, "method_not_allowed", "This method is not allowed here.")
        if response.status_code >= 500:
            return json_error(500, "internal_error", "Something went wrong on our side.")
        if response.status_code == 403:
            return json_error(403, "forbidden", "You may not do this.")
        if response.status_code == 400:
            return json_error(400, "invalid_request", "The request is malformed.")
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_machine_path(request.path):
            return None
        logger.exception("Unhandled error on %s", request.path, exc_info=exception)
        return json_error(500, "internal_error", "Something went wrong on our side.")
