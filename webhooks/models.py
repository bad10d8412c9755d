"""Every verified delivery from the PSP, and a bounded tally of the refused ones."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class WebhookEvent(models.Model):
    """One PSP event, recorded once (its id is unique) before it is processed."""

    class Outcome(models.TextChoices):
        RECEIVED = "received"  # stored, processing not finished yet
        PROCESSED = "processed"
        IGNORED = "ignored"  # nothing to apply: unknown to us, or older than what we know
        FAILED = "failed"  # processing raised; retried, then left for staff
        INVALID = "invalid"  # correctly signed, but not an event of psp-api.md

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
        ]
        constraints = [
            models.CheckConstraint(condition=Q(outcome__in=["received", "processed", "ignored", "failed", "invalid"]),
                                   name="webhook_outcome_valid"),
        ]
        permissions = [("reprocess_event", "Can process a stored webhook event again")]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} ({self.outcome})"


class WebhookRefusal(models.Model):
    """How many deliveries were refused, per hour and reason: counted, never stored one by one,
    so a flood of junk cannot fill the database."""

    hour = models.DateTimeField()
    reason = models.CharField(max_length=32)
    count = models.PositiveIntegerField(default=0)
    last_seen_at = models.DateTimeField()
    last_remote_addr = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-hour"]
        constraints = [models.UniqueConstraint(fields=["hour", "reason"], name="webhook_refusal_per_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.reason}: {self.count}"
