from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

DEMO_USERNAME = "staff"
DEMO_PASSWORD = "paysite-demo"  # noqa: S105 (a demo login, refused when DEBUG is off)


class Command(BaseCommand):
    help = "Create the demo's staff user (DEBUG only) and print its login."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_setup only runs with DEBUG on; create real staff with createsuperuser.")
        users = get_user_model()
        user, created = users.objects.get_or_create(username=DEMO_USERNAME, defaults={"email": "staff@example.com"})
        if created:
            user.is_staff = user.is_superuser = True
            user.set_password(DEMO_PASSWORD)
            user.save()
        self.stdout.write(f"Admin login: {DEMO_USERNAME} / {DEMO_PASSWORD}")
