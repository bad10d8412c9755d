"""Stripe API objects as plain dicts, for the Stripe adapter's tests (served with `responses`).

Where the shapes come from: Stripe's OpenAPI repository, stripe/openapi at commit 19be337d65af
("Update OpenAPI for 2026-07-29.dahlia"):
- `openapi/fixtures3.json` holds an example object of each resource. Each builder below starts from that
  example, field for field, and then sets only documented fields to the values its case needs.
- `latest/openapi.spec3.json` (info.version 2026-07-29.dahlia) holds the schemas. The property names, the
  required fields and the enums used here are copied into `stripe_schema_fields.json`, and
  `test_stripe_objects.py` checks every builder against them: no field that the spec does not list.

What differs from the examples, and why:
- `source` is left out of the PaymentIntent and the Charge: the examples carry it but spec3.json does not list it.
- The examples fill nullable fields with placeholder values that would contradict the case (a `canceled_at`, a
  `last_payment_error` of type idempotency_error and a `next_action` of type "type" on a fresh PaymentIntent; a
  Connect `transfer_data`; a receipt URL on a Stripe-internal host). Those are null here unless a case sets them.
- Amounts are integers in the currency's minor unit (docs/stripe-currencies.md), currencies are lowercase,
  metadata values are strings.
- Error `message`s are the texts Stripe sends as seen in published responses; they are prose, not contract:
  an adapter (and its tests) must branch on `type`, `code` and `decline_code`, never on `message`.

API version: API_VERSION is the version of the spec read. stripe==16.1.0 (requirements.txt) sends its own
pinned Stripe-Version (2026-10-28.endive) unless the adapter sets one; every field name used here is also in that
SDK's generated classes.

HTTP status to serve each error body with: card_error 402, idempotency_error 400, rate limit 429, api_error 500,
invalid_request_error 400 (404 for resource_missing, 409 for idempotency_key_in_use, 401 for an invalid API key).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

JsonObject = dict[str, Any]

API_VERSION = "2026-07-29.dahlia"
CREATED = 1234567890  # the examples' timestamp

PI_ID = "pi_1PgafyB7WZ01zgkWSjxsAJo3"
CHARGE_ID = "ch_1PgafuB7WZ01zgkWXYmPNZs8"
REFUND_ID = "re_1Pgc72B7WZ01zgkWqPvrRrPE"
EVENT_ID = "evt_1Pgc76B7WZ01zgkWwyRHS12y"
PM_ID = "pm_1Pgc75B7WZ01zgkWlHVgdEGJ"

# Stripe's messages for card declines: the one for insufficient funds, and the one for the rest.
DECLINE_MESSAGES = {"insufficient_funds": "Your card has insufficient funds."}
DECLINED = "Your card was declined."

SCHEMA = json.loads(Path(__file__).with_name("stripe_schema_fields.json").read_text())


def _build(schema: str, base: JsonObject, overrides: dict[str, Any]) -> JsonObject:
    """`base` with `overrides` applied; an override the spec does not list for `schema` is a mistake."""
    undocumented = set(overrides) - set(SCHEMA["properties"][schema])
    if undocumented:
        raise ValueError(f"not a documented {schema} field: {', '.join(sorted(undocumented))}")
    obj = copy.deepcopy(base)
    obj.update(overrides)
    return obj


def _address() -> JsonObject:
    return {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None}


def _billing_details() -> JsonObject:
    return {"address": _address(), "email": None, "name": "Jenny Rosen", "phone": None, "tax_id": None}


# --- PaymentMethod (only inside last_payment_error and error bodies) ---------------------------------------------

def payment_method(**overrides: Any) -> JsonObject:
    """A card PaymentMethod, as the example (`last_payment_error.payment_method` is the whole object)."""
    base: JsonObject = {
        "allow_redisplay": "unspecified",
        "billing_details": _billing_details(),
        "card": {
            "brand": "visa",
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": "US",
            "display_brand": "visa",
            "exp_month": 8,
            "exp_year": 2030,
            "fingerprint": "AOB934RVNwzk6xtn",
            "funding": "credit",
            "generated_from": None,
            "last4": "4242",
            "networks": {"available": ["visa"], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
            "regulated_status": None,
        },
        "created": CREATED,
        "customer": None,
        "id": PM_ID,
        "livemode": False,
        "metadata": {},
        "object": "payment_method",
        "type": "card",
        "customer_account": None,
    }
    return _build("payment_method", base, overrides)


# --- Charge -------------------------------------------------------------------------------------------------------

def charge(**overrides: Any) -> JsonObject:
    """A captured card Charge of a PaymentIntent; `amount_refunded`/`refunded` as the case sets them."""
    base: JsonObject = {
        "amount": 1099,
        "amount_captured": 1099,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": "txn_1PgaxNB7WZ01zgkWEV3TLf40",
        "billing_details": _billing_details(),
        "calculated_statement_descriptor": None,
        "captured": True,
        "created": CREATED,
        "currency": "usd",
        "customer": None,
        "description": None,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "id": CHARGE_ID,
        "livemode": False,
        "metadata": {},
        "object": "charge",
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "seller_message": None,
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": PI_ID,
        "payment_method": PM_ID,
        "payment_method_details": {
            "card": {
                "amount_authorized": 1099,
                "brand": "visa",
                "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
                "country": "US",
                "exp_month": 8,
                "exp_year": 2030,
                "extended_authorization": {"status": "disabled"},
                "fingerprint": "AOB934RVNwzk6xtn",
                "funding": "credit",
                "incremental_authorization": {"status": "unavailable"},
                "installments": None,
                "last4": "4242",
                "mandate": None,
                "multicapture": {"status": "unavailable"},
                "network": "visa",
                "network_token": {"used": False},
                "overcapture": {"maximum_amount_capturable": 1099, "status": "unavailable"},
                "three_d_secure": None,
                "wallet": None,
                "authorization_code": None,
                "regulated_status": None,
                "network_transaction_id": None,
                "transaction_link_id": None,
            },
            "type": "card",
        },
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "refunds": {"data": [], "has_more": False, "object": "list", "url": f"/v1/charges/{CHARGE_ID}/refunds"},
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }
    return _build("charge", base, overrides)


def charge_declined(decline_code: str = "insufficient_funds", **overrides: Any) -> JsonObject:
    """The failed Charge of an issuer decline: `failure_code` card_declined, the issuer's reason in `outcome`."""
    fields: dict[str, Any] = {
        "amount_captured": 0, "balance_transaction": None, "captured": False, "paid": False, "status": "failed",
        "failure_code": "card_declined", "failure_message": DECLINE_MESSAGES.get(decline_code, DECLINED),
        "outcome": {
            "advice_code": None, "network_advice_code": None, "network_decline_code": None,
            "network_status": "declined_by_network", "reason": decline_code, "seller_message": None,
            "type": "issuer_declined",
        },
    }
    fields.update(overrides)
    return charge(**fields)


