"""How the API reads a request body: DRF's JSON parser, plus two refusals (400, never a 500).

- A body nested deeper than Python's parser goes: `[[[[…` sixty thousand levels deep (well
  under API_MAX_BODY_BYTES) raises RecursionError, which DRF turned into a 500.
- A NUL character anywhere, keys included: PostgreSQL stores NUL in neither text nor jsonb, so
  no field can ever accept one, and a refusal that echoes it (an unknown field's name) could not
  be kept for an Idempotency-Key replay (found by the schemathesis fuzz test).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from paysite.api_errors import ApiError


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream: IO[Any], media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
            has_nul = _has_nul(data)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        if has_nul:
            raise ApiError("The body may not contain the NUL character (\\u0000).")
        return data
