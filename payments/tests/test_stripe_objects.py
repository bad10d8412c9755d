"""The Stripe test objects use only what Stripe documents: property names, required fields and enum values from
spec3.json, as copied into stripe_schema_fields.json (no network at test time)."""

from __future__ import annotations

from typing import Any

import pytest

from payments.tests import stripe_objects as so

SCHEMA = so.SCHEMA
PROPERTIES: dict[str, list[str]] = SCHEMA["properties"]
ENUMS: dict[str, list[str]] = SCHEMA["enums"]


def assert_documented(schema: str, obj: dict[str, Any]) -> None:
    undocumented = set(obj) - set(PROPERTIES[schema])
    assert not undocumented, f"{schema} has fields the spec does not list: {sorted(undocumented)}"
    missing = set(SCHEMA["required"].get(schema, [])) - set(obj)
    assert not missing, f"{schema} lacks required fields: {sorted(missing)}"


def assert_money_and_metadata(obj: dict[str, Any]) -> None:
    for field in ("amount", "amount_captured", "amount_capturable", "amount_received", "amount_refunded"):
        if field in obj:
            assert type(obj[field]) is int, f"{field} must be an integer in minor units"
    assert obj["currency"] == obj["currency"].lower() and len(obj["currency"]) == 3
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in obj["metadata"].items())


def assert_api_error(error: dict[str, Any]) -> None:
    assert_documented("api_errors", error)
    assert error["type"] in ENUMS["api_errors.type"]
    if isinstance(error.get("payment_method"), dict):
        assert_documented("payment_method", error["payment_method"])
    if isinstance(error.get("payment_intent"), dict):
        assert_payment_intent(error["payment_intent"])


def assert_charge(charge: dict[str, Any]) -> None:
    assert_documented("charge", charge)
    assert_money_and_metadata(charge)
    assert charge["status"] in ENUMS["charge.status"]


def assert_payment_intent(pi: dict[str, Any]) -> None:
    assert_documented("payment_intent", pi)
    assert_money_and_metadata(pi)
    assert pi["status"] in ENUMS["payment_intent.status"]
    assert pi["cancellation_reason"] in [None, *ENUMS["payment_intent.cancellation_reason"]]
    if pi["next_action"] is not None:
        assert_documented("payment_intent_next_action", pi["next_action"])
        assert_documented("payment_intent_next_action_redirect_to_url", pi["next_action"]["redirect_to_url"])
    if pi["last_payment_error"] is not None:
        assert_api_error(pi["last_payment_error"])
    if isinstance(pi["latest_charge"], dict):
        assert_charge(pi["latest_charge"])


def assert_refund(refund: dict[str, Any]) -> None:
    assert_documented("refund", refund)
    assert_money_and_metadata(refund)
    assert refund["status"] in ENUMS["refund.status"]
    assert refund["reason"] in [None, *ENUMS["refund.reason"]]
    assert ("failure_reason" in refund) == (refund["status"] == "failed")
    if "failure_reason" in refund:
        assert refund["failure_reason"] in ENUMS["refund.failure_reason"]


PAYMENT_INTENTS = {
    "requires_payment_method": so.pi_requires_payment_method(),
    "requires_confirmation": so.pi_requires_confirmation(),
    "requires_action": so.pi_requires_action(),
    "processing": so.pi_processing(),
    "succeeded": so.pi_succeeded(),
    "succeeded, partly refunded": so.pi_succeeded(amount_refunded=500, metadata={"attempt_id": "42"}),
    "declined": so.pi_declined(),
    "authentication failed": so.pi_authentication_failed(),
    "canceled": so.pi_canceled(),
}
REFUNDS = {
    "pending": so.refund_pending(),
    "requires_action": so.refund_requires_action(),
    "succeeded": so.refund_succeeded(reason="requested_by_customer"),
    "failed": so.refund_failed(),
    "canceled": so.refund_canceled(),
}


@pytest.mark.parametrize("case", PAYMENT_INTENTS)
def test_payment_intents_are_documented(case: str) -> None:
    assert_payment_intent(PAYMENT_INTENTS[case])


