"""Every verified delivery from the PSP. Refused ones are only counted, in the cache
(`webhooks.refusals`), never stored."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from payments.models import PspProvider


class WebhookEvent(models.Model):
    """One PSP event, recorded once (its id is unique) before it is processed."""

    class Outcome(models.TextChoices):
        RECEIVED = "received"  # stored, processing not finished yet
        PROCESSED = "processed"
        IGNORED = "ignored"  # nothing to apply: unknown to us, or older than what we know
        FAILED = "failed"  # processing raised; retried, then left for staff
        INVALID = "invalid"  # correctly signed, but not an event of docs/psp-protocol.md

    provider = models.CharField(
        "PSP", max_length=16, choices=PspProvider.choices, default=PspProvider.GENERIC,
        help_text="Which receiver took it: /webhooks/psp/ or /webhooks/stripe/.",
    )
    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=64, blank=True)
    headers = models.JSONField()
    body = models.TextField()
    received_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RECEIVED)
    outcome_detail = models.CharField(
        max_length=255, blank=True, help_text="Why this outcome: what was applied, or why nothing was."
    )
    error = models.TextField(blank=True)
    processing_attempts = models.PositiveIntegerField(default=0)
    # When the sweeper rings again for this event if it is still unprocessed (its task lost with
    # the broker, or a failed try's retry due): the broker is only a doorbell, this is the truth.
    retry_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    psp_object_id = models.CharField("PSP object id", max_length=128, blank=True)
    checkout = models.ForeignKey(
        "checkout.Checkout", null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_events"
    )

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["-received_at"], name="webhook_received_idx"),
            models.Index(fields=["outcome", "received_at"], name="webhook_outcome_idx"),
            models.Index(fields=["psp_object_id"], name="webhook_object_idx"),
            models.Index(
                fields=["retry_at"], name="webhook_retry_idx", condition=Q(outcome__in=["received", "failed"])
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(outcome__in=["received", "processed", "ignored", "failed", "invalid"]),
                                   name="webhook_outcome_valid"),
        ]
        permissions = [("reprocess_event", "Can process a stored webhook event again")]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} ({self.outcome})"

