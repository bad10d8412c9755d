"""Migration 0012 (poll claims move to their own table) run forward over rows in flight, on
whichever database the suite runs (PostgreSQL in CI, SQLite for the demo). Written by an outside
review of that change."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from checkout.tests.factories import make_checkout
from payments.models import PaymentAttempt
from payments.polling import _take, attempts_claim_due
from payments.states import AttemptStatus
from payments.tests.factories import make_attempt


def _db_id(row_id):
    return row_id.hex if connection.vendor == "sqlite" else row_id


@pytest.mark.django_db(transaction=True)
def test_the_migration_runs_forward_over_rows_in_flight_and_they_are_polled_again():
    # given attempts stored under 0011: one claimed by the old beat a moment ago (poll_claim bumped,
    # its next poll moved out by one interval), one held by an old poll in flight
    claimed = make_attempt(make_checkout(), status=AttemptStatus.PENDING, next_poll_at=timezone.now())
    polling = make_attempt(make_checkout(), status=AttemptStatus.STARTED, next_poll_at=timezone.now())
    executor = MigrationExecutor(connection)
    executor.migrate([("payments", "0011_send_again_after_flight")])
    now = timezone.now()
    stamp = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute("UPDATE payments_paymentattempt SET poll_claim = 3, next_poll_at = %s WHERE id = %s",
                       [stamp(now + timedelta(seconds=30)), _db_id(claimed.id)])
        cursor.execute("UPDATE payments_paymentattempt SET poll_claim = 9, next_poll_at = %s WHERE id = %s",
                       [stamp(now + timedelta(minutes=2)), _db_id(polling.id)])
    # when the migration runs forward
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    # then the rows are intact, the old messages take nothing, and each row is claimed again
    assert PaymentAttempt.objects.count() == 2
    assert not _take(PaymentAttempt, claimed.id, 3)
    assert attempts_claim_due(limit=10) == []
    with time_machine.travel(now + timedelta(seconds=31)):
        assert [row for row, _ in attempts_claim_due(limit=10)] == [claimed.id]
    with time_machine.travel(now + timedelta(minutes=2, seconds=1)):
        assert polling.id in [row for row, _ in attempts_claim_due(limit=10)]
