"""Staff users as the mid-office knows them: in a group made by the data migration, or superusers."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import Group, User

VIEWER = "Payments viewer"
OPERATOR = "Payments operator"
PASSWORD = "correct horse battery staple"


def make_staff(group: str | None = None, *, superuser: bool = False, username: str | None = None) -> User:
    user = User.objects.create_user(
        username=username or f"staff-{secrets.token_hex(4)}", password=PASSWORD, is_staff=True,
        is_superuser=superuser,
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user
