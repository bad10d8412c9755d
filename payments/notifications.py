"""Delivering the outbox (payments/outbox.py) to the storefronts' endpoints.

The database's due times are the truth, as for the PSP poller: the beat's `events_claim_due`
claims due events (`SELECT … FOR UPDATE SKIP LOCKED`), holding each one delivery long and
bumping its claim number, and a worker's `event_deliver` POSTs it and records the outcome by
compare-and-set on that number. A worker killed mid-delivery loses nothing (the claim runs out
and the event is due again); a stale or repeated message delivers nothing. An endpoint has at
most one delivery in flight, so one slow or dead storefront holds one worker slot at most and
the others go on; its events go out oldest first, and a failed one waits for its retry while the
newer ones pass it (receivers order by `sequence`).
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone
from requests_hardened import Config, HTTPSession
from standardwebhooks.webhooks import Webhook

from payments.documents import api_time
from payments.errors import DomainError
from payments.models import NotificationEndpoint, Storefront, StorefrontEvent
from payments.notify_urls import UrlRefused, check_notification_url
from payments.outbox import next_position

logger = logging.getLogger(__name__)

Delivery = StorefrontEvent.Delivery
# The contract's schedule: after the first try, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h; then given up.
RETRY_DELAYS = tuple(timedelta(seconds=s) for s in (5, 300, 1800, 7200, 18000, 36000, 36000))
SECRET_OVERLAP = timedelta(hours=24)  # a rotated secret keeps signing beside the new one
USER_AGENT = "paysite-notifications/1"


def delivery_lease() -> timedelta:
    """One delivery at its longest: the task's hard time limit (payments/tasks.py), and a margin."""
    return timedelta(seconds=delivery_time_limit() + 5)


def delivery_time_limit() -> float:
    """The delivery task's hard time limit: connecting and reading (NOTIFY_TIMEOUT each) and a
    margin. An endpoint that drips its answer a byte at a time is cut off there, never later."""
    return 2 * settings.NOTIFY_TIMEOUT + 5


# --- endpoints --------------------------------------------------------------------------------
def endpoint_set(*, storefront_name: str, url: str, rotate: bool = False) -> NotificationEndpoint:
    """Point a storefront's notifications at `url` (refused if it may not receive them), with a
    new signing secret the first time or with `rotate`; the rotated one signs beside the new
    one for 24 hours. An endpoint disabled for failing is enabled again."""
    _refuse_unless_allowed(url)
    now = timezone.now()
    with transaction.atomic():
        storefront = Storefront.objects.get_or_create(name=storefront_name)[0]
        endpoint = NotificationEndpoint.objects.select_for_update().filter(storefront=storefront).first()
        if endpoint is None:
            endpoint = NotificationEndpoint(storefront=storefront, secret=new_secret(), secret_created_at=now)
        elif rotate:
            endpoint.previous_secret, endpoint.previous_secret_until = endpoint.secret, now + SECRET_OVERLAP
            endpoint.secret, endpoint.secret_created_at = new_secret(), now
        endpoint.url, endpoint.disabled_at, endpoint.failing_since = url, None, None
        endpoint.save()
    return endpoint


def _refuse_unless_allowed(url: str) -> None:
    try:
        check_notification_url(url, allow_private=settings.NOTIFY_ALLOW_PRIVATE_URLS)
    except UrlRefused as exc:
        raise DomainError(str(exc), code="invalid_url", fields={"url": [str(exc)]}) from None


@dataclass(frozen=True)
class EndpointEnabled:
    endpoint: NotificationEndpoint
    was_disabled_at: datetime | None  # None: it was not disabled, and nothing changed
    was_failing_since: datetime | None


