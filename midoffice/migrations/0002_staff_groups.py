"""The mid-office's two groups. Permissions are made here first: Django creates them only after
all migrations ran, and a group needs them now."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MODELS = [
    ("checkout", "checkout"), ("payments", "paymentattempt"), ("payments", "refund"),
    ("payments", "statuschange"), ("payments", "pspcall"), ("payments", "staffaction"),
    ("webhooks", "webhookevent"),
]  # (webhooks.WebhookRefusal was listed too, until refusals moved to the cache: webhooks 0003)
VIEWER = "Payments viewer"
OPERATOR = "Payments operator"
OPERATOR_ONLY = [
    ("payments", "ask_psp"), ("payments", "resolve_review"), ("payments", "export_payments"),
    ("payments", "issue_refund"), ("webhooks", "reprocess_event"),
]


def create_groups(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = [Permission.objects.get(content_type__app_label=app, codename=f"view_{model}") for app, model in MODELS]
    act = [Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in OPERATOR_ONLY]
    viewer, _ = Group.objects.get_or_create(name=VIEWER)
    viewer.permissions.add(*view)
    operator, _ = Group.objects.get_or_create(name=OPERATOR)
    operator.permissions.add(*view, *act)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[VIEWER, OPERATOR]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("midoffice", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("checkout", "0002_admin_indexes"),
        ("payments", "0002_midoffice"),
        ("webhooks", "0002_reprocess_permission"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
