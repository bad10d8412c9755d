"""Storefronts: every API key and checkout gets one (nullable here, filled in 0004, required in 0005)."""

import uuid

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("checkout", "0002_admin_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="Storefront",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.AddField(
            model_name="apikey",
            name="storefront",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="api_keys",
                to="checkout.storefront",
            ),
        ),
        migrations.AddField(
            model_name="checkout",
            name="storefront",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="checkouts",
                to="checkout.storefront",
            ),
        ),
        migrations.AddField(
            model_name="idempotencyrecord",
            name="storefront",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, to="checkout.storefront"),
        ),
        migrations.AddField(
            model_name="idempotencyrecord",
            name="resource_id",
            field=models.UUIDField(default=uuid.uuid4, editable=False),
        ),
    ]
