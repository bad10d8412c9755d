"""What staff do from the mid-office, as services the admin's thin views call.

Each one goes through the same code as the automatic channels (`attempt_sync`, the refund
services, `payments/transitions.py`), so staff can never set a status the PSP contradicts, and
each appends a `StaffAction` naming the member of staff, so the checkout's timeline shows it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from payments.asking import PspAnswer, attempt_ask, refund_ask
from payments.errors import Conflict, DomainError, NotFound
from payments.locks import lock_checkout
from payments.models import Checkout, PaymentAttempt, Refund, StaffAction
from payments.money import format_amount, format_money
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
