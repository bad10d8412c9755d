"""The dashboard: totals, conversion, the chart, the stuck board with frozen times, the review
queue and webhook health."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from checkout.tests.factories import make_checkout
from midoffice.dashboard_selectors import (
    attempt_totals,
    attempts_per_hour,
    checkout_conversion,
    review_queue,
    stuck_board,
)
from midoffice.tests.factories import OPERATOR, make_staff
from payments.models import PaymentAttempt
from payments.states import AttemptStatus, CheckoutStatus
from payments.tests.factories import make_attempt
from webhooks.models import WebhookEvent
from webhooks.refusals import refusal_count
from webhooks.selectors import webhook_health

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)


def attempt_aged(age, status=AttemptStatus.PENDING, **fields):
    attempt = make_attempt(make_checkout(), status=status, **fields)
    PaymentAttempt.objects.filter(id=attempt.id).update(created_at=NOW - age)
    return attempt


def test_the_stuck_board_sorts_unfinished_attempts_by_age(settings):
    settings.PAYMENTS_POLL_GIVE_UP_AFTER = 72 * 3600
    young = attempt_aged(timedelta(minutes=4, seconds=59), next_poll_at=NOW + timedelta(seconds=30), poll_count=0)
    attempt_aged(timedelta(minutes=5), status=AttemptStatus.STARTED)
    attempt_aged(timedelta(minutes=59))
    attempt_aged(timedelta(hours=1), status=AttemptStatus.REQUIRES_ACTION)
    old = attempt_aged(timedelta(hours=30), poll_count=12)
    attempt_aged(timedelta(hours=30), status=AttemptStatus.SUCCEEDED)  # finished: not stuck
    attempt_aged(timedelta(hours=30), status=AttemptStatus.NEEDS_REVIEW)  # in the review queue instead
    with time_machine.travel(NOW, tick=False):
        board = stuck_board(now=NOW)
    assert [(bucket.label, bucket.count) for bucket in board] == [
        ("under 5 minutes", 1), ("5 to 60 minutes", 2), ("1 to 24 hours", 1), ("older than 24 hours", 1)]
    first = board[0].rows[0]
    assert (first.attempt.id, first.attempt.next_poll_at, first.attempt.poll_count) == (young.id, NOW + timedelta(
        seconds=30), 0)
    assert first.time_left == timedelta(hours=72) - timedelta(minutes=4, seconds=59)
    last = board[3].rows[0]
    assert (last.attempt.id, last.attempt.poll_count, last.time_left) == (old.id, 12, timedelta(hours=42))
    assert [row.attempt.status for row in board[1].rows] == ["pending", "started"]  # oldest first


def test_the_dashboard_page_shows_the_board_and_the_queue(client, settings):
    settings.PAYMENTS_POLL_GIVE_UP_AFTER = 72 * 3600
    attempt_aged(timedelta(hours=2))
    in_review = attempt_aged(timedelta(hours=80), status=AttemptStatus.NEEDS_REVIEW, review_note="polling gave up")
    client.force_login(make_staff(OPERATOR))
    with time_machine.travel(NOW, tick=False):
        page = client.get("/admin/").content.decode()
    assert 'id="stuck-board"' in page and "1 h 0 min" not in page and "2 h 0 min" in page and "70 h" not in page
    assert "2 d 22 h" in page  # left before review: 72 h - 2 h
    assert f"/admin/payments/paymentattempt/{in_review.id}/resolve/" in page
    assert "polling gave up" in page and "<svg" in page


def test_totals_and_conversion_today_and_over_seven_days():
    bought_today = make_checkout(status=CheckoutStatus.PAID)
    make_attempt(bought_today, status=AttemptStatus.SUCCEEDED)
    yen = make_checkout(amount=Decimal("1800"), currency="JPY")
    make_attempt(yen, status=AttemptStatus.FAILED)
    make_checkout()  # no Buy Now: not in the conversion
    long_ago = attempt_aged(timedelta(days=3), status=AttemptStatus.SUCCEEDED)
    from checkout.models import Checkout
    Checkout.objects.filter(id=long_ago.checkout_id).update(created_at=NOW - timedelta(days=3), status="paid")
    Checkout.objects.filter(id__in=[bought_today.id, yen.id]).update(created_at=NOW - timedelta(hours=1))
    PaymentAttempt.objects.filter(checkout__in=[bought_today, yen]).update(created_at=NOW - timedelta(hours=1))
    totals = {(row.currency, row.status): row for row in attempt_totals(now=NOW)}
    assert (totals["EUR", "succeeded"].today_count, totals["EUR", "succeeded"].week_count) == (1, 2)
    assert totals["EUR", "succeeded"].week_amount == Decimal("25.00")
    assert (totals["JPY", "failed"].today_count, totals["JPY", "failed"].today_amount) == (1, Decimal("1800"))
    conversion = checkout_conversion(now=NOW)
    assert (conversion["today"].paid, conversion["today"].with_buy_now, conversion["today"].percent) == (
        1, 2, Decimal("50.0"))
    assert (conversion["week"].paid, conversion["week"].with_buy_now) == (2, 3)


def test_attempts_per_hour_by_outcome():
    attempt_aged(timedelta(minutes=10), status=AttemptStatus.SUCCEEDED)
    attempt_aged(timedelta(minutes=20), status=AttemptStatus.PENDING)
    attempt_aged(timedelta(hours=2, minutes=1), status=AttemptStatus.FAILED)
    attempt_aged(timedelta(hours=30), status=AttemptStatus.FAILED)  # outside the 24 hours
    hours = attempts_per_hour(now=NOW)
    assert len(hours) == 24 and hours[-1][0] == NOW.replace(minute=0)
    assert hours[-1][1] == {"succeeded": 1, "failed": 0, "needs_review": 0, "unfinished": 1}
    assert hours[-3][1]["failed"] == 1
    assert sum(sum(counts.values()) for _hour, counts in hours) == 3


def test_the_review_queue_and_webhook_health():
    attempt_aged(timedelta(hours=80), status=AttemptStatus.NEEDS_REVIEW)
    assert review_queue().count == 1
    for _ in range(7):
        refusal_count(reason="bad_signature", now=NOW.replace(minute=0))
    for _ in range(9):
        refusal_count(reason="bad_signature", now=NOW - timedelta(hours=30))
    WebhookEvent.objects.create(event_id="evt_1", headers={}, body="{}", outcome="failed", error="boom")
    WebhookEvent.objects.create(event_id="evt_2", headers={}, body="{}", outcome="processed")
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        health = webhook_health(now=NOW + timedelta(minutes=1))
    assert (health.refused, health.refused_by_reason, health.failed_count) == (7, {"bad_signature": 7}, 1)
