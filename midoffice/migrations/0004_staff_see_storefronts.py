"""Both staff groups may see the storefronts (which shop a checkout belongs to, and its list)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = ["Payments viewer", "Payments operator"]


def grant(apps, schema_editor):
    checkout_app = apps.get_app_config("checkout")
    checkout_app.models_module = True
    create_permissions(checkout_app, apps=apps, verbosity=0)
    checkout_app.models_module = None
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.get(content_type__app_label="checkout", codename="view_storefront")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=GROUPS):
        group.permissions.add(view)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=GROUPS):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="checkout",
                                                            codename="view_storefront"))


class Migration(migrations.Migration):
    dependencies = [
        ("midoffice", "0003_delete_loginfailure"),
        ("checkout", "0005_storefronts_required"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
