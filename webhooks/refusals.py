"""Counting refused webhook deliveries without writing to the database.

A refusal (bad signature, stale timestamp, malformed headers, a signed body that is not an
event) costs one increment in Django's cache, in an hourly counter per reason, and one log
line: never a database row or lock, so a flood of junk cannot slow Buy Now, not even on SQLite.
The counters are shared by every process that shares the cache (Redis in production through
CACHE_URL; the demo's file cache on one machine), live for 25 hours, and feed the mid-office's
webhook health. They are a health signal, not a ledger: a cache restart forgets them, and a
cache whose increment is not atomic (the file cache) may miss a few under heavy concurrency.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.cache import cache

REASONS = ("bad_signature", "bad_timestamp", "malformed_headers", "invalid_event")
KEEP_SECONDS = 25 * 3600


def refusal_count(*, reason: str, now: datetime) -> None:
    """Add one refusal for `reason` to the counter of the hour `now` falls in."""
    key = _key(reason, now)
    # add() is a no-op when the counter exists; incr() then counts (atomically on Redis).
    cache.add(key, 0, timeout=KEEP_SECONDS)
    try:
        cache.incr(key)
    except ValueError:  # the counter expired between add() and incr()
        cache.add(key, 1, timeout=KEEP_SECONDS)


def refusals_by_reason(*, now: datetime, hours: int = 24) -> dict[str, int]:
    """Refusals per reason over the last `hours` hours, counted in whole hours (the current
    one included); reasons without any are left out. One cache round trip."""
    keys = {_key(reason, now - timedelta(hours=back)): reason for reason in REASONS for back in range(hours)}
    totals: dict[str, int] = {}
    for key, count in cache.get_many(list(keys)).items():
        if isinstance(count, int) and count > 0:
            totals[keys[key]] = totals.get(keys[key], 0) + count
    return dict(sorted(totals.items()))


def _key(reason: str, at: datetime) -> str:
    return f"webhook-refusals:{at:%Y%m%d%H}:{reason}"
