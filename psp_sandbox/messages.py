"""The request and response as the application sees them, free of sockets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message

from .errors import ApiError, error_body
from .objects import dumps


@dataclass
class Request:
    method: str
    path: str
    headers: Message
    body: bytes
    base_url: str  # scheme://host:port this request reached the sandbox at


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    hold: float = 0.0  # seconds to hold the answer back (slow:N)
    drop: bool = False  # close the connection instead of answering (drop_after)
    on_done: Callable[[], None] | None = None  # after the answer is sent or dropped


def json_response(status: int, value: object) -> Response:
    return Response(status, dumps(value))


def error_response(error: ApiError) -> Response:
    return Response(error.status, dumps(error.body()))


def internal_error() -> Response:
    return Response(500, dumps(error_body("internal_error", "internal error")))
