"""What staff do from the mid-office, as services the admin's thin views call.

Each one goes through the same code as the automatic channels (`attempt_sync`, the refund
services, `payments/transitions.py`, the delivery of `payments/notifications.py`), so staff can
never set a status the PSP contradicts, and each appends a `StaffAction` naming the member of
staff, so the checkout's timeline (or the storefront's actions) shows it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from payments.asking import PspAnswer, attempt_ask, refund_ask
from payments.errors import Conflict, DomainError, NotFound
from payments.locks import lock_checkout
from payments.models import (
    Checkout,
    NotificationEndpoint,
    PaymentAttempt,
    Refund,
    StaffAction,
    Storefront,
    StorefrontEvent,
)
from payments.money import format_amount, format_money
from payments.notifications import endpoint_enable, endpoint_send_test, events_send_again
from payments.refunds import refund_record, refund_resolve_unsent, refund_send
from payments.transitions import Cause

Action = StaffAction.Action


def _staff(actor_id: int, reference: str, note: str = "") -> Cause:
    return Cause(kind="staff", reference=reference, actor_id=actor_id, note=note)


@dataclass(frozen=True)
class PspAsked:
    """What asking the PSP about one attempt or refund came to, for the admin to count and say."""

    action: StaffAction  # the row on the timeline; its `outcome` is the sentence staff read
    answer: PspAnswer

    @property
    def answered(self) -> bool:
        return self.answer.answered

    @property
    def changed(self) -> bool:
        return self.answer.changed


def attempt_ask_psp(*, attempt_id: uuid.UUID, actor_id: int) -> PspAsked:
    """Ask the PSP about one attempt now and apply its answer (version-guarded, as a poll would).

    Never raises for a PSP that cannot answer: that is recorded as the action's outcome."""
    checkout_id = PaymentAttempt.objects.values_list("checkout_id", flat=True).get(id=attempt_id)
    answer = attempt_ask(attempt_id=attempt_id, cause=_staff(actor_id, "ask the PSP now"))
    action = StaffAction.objects.create(actor_id=actor_id, action=Action.ASK_PSP, checkout_id=checkout_id,
                                        attempt_id=attempt_id, outcome=answer.sentence()[:255])
    return PspAsked(action=action, answer=answer)


def refund_ask_psp(*, refund_id: uuid.UUID, actor_id: int) -> PspAsked:
    """As `attempt_ask_psp`, for a refund."""
    checkout_id, attempt_id = Refund.objects.values_list("checkout_id", "attempt_id").get(id=refund_id)
    answer = refund_ask(refund_id=refund_id, cause=_staff(actor_id, "ask the PSP now"))
    action = StaffAction.objects.create(actor_id=actor_id, action=Action.ASK_PSP, checkout_id=checkout_id,
                                        attempt_id=attempt_id, refund_id=refund_id, outcome=answer.sentence()[:255])
    return PspAsked(action=action, answer=answer)


@dataclass(frozen=True)
class RefundRequest:
    refund: Refund
    created: bool  # False: this form was submitted before, and this is the refund it made


def refund_request(
    *, checkout_id: uuid.UUID, amount: Decimal, reason: str, request_key: uuid.UUID, actor_id: int
) -> RefundRequest:
    """Refund a checkout's payment, in full or in part, for a member of staff.

    Idempotent per `request_key`, the one-time key of the confirmation form, which becomes the
    refund's id: a second submit of the same form (a double click, a reload) finds the refund
    the first one made and sends nothing. Locks the checkout as `refund_create` does; the PSP
    is asked after the commit, with the refund's own Idempotency-Key.
    """
    if not reason.strip():
        raise DomainError("Give a reason for the refund.", code="invalid_request", fields={"reason": ["Required."]})
    with transaction.atomic():
        try:
            checkout = lock_checkout(checkout_id)
        except Checkout.DoesNotExist:
            raise NotFound("No checkout has this id.") from None
        existing = Refund.objects.filter(id=request_key).first()
        if existing is not None:
            if existing.checkout_id != checkout.id:
                raise Conflict("This refund form belongs to another checkout.", code="request_key_reused")
            return RefundRequest(refund=existing, created=False)
        refund = refund_record(checkout=checkout, amount=amount, reason=reason.strip(), cause=_staff(
            actor_id, "mid-office refund", reason.strip()), requested_by_id=actor_id, refund_id=request_key)
        StaffAction.objects.create(
            actor_id=actor_id, action=Action.REFUND, checkout=checkout, attempt=refund.attempt, refund=refund,
            note=refund.reason, outcome=f"{format_money(refund.amount, refund.currency)} requested",
        )
    return RefundRequest(refund=refund_send(refund, cause=Cause(kind="psp_answer")), created=True)


