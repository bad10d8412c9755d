"""Refusal counters live in the shared cache: the demo's file cache and production's Redis both
count them, and Redis counts exactly under concurrent refusals."""

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import caches
from django.utils import timezone

from webhooks.refusals import _key, refusal_count, refusals_by_reason


@pytest.fixture
def file_cache(settings, tmp_path):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                   "LOCATION": str(tmp_path / "cache")}}


@pytest.fixture
def redis_cache(settings):
    # This session's Redis database, under a prefix of its own; only our counter is deleted after
    # (clear() would flush the whole database, the broker's queue with it).
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": os.environ.get("CELERY_BROKER_URL", ""),
                                   "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}
    yield
    caches["default"].delete(_key("bad_signature", timezone.now()))


def test_the_demos_file_cache_counts_refusals_per_reason(file_cache):
    now = timezone.now()
    for reason in ["bad_signature"] * 3 + ["malformed_headers"]:
        refusal_count(reason=reason, now=now)
    assert refusals_by_reason(now=now) == {"bad_signature": 3, "malformed_headers": 1}


@pytest.mark.redis
def test_redis_counts_every_refusal_of_a_concurrent_flood(redis_cache):
    # given 400 refusals from 8 threads at once
    now = timezone.now()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: refusal_count(reason="bad_signature", now=now), range(400)))
    # then not one is lost (INCR is atomic)
    assert refusals_by_reason(now=now) == {"bad_signature": 400}
