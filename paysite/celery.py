"""The Celery app: `celery -A paysite worker` and `celery -A paysite beat`."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paysite.settings")

app = Celery("paysite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="paysite.ping")
def ping(number: int) -> int:
    """A no-op that proves a worker consumes: `celery -A paysite call paysite.ping --args '[1]'`."""
    return number