def endpoint_enable(*, storefront_id: int) -> EndpointEnabled:
    """Staff's "enable again" for an endpoint disabled after failing for NOTIFY_DISABLE_AFTER: as
    `endpoint_set` with the same URL (checked again, so a URL that may no longer receive
    notifications stays disabled), its run of failures forgotten. Its pending events, which
    waited, go out from the next sweep, oldest first; the given-up ones stay so until staff send
    them again. Changes nothing for an endpoint that is not disabled. One conditional UPDATE (on
    the URL read, so a URL changed meanwhile, which enabled the endpoint itself, is kept)."""
    endpoint = NotificationEndpoint.objects.filter(storefront_id=storefront_id).first()
    if endpoint is None:
        raise DomainError("This storefront has no notification endpoint.", code="no_endpoint")
    if endpoint.disabled_at is None:
        return EndpointEnabled(endpoint=endpoint, was_disabled_at=None, was_failing_since=None)
    _refuse_unless_allowed(endpoint.url)
    NotificationEndpoint.objects.filter(pk=endpoint.pk, url=endpoint.url).update(
        disabled_at=None, failing_since=None, updated_at=timezone.now()
    )
    enabled = NotificationEndpoint.objects.get(pk=endpoint.pk)
    return EndpointEnabled(endpoint=enabled, was_disabled_at=endpoint.disabled_at,
                           was_failing_since=endpoint.failing_since)


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def endpoint_send_test(*, storefront: Storefront) -> StorefrontEvent:
    """Staff's "send a test event": a `test.ping` event for the storefront, due now (no checkout,
    sequence 0), delivered and logged like any other. Refused for an endpoint that is disabled:
    nothing is sent to it, so the test would only wait (enable it again first)."""
    endpoint = NotificationEndpoint.objects.filter(storefront=storefront).only("disabled_at").first()
    if endpoint is None:
        raise DomainError("This storefront has no notification endpoint.", code="no_endpoint")
    if endpoint.disabled_at is not None:
        raise DomainError("Notifications to this storefront are disabled: enable them again before sending a "
                          "test event.", code="endpoint_disabled")
    now = timezone.now()
    public_id = f"evt_{uuid.uuid4().hex}"
    body = {"id": public_id, "type": "test.ping", "created_at": api_time(now), "sequence": 0,
            "data": {"storefront": storefront.name}}
    return StorefrontEvent.objects.create(
        public_id=public_id, storefront=storefront, type="test.ping", sequence=0,
        position=next_position(storefront.id), body=body, created_at=now,
        next_attempt_at=now,
    )


def signing_secrets(endpoint: NotificationEndpoint, now: datetime) -> list[str]:
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        return [endpoint.secret, endpoint.previous_secret]
    return [endpoint.secret]


# --- claiming and delivering ------------------------------------------------------------------
Claim = tuple[int, int]


def events_claim_due(*, limit: int, storefront_id: int | None = None) -> list[Claim]:
    """Claim the oldest due event of up to `limit` idle, enabled endpoints (only `storefront_id`'s,
    if given), never more than NOTIFY_MAX_IN_FLIGHT deliveries in flight in all; returns (event
    pk, claim) pairs. Each endpoint row is locked while it is claimed (SKIP LOCKED), so two
    claimers never put two deliveries of one endpoint in flight, and each endpoint is looked at
    on its own, so one storefront's backlog never keeps another's events waiting."""
    now = timezone.now()
    if storefront_id is None:  # the sweep: endpoints failing for days are disabled even with nothing due
        endpoints_disable_failing(now=now)
    due = StorefrontEvent.objects.filter(
        storefront_id=OuterRef("storefront_id"), delivery=Delivery.PENDING, next_attempt_at__lte=now
    ).order_by("next_attempt_at", "id")
    with transaction.atomic():
        room = settings.NOTIFY_MAX_IN_FLIGHT - NotificationEndpoint.objects.filter(in_flight_until__gt=now).count()
        idle = NotificationEndpoint.objects.filter(disabled_at__isnull=True).filter(
            Q(in_flight_until__isnull=True) | Q(in_flight_until__lte=now))
        if storefront_id is not None:
            idle = idle.filter(storefront_id=storefront_id)
        waiting = idle.annotate(
            first_due=Subquery(due.values("pk")[:1]), first_due_at=Subquery(due.values("next_attempt_at")[:1])
        ).filter(first_due__isnull=False)
        endpoints = list(
            waiting.select_for_update(skip_locked=True, of=("self",)).order_by("first_due_at")
            .values_list("pk", "first_due")[: max(0, min(limit, room))]
        )
        claims = []
        for endpoint_pk, event_pk in endpoints:
            claim = 1 + StorefrontEvent.objects.values_list("claim", flat=True).get(pk=event_pk)
            until = now + delivery_lease()
            StorefrontEvent.objects.filter(pk=event_pk).update(claim=claim, claimed_until=until)
            NotificationEndpoint.objects.filter(pk=endpoint_pk).update(
                in_flight=_token(event_pk, claim), in_flight_until=until)
            claims.append((event_pk, claim))
    return claims


