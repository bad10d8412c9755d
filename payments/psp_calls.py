"""Keeping the record of our PSP calls bounded."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from payments.models import PspCall


def psp_calls_prune(*, batch: int = 10_000) -> int:
    """Delete PSP call records older than PSP_CALL_RETENTION_DAYS, in batches so that no
    statement holds locks for long. Returns how many went."""
    cutoff = timezone.now() - timedelta(days=settings.PSP_CALL_RETENTION_DAYS)
    total = 0
    while True:
        ids = list(PspCall.objects.filter(created_at__lt=cutoff).values_list("id", flat=True)[:batch])
        if not ids:
            return total
        total += PspCall.objects.filter(id__in=ids).delete()[0]
