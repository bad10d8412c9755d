"""Storefronts and their checkouts, payment attempts, refunds, the status-change ledger, the record of
our PSP calls, and the outbox of storefront notifications with the endpoints they go to."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from payments.money import CURRENCY_FORMAT
from payments.states import (
    LIVE_ATTEMPT_STATUSES,
    UNFINISHED_ATTEMPT_STATUSES,
    UNFINISHED_REFUND_STATUSES,
    AttemptStatus,
    CheckoutStatus,
    RefundStatus,
    status_label,
)


class Storefront(models.Model):
    """A shop that sells through us. Its checkouts exist for it alone: every API read, refund and
    idempotency key is scoped to the storefront of the calling key."""

    name = models.CharField(max_length=100, unique=True)
    # The `position` of the storefront's latest event. Taken by an UPDATE of this row, whose lock
    # lasts until the event's transaction commits: positions commit in order, so a reader paging by
    # position (GET /api/events/?after=) can never step past one still to commit.
    event_position = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "checkout"  # filed under the storefront edge's app: same table, migrations and admin URLs

    def __str__(self) -> str:
        return self.name


class PspProvider(models.TextChoices):
    GENERIC = "generic", "Generic (psp-api.md)"
    STRIPE = "stripe", "Stripe"


class Checkout(models.Model):
    """One order to be paid, registered at the PSP under its id; `psp_token` is the session."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    amount = models.DecimalField(max_digits=11, decimal_places=3)
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=255, blank=True)
    reference = models.CharField(max_length=100, blank=True, help_text="The shop's own order reference.")
    psp_token = models.CharField("PSP token", max_length=128, unique=True)
    psp_provider = models.CharField(
        "PSP", max_length=16, choices=PspProvider.choices, default=PspProvider.GENERIC,
        help_text="The PSP that holds this checkout's session (PSP_PROVIDER when it was made).",
    )
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=CheckoutStatus.choices, default=CheckoutStatus.OPEN)
    success_url = models.URLField(max_length=2000, blank=True)
    failure_url = models.URLField(max_length=2000, blank=True)
    storefront = models.ForeignKey(Storefront, on_delete=models.PROTECT, related_name="checkouts")
    api_key = models.ForeignKey("checkout.ApiKey", null=True, blank=True, on_delete=models.SET_NULL)
    # The `sequence` of this checkout's latest storefront event: every event takes the next one,
    # under the checkout's lock, in the transaction of the change it reports.
    event_sequence = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "checkout"  # see Storefront
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
            models.CheckConstraint(
                condition=Q(psp_provider__in=PspProvider.values), name="checkout_psp_provider_valid"
            ),
        ]

    def __str__(self) -> str:
        # No status here: this is the admin page's title, which does not refresh with the page's live parts.
        return f"Checkout {self.reference or self.id}"