def refund_close_unsent(*, refund_id: uuid.UUID, note: str, actor_id: int) -> StaffAction:
    """Close a refund in review that the PSP never acknowledged as failed, with staff's note of
    what they checked (see `refund_resolve_unsent`); its amount stops being reserved."""
    refund = refund_resolve_unsent(refund_id=refund_id, note=note,
                                   cause=_staff(actor_id, "closed an unacknowledged refund", note.strip()))
    return StaffAction.objects.create(
        actor_id=actor_id, action=Action.RESOLVE, checkout_id=refund.checkout_id, attempt_id=refund.attempt_id,
        refund=refund, outcome=f"needs_review → failed ({format_amount(refund.amount, refund.currency)} "
        f"{refund.currency} no longer reserved)", note=note.strip(),
    )


def export_record(*, actor_id: int, what: str, filters: str) -> StaffAction:
    """Who exported which list, with which filters: exports carry payment data out of the building."""
    return StaffAction.objects.create(actor_id=actor_id, action=Action.EXPORT, outcome=what[:255], note=filters)


# --- storefront notifications --------------------------------------------------------------------
@dataclass(frozen=True)
class SentAgain:
    actions: list[StaffAction]  # one per event sent again
    waiting: int  # of those, events of a disabled endpoint: they go when it is enabled again


def storefront_events_send_again(*, event_pks: list[int], actor_id: int) -> SentAgain:
    """Staff's "send again" for one event or a selection: each is due now with a fresh run of
    retries (`events_send_again`), whatever became of it, and gets a StaffAction saying what that
    was (on its checkout's timeline). Events of a storefront without an endpoint have nowhere to
    go: they are left as they are, with no action. Locks the events, in primary-key order, so each
    action names the state it replaced; no endpoint row is locked (a delivery locks its event,
    then its endpoint)."""
    with_endpoint = NotificationEndpoint.objects.values("storefront_id")
    with transaction.atomic():
        events = list(StorefrontEvent.objects.select_for_update().filter(
            pk__in=event_pks, storefront_id__in=with_endpoint).order_by("pk"))
        disabled = set(NotificationEndpoint.objects.filter(
            storefront_id__in={event.storefront_id for event in events}, disabled_at__isnull=False,
        ).values_list("storefront_id", flat=True))
        events_send_again(event_pks=[event.pk for event in events])
        actions = StaffAction.objects.bulk_create([
            StaffAction(
                actor_id=actor_id, action=Action.SEND_EVENT_AGAIN, checkout_id=event.checkout_id,
                storefront_id=event.storefront_id, storefront_event=event,
                outcome=_sent_again(event, waits=event.storefront_id in disabled)[:255],
            )
            for event in events
        ])
    return SentAgain(actions=actions, waiting=sum(1 for event in events if event.storefront_id in disabled))


def _sent_again(event: StorefrontEvent, *, waits: bool) -> str:
    tries = f" after {event.attempts} {'try' if event.attempts == 1 else 'tries'}" if event.attempts else ""
    then = "due when notifications are enabled again" if waits else "due now"
    return f"{event.type} {event.public_id}: {str(event.get_delivery_display()).lower()}{tries} → {then}"


def storefront_test_event_send(*, storefront_id: int, actor_id: int) -> StaffAction:
    """Staff's "send a test event" (`endpoint_send_test`: refused without an endpoint, or with a
    disabled one), recorded with the event it made."""
    storefront = Storefront.objects.get(pk=storefront_id)
    with transaction.atomic():
        event = endpoint_send_test(storefront=storefront)
        return StaffAction.objects.create(
            actor_id=actor_id, action=Action.SEND_TEST_EVENT, storefront=storefront, storefront_event=event,
            outcome=f"{event.type} {event.public_id} due now",
        )


def storefront_endpoint_enable(*, storefront_id: int, actor_id: int) -> StaffAction | None:
    """Staff's "enable again" (`endpoint_enable`), recorded with when the endpoint had been
    disabled and failing since; None (and no action) for an endpoint that was not disabled."""
    with transaction.atomic():  # enabled and recorded together (the URL is checked before any row is written)
        enabled = endpoint_enable(storefront_id=storefront_id)
        if enabled.was_disabled_at is None:
            return None
        failing = f", failing since {_moment(enabled.was_failing_since)}" if enabled.was_failing_since else ""
        return StaffAction.objects.create(
            actor_id=actor_id, action=Action.ENABLE_ENDPOINT, storefront_id=storefront_id,
            outcome=f"disabled since {_moment(enabled.was_disabled_at)}{failing} → enabled"[:255],
            note=enabled.endpoint.url,
        )


def _moment(value: datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")  # as the mid-office writes moments
