"""What makes a changelist fast at a million rows, and able to export what it shows.

- `EstimatedCountPaginator`: no COUNT(*) over a whole table (PostgreSQL's row estimate instead),
  and a capped count when filtered, so every page costs one small count query.
- `FastListMixin`: that paginator, no second "full" count, no filter facets, and the
  self-refreshing script.
- `CsvExportMixin`: "Export CSV" streams the rows of the current filters and search.
- `CurrencyFilter` / `PaymentMethodFilter`: fixed choices, where Django's default filter for a
  plain column would run SELECT DISTINCT over the whole table on every page.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Model, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.functional import cached_property

from midoffice.csv_cells import csv_cell
from midoffice.staff import staff_id
from payments.money import CURRENCY_DIGITS
from payments.staff import export_record

# Past this many matches a filtered list says "more than 10000" instead of counting them all.
COUNT_CAP = 10_000


class EstimatedCountPaginator(Paginator):
    estimated = False
    capped = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        connection = connections[queryset.db]
        if not queryset.query.where:
            if connection.vendor == "postgresql":
                return self._estimate(queryset)
            return queryset.count()
        total = queryset[: COUNT_CAP + 1].count()
        if total > COUNT_CAP:
            self.capped = True
            return COUNT_CAP
        return total

    def _estimate(self, queryset: QuerySet[Any]) -> int:
        table = queryset.model._meta.db_table
        # One query either way: exact for a small or never-analysed table, the planner's estimate
        # (kept fresh by autovacuum) for a large one.
        sql = (
            "SELECT CASE WHEN c.reltuples < %s THEN (SELECT count(*) FROM {table}) ELSE c.reltuples::bigint END "
            "FROM pg_class c WHERE c.oid = %s::regclass"
        )
        quoted = connections[queryset.db].ops.quote_name(table)
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(sql.format(table=quoted), [COUNT_CAP, quoted])
            (total,) = cursor.fetchone()
        if total >= COUNT_CAP:
            self.estimated = True
        return int(total)


class FastListMixin:
    paginator: type[Paginator] = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50

    @property
    def media(self) -> Any:
        return super().media + forms.Media(js=["midoffice/live.js"])  # type: ignore[misc]


Column = tuple[str, Callable[[Any], object]]


class CsvExportMixin:
    """Adds `<changelist>/export.csv`, the changelist's rows (current filters, search and order)."""

    csv_columns: list[Column] = []

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta  # type: ignore[attr-defined]
        export = path("export.csv", self.admin_site.admin_view(self.export_csv),  # type: ignore[attr-defined]
                      name=f"{opts.app_label}_{opts.model_name}_export")
        return [export, *super().get_urls()]  # type: ignore[misc]

    def export_csv(self, request: HttpRequest) -> HttpResponseBase:
        if not request.user.has_perm("payments.export_payments"):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)  # type: ignore[attr-defined]
        rows = changelist.queryset
        label = str(self.model._meta.verbose_name_plural)  # type: ignore[attr-defined]
        export_record(actor_id=staff_id(request), what=f"{label} as CSV", filters=request.GET.urlencode())
        response = StreamingHttpResponse(self._lines(rows), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="{label.replace(" ", "-")}-{stamp}.csv"'
        return response

    def _lines(self, rows: QuerySet[Model]) -> Iterator[str]:
        buffer = _Echo()
        writer = csv.writer(buffer)
        yield writer.writerow([header for header, _value in self.csv_columns])
        for row in rows.iterator(chunk_size=2000):
            yield writer.writerow([csv_cell(value(row)) for _header, value in self.csv_columns])


class _Echo:
    def write(self, value: str) -> str:
        return value


class _FixedChoicesFilter(admin.SimpleListFilter):
    field = ""
    labels: dict[str, str] = {}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, self.labels.get(value, value)) for value in self.values()]

    def values(self) -> list[str]:
        raise NotImplementedError

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(**{self.field: self.value()}) if self.value() else queryset


class CurrencyFilter(_FixedChoicesFilter):
    title = "currency"
    parameter_name = field = "currency"

    def values(self) -> list[str]:
        return sorted(CURRENCY_DIGITS)


class PaymentMethodFilter(_FixedChoicesFilter):
    title = "payment method"
    parameter_name = field = "payment_method"

    def values(self) -> list[str]:
        return list(settings.PSP_PAYMENT_METHODS)


def fixed_filter(field: str, title: str, values: list[str],
                 labels: dict[str, str] | None = None) -> type[admin.SimpleListFilter]:
    """A filter on `field` offering `values` (shown by their `labels`), for a column without choices."""
    return type(f"{field.title()}Filter", (_FixedChoicesFilter,), {
        "title": title, "parameter_name": field, "field": field, "values": lambda self: values,
        "labels": labels or {},
    })


def storefront_filter(field: str) -> type[admin.SimpleListFilter]:
    """A filter on the storefront reached through `field` (`storefront`, `checkout__storefront`)."""

    class StorefrontFilter(admin.SimpleListFilter):
        title = "storefront"
        parameter_name = "storefront"

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
            from payments.models import Storefront

            return [(str(pk), name) for pk, name in Storefront.objects.order_by("name").values_list("pk", "name")]

        def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
            value = self.value()
            if not value:
                return queryset
            return queryset.filter(**{f"{field}_id": value}) if value.isdigit() else queryset.none()

    return StorefrontFilter
