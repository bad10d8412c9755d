"""The checkout (one order to pay), the storefront that owns it and the storefront's credentials."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from payments.money import CURRENCY_FORMAT
from payments.states import CheckoutStatus


class Storefront(models.Model):
    """A shop that sells through us. Its checkouts exist for it alone: every API read, refund and
    idempotency key is scoped to the storefront of the calling key."""

    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Checkout(models.Model):
    """One order to be paid, registered at the PSP under its id; `psp_token` is the session."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    amount = models.DecimalField(max_digits=11, decimal_places=3)
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=255, blank=True)
    reference = models.CharField(max_length=100, blank=True, help_text="The shop's own order reference.")
    psp_token = models.CharField("PSP token", max_length=128, unique=True)
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=CheckoutStatus.choices, default=CheckoutStatus.OPEN)
    success_url = models.URLField(max_length=2000, blank=True)
    failure_url = models.URLField(max_length=2000, blank=True)
    storefront = models.ForeignKey(Storefront, on_delete=models.PROTECT, related_name="checkouts")
    api_key = models.ForeignKey("checkout.ApiKey", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="checkout_created_id_idx"),
            models.Index(fields=["status", "-created_at"], name="checkout_status_created_idx"),
            # Pattern ops: the mid-office finds a reference by prefix (LIKE 'x%'), and by equality.
            models.Index(fields=["reference"], name="checkout_reference_like_idx", opclasses=["varchar_pattern_ops"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=CheckoutStatus.values), name="checkout_status_valid"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="checkout_amount_positive"),
            models.CheckConstraint(condition=Q(currency__regex=CURRENCY_FORMAT), name="checkout_currency_format"),
        ]

    def __str__(self) -> str:
        # No status here: this is the admin page's title, which does not refresh with the page's live parts.
        return f"Checkout {self.reference or self.id}"


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
