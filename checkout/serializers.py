"""What the storefront API reads and writes. Parsing only: the rules live in the services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from checkout.models import Checkout
from payments.documents import checkout_document
from payments.models import PaymentAttempt, Refund
from payments.money import InvalidMoney, format_amount, parse_amount


class StrictString(serializers.CharField):
    """A JSON string and nothing else: DRF's CharField would turn 12.5 into "12.5"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo is an error instead of silently ignored."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return attrs


class CheckoutCreateInput(StrictSerializer):
    amount = StrictString(help_text='A decimal string with the currency\'s digits: "12.50" EUR, "1200" JPY.')
    currency = StrictString(min_length=3, max_length=3, help_text="ISO 4217, upper case.")
    description = StrictString(required=False, allow_blank=True, max_length=255, default="")
    reference = StrictString(required=False, allow_blank=True, max_length=100, default="")
    success_url = StrictString(required=False, allow_blank=True, max_length=2000, default="")
    failure_url = StrictString(required=False, allow_blank=True, max_length=2000, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        try:
            attrs["amount"] = parse_amount(attrs["amount"], attrs["currency"])
        except InvalidMoney as exc:
            raise serializers.ValidationError({exc.field: [str(exc)]}) from None
        return attrs


class BuyNowInput(StrictSerializer):
    token = StrictString(max_length=128)
    payment_method = StrictString(max_length=64)


class RefundInput(StrictSerializer):
    amount = StrictString(help_text="In the checkout's currency, with its digits.")
    reason = StrictString(required=False, allow_blank=True, max_length=255, default="")


def parse_refund_amount(text: str, currency: str) -> Any:
    try:
        return parse_amount(text, currency)
    except InvalidMoney as exc:
        raise serializers.ValidationError({"amount": [str(exc)]}) from None


class PaymentOutput(serializers.ModelSerializer):
    failure_code = serializers.SerializerMethodField()
    refunded_amount = serializers.SerializerMethodField()

    class Meta:
        model = PaymentAttempt
        fields = ["id", "status", "payment_method", "failure_code", "psp_payment_id", "refunded_amount",
                  "created_at", "updated_at"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_failure_code(self, attempt: PaymentAttempt) -> str | None:
        return attempt.failure_code or None

    @extend_schema_field(serializers.CharField())
    def get_refunded_amount(self, attempt: PaymentAttempt) -> str:
        return format_amount(attempt.refunded_amount, attempt.currency)


class CheckoutOutput(serializers.ModelSerializer):
    """The schema of the checkout object; the object itself is `payments.documents.checkout_document`,
    the one rendering that the API and the storefront events share."""

    amount = serializers.CharField()
    token = serializers.CharField(source="psp_token")
    purchase_url = serializers.URLField()
    payment = PaymentOutput(allow_null=True)

    class Meta:
        model = Checkout
        fields = ["id", "status", "amount", "currency", "description", "reference", "token", "purchase_url",
                  "expires_at", "created_at", "payment"]

    def to_representation(self, checkout: Checkout) -> dict[str, Any]:
        return checkout_document(checkout, new=self.context.get("new", False))


class AttemptBrief(serializers.ModelSerializer):
    failure_code = serializers.SerializerMethodField()

    class Meta:
        model = PaymentAttempt
        fields = ["id", "status", "failure_code"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_failure_code(self, attempt: PaymentAttempt) -> str | None:
        return attempt.failure_code or None


class BuyNowOutput(serializers.Serializer):
    checkout_id = serializers.UUIDField()
    attempt = AttemptBrief()
    redirect_url = serializers.URLField()


class RefundOutput(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()
    failure_code = serializers.SerializerMethodField()

    class Meta:
        model = Refund
        fields = ["id", "status", "amount", "currency", "reason", "failure_code", "psp_refund_id", "created_at",
                  "updated_at"]

    @extend_schema_field(serializers.CharField())
    def get_amount(self, refund: Refund) -> str:
        return format_amount(refund.amount, refund.currency)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_failure_code(self, refund: Refund) -> str | None:
        return refund.failure_code or None


class ErrorDetail(serializers.Serializer):
    code = serializers.RegexField(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$", help_text="snake_case, stable: branch on it.")
    message = serializers.CharField(help_text="For people; may change.")
    # The contract names it `fields`; DRF's metaclass takes declared fields off the class, so the
    # Serializer.fields property is left as it was.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="The faulty input fields and what is wrong with each; {} when no field is at fault.",
    )


class ErrorOutput(serializers.Serializer):
    """Every refusal of the API, whatever its status: {"error": {"code", "message", "fields"}}."""

    error = ErrorDetail()


class EventOutput(serializers.Serializer):
    """A storefront event, as POSTed to the storefront's endpoint."""

    id = serializers.CharField(help_text="evt_…; the same id may arrive twice.")
    type = serializers.CharField()
    created_at = serializers.DateTimeField()
    sequence = serializers.IntegerField(help_text="Grows with every event of one checkout: drop an older one.")
    # The contract names it `data`; as with ErrorDetail.fields, the declared field is taken off the class.
    data = CheckoutOutput()  # type: ignore[assignment]


class EventPageOutput(serializers.Serializer):
    data = EventOutput(many=True)  # type: ignore[assignment]
    has_more = serializers.BooleanField()
