"""Storefronts are required from now on; idempotency keys are per storefront, not per API key."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("checkout", "0004_storefronts_fill"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="idempotencyrecord", name="idempotency_key_unique_per_api_key"),
        migrations.RemoveConstraint(model_name="idempotencyrecord", name="idempotency_state_valid"),
        migrations.RemoveField(model_name="idempotencyrecord", name="api_key"),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="storefront",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="checkout.storefront"),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="storefront",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="api_keys", to="checkout.storefront"
            ),
        ),
        migrations.AlterField(
            model_name="checkout",
            name="storefront",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="checkouts", to="checkout.storefront"
            ),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="name",
            field=models.CharField(
                help_text="A label; the storefront's name when made by create_api_key.", max_length=100
            ),
        ),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="state",
            field=models.CharField(
                choices=[("in_progress", "In Progress"), ("retryable", "Retryable"), ("done", "Done")],
                default="in_progress", max_length=12,
            ),
        ),
        migrations.AddConstraint(
            model_name="idempotencyrecord",
            constraint=models.UniqueConstraint(fields=("storefront", "key"), name="idempotency_key_unique_per_storefront"),
        ),
        migrations.AddConstraint(
            model_name="idempotencyrecord",
            constraint=models.CheckConstraint(
                condition=models.Q(("state__in", ["in_progress", "retryable", "done"])),
                name="idempotency_state_valid_v2",
            ),
        ),
    ]