# --- PaymentIntent ------------------------------------------------------------------------------------------------

def payment_intent(**overrides: Any) -> JsonObject:
    """A fresh PaymentIntent (`requires_payment_method`, nothing attempted yet)."""
    base: JsonObject = {
        "amount": 1099,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": {"enabled": True},
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": None,
        "confirmation_method": "automatic",
        "created": CREATED,
        "currency": "usd",
        "customer": None,
        "description": None,
        "id": PI_ID,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": {},
        "next_action": None,
        "object": "payment_intent",
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
        "excluded_payment_method_types": None,
        "customer_account": None,
        "managed_payments": None,
    }
    obj = _build("payment_intent", base, overrides)
    if "client_secret" not in overrides:
        obj["client_secret"] = f"{obj['id']}_secret_Dm43xiq1k0ywrRRjDoi8y1gkM"
    return obj


def pi_requires_payment_method(**overrides: Any) -> JsonObject:
    """Fresh: created, no payment method yet (the same as `payment_intent()`)."""
    return payment_intent(**overrides)


def pi_requires_confirmation(**overrides: Any) -> JsonObject:
    """A payment method attached, not confirmed yet."""
    return payment_intent(**{"status": "requires_confirmation", "payment_method": PM_ID, **overrides})


def pi_requires_action(
    url: str = "https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1&payment_intent=" + PI_ID,
    return_url: str = "https://shop.example/checkout/return",
    **overrides: Any,
) -> JsonObject:
    """Confirmed; the shopper must be sent to `url` (3D Secure or a bank page) and comes back to `return_url`."""
    next_action = {"type": "redirect_to_url", "redirect_to_url": {"url": url, "return_url": return_url}}
    return payment_intent(
        **{"status": "requires_action", "payment_method": PM_ID, "next_action": next_action, **overrides}
    )


