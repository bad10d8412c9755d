"""Staff users as the mid-office knows them: in a group made by the data migration, or superusers."""

from __future__ import annotations

import importlib
import secrets

from django.apps import apps
from django.contrib.auth.models import Group, User

VIEWER = "Payments viewer"
OPERATOR = "Payments operator"
PASSWORD = "correct horse battery staple"


def ensure_staff_groups() -> None:
    """The groups as the data migration makes them. Tests on a transactional database flush every
    table afterwards, migration data included, so later tests run the migration's code again."""
    if Group.objects.filter(name__in=[VIEWER, OPERATOR]).count() < 2:
        importlib.import_module("midoffice.migrations.0002_staff_groups").create_groups(apps, None)
        importlib.import_module("midoffice.migrations.0004_staff_see_storefronts").grant(apps, None)
        importlib.import_module("midoffice.migrations.0005_staff_see_notifications").grant(apps, None)


def make_staff(group: str | None = None, *, superuser: bool = False, username: str | None = None) -> User:
    user = User.objects.create_user(
        username=username or f"staff-{secrets.token_hex(4)}", password=PASSWORD, is_staff=True,
        is_superuser=superuser,
    )
    if group:
        ensure_staff_groups()
        user.groups.add(Group.objects.get(name=group))
    return user
