"""The record of our PSP calls is kept PSP_CALL_RETENTION_DAYS, then pruned by the periodic task."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from payments.models import PspCall
from payments.psp_calls import psp_calls_prune

pytestmark = pytest.mark.django_db


def call_aged(days):
    call = PspCall.objects.create(method="GET", path="/v1/payments/pay_1", status_code=200, duration_ms=3)
    PspCall.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(days=days))
    return call


@pytest.mark.parametrize("retention", [1, 90])
def test_calls_older_than_the_retention_are_pruned_in_batches(settings, retention):
    settings.PSP_CALL_RETENTION_DAYS = retention
    kept = call_aged(retention - 0.5)
    for _ in range(5):
        call_aged(retention + 1)
    assert psp_calls_prune(batch=2) == 5
    assert list(PspCall.objects.values_list("pk", flat=True)) == [kept.pk]


def test_the_beat_prunes_every_hour():
    entry = settings.CELERY_BEAT_SCHEDULE["prune-psp-calls"]
    assert (entry["task"], entry["schedule"]) == ("payments.tasks.prune_psp_calls", 3600.0)