def pi_processing(**overrides: Any) -> JsonObject:
    """Confirmed; the payment method's answer is still outstanding (`processing` as in the example)."""
    return payment_intent(
        **{"status": "processing", "payment_method": PM_ID, "processing": {"type": "card"}, **overrides}
    )


def pi_succeeded(amount_refunded: int = 0, **overrides: Any) -> JsonObject:
    """Paid; `latest_charge` expanded to the Charge (as with `expand[]=latest_charge`), refunds in `amount_refunded`."""
    amount = overrides.get("amount", 1099)
    currency = overrides.get("currency", "usd")
    pi_id = overrides.get("id", PI_ID)
    paid_charge = charge(
        amount=amount, amount_captured=amount, currency=currency, payment_intent=pi_id,
        amount_refunded=amount_refunded, refunded=amount_refunded == amount,
    )
    return payment_intent(
        **{"status": "succeeded", "amount_received": amount, "payment_method": PM_ID, "latest_charge": paid_charge,
           **overrides}
    )


def card_declined_error(decline_code: str = "insufficient_funds", charge_id: str = CHARGE_ID) -> JsonObject:
    """The `api_errors` object of an issuer decline (as `last_payment_error` and inside a 402 body)."""
    return {
        "charge": charge_id,
        "code": "card_declined",
        "decline_code": decline_code,
        "message": DECLINE_MESSAGES.get(decline_code, DECLINED),
        "payment_method": payment_method(),
        "type": "card_error",
    }


def pi_declined(decline_code: str = "insufficient_funds", **overrides: Any) -> JsonObject:
    """Back to `requires_payment_method` after a decline: the PaymentMethod is detached, the error says why."""
    return payment_intent(
        **{"latest_charge": CHARGE_ID, "last_payment_error": card_declined_error(decline_code), **overrides}
    )


def pi_authentication_failed(**overrides: Any) -> JsonObject:
    """Back to `requires_payment_method` after the shopper failed (or abandoned) 3D Secure."""
    error = {
        "code": "payment_intent_authentication_failure",
        "message": "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new "
                   "PaymentMethod to attempt to fulfill this PaymentIntent again.",
        "payment_method": payment_method(),
        "type": "invalid_request_error",
    }
    return payment_intent(**{"last_payment_error": error, **overrides})


def pi_canceled(cancellation_reason: str = "abandoned", **overrides: Any) -> JsonObject:
    """Canceled, by us (`abandoned`, `duplicate`, `fraudulent`, `requested_by_customer`) or by Stripe."""
    return payment_intent(
        **{"status": "canceled", "canceled_at": CREATED + 600, "cancellation_reason": cancellation_reason,
           **overrides}
    )


# --- Refund -------------------------------------------------------------------------------------------------------

def refund(**overrides: Any) -> JsonObject:
    """A full card Refund of the example PaymentIntent's Charge, `succeeded`."""
    base: JsonObject = {
        "amount": 1099,
        "balance_transaction": None,
        "charge": CHARGE_ID,
        "created": CREATED,
        "currency": "usd",
        "destination_details": {"card": {"type": "reversal"}, "type": "card"},
        "id": REFUND_ID,
        "metadata": {},
        "object": "refund",
        "payment_intent": PI_ID,
        "reason": None,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
        "customer": None,
        "customer_account": None,
        "payment_method": None,
    }
    return _build("refund", base, overrides)


def refund_pending(**overrides: Any) -> JsonObject:
    return refund(**{"status": "pending", **overrides})


def refund_requires_action(**overrides: Any) -> JsonObject:
    """Stripe needs something from the customer (payment methods without native refunds)."""
    return refund(**{"status": "requires_action", **overrides})


def refund_succeeded(**overrides: Any) -> JsonObject:
    return refund(**{"status": "succeeded", **overrides})


