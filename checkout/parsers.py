"""How the API reads a request body: JSON, and never a NUL character anywhere in it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework.parsers import JSONParser

from paysite.api_errors import ApiError


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


class JsonWithoutNul(JSONParser):
    """JSON, refusing a "\\u0000" anywhere, keys included, as invalid input (400).

    PostgreSQL stores NUL in neither text nor jsonb, so no field can ever accept one; and a
    refusal that echoes it (an unknown field's name) could not be kept for an Idempotency-Key
    replay, which made such a request a 500 (found by the schemathesis fuzz test).
    """

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        data = super().parse(stream, media_type, parser_context)
        if _has_nul(data):
            raise ApiError("The body may not contain the NUL character (\\u0000).")
        return data
