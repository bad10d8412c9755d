"""Helpers of the tests that race real PostgreSQL connections: a piece of work in a thread of its
own (with its own connection), and a wait until another connection is blocked on a lock. Shared
by the poll-claim concurrency and migration tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone


def wait_until_blocked(query_start: str, timeout: float = 10.0) -> None:
    """Until another backend runs a statement starting with `query_start` and waits on a lock."""
    deadline = timezone.now() + timedelta(seconds=timeout)
    with connection.cursor() as cursor:
        while timezone.now() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
                " AND ltrim(query, E' \\n') LIKE %s", [query_start + "%"])
            if cursor.fetchone()[0]:
                return
    raise AssertionError(f"no backend blocked in {query_start!r}")


def in_thread(results: dict[str, Any], name: str, work: Callable[[], Any]) -> threading.Thread:
    """Start `work` in a thread; what it returns, or the exception it raises, lands in results[name]."""
    def run() -> None:
        try:
            results[name] = work()
        except Exception as exc:  # the test reports what each side got
            results[name] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread
