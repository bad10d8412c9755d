"""One checkout's whole story in time order: our PSP calls (polls among them), the webhooks
received, every status change and every staff action, each with who or what caused it.

Four indexed queries whatever the history's length (each capped at LIMIT rows). Bodies are shown
redacted: PSP call bodies were redacted when recorded, and webhook bodies are redacted here,
since the PSP's objects carry the session token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q

from payments.models import Checkout, PaymentAttempt, PspCall, Refund, StaffAction, StatusChange
from payments.psp.parse import redact
from payments.states import status_label
from webhooks.models import WebhookEvent

LIMIT = 500
# Entries at the same instant keep the order in which they happen.
_ORDER = {"psp_call": 0, "webhook": 1, "status": 2, "staff": 3}
KIND_LABELS = {"psp_call": "PSP call", "webhook": "webhook", "status": "status", "staff": "staff"}
# Every word staff read is the TextChoices' label, never the stored value.
_CAUSE_LABELS = dict(StatusChange.Cause.choices)


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # psp_call | webhook | status | staff
    title: str
    cause: str
    detail: str = ""
    body: str = ""
    failed: bool = False

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]


def who(*parts: str) -> str:
    """"staff · alice · mid-office refund": each part once (a user named "staff" is not said twice)."""
    kept: list[str] = []
    for part in parts:
        if part and part.casefold() not in {seen.casefold() for seen in kept}:
            kept.append(part)
    return " · ".join(kept) or "—"


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]  # "Asked the PSP", where str.capitalize() would write "Psp"


def call_cause(cause: str) -> str:
    # A PSP call's cause is `Cause.label()`: "psp_answer", "webhook evt_…", "staff review user #3".
    kind, _, rest = cause.partition(" ")
    return who(str(_CAUSE_LABELS.get(kind, kind)), rest)


def checkout_timeline(*, checkout: Checkout) -> list[Entry]:
    entries = [
        *_psp_calls(checkout), *_webhooks(checkout), *_status_changes(checkout), *_staff_actions(checkout),
    ]
    return sorted(entries, key=lambda entry: (entry.at, _ORDER[entry.kind]))


def _pretty(value: Any) -> str:
    return json.dumps(redact(value), indent=2, sort_keys=True, ensure_ascii=False) if value is not None else ""


def _psp_calls(checkout: Checkout) -> list[Entry]:
    calls = PspCall.objects.filter(checkout_id=checkout.id).order_by("created_at", "id")[:LIMIT]
    return [
        Entry(
            at=call.created_at, kind="psp_call",
            title=f"{'Poll: ' if call.cause.startswith('poll') else ''}{call.method} {call.path} → "
                  f"{call.status_code or 'no answer'}",
            cause=call_cause(call.cause), detail=f"{call.duration_ms} ms{' · ' + call.error if call.error else ''}",
            body="\n".join(part for part in (
                f"request: {_pretty(call.request_body)}" if call.request_body else "",
                f"answer: {_pretty(call.response_body)}" if call.response_body is not None else "",
            ) if part),
            failed=call.status_code is None or call.status_code >= 400,
        )
        for call in calls
    ]


def _webhooks(checkout: Checkout) -> list[Entry]:
    psp_ids = Q(psp_object_id__in=PaymentAttempt.objects.filter(checkout=checkout, psp_payment_id__isnull=False)
                .values("psp_payment_id")) | Q(
        psp_object_id__in=Refund.objects.filter(checkout=checkout, psp_refund_id__isnull=False).values("psp_refund_id"))
    events = WebhookEvent.objects.filter(Q(checkout=checkout) | psp_ids).order_by("received_at", "id")[:LIMIT]
    return [
        Entry(
            at=event.received_at, kind="webhook", title=f"{event.type or '?'} {event.event_id}",
            cause="the PSP", detail=who(str(event.get_outcome_display()), event.outcome_detail, event.error),
            body=_webhook_body(event.body), failed=event.outcome in ("failed", "invalid"),
        )
        for event in events
    ]


def _webhook_body(body: str) -> str:
    if not body:
        return ""  # cleared after PSP_CALL_RETENTION_DAYS (webhooks.retention)
    try:
        return _pretty(json.loads(body))
    except ValueError:
        return "(not JSON; not shown)"


def _status_changes(checkout: Checkout) -> list[Entry]:
    changes = StatusChange.objects.filter(checkout=checkout).select_related("actor").order_by("created_at", "id")
    return [
        Entry(
            at=change.created_at, kind="status",
            title=f"{change.get_subject_display()} {status_label(change.subject, change.from_status)} → "
                  f"{status_label(change.subject, change.to_status)}",
            cause=who(str(change.get_cause_display()), change.actor.get_username() if change.actor else "",
                      change.cause_reference),
            detail=change.note, failed=change.to_status in ("failed", "needs_review"),
        )
        for change in changes[:LIMIT]
    ]


def _staff_actions(checkout: Checkout) -> list[Entry]:
    actions = StaffAction.objects.filter(checkout=checkout).select_related("actor").order_by("created_at", "id")
    return [
        Entry(
            at=action.created_at, kind="staff", title=_capitalized(str(action.get_action_display())),
            cause=who("staff", action.actor.get_username()),
            detail=" · ".join(part for part in (action.outcome, action.webhook_event_id, action.note) if part),
        )
        for action in actions[:LIMIT]
    ]
