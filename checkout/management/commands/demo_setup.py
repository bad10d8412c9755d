from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from checkout.services import DEMO_STOREFRONT
from payments.errors import DomainError
from payments.notifications import endpoint_set
from paysite.site import site_url

DEMO_USERNAME = "staff"
DEMO_PASSWORD = "paysite-demo"  # noqa: S105 (a demo login, refused when DEBUG is off)


class Command(BaseCommand):
    help = (
        "Create the demo's staff user (DEBUG only) and print its login; point the demo shop's notifications at its "
        "own receiver (SITE_URL/demo/notifications/)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_setup only runs with DEBUG on; create real staff with createsuperuser.")
        users = get_user_model()
        user, created = users.objects.get_or_create(username=DEMO_USERNAME, defaults={"email": "staff@example.com"})
        if created:
            user.is_staff = user.is_superuser = True
            user.set_password(DEMO_PASSWORD)
            user.save()
        # The demo shop is a storefront like any other: its notifications go to its receiver,
        # on this machine (so scripts/run_demo.sh allows private URLs). Same URL: same secret.
        try:
            endpoint = endpoint_set(storefront_name=DEMO_STOREFRONT, url=site_url("demo-notifications"))
        except DomainError as exc:
            raise CommandError(
                f"The demo shop's notifications cannot go to {site_url('demo-notifications')}: {exc} "
                "(scripts/run_demo.sh sets NOTIFY_ALLOW_PRIVATE_URLS=true for the demo.)"
            ) from None
        self.stdout.write(f"Admin login: {DEMO_USERNAME} / {DEMO_PASSWORD}")
        self.stdout.write(f"Demo shop notifications: {endpoint.url}")
