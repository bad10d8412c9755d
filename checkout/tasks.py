"""Celery tasks for checkouts: thin wrappers around the services."""

from __future__ import annotations

from celery import shared_task

from checkout.idempotency import idempotency_records_prune
from checkout.services import checkouts_expire_due


@shared_task
def expire_checkouts() -> int:
    return checkouts_expire_due()


@shared_task
def prune_idempotency_records() -> int:
    return idempotency_records_prune()