class PaymentAttempt(models.Model):
    """One Buy Now: what we asked the PSP to charge, and what we know of the outcome."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by attempt_checkout_idx (checkout, -created_at), which serves the foreign key too.
    checkout = models.ForeignKey(
        "checkout.Checkout", on_delete=models.PROTECT, related_name="attempts", db_index=False
    )
    status = models.CharField(max_length=20, choices=AttemptStatus.choices, default=AttemptStatus.STARTED)
    payment_method = models.CharField(max_length=64)
    amount = models.DecimalField(max_digits=11, decimal_places=3)
    currency = models.CharField(max_length=3)
    # Not unique: with Stripe every attempt of a checkout confirms the same PaymentIntent (a failed
    # one, then the next). One succeeded attempt per PSP payment is the rule (see constraints).
    # Indexed for equality only (webhooks, the mid-office's search): migration 0013 dropped the LIKE
    # twin that PostgreSQL gets for an indexed varchar, as it did for idempotency_key below.
    psp_payment_id = models.CharField(  # noqa: DJ001 (NULL until the PSP answers; kept from when it was unique)
        "PSP payment id", max_length=128, db_index=True, null=True, blank=True
    )
    psp_version = models.PositiveIntegerField(
        "PSP version", default=0, help_text="The highest version of the PSP's payment object applied."
    )
    failure_code = models.CharField(max_length=64, blank=True)
    action_url = models.URLField(max_length=2000, blank=True, help_text="The PSP page the shopper must visit.")
    refunded_amount = models.DecimalField(max_digits=11, decimal_places=3, default=0)
    idempotency_key = models.CharField(max_length=255, unique=True, editable=False)
    # Polling: when to ask the PSP next (null once nothing is left to learn), and how often we did.
    next_poll_at = models.DateTimeField(null=True, blank=True)
    poll_count = models.PositiveIntegerField(default=0)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    psp_contradiction = models.BooleanField(
        "PSP contradiction", default=False,
        help_text="The PSP reported an object that contradicts what we held; only staff take it out of review.",
    )
    contradicting_payment_id = models.CharField(
        "contradicting PSP payment", max_length=128, blank=True,
        help_text="The PSP payment that contradicted us: the one staff judge when they resolve the review.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # With the id, the admin's default order (newest first, then -pk) is read straight off the index.
            models.Index(fields=["-created_at", "-id"], name="attempt_created_id_idx"),
            models.Index(fields=["status", "-created_at"], name="attempt_status_created_idx"),
            # The dashboard's stuck board: the few unfinished attempts among millions of final ones.
            models.Index(
                fields=["created_at"], name="attempt_unfinished_idx",
                condition=Q(status__in=sorted(UNFINISHED_ATTEMPT_STATUSES)),
            ),
            models.Index(fields=["checkout", "-created_at"], name="attempt_checkout_idx"),
            # The poller's due rows, read in due order; only unfinished attempts are polled.
            models.Index(
                fields=["next_poll_at"], name="attempt_due_unfinished_idx",
                condition=Q(next_poll_at__isnull=False) & Q(status__in=sorted(UNFINISHED_ATTEMPT_STATUSES)),
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=AttemptStatus.values), name="attempt_status_valid"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="attempt_amount_positive"),
            models.CheckConstraint(condition=Q(refunded_amount__gte=0), name="attempt_refunded_not_negative"),
            models.CheckConstraint(condition=Q(currency__regex=CURRENCY_FORMAT), name="attempt_currency_format"),
            # The database's own guard against a second charge: one live attempt per checkout. An
            # attempt held for review because the PSP contradicted it (perhaps a second charge) is
            # beside that rule: it must be shown even when another attempt of the checkout is live.
            models.UniqueConstraint(
                fields=["checkout"],
                condition=Q(status__in=sorted(LIVE_ATTEMPT_STATUSES)) & Q(psp_contradiction=False),
                name="one_live_attempt_per_checkout_v2",
            ),
            # A charge is never counted twice: one PSP payment is the succeeded payment of one attempt at most.
            models.UniqueConstraint(
                fields=["psp_payment_id"], condition=Q(status="succeeded"), name="one_paid_attempt_per_psp_payment"
            ),
        ]
        permissions = [
            ("ask_psp", "Can ask the PSP now about a payment attempt"),
            ("resolve_review", "Can resolve a payment attempt in needs_review"),
            ("export_payments", "Can export the mid-office lists as CSV"),
        ]

    def __str__(self) -> str:
        return f"Attempt {str(self.id)[:8]} ({self.get_status_display()})"


class Refund(models.Model):
    """Money given back on a succeeded attempt, in full or in part."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    checkout = models.ForeignKey("checkout.Checkout", on_delete=models.PROTECT, related_name="refunds")
    attempt = models.ForeignKey(PaymentAttempt, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(max_digits=11, decimal_places=3)
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=RefundStatus.choices, default=RefundStatus.STARTED)
    psp_refund_id = models.CharField("PSP refund id", max_length=128, unique=True, null=True, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    idempotency_key = models.CharField(max_length=255, unique=True, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    poll_count = models.PositiveIntegerField(default=0)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["-created_at"], name="refund_created_idx"),
            models.Index(
                fields=["next_poll_at"], name="refund_due_unfinished_idx",
                condition=Q(next_poll_at__isnull=False) & Q(status__in=sorted(UNFINISHED_REFUND_STATUSES)),
            ),
            # The dashboard's review queue: the few refunds in review among all.
            models.Index(fields=["created_at"], name="refund_review_idx", condition=Q(status="needs_review")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=RefundStatus.values), name="refund_status_valid"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(condition=Q(currency__regex=CURRENCY_FORMAT), name="refund_currency_format"),
        ]
        permissions = [("issue_refund", "Can refund a payment from the mid-office")]

    def __str__(self) -> str:
        return f"Refund {str(self.id)[:8]} ({self.get_status_display()})"


