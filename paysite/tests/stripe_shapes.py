"""What the Stripe test bridge (`stripe_bridge`) turns localstripe's answers into: the objects,
errors and events as Stripe's API reference documents them, and Stripe's test payment method ids
as localstripe can make them. Pure functions over JSON; the bridge does the HTTP.
"""

from __future__ import annotations

import datetime
import secrets
import time
from collections.abc import Mapping
from typing import Any

import stripe

Json = dict[str, Any]
Params = list[tuple[str, str]]  # a form body or query string, in order, keys as sent (`metadata[checkout_id]`)

# Stripe's test cards and IBANs (docs.stripe.com/testing) that localstripe knows how to play.
CARD_SUCCEEDS = "4242424242424242"
CARD_DECLINED = "4000000000000002"  # declined when charged, generic_decline
CARD_DECLINED_AFTER_ATTACH = "4000000000000341"  # attaches, then every charge is declined
CARD_3DS_REQUIRED = "4000002760003184"  # 3-D Secure on every payment
IBAN_SETTLES = "DE89370400440532013000"  # processing, then succeeded
IBAN_FAILS = "DE62370400440532013001"  # processing, then requires_payment_method


def card(number: str) -> Params:
    year = datetime.date.today().year + 3
    return [("type", "card"), ("card[number]", number), ("card[exp_month]", "12"),
            ("card[exp_year]", str(year)), ("card[cvc]", "123")]


def sepa_debit(iban: str) -> Params:
    # Stripe requires the account holder's name and email for a SEPA debit.
    return [("type", "sepa_debit"), ("sepa_debit[iban]", iban), ("billing_details[name]", "Jenny Rosen"),
            ("billing_details[email]", "jenny.rosen@example.com")]


# Stripe's test PaymentMethod ids, and what each becomes in localstripe (a new PaymentMethod per use,
# as on Stripe). Stripe documents no such id for SEPA: the two `pm_sepaDebit*` ids are the bridge's own.
TEST_PAYMENT_METHODS: dict[str, Params] = {
    "pm_card_visa": card(CARD_SUCCEEDS),
    "pm_card_chargeDeclined": card(CARD_DECLINED),
    "pm_card_visa_chargeDeclined": card(CARD_DECLINED),
    "pm_card_chargeCustomerFail": card(CARD_DECLINED_AFTER_ATTACH),
    "pm_card_authenticationRequired": card(CARD_3DS_REQUIRED),
    "pm_sepaDebit": sepa_debit(IBAN_SETTLES),
    "pm_sepaDebit_fails": sepa_debit(IBAN_FAILS),
}
# Stripe's decline code per test card (localstripe has none); every other declined card: generic_decline.
DECLINE_CODES = {"3178": "insufficient_funds"}


# --- form parameters ----------------------------------------------------------------------------


def field(key: str) -> str:
    """`metadata[checkout_id]` → `metadata`."""
    return key.split("[", 1)[0]


def value(params: Params, key: str) -> str | None:
    return next((item for name, item in params if name == key), None)


def only(params: Params, *fields: str) -> Params:
    return [(name, item) for name, item in params if field(name) in fields]


def nested(params: Params, name: str) -> Json:
    """`automatic_payment_methods[enabled]=true` → {"enabled": True} (one level, booleans parsed)."""
    found: Json = {}
    for key, item in params:
        if key.startswith(f"{name}[") and key.endswith("]"):
            found[key[len(name) + 1:-1]] = {"true": True, "false": False}.get(item, item)
    return found


def expansions(params: Params) -> set[str]:
    return {item for name, item in params if field(name) == "expand"}


# --- objects ------------------------------------------------------------------------------------