def test_payment_intent_states_carry_what_the_mapping_reads() -> None:
    action = PAYMENT_INTENTS["requires_action"]["next_action"]
    assert action["type"] == "redirect_to_url" and set(action["redirect_to_url"]) == {"url", "return_url"}
    paid = PAYMENT_INTENTS["succeeded, partly refunded"]
    assert paid["latest_charge"]["amount_refunded"] == 500 and paid["latest_charge"]["refunded"] is False
    assert so.pi_succeeded(amount_refunded=1099)["latest_charge"]["refunded"] is True
    declined = PAYMENT_INTENTS["declined"]
    assert declined["status"] == "requires_payment_method" and declined["payment_method"] is None
    assert declined["last_payment_error"]["code"] == "card_declined"
    assert declined["last_payment_error"]["decline_code"] == "insufficient_funds"
    failed_3ds = PAYMENT_INTENTS["authentication failed"]["last_payment_error"]
    assert failed_3ds["code"] == "payment_intent_authentication_failure"
    assert PAYMENT_INTENTS["canceled"]["cancellation_reason"] == "abandoned"


def test_charges_are_documented() -> None:
    assert_charge(so.charge())
    declined = so.charge_declined()
    assert_charge(declined)
    assert declined["status"] == "failed" and declined["failure_code"] == "card_declined"


@pytest.mark.parametrize("status", REFUNDS)
def test_refunds_are_documented(status: str) -> None:
    assert_refund(REFUNDS[status])
    assert REFUNDS[status]["status"] == status


@pytest.mark.parametrize(
    ("builder", "schema"),
    [(so.payment_intent, "payment_intent"), (so.charge, "charge"), (so.refund, "refund"),
     (so.payment_method, "payment_method")],
)
def test_builders_keep_every_field_of_the_documented_example(builder: Any, schema: str) -> None:
    example = set(SCHEMA["example_fields"][schema])
    # The examples carry `source` on the PaymentIntent and the Charge; spec3.json does not list it.
    assert example - set(PROPERTIES[schema]) <= {"source"}
    assert example & set(PROPERTIES[schema]) <= set(builder())


def test_events_are_documented() -> None:
    objects = {"payment_intent": so.pi_succeeded(), "charge": so.charge(amount_refunded=1099, refunded=True),
               "refund": so.refund_failed()}
    for event_type in SCHEMA["event_types"]:
        obj = objects[event_type.split(".")[0]]
        event = so.event(event_type, obj, previous_attributes={"status": "pending"}, pending_webhooks=0)
        assert_documented("event", event)
        assert_documented("notification_event_data", event["data"])
        assert_documented("notification_event_request", event["request"])
        assert event["api_version"] == SCHEMA["api_version"] and event["data"]["object"] == obj
    assert set(so.event("refund.created", so.refund())) == set(SCHEMA["example_fields"]["event"])


def test_event_refuses_a_type_or_object_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="event type"):
        so.event("payment_intent.created", so.payment_intent())
    with pytest.raises(ValueError, match="carries a refund"):
        so.event("refund.updated", so.charge())


ERROR_BODIES = {
    "card_error 402": so.card_declined_body(),
    "idempotency_error 400": so.idempotency_error_body("attempt-42-confirm"),
    "rate limit 429": so.rate_limit_body(),
    "api_error 500": so.api_error_body(),
    "resource_missing 404": so.resource_missing_body(),
    "idempotency_key_in_use 409": so.idempotency_key_in_use_body("bps-payment-42"),
    "invalid API key 401": so.invalid_api_key_body(),
    "invalid_request_error 400": so.error_body("invalid_request_error", "parameter_invalid_integer",
                                               "Invalid integer: 12.5", param="amount"),
}


@pytest.mark.parametrize("case", ERROR_BODIES)
def test_error_bodies_are_documented(case: str) -> None:
    body = ERROR_BODIES[case]
    assert_documented("error", body)
    assert_api_error(body["error"])
    assert None not in body["error"].values()


def test_card_error_body_carries_the_declined_payment_intent() -> None:
    error = ERROR_BODIES["card_error 402"]["error"]
    assert (error["type"], error["code"]) == ("card_error", "card_declined")
    assert error["decline_code"] == "insufficient_funds"
    assert error["payment_intent"]["last_payment_error"]["charge"] == error["charge"]
    assert ERROR_BODIES["rate limit 429"]["error"]["code"] == "rate_limit"


def test_an_undocumented_field_is_refused() -> None:
    with pytest.raises(ValueError, match="charges"):
        so.payment_intent(charges={"data": []})  # removed from PaymentIntent in API version 2022-11-15
    with pytest.raises(ValueError, match="rate_limited"):
        so.error_body("invalid_request_error", "rate_limit", "slow down", rate_limited=True)


def test_the_extracted_lists_are_as_spec3_writes_them() -> None:
    for schema, names in PROPERTIES.items():
        assert names == sorted(set(names)), f"{schema}: spec3.json lists properties sorted and once"
        assert set(SCHEMA["required"].get(schema, [])) <= set(names)