class PollClaim(models.Model):
    """A beat's claim on a due attempt or refund, from the claim until a worker takes it
    (payments/polling.py). Kept beside the attempts and refunds rather than in them so that a claim
    writes one narrow row with one index instead of a new version of a wide row with a dozen.
    Attempt and refund ids are both random UUIDs, so one key serves both."""

    row_id = models.UUIDField(primary_key=True)
    claim = models.BigIntegerField()
    held_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"Poll claim {self.claim} on {self.row_id}"


class StatusChange(models.Model):
    """Append-only: one row for every move of a checkout, an attempt or a refund, and its cause."""

    class Subject(models.TextChoices):
        CHECKOUT = "checkout"
        ATTEMPT = "attempt"
        REFUND = "refund"

    class Cause(models.TextChoices):
        API = "api", "storefront API"
        SHOPPER = "shopper", "shopper"
        PSP_ANSWER = "psp_answer", "PSP answer"
        WEBHOOK = "webhook", "webhook"
        POLL = "poll", "poll"
        STAFF = "staff", "staff"
        SYSTEM = "system", "system"

    checkout = models.ForeignKey("checkout.Checkout", on_delete=models.PROTECT, related_name="status_changes")
    attempt = models.ForeignKey(PaymentAttempt, null=True, blank=True, on_delete=models.PROTECT)
    refund = models.ForeignKey(Refund, null=True, blank=True, on_delete=models.PROTECT)
    subject = models.CharField(max_length=10, choices=Subject.choices)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    cause = models.CharField(max_length=12, choices=Cause.choices)
    cause_reference = models.CharField(
        max_length=255, blank=True, help_text="The webhook event id, PSP version or request behind the move."
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["checkout", "created_at"], name="status_change_checkout_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(subject__in=["checkout", "attempt", "refund"]), name="status_change_subject_valid"
            ),
        ]

    def __str__(self) -> str:
        return (f"{self.get_subject_display()} {status_label(self.subject, self.from_status)} → "
                f"{status_label(self.subject, self.to_status)}")


