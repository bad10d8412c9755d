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
CHROMIUM = "/usr/bin/chromium"


# What a marked test needs, and the setting that provides it (the README's second test command).
_SERVICES = {
    "postgres": ("PostgreSQL", "DATABASE_URL=postgres://postgres@127.0.0.1:5432/paysite"),
    "redis": ("Redis", "CELERY_BROKER_URL=redis://127.0.0.1:6379/1"),
}


def _missing_service(item: pytest.Item) -> str:
    missing = []
    engine = settings.DATABASES["default"]["ENGINE"]
    if item.get_closest_marker("postgres") and engine != "django.db.backends.postgresql":
        missing.append("postgres")
    if item.get_closest_marker("redis") and not settings.CELERY_BROKER_URL.startswith("redis"):
        missing.append("redis")
    if missing:
        names = " and ".join(_SERVICES[name][0] for name in missing)
        command = " ".join(_SERVICES[name][1] for name in missing)
        return f"needs {names}: run {command} make test"
    if item.get_closest_marker("browser") and not os.path.exists(CHROMIUM):
        return f"needs Debian's chromium at {CHROMIUM}: apt-get install chromium (as root), then make test"
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


@pytest.fixture(autouse=True)
def _no_psp_backoff(settings):  # type: ignore[no-untyped-def]
    """Retries of PSP calls go at once in tests (the end-to-end fixture sets its own pace)."""
    settings.PSP_RETRY_BACKOFF = 0


@pytest.fixture(autouse=True)
def _cache_of_its_own(settings):  # type: ignore[no-untyped-def]
    """Each test counts in a fresh in-memory cache, never in the demo's file cache under var/."""
    import uuid

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": f"test-{uuid.uuid4().hex}"}}


@pytest.fixture
def operator(client, db):  # type: ignore[no-untyped-def]
    """A staff member in the "Payments operator" group, logged in on `client`."""
    from midoffice.tests.factories import OPERATOR, make_staff

    user = make_staff(OPERATOR)
    client.force_login(user)
    return user


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


# --- Real processes: the broker of this test session, the sandbox PSP, the Stripe emulator, the Celery worker


@pytest.fixture(scope="session", autouse=True)
def _isolated_broker(tmp_path_factory):  # type: ignore[no-untyped-def]
    """Tasks sent by this session go to a queue (and, on the embedded broker, a folder) of its
    own, so they never reach the demo's worker and a test's worker sees only this session's."""
    import uuid

    from paysite import fs_broker
    from paysite.celery import app

    queue = f"paysite-test-{uuid.uuid4().hex[:10]}"
    app.conf.task_default_queue = queue
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue
    if getattr(settings, "CELERY_BROKER_TRANSPORT", ""):
        folder = str(tmp_path_factory.mktemp("broker"))
        app.conf.broker_transport_options = fs_broker.folders(folder)
        os.environ["CELERY_BROKER_DIR"] = folder
    yield queue
    if settings.CELERY_BROKER_URL.startswith("redis"):
        from paysite.tests.processes import redis_forget

        with app.connection_for_write() as connection:
            redis_forget(connection.default_channel.client, queue)  # leave nothing behind in Redis


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):  # type: ignore[no-untyped-def]
    """The sandbox PSP as a real process: two PSP hours of settling take 3.6 real seconds."""
    from paysite.tests.processes import Sandbox

    process = Sandbox(tmp_path_factory.mktemp("sandbox") / "psp.sqlite3", time_scale=0.0005, settle_delay=7200)
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def localstripe():  # type: ignore[no-untyped-def]
    """localstripe (the third-party Stripe emulator) behind the test bridge that makes it answer as
    Stripe documents (docs/stripe-emulator.md), both real processes. `localstripe.url` is the
    STRIPE_API_BASE to use; its helpers register webhooks, switch them off, make PaymentMethods as
    Stripe.js would and pass or fail 3-D Secure. A SEPA debit settles 1.5 s after its confirmation."""
    from paysite.tests.processes import LocalStripe, StripeBridge

    emulator = LocalStripe(settle_delay=1.5).start()
    try:
        bridge = StripeBridge(emulator).start()
        yield bridge
        bridge.stop()
    finally:
        emulator.stop()


@pytest.fixture
def e2e(transactional_db, live_server, settings, sandbox):  # type: ignore[no-untyped-def]
    """The BPS served for real (live server) and talking to the real sandbox."""
    from paysite.tests.processes import SANDBOX_KEY, SANDBOX_SECRET

    settings.SITE_URL = live_server.url
    settings.PSP_BASE_URL = sandbox.url
    settings.PSP_API_KEY = SANDBOX_KEY
    settings.PSP_WEBHOOK_SECRET = SANDBOX_SECRET
    settings.PSP_RETRY_BACKOFF = 0.05
    # The live server (in this process) schedules polls as the worker will: within seconds.
    settings.PAYMENTS_POLL_INTERVAL = 1
    settings.PAYMENTS_POLL_FIRST_DELAY = 2
    settings.PAYMENTS_POLL_MAX_DELAY = 4
    settings.WEBHOOK_REQUEUE_AFTER = 3
    settings.WEBHOOK_REQUEUE_INTERVAL = 1
    # Storefront notifications go to receivers on loopback, swept often, retried at 1/500 of the
    # contract's pace (5 s → 10 ms, 5 min → 0.6 s, 30 min → 3.6 s); a delivery's lease is 2 * 3 + 5 s.
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True
    settings.NOTIFY_SWEEP_INTERVAL = 0.25
    settings.NOTIFY_RETRY_SCALE = 0.002
    settings.NOTIFY_TIMEOUT = 3
    sandbox.clear_faults()
    yield sandbox
    sandbox.clear_faults()


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.postgresql":
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