def _token(event_pk: int, claim: int) -> str:
    return f"{event_pk}:{claim}"


def _release(event_pk: int, claim: int) -> None:
    """The delivery of this claim is over: its endpoint may take the next (unless another claim
    holds it already, after this one's lease ran out)."""
    NotificationEndpoint.objects.filter(in_flight=_token(event_pk, claim)).update(in_flight="", in_flight_until=None)


def event_claim_next(*, after_event_pk: int) -> Claim | None:
    """Once a delivery is recorded, the same endpoint's next due event, claimed: a worker goes on
    with it at once, so a busy endpoint drains at the pace it answers, not one event per sweep.
    None when nothing of that endpoint is due (or another delivery of it is in flight)."""
    storefront_id = StorefrontEvent.objects.filter(pk=after_event_pk).values_list("storefront_id", flat=True).first()
    if storefront_id is None:
        return None
    claims = events_claim_due(limit=1, storefront_id=storefront_id)
    return claims[0] if claims else None


@dataclass(frozen=True)
class Answer:
    ok: bool
    status_code: int | None = None
    excerpt: str = ""
    error: str = ""


def event_deliver(*, event_pk: int, claim: int) -> str:
    """POST one claimed event to its endpoint and record what came of it. Does nothing for a claim
    that is no longer the event's (a stale or repeated message). Never inside a transaction."""
    event = (
        StorefrontEvent.objects.select_related("storefront__notification_endpoint")
        .filter(pk=event_pk, claim=claim, delivery=Delivery.PENDING).first()
    )
    if event is None:
        _release(event_pk, claim)  # e.g. sent again by staff before this message ran
        return "not claimed"
    endpoint = getattr(event.storefront, "notification_endpoint", None)
    if endpoint is None:
        StorefrontEvent.objects.filter(pk=event_pk, claim=claim).update(
            delivery=Delivery.NO_ENDPOINT, claimed_until=None, next_attempt_at=None
        )
        return Delivery.NO_ENDPOINT
    try:
        answer = _post(endpoint, event)
        return _record(event, endpoint, claim, answer)
    finally:
        _release(event_pk, claim)


