"""The storefront API (server to server) and the shopper's JSON Buy Now. Thin: parse, call one
service, answer."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
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
    RefundInput,
    RefundOutput,
    parse_refund_amount,
)
from checkout.services import checkout_create
from payments.buy_now import attempt_buy_now
from payments.refunds import refund_create
from payments.transitions import Cause
from paysite.api_errors import NotFound

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
    description="Replays the first answer for the same body; 422 for another body; 409 while in flight.",
)


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
    @extend_schema(request=CheckoutCreateInput, responses={201: CheckoutOutput}, parameters=[IDEMPOTENCY_HEADER])
    @idempotent
    def post(self, request: Request, *, resource_id: uuid.UUID) -> Response:
        data = _valid(CheckoutCreateInput, request.data)
        api_key = caller_api_key(request)
        checkout = checkout_create(
            **data, checkout_id=resource_id, storefront=api_key.storefront, api_key=api_key,
            cause=Cause(kind="api", reference=api_key.name),
        )
        return Response(CheckoutOutput(checkout).data, status=status.HTTP_201_CREATED)


class CheckoutDetail(APIView):
    @extend_schema(responses={200: CheckoutOutput})
    def get(self, request: Request, checkout_id: uuid.UUID) -> Response:
        return Response(CheckoutOutput(_checkout_or_404(checkout_id, caller_storefront(request))).data)


class CheckoutRefunds(APIView):
    @extend_schema(request=RefundInput, responses={201: RefundOutput}, parameters=[IDEMPOTENCY_HEADER])
    @idempotent
    def post(self, request: Request, checkout_id: uuid.UUID, *, resource_id: uuid.UUID) -> Response:
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

    @extend_schema(request=BuyNowInput, responses={200: BuyNowOutput, 201: BuyNowOutput})
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