def refund_failed(failure_reason: str = "expired_or_canceled_card", **overrides: Any) -> JsonObject:
    """Failed after it was accepted; the money is back in the balance (`failure_balance_transaction`)."""
    return refund(
        **{"status": "failed", "failure_reason": failure_reason,
           "failure_balance_transaction": "txn_1Pgc7TB7WZ01zgkWfX0GkD6y", **overrides}
    )


def refund_canceled(**overrides: Any) -> JsonObject:
    return refund(**{"status": "canceled", **overrides})


# --- Event --------------------------------------------------------------------------------------------------------

def event(type: str, obj: JsonObject, previous_attributes: JsonObject | None = None, **overrides: Any) -> JsonObject:
    """A webhook Event carrying `obj` (a builder's output) as `data.object`.

    `type` must be one the adapter handles (stripe_schema_fields.json `event_types`) and name `obj`'s resource.
    `previous_attributes` goes into `data` (Stripe sends it on `*.updated` events).
    """
    if type not in SCHEMA["event_types"]:
        raise ValueError(f"not an event type the adapter handles: {type}")
    if type.split(".")[0] != obj["object"]:
        raise ValueError(f"a {type} event carries a {type.split('.')[0]}, not a {obj['object']}")
    data: JsonObject = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    base: JsonObject = {
        "api_version": API_VERSION,
        "created": CREATED,
        "data": data,
        "id": EVENT_ID,
        "livemode": False,
        "object": "event",
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }
    return _build("event", base, overrides)


# --- Error bodies -------------------------------------------------------------------------------------------------

def error_body(type: str, code: str | None, message: str, **extra: Any) -> JsonObject:
    """Stripe's error envelope `{"error": {...}}`; fields Stripe has no value for are absent, not null."""
    error: JsonObject = {"type": type, "message": message}
    if code is not None:
        error["code"] = code
    return {"error": _build("api_errors", error, extra)}


def card_declined_body(decline_code: str = "insufficient_funds", **pi_overrides: Any) -> JsonObject:
    """402 on confirm: the decline, with the PaymentIntent as it now is (Stripe includes it)."""
    error = card_declined_error(decline_code)
    intent = pi_declined(decline_code, **pi_overrides)
    return error_body(error.pop("type"), error.pop("code"), error.pop("message"), **error, payment_intent=intent)


def idempotency_error_body(key: str) -> JsonObject:
    """400: an Idempotency-Key reused with other parameters."""
    return error_body(
        "idempotency_error", None,
        f"Keys for idempotent requests can only be used with the same parameters they were first used with. "
        f"Try using a key other than '{key}' if you meant to execute a different request.",
    )


def rate_limit_body() -> JsonObject:
    """429."""
    return error_body(
        "invalid_request_error", "rate_limit",
        "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
    )


def api_error_body() -> JsonObject:
    """500 (or 502, 503, 504): a problem on Stripe's side."""
    return error_body("api_error", None, "An unknown error occurred")


def resource_missing_body(object_name: str = "payment_intent", object_id: str = PI_ID,
                          param: str = "intent") -> JsonObject:
    """404: no such object, e.g. a PaymentIntent id from another account or mode."""
    return error_body("invalid_request_error", "resource_missing", f"No such {object_name}: '{object_id}'", param=param)


def idempotency_key_in_use_body(key: str) -> JsonObject:
    """409: another request with the same Idempotency-Key is still being processed; nothing was saved for the key,
    so the same request may be sent again. Type, code, doc_url and message as in a published response (stripe-go's
    retry log, 2018): the error-codes list documents the code, not the type it comes with."""
    return error_body(
        "invalid_request_error", "idempotency_key_in_use",
        "There is currently another in-progress request using this Idempotent Key (that probably means you submitted "
        f"twice, and the other request is still going through): {key}. Please try again later.",
        doc_url="https://stripe.com/docs/error-codes/idempotency-key-in-use",
    )


def invalid_api_key_body(last4: str = "1234") -> JsonObject:
    """401: the secret key is not valid; Stripe names it with all but its last four characters starred."""
    return error_body("invalid_request_error", None, f"Invalid API Key provided: sk_test_{'*' * 20}{last4}")
