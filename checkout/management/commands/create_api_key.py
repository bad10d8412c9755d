from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from checkout.api_keys import api_key_create


class Command(BaseCommand):
    help = (
        "Create an API key for the storefront NAME (creating the storefront if it is new) and print it once, "
        "on the last line. Every live key of a storefront sees the same checkouts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The storefront the key is for, e.g. 'my-shop'.")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        record, key = api_key_create(storefront_name=name)
        live = record.storefront.api_keys.filter(revoked_at__isnull=True).count()
        self.stdout.write(
            f"Created an API key for storefront {name!r} ({live} live key(s)). It is shown only now; store it safely:"
        )
        self.stdout.write(key)
