"""Stored webhook bodies are cleared after PSP_CALL_RETENTION_DAYS; the rows stay for the timeline."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from checkout.tests.factories import make_checkout
from midoffice.timeline import checkout_timeline
from webhooks.models import WebhookEvent
from webhooks.retention import webhook_bodies_prune

pytestmark = pytest.mark.django_db


def event_aged(days, outcome, **fields):
    stored = WebhookEvent.objects.create(event_id=f"evt_{outcome}_{days}", type="payment.succeeded",
                                         headers={"webhook-id": "evt"}, body='{"data": {"id": "pay_1"}}',
                                         outcome=outcome, psp_object_id="pay_1", **fields)
    WebhookEvent.objects.filter(pk=stored.pk).update(received_at=timezone.now() - timedelta(days=days))
    return stored


@pytest.mark.parametrize("retention", [1, 90])
def test_settled_events_older_than_the_retention_lose_their_body_but_not_their_row(settings, retention):
    # given events on both sides of the retention, settled or not
    settings.PSP_CALL_RETENTION_DAYS = retention
    checkout = make_checkout()
    old = [event_aged(retention + 1, outcome, checkout=checkout) for outcome in ("processed", "ignored", "invalid")]
    young = event_aged(retention - 0.5, "processed")
    unfinished = [event_aged(retention + 1, outcome) for outcome in ("received", "failed")]
    # when the prune runs (in batches), twice
    assert webhook_bodies_prune(batch=2) == 3
    assert webhook_bodies_prune() == 0
    # then the old settled bodies are gone, everything else is as it was, and every row is kept
    for stored in old:
        stored.refresh_from_db()
        assert (stored.body, stored.headers, stored.event_id, stored.outcome) == ("", {}, stored.event_id,
                                                                                   stored.outcome)
    for stored in [young, *unfinished]:
        stored.refresh_from_db()
        assert stored.body and stored.headers
    assert WebhookEvent.objects.count() == 6
    # and the timeline still tells of the pruned events
    titles = [entry.title for entry in checkout_timeline(checkout=checkout) if entry.kind == "webhook"]
    assert len(titles) == 3


def test_the_beat_prunes_webhook_bodies_every_hour():
    entry = settings.CELERY_BEAT_SCHEDULE["prune-webhook-bodies"]
    assert (entry["task"], entry["schedule"]) == ("webhooks.tasks.prune_webhook_bodies", 3600.0)
