"""API keys remembered in the cache (checkout/api_keys.py): no database query for a known key, and
revocation still immediate, on each cache backend the BPS runs with (the file cache of the demo,
Redis in production, the in-memory cache of the other tests).

"Another process" is another thread here: Django gives each thread its own cache client, so a
thread holds its own connection to Redis or opens the cache's files itself, as another process does.
"""

from __future__ import annotations

import threading
import uuid
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checkout import api_keys
from checkout.api_keys import _digest, _entry_key, _tombstone_key, _used_key, api_key_revoke, live_api_key
from checkout.models import ApiKey
from checkout.tests.factories import make_api_key

pytestmark = pytest.mark.django_db(transaction=True)

MISSING = "/api/checkouts/6f1c0000-0000-4000-8000-000000000000/"


def _redis_cache_url() -> str:
    broker = urlsplit(django_settings.CELERY_BROKER_URL)
    return f"redis://{broker.netloc}/14"


@pytest.fixture(params=["locmem", "file", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request, settings, tmp_path):  # type: ignore[no-untyped-def]
    """The cache as the BPS configures it from CACHE_URL (django-environ), one per test."""
    import environ

    urls = {"locmem": f"locmemcache://test-{uuid.uuid4().hex}", "file": f"filecache://{tmp_path / 'cache'}"}
    if request.param == "redis":
        urls["redis"] = _redis_cache_url()
    config = environ.Env.cache_url_config(urls[request.param])
    config["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"  # a shared Redis: nothing of another test is seen
    settings.CACHES = {"default": config}
    if request.param == "redis":
        assert config["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    yield request.param
    if request.param == "redis":  # a shared Redis: leave nothing behind
        import redis

        client = redis.Redis.from_url(urls["redis"])
        for key in client.scan_iter(match=f"{config['KEY_PREFIX']}:*"):
            client.delete(key)


def _get(client, key):  # type: ignore[no-untyped-def]
    return client.get(MISSING, HTTP_AUTHORIZATION=f"Bearer {key}")


def _in_another_process(work):  # type: ignore[no-untyped-def]
    """Run `work` in a thread of its own: its own database connection and its own cache client."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    return outcome.get("value")


def test_a_remembered_key_costs_no_query(client, backend):
    # given a key used once (remembered, its last_used_at written)
    _record, key = make_api_key()
    assert _get(client, key).status_code == 404
    # when it is used again
    with CaptureQueriesContext(connection) as captured:
        response = _get(client, key)
    # then the only query is the view's own
    assert response.status_code == 404
    assert [q["sql"] for q in captured.captured_queries if "checkout_apikey" in q["sql"]] == []
    assert len(captured.captured_queries) == 1


def test_a_revoked_key_is_refused_at_once_in_every_process(client, backend):
    # given a key that this process and another one remember
    record, key = make_api_key()
    assert _get(client, key).status_code == 404
    assert _in_another_process(lambda: live_api_key(_digest(key))) is not None
    # when staff revoke it
    api_key_revoke(api_key=record)
    # then no process accepts it any more
    assert _get(client, key).status_code == 401
    assert _in_another_process(lambda: live_api_key(_digest(key))) is None
    assert record.revoked_at is not None


def test_a_lookup_that_read_the_key_just_before_the_revocation_does_not_make_it_live_again(client, backend):
    # given a key, and another process that has just read it in the database (live) when it stops
    record, key = make_api_key()
    read, go_on = threading.Event(), threading.Event()
    remember = api_keys._entry_of

    def slow_entry_of(api_key):  # type: ignore[no-untyped-def]  # runs between the database read and cache.add
        read.set()
        assert go_on.wait(timeout=10)
        return remember(api_key)

    results: list[ApiKey | None] = []

    def slow_lookup() -> None:
        try:
            results.append(live_api_key(_digest(key)))
        finally:
            connection.close()

    api_keys._entry_of = slow_entry_of  # type: ignore[assignment]
    try:
        thread = threading.Thread(target=slow_lookup)
        thread.start()
        assert read.wait(timeout=10)
        # when the key is revoked, and only then the other process remembers what it read
        api_key_revoke(api_key=record)
        go_on.set()
        thread.join(timeout=10)
    finally:
        api_keys._entry_of = remember  # type: ignore[assignment]
    # then that process refuses it, and so does everyone after it
    assert results == [None]
    assert _get(client, key).status_code == 401
    assert _in_another_process(lambda: live_api_key(_digest(key))) is None


def test_a_lost_tombstone_does_not_make_a_revoked_key_live_again(client, backend):
    # given a key revoked while another process was between its database read and its cache write,
    # and a cache that then loses the tombstone (an evicting Redis, the file cache's culling)
    record, key = make_api_key()
    digest = _digest(key)
    stale = api_keys._entry_of(ApiKey.objects.select_related("storefront").get(pk=record.pk))
    api_key_revoke(api_key=record)
    cache.delete(_tombstone_key(digest))
    cache.add(_entry_key(digest), stale, timeout=300)  # the late write of that process
    # when the key is used
    response = _get(client, key)
    # then it is refused: a remembered key is checked in the database once a minute, as its
    # last_used_at is written, and this is its first use in that minute
    assert response.status_code == 401
    assert cache.get(_entry_key(digest)) is None
    assert cache.get(_tombstone_key(digest))


def test_last_used_at_is_written_at_most_once_a_minute_over_all_processes(client, backend):
    # given a key used once
    record, key = make_api_key()
    assert _get(client, key).status_code == 404
    record.refresh_from_db()
    first = record.last_used_at
    assert first is not None
    # when it is used again, here and in another process, within the minute
    assert _get(client, key).status_code == 404
    assert _in_another_process(lambda: live_api_key(_digest(key))) is not None
    # then last_used_at is not written again
    record.refresh_from_db()
    assert record.last_used_at == first
    # and once the minute has passed (its marker expired), the next use writes it
    cache.delete(_used_key(record.key_hash))
    assert _get(client, key).status_code == 404
    record.refresh_from_db()
    assert record.last_used_at is not None
    assert record.last_used_at > first


def test_a_bulk_revocation_is_seen_within_a_minute(client, backend):
    # given a remembered key revoked behind api_key_revoke's back (an UPDATE of the table)
    record, key = make_api_key()
    assert _get(client, key).status_code == 404
    ApiKey.objects.filter(pk=record.pk).update(revoked_at=timezone.now())
    # when the minute of its last database look has passed
    cache.delete(_used_key(record.key_hash))
    # then it is refused
    assert _get(client, key).status_code == 401


def test_the_remembered_key_holds_what_the_views_need_and_saves_nothing_else(client, backend):
    # given a remembered key
    record, key = make_api_key()
    assert _get(client, key).status_code == 404
    with CaptureQueriesContext(connection) as captured:
        remembered = live_api_key(_digest(key))
    assert remembered is not None
    assert captured.captured_queries == []
    assert (remembered.pk, remembered.name, remembered.prefix) == (record.pk, record.name, record.prefix)
    assert (remembered.storefront.pk, remembered.storefront.name) == (record.storefront.pk, record.storefront.name)
    # when something saves it, only the columns it holds are written (never a stale revoked_at)
    api_key_revoke(api_key=record)
    remembered.name = "renamed"
    remembered.save()
    record.refresh_from_db()
    assert record.revoked_at is not None
    assert record.name == "renamed"


def test_without_a_reachable_cache_keys_are_checked_in_the_database(client, settings):
    # given a cache that cannot be reached
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0"}}
    record, key = make_api_key()
    # then the key works, and a revoked one is refused
    assert _get(client, key).status_code == 404
    ApiKey.objects.filter(pk=record.pk).update(revoked_at=timezone.now())
    assert _get(client, key).status_code == 401
