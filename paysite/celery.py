"""The Celery app: `celery -A paysite worker` and `celery -A paysite beat`."""

from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paysite.settings")

app = Celery("paysite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _give_back_database_connections(**_kwargs: object) -> None:
    """What Django does around each request: a connection that is broken or whose time is up goes
    back to the pool (or away), so that the next task starts from a checked one. Celery's own
    fix-up does it only every CELERY_DB_REUSE_MAX tasks (paysite/settings.py)."""
    from django.db import close_old_connections

    close_old_connections()


@app.task(name="paysite.ping")
def ping(number: int) -> int:
    """A no-op that proves a worker consumes: `celery -A paysite call paysite.ping --args '[1]'`."""
    return number
