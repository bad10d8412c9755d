"""Migrations 0012 (poll claims move to their own table) and 0013 (the attempt table's indexes,
built concurrently): forward over rows in flight on whichever database the suite runs (PostgreSQL
in CI, SQLite for the demo; the first test was written by an outside review), and 0013 beside
payments being written."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import OperationalError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from checkout.tests.factories import make_checkout
from payments.models import PaymentAttempt
from payments.polling import _take, attempts_claim_due
from payments.states import AttemptStatus
from payments.tests.factories import make_attempt
from payments.tests.threads import in_thread, wait_until_blocked

AT_0012 = ("payments", "0012_poll_claims_beside_the_rows")
AT_0013 = ("payments", "0013_attempt_indexes_built_concurrently")


def _to_leaf():
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


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
    _to_leaf()
    # then the rows are intact, the old messages take nothing, and each row is claimed again
    assert PaymentAttempt.objects.count() == 2
    assert not _take(PaymentAttempt, claimed.id, 3)
    assert attempts_claim_due(limit=10) == []
    with time_machine.travel(now + timedelta(seconds=31)):
        assert [row for row, _ in attempts_claim_due(limit=10)] == [claimed.id]
    with time_machine.travel(now + timedelta(minutes=2, seconds=1)):
        assert polling.id in [row for row, _ in attempts_claim_due(limit=10)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_index_migration_lets_payments_be_written_while_it_waits_and_builds():
    # given the attempt table at 0012, and a payment's transaction open on it (a Buy Now mid-way)
    executor = MigrationExecutor(connection)
    executor.migrate([("payments", "0012_poll_claims_beside_the_rows")])
    busy = make_attempt(make_checkout(), status=AttemptStatus.PENDING)
    other = make_attempt(make_checkout(), status=AttemptStatus.PENDING)
    holding, release, results = threading.Event(), threading.Event(), {}

    def payment_in_flight():
        with transaction.atomic():
            PaymentAttempt.objects.filter(id=busy.id).update(failure_code="")
            holding.set()
            release.wait(20)

    def migrate():
        MigrationExecutor(connection).migrate([("payments", "0013_attempt_indexes_built_concurrently")])
        return "migrated"

    threads = [in_thread(results, "payment", payment_in_flight)]
    try:
        assert holding.wait(10)
        # when 0013 runs: it must wait for that transaction before its first index is built
        threads.append(in_thread(results, "migration", migrate))
        wait_until_blocked("CREATE INDEX")
        # then other payments are written meanwhile without waiting on it (a plain CREATE INDEX
        # would queue its table lock, and every write behind it)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '2s'")
            PaymentAttempt.objects.filter(id=other.id).update(status=AttemptStatus.SUCCEEDED)
            make_attempt(make_checkout(), status=AttemptStatus.STARTED)
    finally:
        release.set()
        for thread in threads:
            thread.join(30)
        _to_leaf()
    assert results == {"payment": None, "migration": "migrated"}
    assert PaymentAttempt.objects.get(id=other.id).status == AttemptStatus.SUCCEEDED


# --- written by a second outside review: the rollback and a stopped run

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_rolling_0013_back_lets_payments_be_written_while_it_builds():
    # given the attempt table at 0013, and a payment's transaction open on it (a Buy Now mid-way)
    busy = make_attempt(make_checkout(), status=AttemptStatus.PENDING)
    other = make_attempt(make_checkout(), status=AttemptStatus.PENDING)
    holding, release, results = threading.Event(), threading.Event(), {}

    def payment_in_flight():
        with transaction.atomic():
            PaymentAttempt.objects.filter(id=busy.id).update(failure_code="")
            holding.set()
            release.wait(20)

    def roll_back():
        MigrationExecutor(connection).migrate([AT_0012])
        return "rolled back"

    threads = [in_thread(results, "payment", payment_in_flight)]
    written = None
    try:
        assert holding.wait(10)
        # when 0013 is rolled back (a release reverted in production)
        threads.append(in_thread(results, "rollback", roll_back))
        wait_until_blocked("CREATE INDEX")
        # then other payments are still written meanwhile, as the forward run promises
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
                PaymentAttempt.objects.filter(id=other.id).update(status=AttemptStatus.SUCCEEDED)
            written = True
        except OperationalError as exc:  # lock timeout: queued behind the plain CREATE INDEX's SHARE lock
            written = exc
    finally:
        release.set()
        for thread in threads:
            thread.join(30)
        _to_leaf()
    assert written is True, f"a payment write waited behind the rollback's plain CREATE INDEX: {written}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_0013_stopped_half_way_by_a_lock_timeout_can_be_run_again():
    # given the attempt table at 0012 and a reader's transaction open on it (a report, a CSV export)
    MigrationExecutor(connection).migrate([AT_0012])
    make_attempt(make_checkout(), status=AttemptStatus.PENDING)
    holding, release, results = threading.Event(), threading.Event(), {}

    def reader():
        with transaction.atomic():
            list(PaymentAttempt.objects.values_list("id", flat=True)[:1])
            holding.set()
            release.wait(30)

    threads = [in_thread(results, "reader", reader)]
    first = second = None
    try:
        assert holding.wait(10)
        # when 0013 runs with a lock timeout (as deploys do) and stops at DROP INDEX CONCURRENTLY
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        try:
            MigrationExecutor(connection).migrate([AT_0013])
            first = "migrated"
        except OperationalError as exc:
            first = exc
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
        release.set()
        threads[0].join(30)
        # then, once the reader has gone, running it again finishes it
        try:
            MigrationExecutor(connection).migrate([AT_0013])
            second = "migrated"
        except Exception as exc:
            second = exc
    finally:
        release.set()
        for thread in threads:
            thread.join(30)
        if second != "migrated":  # put the test database back at the leaf for the tests after this one
            with connection.cursor() as cursor:
                cursor.execute("DROP INDEX IF EXISTS attempt_due_unfinished_idx")
                cursor.execute("DROP INDEX IF EXISTS refund_due_unfinished_idx")
        _to_leaf()
    assert isinstance(first, OperationalError), first  # the scenario: the first run stopped half way
    assert second == "migrated", f"the second run of 0013 failed: {second!r}"
