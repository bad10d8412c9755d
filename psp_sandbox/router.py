"""Matching a method and path to a route; 404 and 405 in the contract's shape."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ApiError


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., Any]
    # "write": a /v1/ POST (JSON body, idempotency key, one write transaction);
    # "read": a /v1/ GET; "admin": /sandbox/faults (bearer key, JSON body);
    # "page": what a shopper's browser opens (no key, no JSON).
    kind: str
    faultable: bool


def compile_template(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(regex)


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(
        self,
        method: str,
        template: str,
        handler: Callable[..., Any],
        *,
        kind: str,
        faultable: bool = True,
    ) -> None:
        self._routes.append(Route(method, compile_template(template), handler, kind, faultable))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = []
        for route in self._routes:
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict()
            allowed.append(route.method)
        if allowed:
            raise MethodNotAllowed(allowed)
        raise ApiError(404, "not_found", f"no such path: {path}")


class MethodNotAllowed(ApiError):
    def __init__(self, allowed: list[str]) -> None:
        super().__init__(
            405,
            "method_not_allowed",
            f"method not allowed; allowed: {', '.join(allowed)}",
        )
        self.allowed = allowed