class PspCall(models.Model):
    """One HTTP exchange with the PSP, written by the PSP client's observer; pruned after
    PSP_CALL_RETENTION_DAYS. Ids are plain values, not keys: a session is registered before
    its checkout row exists, and pruning must never be blocked."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    idempotency_key = models.CharField(max_length=255, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField()
    request_body = models.JSONField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    checkout_id = models.UUIDField(null=True, blank=True, db_index=True)
    attempt_id = models.UUIDField(null=True, blank=True)
    refund_id = models.UUIDField(null=True, blank=True)
    cause = models.CharField(
        max_length=255, blank=True, help_text="What made the call: a poll, a webhook event, staff, the shopper…"
    )

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "PSP call"

    def __str__(self) -> str:
        return f"{self.method} {self.path} → {self.status_code or self.error}"


class StaffAction(models.Model):
    """Append-only: what a member of staff did from the mid-office, and what came of it.

    Status moves keep their own `StatusChange` rows (with the same actor); this records the
    action itself, including the ones that move nothing (asking the PSP, a review note, an event
    processed again). Written only by the services in `payments/staff.py` and `webhooks/staff.py`.
    """

    class Action(models.TextChoices):
        ASK_PSP = "ask_psp", "asked the PSP"
        REFUND = "refund", "requested a refund"
        RESOLVE = "resolve", "confirmed the PSP's outcome"
        REVIEW_NOTE = "review_note", "noted a review"
        REPROCESS_EVENT = "reprocess_event", "processed a webhook event again"
        EXPORT = "export", "exported a list"
        SEND_EVENT_AGAIN = "send_event_again", "sent a storefront event again"
        SEND_TEST_EVENT = "send_test_event", "sent a test event to a storefront"
        ENABLE_ENDPOINT = "enable_endpoint", "enabled a storefront's notifications again"

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=20, choices=Action.choices)
    checkout = models.ForeignKey(
        "checkout.Checkout", null=True, blank=True, on_delete=models.PROTECT, related_name="staff_actions"
    )
    attempt = models.ForeignKey(PaymentAttempt, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    refund = models.ForeignKey(Refund, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The PSP's event id, as a plain value: webhooks depends on payments, never the other way.
    webhook_event_id = models.CharField(max_length=255, blank=True)
    # What staff did to a storefront's notifications: the storefront, and the event sent (again).
    storefront = models.ForeignKey(Storefront, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    storefront_event = models.ForeignKey(
        "payments.StorefrontEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.CharField(max_length=255, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["checkout", "created_at"], name="staff_action_checkout_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=[
                    "ask_psp", "refund", "resolve", "review_note", "reprocess_event", "export", "send_event_again",
                    "send_test_event", "enable_endpoint",
                ]),
                name="staff_action_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.actor_id} {self.action} {self.outcome}".strip()


class NotificationEndpoint(models.Model):
    """Where a storefront's events go (`manage.py storefront_webhook NAME URL`), and the Standard
    Webhooks secret that signs them; during a rotation the previous secret signs beside it."""

    storefront = models.OneToOneField(Storefront, on_delete=models.CASCADE, related_name="notification_endpoint")
    url = models.URLField(max_length=2000)
    secret = models.CharField(max_length=100)
    secret_created_at = models.DateTimeField()
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    # Set at the first failure of a run of failures, cleared by a success; a run longer than
    # NOTIFY_DISABLE_AFTER disables the endpoint (shown to staff, who enable it again).
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # The one delivery in flight to this endpoint ("<event pk>:<claim>") and until when it holds the
    # endpoint. Claims lock this row, so two claimers never send two events to one endpoint at once.
    in_flight = models.CharField(max_length=40, blank=True)
    in_flight_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.storefront} → {self.url}"


class StorefrontEvent(models.Model):
    """The outbox: one event for the storefront, written in the transaction of the change it
    reports (so a rolled-back change has none and a committed one is never lost), with the state
    of its delivery. `body` is exactly what is POSTed (and what GET /api/events/ lists)."""

    class Delivery(models.TextChoices):
        PENDING = "pending"  # due at next_attempt_at (or waiting for its endpoint to be enabled)
        DELIVERED = "delivered"
        GIVEN_UP = "given_up", "given up"  # every retry failed: staff may send it again
        NO_ENDPOINT = "no_endpoint", "no endpoint"  # the storefront had none: listed by the API only

    public_id = models.CharField("event id", max_length=40, unique=True)
    storefront = models.ForeignKey(Storefront, on_delete=models.PROTECT, related_name="events")
    checkout = models.ForeignKey(
        "checkout.Checkout", null=True, blank=True, on_delete=models.PROTECT, related_name="storefront_events"
    )
    type = models.CharField(max_length=40)
    sequence = models.PositiveIntegerField()
    position = models.PositiveBigIntegerField(
        default=0, help_text="Its place among the storefront's events, in commit order."
    )
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    delivery = models.CharField(max_length=12, choices=Delivery.choices, default=Delivery.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A delivery in flight holds the event until claimed_until; the claim number fences a late
    # worker off (compare-and-set), as the PSP poller's claims do.
    claim = models.PositiveIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    # Staff asked to send it again while a delivery was in flight: once that one ends, it goes again.
    send_again = models.BooleanField(default=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_answer = models.CharField(max_length=500, blank=True, help_text="The start of the endpoint's last answer.")
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["storefront", "id"], name="event_storefront_idx"),
            models.Index(fields=["next_attempt_at"], name="event_due_idx", condition=Q(delivery="pending")),
            models.Index(fields=["storefront", "delivery"], name="event_delivery_idx"),
            # The dashboard counts the events given up, and the delivery log filters on them, across
            # every storefront: a partial index as small as that backlog, never a scan of the outbox.
            models.Index(fields=["id"], name="event_given_up_idx", condition=Q(delivery="given_up")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["checkout", "sequence"], name="event_sequence_per_checkout"),
            models.UniqueConstraint(fields=["storefront", "position"], name="event_position_per_storefront"),
            models.CheckConstraint(
                condition=Q(delivery__in=["pending", "delivered", "given_up", "no_endpoint"]),
                name="event_delivery_valid",
            ),
        ]
        permissions = [
            ("send_notifications", "Can send storefront events again, send a test event and enable an endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.type}"
