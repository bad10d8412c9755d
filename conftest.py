"""Project-wide test fixtures and the rule for tests that need real services.

Tests marked `postgres` or `redis` run only when DATABASE_URL / CELERY_BROKER_URL point at
those servers. Elsewhere they are skipped with the reason, except under CI=true, where a
missing service is a failure: CI must never pass by skipping.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings

IN_CI = os.environ.get("CI", "").lower() == "true"


def _missing_service(item: pytest.Item) -> str:
    if item.get_closest_marker("postgres") and settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return "needs PostgreSQL: set DATABASE_URL=postgres://…"
    if item.get_closest_marker("redis") and not settings.CELERY_BROKER_URL.startswith("redis"):
        return "needs Redis: set CELERY_BROKER_URL=redis://…"
    return ""


def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = _missing_service(item)
    if reason and IN_CI:
        pytest.fail(f"{reason} (CI=true: nothing may be skipped)")
    if reason:
        pytest.skip(reason)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Under CI=true any skip is a failure, whatever its cause.
    if IN_CI:
        config.pluginmanager.register(_FailSkips(), "fail-skips")


class _FailSkips:
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
        outcome = yield
        report = outcome.get_result()
        if report.skipped and not hasattr(report, "wasxfail"):
            report.outcome = "failed"
            report.longrepr = f"skipped under CI=true: {report.longrepr}"


@pytest.fixture
def psp_stub(settings):  # type: ignore[no-untyped-def]
    """The PSP replaced at its HTTP boundary: register answers with `psp_stub.add(...)`."""
    import responses

    from payments.tests.factories import PSP

    settings.PSP_BASE_URL = PSP
    with responses.RequestsMock(assert_all_requests_are_fired=False) as stub:
        yield stub


@pytest.fixture
def api_client(db):  # type: ignore[no-untyped-def]
    """A DRF client holding a live storefront API key."""
    from rest_framework.test import APIClient

    from checkout.tests.factories import make_api_key

    _record, key = make_api_key()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client
