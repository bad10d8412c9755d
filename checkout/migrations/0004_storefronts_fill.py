"""Every existing key becomes a storefront of its own name; its checkouts and idempotency records
follow it. Checkouts made without a key (the demo shop at /) belong to the storefront "demo"."""

import uuid

from django.db import migrations

DEMO_STOREFRONT = "demo"


def forwards(apps, schema_editor):
    Storefront = apps.get_model("checkout", "Storefront")
    ApiKey = apps.get_model("checkout", "ApiKey")
    Checkout = apps.get_model("checkout", "Checkout")
    IdempotencyRecord = apps.get_model("checkout", "IdempotencyRecord")
    for api_key in ApiKey.objects.all():
        api_key.storefront, _ = Storefront.objects.get_or_create(name=api_key.name)
        api_key.save(update_fields=["storefront"])
        Checkout.objects.filter(api_key=api_key).update(storefront=api_key.storefront)
        IdempotencyRecord.objects.filter(api_key=api_key).update(storefront=api_key.storefront)
    if Checkout.objects.filter(storefront__isnull=True).exists():
        demo, _ = Storefront.objects.get_or_create(name=DEMO_STOREFRONT)
        Checkout.objects.filter(storefront__isnull=True).update(storefront=demo)
    # Each key's resource gets an id of its own (AddField gave every old row the same one).
    for record in IdempotencyRecord.objects.only("id"):
        IdempotencyRecord.objects.filter(id=record.id).update(resource_id=uuid.uuid4())


class Migration(migrations.Migration):

    dependencies = [
        ("checkout", "0003_storefronts"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
