"""Both staff groups see the storefronts' notification endpoints and the delivery log; operators
also send events again, send test events and enable an endpoint disabled for failing."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWER = "Payments viewer"
OPERATOR = "Payments operator"
VIEW = ["view_notificationendpoint", "view_storefrontevent"]
OPERATOR_ONLY = ["send_notifications"]


def grant(apps, schema_editor):
    payments_app = apps.get_app_config("payments")
    payments_app.models_module = True
    create_permissions(payments_app, apps=apps, verbosity=0)
    payments_app.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = list(Permission.objects.filter(content_type__app_label="payments", codename__in=VIEW))
    act = list(Permission.objects.filter(content_type__app_label="payments", codename__in=OPERATOR_ONLY))
    assert len(view) == len(VIEW) and len(act) == len(OPERATOR_ONLY)
    for group in Group.objects.filter(name__in=[VIEWER, OPERATOR]):
        group.permissions.add(*view, *(act if group.name == OPERATOR else []))


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    granted = Permission.objects.filter(content_type__app_label="payments", codename__in=VIEW + OPERATOR_ONLY)
    for group in apps.get_model("auth", "Group").objects.filter(name__in=[VIEWER, OPERATOR]):
        group.permissions.remove(*granted)


class Migration(migrations.Migration):
    dependencies = [
        ("midoffice", "0004_staff_see_storefronts"),
        ("payments", "0009_staff_notifications"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