def payment_intent(intent: Json, *, expand: set[str], kept: Mapping[str, Any], payment_method: Json | None,
                   bridge_url: str) -> Json:
    """localstripe's PaymentIntent as Stripe shows it. `kept` holds what the bridge kept for it because
    localstripe refuses it (description, automatic_payment_methods, return_url); `payment_method` is
    the failed method, shown in last_payment_error as Stripe does."""
    # `charges` left the API in 2022-11-15 and `invoice` in 2025-03-31; localstripe still sends them.
    shaped = {key: item for key, item in intent.items() if key not in ("charges", "invoice")}
    charge = intent.get("latest_charge")
    shaped["amount_received"] = 0
    if isinstance(charge, dict):  # localstripe always embeds it; Stripe gives the id unless expanded
        shaped["amount_received"] = charge_object(charge)["amount_captured"]
        expanded = any(path.split(".")[0] == "latest_charge" for path in expand)
        shaped["latest_charge"] = charge_object(charge) if expanded else charge["id"]
    shaped["description"] = kept.get("description")
    shaped["automatic_payment_methods"] = kept.get("automatic_payment_methods")
    shaped["next_action"] = next_action(intent, kept.get("return_url"), bridge_url)
    if intent.get("last_payment_error"):
        shaped["last_payment_error"] = payment_error(intent["last_payment_error"], payment_method)
        if intent["status"] == "requires_payment_method":
            shaped["payment_method"] = None  # Stripe takes the failed method off the intent; the error names it
    return shaped


def next_action(intent: Json, return_url: str | None, bridge_url: str) -> Json | None:
    """With a return_url, Stripe sends the browser to its 3-D Secure page (redirect_to_url); without one,
    it leaves the challenge to Stripe.js (use_stripe_sdk), which is all localstripe knows."""
    action = intent.get("next_action")
    if not action or action.get("type") != "use_stripe_sdk" or not return_url:
        return action
    page = f"{bridge_url}/3ds/{intent['id']}"
    return {"type": "redirect_to_url", "redirect_to_url": {"url": page, "return_url": return_url}}


def charge_object(charge: Json) -> Json:
    # `refunds` is no longer included unless expanded (2022-11-15).
    shaped = {key: item for key, item in charge.items() if key not in ("refunds", "invoice")}
    shaped["amount_captured"] = charge["amount"] if charge["captured"] and charge["status"] == "succeeded" else 0
    return shaped


def refund_object(refund: Json, kept: Mapping[str, Any]) -> Json:
    shaped = {key: item for key, item in refund.items() if key != "date"}  # `date`: a field from 2014
    shaped["reason"] = kept.get("reason")
    return shaped


# --- errors -------------------------------------------------------------------------------------


def payment_error(error: Mapping[str, Any], payment_method: Json | None) -> Json:
    """A decline or failed authentication, as in Stripe's `error` and `last_payment_error`."""
    shaped = dict(error)
    code = error.get("code") or ""
    if code == "payment_intent_authentication_failure":
        shaped["type"] = "invalid_request_error"
    else:
        shaped["type"] = "card_error"
        if code == "card_declined" and payment_method and payment_method.get("type") == "card":
            shaped["decline_code"] = DECLINE_CODES.get(payment_method["card"]["last4"], "generic_decline")
    if code:
        shaped["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if payment_method:
        shaped["payment_method"] = payment_method
    return shaped


def error(message: str, *, kind: str = "invalid_request_error", **details: Any) -> Json:
    return {"error": {"type": kind, "message": message, **details}}


def unexpected_state(intent: Json, action: str) -> Json:
    status = intent["status"]
    return error(f"You cannot {action} this PaymentIntent because it has a status of {status}.",
                 code="payment_intent_unexpected_state", payment_intent=intent)


def upstream_error(status: int, body: Json | None, text: str, path: str) -> Json:
    """localstripe's terse errors with the code and param Stripe gives for the same mistake."""
    message = (body or {}).get("error", {}).get("message", "")
    if status == 404:
        parts = [*path.strip("/").split("/"), "", ""]  # v1, payment_intents, pi_…[, confirm]
        return error(f"No such {parts[1].rstrip('s')}: '{parts[2]}'", code="resource_missing", param="id")
    if status == 400 and message.startswith("Unexpected "):
        name = message.removeprefix("Unexpected ").split(",")[0]
        return error(f"Received unknown parameter: {name}", code="parameter_unknown", param=name)
    if body is None:  # localstripe crashed (an HTML page): Stripe answers JSON even then
        return error(f"localstripe failed: {text[:200]}", kind="api_error")
    return body


# --- events -------------------------------------------------------------------------------------


def event(kind: str, data_object: Json) -> Json:
    """A v1 event as Stripe posts it to a webhook endpoint (a snapshot of the object)."""
    return {"id": f"evt_{secrets.token_hex(12)}", "object": "event", "api_version": stripe.api_version,
            "created": int(time.time()), "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": kind, "data": {"object": data_object}}