@pytest.fixture
def worker_settings(e2e, live_server):  # type: ignore[no-untyped-def]
    """What the worker process is told (a test may change it before asking for `worker`)."""
    return {
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", ""),
        "SITE_URL": live_server.url,
        "PSP_BASE_URL": settings.PSP_BASE_URL,
        "PSP_API_KEY": settings.PSP_API_KEY,
        "PSP_WEBHOOK_SECRET": settings.PSP_WEBHOOK_SECRET,
        "PSP_RETRY_BACKOFF": str(settings.PSP_RETRY_BACKOFF),
        "PAYMENTS_POLL_INTERVAL": str(settings.PAYMENTS_POLL_INTERVAL),
        "PAYMENTS_POLL_FIRST_DELAY": str(settings.PAYMENTS_POLL_FIRST_DELAY),
        "PAYMENTS_POLL_MAX_DELAY": str(settings.PAYMENTS_POLL_MAX_DELAY),
        "PAYMENTS_POLL_GIVE_UP_AFTER": "600",
        "WEBHOOK_REQUEUE_AFTER": str(settings.WEBHOOK_REQUEUE_AFTER),
        "WEBHOOK_REQUEUE_INTERVAL": str(settings.WEBHOOK_REQUEUE_INTERVAL),
        "NOTIFY_ALLOW_PRIVATE_URLS": str(settings.NOTIFY_ALLOW_PRIVATE_URLS).lower(),
        "NOTIFY_SWEEP_INTERVAL": str(settings.NOTIFY_SWEEP_INTERVAL),
        "NOTIFY_RETRY_SCALE": str(settings.NOTIFY_RETRY_SCALE),
        "NOTIFY_TIMEOUT": str(settings.NOTIFY_TIMEOUT),
        "DEBUG": "true",
    }


@pytest.fixture
def worker(worker_settings, tmp_path):  # type: ignore[no-untyped-def]
    """A real Celery worker with its beat, on this session's queue and the test database."""
    from paysite.tests.processes import Worker

    process = Worker(worker_settings, tmp_path / "worker.log").start()
    yield process
    process.stop()


@pytest.fixture
def stripe_e2e(transactional_db, live_server, settings, localstripe):  # type: ignore[no-untyped-def]
    """The BPS in Stripe mode, served for real (live server) against localstripe behind its bridge,
    with our webhook endpoint registered there as it would be in Stripe's dashboard."""
    from paysite.tests.processes import STRIPE_PUBLISHABLE_KEY, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET

    settings.SITE_URL = live_server.url
    settings.PSP_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = STRIPE_SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = STRIPE_PUBLISHABLE_KEY
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_WEBHOOK_SECRET
    settings.STRIPE_API_BASE = localstripe.url
    settings.STRIPE_TEST_MODE = True
    settings.PSP_RETRY_BACKOFF = 0.05
    settings.PAYMENTS_POLL_INTERVAL = 1
    settings.PAYMENTS_POLL_FIRST_DELAY = 2
    settings.PAYMENTS_POLL_MAX_DELAY = 4
    settings.WEBHOOK_REQUEUE_AFTER = 3
    settings.WEBHOOK_REQUEUE_INTERVAL = 1
    localstripe.register_webhook(f"{live_server.url}/webhooks/stripe/", STRIPE_WEBHOOK_SECRET)
    localstripe.set_webhooks(enabled=True)
    yield localstripe
    localstripe.unregister_webhook()


@pytest.fixture
def stripe_worker(stripe_e2e, live_server, tmp_path):  # type: ignore[no-untyped-def]
    """A real Celery worker with its beat, in Stripe mode against the same localstripe."""
    from paysite.tests.processes import Worker

    env = {
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", ""),
        "SITE_URL": live_server.url,
        "PSP_PROVIDER": "stripe",
        "STRIPE_SECRET_KEY": settings.STRIPE_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": settings.STRIPE_PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": settings.STRIPE_WEBHOOK_SECRET,
        "STRIPE_API_BASE": settings.STRIPE_API_BASE,
        "PSP_RETRY_BACKOFF": str(settings.PSP_RETRY_BACKOFF),
        "PAYMENTS_POLL_INTERVAL": "1",
        "PAYMENTS_POLL_FIRST_DELAY": "2",
        "PAYMENTS_POLL_MAX_DELAY": "4",
        "PAYMENTS_POLL_GIVE_UP_AFTER": "600",
        "WEBHOOK_REQUEUE_AFTER": "3",
        "WEBHOOK_REQUEUE_INTERVAL": "1",
        "DEBUG": "true",
    }
    process = Worker(env, tmp_path / "worker.log").start()
    yield process
    process.stop()
