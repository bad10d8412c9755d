from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from checkout.api_keys import api_key_create
from checkout.models import ApiKey


class Command(BaseCommand):
    help = "Create a storefront API key and print it once, on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Who the key is for, e.g. 'storefront'.")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        if ApiKey.objects.filter(name=name).exists():
            raise CommandError(f"An API key named {name!r} exists already; revoke it in admin or pick another name.")
        _record, key = api_key_create(name=name)
        self.stdout.write(f"Created API key {name!r}. It is shown only now; store it safely:")
        self.stdout.write(key)
