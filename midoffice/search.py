"""The mid-office search box: exact on ids, tokens and PSP ids, prefix on the shop's reference.

Django's own `=field` search is `UPPER(field::text) = UPPER(term)`, which no index serves, and
a plain search is `%term%`, which none serves either. Here the term's shape says what it is, so
every search is one index lookup: a UUID is one of our ids, `tok_` a session token, `pay_` and
`re_` the PSP's payment and refund ids, `evt_` an event id, and anything else a reference prefix.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db.models import F, Q, QuerySet
from django.db.models.functions import Left
from django.db.models.lookups import Exact
from django.http import HttpRequest

HELP_TEXT = (
    "An id (exact), a token tok_…, a PSP id pay_… / re_… / evt_… (exact), or the start of the shop's reference."
)


@dataclass(frozen=True)
class Term:
    kind: str  # "id" | "token" | "payment" | "refund" | "event" | "reference"
    text: str
    id: uuid.UUID | None = None


_PREFIXES = (("tok_", "token"), ("pay_", "payment"), ("re_", "refund"), ("evt_", "event"))


def parse_term(search: str) -> Term | None:
    text = search.strip()
    if not text:
        return None
    try:
        return Term(kind="id", text=text, id=uuid.UUID(text))
    except ValueError:
        pass
    for prefix, kind in _PREFIXES:
        if text.startswith(prefix):
            return Term(kind=kind, text=text)
    return Term(kind="reference", text=text)


def reference_prefix(text: str, field: str = "reference") -> Q:
    """The rows whose `field` starts with `text`, case-sensitively on every database: `LIKE 'x%'`
    (which the varchar_pattern_ops index serves on PostgreSQL) and the first characters compared
    exactly (SQLite's LIKE ignores ASCII case)."""
    return Q(**{f"{field}__startswith": text}) & Q(Exact(Left(F(field), len(text)), text))


class TermSearch:
    """The one search box of every mid-office list: the term's kind picks a row of `search_by`, the
    list's table of search kinds (kind → the rows it finds); a kind the list has no row for finds
    nothing. An empty box shows everything."""

    search_by: ClassVar[dict[str, Callable[[Term], Q]]] = {}

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any],
                           search_term: str) -> tuple[QuerySet[Any], bool]:
        term = parse_term(search_term)
        if term is None:
            return queryset, False
        condition = self.search_by.get(term.kind)
        return (queryset.filter(condition(term)) if condition else queryset.none()), False
