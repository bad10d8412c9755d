# Written by hand on 2026-11-30, to run beside live traffic.
"""The attempt table loses three indexes that others already serve: the checkout foreign key's
own (attempt_checkout_idx starts with the checkout), and the LIKE twins (varchar_pattern_ops)
that PostgreSQL gets beside psp_payment_id and idempotency_key, which are only compared whole.
The poller's due indexes are rebuilt to hold unfinished rows only. Nothing else is touched: the
partial unique indexes that forbid a second charge stay as they are.

Not atomic, and in SQL of its own, so that on PostgreSQL every index is built and dropped
CONCURRENTLY, forward and back: the attempt and refund tables keep taking payments while it runs,
however large they are. Each new due index is built before the old one goes, so the poller always
has one. Every statement checks what is there (IF [NOT] EXISTS, and an index left INVALID by a
build that was stopped is dropped first), so a run stopped half way, by a lock timeout say, is
finished by running it again. The names of the dropped indexes are the ones Django gave them."""

from django.db import migrations, models

ATTEMPTS, REFUNDS = "payments_paymentattempt", "payments_refund"
# name, table, what it indexes
NEW = [
    ("attempt_due_unfinished_idx", ATTEMPTS,
     "(next_poll_at) WHERE next_poll_at IS NOT NULL AND status IN ('pending', 'requires_action', 'started')"),
    ("refund_due_unfinished_idx", REFUNDS,
     "(next_poll_at) WHERE next_poll_at IS NOT NULL AND status IN ('pending', 'started')"),
]
OLD = [
    ("attempt_due_idx", ATTEMPTS, "(next_poll_at) WHERE next_poll_at IS NOT NULL"),
    ("refund_due_idx", REFUNDS, "(next_poll_at) WHERE next_poll_at IS NOT NULL"),
    ("payments_paymentattempt_checkout_id_decf63b3", ATTEMPTS, "(checkout_id)"),
]
OLD_ON_POSTGRESQL = [
    ("payments_paymentattempt_psp_payment_id_cdc85ec7_like", ATTEMPTS, "(psp_payment_id varchar_pattern_ops)"),
    ("payments_paymentattempt_idempotency_key_de9fd3e5_like", ATTEMPTS, "(idempotency_key varchar_pattern_ops)"),
]


def _swap(schema_editor, build, drop):
    postgresql = schema_editor.connection.vendor == "postgresql"
    concurrently = " CONCURRENTLY" if postgresql else ""
    for name, table, what in build:
        if postgresql and _invalid(schema_editor, name):
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        schema_editor.execute(f"CREATE INDEX{concurrently} IF NOT EXISTS {name} ON {table} {what}")
    for name, _table, _what in drop:
        schema_editor.execute(f"DROP INDEX{concurrently} IF EXISTS {name}")


def _invalid(schema_editor, name):
    """Whether an index of this name was left INVALID by a concurrent build that was stopped."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [name])
        row = cursor.fetchone()
    return bool(row and row[0])


def _old(schema_editor):
    return OLD + (OLD_ON_POSTGRESQL if schema_editor.connection.vendor == "postgresql" else [])


def forwards(apps, schema_editor):
    _swap(schema_editor, build=NEW, drop=_old(schema_editor))


def backwards(apps, schema_editor):
    _swap(schema_editor, build=_old(schema_editor), drop=NEW)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("payments", "0012_poll_claims_beside_the_rows")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="paymentattempt",
                    index=models.Index(
                        condition=models.Q(("next_poll_at__isnull", False),
                                           ("status__in", ["pending", "requires_action", "started"])),
                        fields=["next_poll_at"], name="attempt_due_unfinished_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="refund",
                    index=models.Index(
                        condition=models.Q(("next_poll_at__isnull", False), ("status__in", ["pending", "started"])),
                        fields=["next_poll_at"], name="refund_due_unfinished_idx",
                    ),
                ),
                migrations.RemoveIndex(model_name="paymentattempt", name="attempt_due_idx"),
                migrations.RemoveIndex(model_name="refund", name="refund_due_idx"),
                migrations.AlterField(
                    model_name="paymentattempt",
                    name="checkout",
                    field=models.ForeignKey(db_index=False, on_delete=models.deletion.PROTECT,
                                            related_name="attempts", to="checkout.checkout"),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
