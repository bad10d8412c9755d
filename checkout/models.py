"""The storefront edge's own records: API keys, Idempotency-Keys, and the demo shop's orders.

The checkout and its storefront are the domain's (`payments/models.py`); they keep the app label
`checkout`, so their tables, migrations and admin URLs are where they always were."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from payments.models import Checkout, Storefront

__all__ = ["ApiKey", "Checkout", "DemoOrder", "IdempotencyRecord", "Storefront"]


class ApiKey(models.Model):
    """A storefront's key for the API. Only its SHA-256 is stored; the key is shown once. A
    storefront may hold several live keys (to rotate them); all of them see the same checkouts."""

    storefront = models.ForeignKey(Storefront, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="A label; the storefront's name when made by create_api_key.")
    prefix = models.CharField(max_length=16, help_text="The first characters, to tell keys apart.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class IdempotencyRecord(models.Model):
    """A storefront's Idempotency-Key: the id of what the request creates, and its first answer.

    `resource_id` is chosen when the key is first claimed and committed before any work, so every
    retry of the key (after a crash, a 5xx, a timeout or a takeover) resumes the same checkout or
    refund row instead of making another. A record is never deleted before it expires.
    """

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress"  # a request holds the key
        RETRYABLE = "retryable"  # the last request ended without an answer worth replaying (5xx)
        DONE = "done"  # the answer is kept and replayed

    storefront = models.ForeignKey(Storefront, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    resource_id = models.UUIDField(default=uuid.uuid4, editable=False)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=12, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["storefront", "key"], name="idempotency_key_unique_per_storefront"),
            models.CheckConstraint(
                condition=Q(state__in=["in_progress", "retryable", "done"]), name="idempotency_state_valid_v2"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class DemoOrder(models.Model):
    """An order of the demo shop at `/`, as the shop itself knows it: made when the shopper starts
    a checkout, then changed only by the signed notifications the shop receives
    (checkout/demo_orders.py), as any storefront's own order table would be. Keyed by the
    checkout's id, without a foreign key: the shop learns about the checkout from its events,
    never by reading the BPS's rows."""

    class Status(models.TextChoices):
        AWAITING_PAYMENT = "awaiting_payment", "awaiting payment"
        PAYMENT_PENDING = "payment_pending", "payment pending"
        PAYMENT_FAILED = "payment_failed", "payment failed"
        PAID = "paid", "paid"
        PARTIALLY_REFUNDED = "partially_refunded", "partially refunded"
        REFUNDED = "refunded", "refunded"
        EXPIRED = "expired", "expired"

    checkout_id = models.UUIDField(primary_key=True)
    reference = models.CharField(max_length=100)
    description = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.AWAITING_PAYMENT)
    # The `sequence` of the newest event applied: an event at or below it is a repeat or arrived
    # late, and is dropped (the contract's rule for receivers).
    last_sequence = models.PositiveIntegerField(default=0)
    notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["awaiting_payment", "payment_pending", "payment_failed", "paid",
                                        "partially_refunded", "refunded", "expired"]),
                name="demo_order_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.status})"
