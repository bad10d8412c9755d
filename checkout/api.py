"""The storefront API (server to server) and the shopper's JSON Buy Now. Thin: parse, call one
service, answer."""

from __future__ import annotations

import re
import uuid
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from checkout.api_keys import caller_api_key, caller_storefront
from checkout.idempotency import idempotent
from checkout.models import Checkout, Storefront
from checkout.navigation import next_url_after_buy_now
from checkout.serializers import (
    BuyNowInput,
    BuyNowOutput,
    CheckoutCreateInput,
    CheckoutOutput,
    ErrorOutput,
    EventPageOutput,
    RefundInput,
    RefundOutput,
    parse_refund_amount,
)
from checkout.services import checkout_create
from payments.buy_now import attempt_buy_now
from payments.refunds import refund_create
from payments.selectors import storefront_events_after
from payments.transitions import Cause
from paysite.api_errors import ApiError, NotFound

EVENTS_PAGE_SIZE = 100
EVENT_ID = re.compile(r"evt_[0-9a-f]{32}")

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", {"type": "string", "pattern": r"^[\x20-\x7e]{1,255}$"},  # what checkout.idempotency accepts
    OpenApiParameter.HEADER, required=False,
    description="Replays the first answer for the same body; 422 for another body; 409 while in flight.",
)

# What each refusal means, for the schema: the status codes each operation really answers with.
_REFUSALS = {
    400: "Invalid input (`invalid_request`, `invalid_amount`, `invalid_currency`, `invalid_payment_method`); "
         "`fields` names the faulty fields.",
    401: "`unauthorized`: missing or wrong API key.",
    403: "`forbidden`: the token is not this checkout's.",
    404: "`not_found`: no checkout has this id.",
    409: "A state that forbids the request (`idempotency_key_in_use`, `checkout_expired`, `checkout_refunded`, "
         "`not_refundable`, `refund_exceeds_payment`).",
    413: "`payload_too_large`: the body is over the limit.",
    415: "`unsupported_media_type`: the body is not sent as application/json.",
    422: "`idempotency_key_reused`: this Idempotency-Key came with another request.",
    503: "`psp_unavailable`: the PSP cannot be reached or refused to register the payment; nothing was stored.",
}


def refusals(*statuses: int) -> dict[int, OpenApiResponse]:
    return {status_code: OpenApiResponse(ErrorOutput, description=_REFUSALS[status_code]) for status_code in statuses}


def _checkout_or_404(checkout_id: uuid.UUID, storefront: Storefront) -> Checkout:
    """The storefront's own checkout: another storefront's is answered exactly as a missing one."""
    try:
        return Checkout.objects.get(id=checkout_id, storefront=storefront)
    except Checkout.DoesNotExist:
        raise NotFound("No checkout has this id.") from None


def _valid(serializer_class: type, data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class CheckoutCollection(APIView):
    @extend_schema(
        request=CheckoutCreateInput, parameters=[IDEMPOTENCY_HEADER],
        responses={201: CheckoutOutput, **refusals(400, 401, 409, 413, 415, 422, 503)},
    )
    @idempotent
    def post(self, request: Request, *, resource_id: uuid.UUID, resumable: bool) -> Response:
        data = _valid(CheckoutCreateInput, request.data)
        api_key = caller_api_key(request)
        checkout = checkout_create(
            **data, checkout_id=resource_id, resumable=resumable, storefront=api_key.storefront, api_key=api_key,
            cause=Cause(kind="api", reference=api_key.name),
        )
        # Not resumable: the id was drawn for this request, so the checkout is new and has no payment.
        # (A takeover that stored it meanwhile answers as of its creation; GET shows any payment since.)
        return Response(CheckoutOutput(checkout, context={"new": not resumable}).data, status=status.HTTP_201_CREATED)


class CheckoutDetail(APIView):
    @extend_schema(responses={200: CheckoutOutput, **refusals(401, 404)})
    def get(self, request: Request, checkout_id: uuid.UUID) -> Response:
        return Response(CheckoutOutput(_checkout_or_404(checkout_id, caller_storefront(request))).data)


class CheckoutRefunds(APIView):
    @extend_schema(
        request=RefundInput, parameters=[IDEMPOTENCY_HEADER],
        responses={201: RefundOutput, **refusals(400, 401, 404, 409, 413, 415, 422)},
    )
    @idempotent
    def post(self, request: Request, checkout_id: uuid.UUID, *, resource_id: uuid.UUID, resumable: bool) -> Response:
        del resumable  # refund_create looks for a refund of that id under the checkout's lock in any case
        data = _valid(RefundInput, request.data)
        checkout = _checkout_or_404(checkout_id, caller_storefront(request))
        refund = refund_create(
            checkout_id=checkout.id, amount=parse_refund_amount(data["amount"], checkout.currency),
            reason=data["reason"], cause=Cause(kind="api", reference=caller_api_key(request).name),
            refund_id=resource_id,
        )
        return Response(RefundOutput(refund).data, status=status.HTTP_201_CREATED)


class BuyNow(APIView):
    """The shopper's browser pays; the checkout's token is its proof, so no API key."""

    authentication_classes: list[type] = []
    permission_classes: list[type] = []

    @extend_schema(
        request=BuyNowInput,
        responses={200: BuyNowOutput, 201: BuyNowOutput, **refusals(400, 403, 404, 409, 413, 415)},
    )
    def post(self, request: Request, checkout_id: uuid.UUID) -> Response:
        data = _valid(BuyNowInput, request.data)
        result = attempt_buy_now(checkout_id=checkout_id, cause=Cause(kind="shopper"), **data)
        attempt = result.attempt
        body = {
            "checkout_id": checkout_id,
            "attempt": attempt,
            "redirect_url": next_url_after_buy_now(attempt.checkout, attempt),
        }
        return Response(
            BuyNowOutput(body).data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        )


class StorefrontEvents(APIView):
    """The caller's own storefront events, oldest first, after the one named by `after`."""

    @extend_schema(
        parameters=[OpenApiParameter("after", str, required=False,
                                     description="An event id (evt_…): list the events after it; none for the first.")],
        responses={200: EventPageOutput, **refusals(400, 401, 404)},
    )
    def get(self, request: Request) -> Response:
        after = request.query_params.get("after", "")
        if after and not EVENT_ID.fullmatch(after):
            raise ApiError("after must be an event id (evt_…).", fields={"after": ["Not an event id."]})
        storefront = caller_storefront(request)
        found = storefront_events_after(storefront_id=storefront.id, after=after, limit=EVENTS_PAGE_SIZE)
        if found is None:
            raise NotFound("No event of yours has this id.")
        events, has_more = found
        return Response({"data": events, "has_more": has_more})