def _post(endpoint: NotificationEndpoint, event: StorefrontEvent) -> Answer:
    try:
        check_notification_url(endpoint.url, allow_private=settings.NOTIFY_ALLOW_PRIVATE_URLS)
    except UrlRefused as exc:
        return Answer(ok=False, error=f"not sent: {exc}")
    now = timezone.now()
    payload = json.dumps(event.body, ensure_ascii=False, separators=(",", ":"))
    signature = " ".join(
        Webhook(secret).sign(event.public_id, now, payload) for secret in signing_secrets(endpoint, now)
    )
    headers = {
        "content-type": "application/json", "user-agent": USER_AGENT, "webhook-id": event.public_id,
        "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature,
    }
    started = time.monotonic()
    try:
        # A session of its own per delivery: no cookie jar shared between storefronts. With the
        # SSRF filter on, requests-hardened connects to the address it checked (no DNS rebinding).
        with _session() as http, http.post(
            endpoint.url, data=payload.encode(), headers=headers, allow_redirects=False, stream=True,
            timeout=(settings.NOTIFY_TIMEOUT, settings.NOTIFY_TIMEOUT),
        ) as response:
            excerpt = next(response.iter_content(500, decode_unicode=False), b"")[:500].decode("utf-8", "replace")
    except Exception as exc:  # noqa: BLE001 (a refused address, a timeout, the task's time limit: all a failed try)
        return Answer(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
    took = time.monotonic() - started
    if took > settings.NOTIFY_TIMEOUT:
        return Answer(ok=False, status_code=response.status_code, excerpt=excerpt,
                      error=f"answered after {took:.1f} s; a delivery counts within {settings.NOTIFY_TIMEOUT:g} s")
    return Answer(ok=200 <= response.status_code < 300, status_code=response.status_code, excerpt=excerpt)


def _session() -> requests.Session:
    http = HTTPSession(Config(
        ip_filter_enable=not settings.NOTIFY_ALLOW_PRIVATE_URLS, ip_filter_allow_loopback_ips=False,
        never_redirect=True, default_timeout=(settings.NOTIFY_TIMEOUT, settings.NOTIFY_TIMEOUT),
    ))
    http.trust_env = False  # no proxy, netrc or CA settings from the environment: nothing of ours goes out
    return http


def _record(event: StorefrontEvent, endpoint: NotificationEndpoint, claim: int, answer: Answer) -> str:
    now = timezone.now()
    with transaction.atomic():
        rows = StorefrontEvent.objects.select_for_update().filter(pk=event.pk, claim=claim, delivery=Delivery.PENDING)
        current = rows.first()
        if current is None:
            return "claim lost"  # staff sent it again, or a newer claim took it, meanwhile
        current.attempts += 1
        current.last_attempt_at, current.last_status_code = now, answer.status_code
        current.last_answer, current.last_error = answer.excerpt, answer.error
        current.claimed_until = None
        if current.send_again:  # staff asked for one more while this try was in flight: a fresh run, now
            current.send_again, current.attempts, current.next_attempt_at = False, 0, now
            current.delivered_at = now if answer.ok else current.delivered_at
        elif answer.ok:
            current.delivery, current.delivered_at, current.next_attempt_at = Delivery.DELIVERED, now, None
        elif current.attempts > len(RETRY_DELAYS):
            current.delivery, current.next_attempt_at = Delivery.GIVEN_UP, None
            logger.warning("storefront event %s given up after %s tries", current.public_id, current.attempts)
        else:
            current.next_attempt_at = now + RETRY_DELAYS[current.attempts - 1] * settings.NOTIFY_RETRY_SCALE
        current.save()
        _endpoint_health(endpoint.pk, ok=answer.ok, now=now)
    return current.delivery


def _endpoint_health(endpoint_pk: int, *, ok: bool, now: datetime) -> None:
    endpoint = NotificationEndpoint.objects.select_for_update().get(pk=endpoint_pk)
    if ok:
        if endpoint.failing_since is not None:
            endpoint.failing_since = None
            endpoint.save(update_fields=["failing_since", "updated_at"])
        return
    endpoint.failing_since = endpoint.failing_since or now
    if endpoint.disabled_at is None and now - endpoint.failing_since >= settings.NOTIFY_DISABLE_AFTER:
        endpoint.disabled_at = now
        logger.error("notifications to %s disabled: failing since %s", endpoint.url, endpoint.failing_since)
    endpoint.save(update_fields=["failing_since", "disabled_at", "updated_at"])


def endpoints_disable_failing(*, now: datetime) -> int:
    """Disable the endpoints failing for NOTIFY_DISABLE_AFTER, even those with nothing left to send
    (their last event given up): run by every sweep. Returns how many were disabled."""
    cutoff = now - settings.NOTIFY_DISABLE_AFTER
    failing = NotificationEndpoint.objects.filter(disabled_at__isnull=True, failing_since__lte=cutoff)
    return failing.update(disabled_at=now)


def events_send_again(*, event_pks: list[int]) -> int:
    """Staff's "send again": each event is due now with a fresh run of retries, whatever became of
    it (delivered, given up, or still retrying). An event in flight keeps its claim: that delivery's
    outcome is still recorded, its endpoint stays busy until it ends, and then the event goes again
    with a fresh run. Returns how many will go."""
    now = timezone.now()
    with_endpoint = NotificationEndpoint.objects.values("storefront_id")
    chosen = StorefrontEvent.objects.filter(pk__in=event_pks, storefront_id__in=with_endpoint)
    in_flight = chosen.filter(delivery=Delivery.PENDING, claimed_until__gt=now).update(send_again=True)
    return in_flight + chosen.exclude(delivery=Delivery.PENDING, claimed_until__gt=now).update(
        delivery=Delivery.PENDING, attempts=0, next_attempt_at=now, claimed_until=None, claim=F("claim") + 1,
    )
