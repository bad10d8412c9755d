from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from payments.errors import DomainError
from payments.notifications import endpoint_set


class Command(BaseCommand):
    help = (
        "Point the storefront NAME's notifications at URL and print the endpoint's whsec_ signing secret on the "
        "last line. Run again to change the URL; --rotate makes a new secret (the old one signs beside it for 24 h)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The storefront, e.g. 'my-shop' (created if it is new).")
        parser.add_argument("url", help="Where its events are POSTed, e.g. https://shop.example/paysite-events.")
        parser.add_argument("--rotate", action="store_true", help="Make a new signing secret.")

    def handle(self, *args: Any, name: str, url: str, rotate: bool, **options: Any) -> None:
        try:
            endpoint = endpoint_set(storefront_name=name, url=url, rotate=rotate)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        overlap = " The previous secret signs beside it for 24 hours." if endpoint.previous_secret and rotate else ""
        self.stdout.write(f"Storefront {name!r} notifications go to {endpoint.url}.{overlap} Signing secret:")
        self.stdout.write(endpoint.secret)
