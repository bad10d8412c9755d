import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from payments.attempt_lifecycle import attempt_sync
from payments.models import PaymentAttempt
from payments.psp.types import PspError
from payments.states import UNFINISHED_ATTEMPT_STATUSES
from payments.transitions import Cause


class Command(BaseCommand):
    help = "Ask the PSP now about the given payment attempts, or about every unfinished one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", help="Attempt ids; none means every unfinished attempt.")

    def handle(self, *args: Any, ids: list[str], **options: Any) -> None:
        try:
            wanted = [uuid.UUID(value) for value in ids]
        except ValueError as exc:
            raise CommandError(f"not an attempt id: {exc}") from exc
        attempts = PaymentAttempt.objects.order_by("created_at")
        attempts = attempts.filter(id__in=wanted) if wanted else attempts.filter(status__in=UNFINISHED_ATTEMPT_STATUSES)
        missing = set(wanted) - set(attempts.values_list("id", flat=True))
        if missing:
            raise CommandError(f"no such attempt: {', '.join(sorted(map(str, missing)))}")
        failures = 0
        for attempt_id, before in attempts.values_list("id", "status"):
            try:
                after = attempt_sync(attempt_id=attempt_id, cause=Cause(kind="staff", reference="sync_payments")).status
            except PspError as exc:
                failures += 1
                self.stdout.write(f"{attempt_id} {before}: the PSP could not answer ({exc})")
                continue
            self.stdout.write(f"{attempt_id} {before} -> {after}")
        if failures:
            raise CommandError(f"{failures} attempt(s) could not be asked; try again later")
