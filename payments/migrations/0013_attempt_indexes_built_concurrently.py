# Written by hand on 2026-11-30, to run beside live traffic.
"""The attempt table loses three indexes that others already serve: the checkout foreign key's
own (attempt_checkout_idx starts with the checkout), and the LIKE twins (varchar_pattern_ops)
that PostgreSQL gets beside psp_payment_id and idempotency_key, which are only compared whole.
The poller's due indexes are rebuilt to hold unfinished rows only.

Not atomic, so that on PostgreSQL every index is built and dropped CONCURRENTLY: the attempt and
refund tables keep taking writes while it runs (Buy Now, webhooks), however large they are. Each
new due index is built before the old one goes, so the poller always has one. As with any
CREATE INDEX CONCURRENTLY, a run stopped half way can leave an INVALID index to drop by hand."""

import django.db.models.deletion
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models
from django.db.migrations.operations import AddIndex, RemoveIndex


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL; a plain index elsewhere (SQLite, the demo)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexConcurrentlyOnPostgres(RemoveIndexConcurrently):
    """DROP INDEX CONCURRENTLY on PostgreSQL; a plain drop elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


def _redundant_indexes(schema_editor, table):
    """The names of the attempt table's indexes that others serve: single-column, not unique,
    on checkout_id (the foreign key's own), or LIKE twins on psp_payment_id and idempotency_key."""
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(cursor, table)
    return sorted(
        name for name, about in constraints.items()
        if about["index"] and not about["unique"] and not about["primary_key"]
        and (about["columns"] == ["checkout_id"]
             or (about["columns"] in (["psp_payment_id"], ["idempotency_key"]) and name.endswith("_like")))
    )


def drop_redundant_indexes(apps, schema_editor):
    table = apps.get_model("payments", "PaymentAttempt")._meta.db_table
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    for name in _redundant_indexes(schema_editor, table):
        schema_editor.execute(f"DROP INDEX{concurrently} IF EXISTS {schema_editor.quote_name(name)}")


def restore_redundant_indexes(apps, schema_editor):
    """Back to 0011: the foreign key's index and the LIKE twins, as Django made them."""
    model = apps.get_model("payments", "PaymentAttempt")
    restored = model._meta.get_field("checkout")
    schema_editor.execute(schema_editor._create_index_sql(model, fields=[restored]))
    like_index = getattr(schema_editor, "_create_like_index_sql", None)  # PostgreSQL's only
    for column in ("psp_payment_id", "idempotency_key"):
        statement = like_index(model, model._meta.get_field(column)) if like_index else None
        if statement is not None:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("payments", "0012_poll_claims_beside_the_rows")]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="paymentattempt",
            index=models.Index(
                condition=models.Q(("next_poll_at__isnull", False),
                                   ("status__in", ["pending", "requires_action", "started"])),
                fields=["next_poll_at"], name="attempt_due_unfinished_idx",
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="refund",
            index=models.Index(
                condition=models.Q(("next_poll_at__isnull", False), ("status__in", ["pending", "started"])),
                fields=["next_poll_at"], name="refund_due_unfinished_idx",
            ),
        ),
        RemoveIndexConcurrentlyOnPostgres(model_name="paymentattempt", name="attempt_due_idx"),
        RemoveIndexConcurrentlyOnPostgres(model_name="refund", name="refund_due_idx"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="paymentattempt",
                    name="checkout",
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT,
                                            related_name="attempts", to="checkout.checkout"),
                ),
            ],
            database_operations=[migrations.RunPython(drop_redundant_indexes, restore_redundant_indexes)],
        ),
    ]
