"""The API's JSON parser: DRF's, plus a 400 for a body nested deeper than Python's parser goes.

DRF turns a ValueError from `json.load` into a 400, but `[[[[…` sixty thousand levels deep
(well under API_MAX_BODY_BYTES) raises RecursionError, which became a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream: IO[Any], media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
