"""A test-only HTTP bridge in front of localstripe that answers our Stripe adapter's requests the way
Stripe's API reference documents them, where localstripe does not (docs/stripe-emulator.md lists
each gap). The BPS under test uses its URL as STRIPE_API_BASE and registers its webhook endpoint
with it, as with localstripe itself.

    python -m paysite.tests.stripe_bridge --upstream http://127.0.0.1:PORT --port 0

prints "stripe_bridge listening on URL". What it adds to localstripe:
- parameters localstripe refuses but Stripe takes (description, return_url, …) are kept here and shown
  back; a confirm carrying payment_method becomes an update then a confirm;
- Idempotency-Key replays the first answer for 24 h (different parameters: 400 idempotency_error);
- Stripe's test PaymentMethod ids become PaymentMethods made in localstripe;
- 3-D Secure goes through a page of its own (`/3ds/{id}`) and back to the return_url;
- objects, errors and events in their documented shapes (decline codes, latest_charge as an id);
- webhooks: localstripe's events are relayed to the endpoints registered here (or to none while
  switched off), with the events localstripe never sends (processing, requires_action, a failed
  authentication, refund.created, charge.refunded).
"""

from __future__ import annotations

import argparse
import html
import json
import secrets
import socket
import time
import urllib.request
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
from aiohttp import web

from paysite.tests import stripe_shapes as shapes
from paysite.tests.stripe_shapes import Json, Params, field, value
from paysite.tests.stripe_webhook_relay import WebhookRelay

OWN_KEY = "Bearer sk_test_stripe_bridge"  # the bridge's own reads; localstripe takes any sk_ key
CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
REPLAY_FOR = 24 * 3600  # Stripe keeps an idempotency key's answer for 24 hours
# Parameters Stripe takes that localstripe refuses with "Unexpected …". The first three are kept and
# shown back; the others change nothing localstripe could show. Anything else still reaches localstripe.
KEPT = ("description", "return_url", "automatic_payment_methods")
DROPPED = (*KEPT, "mandate_data", "receipt_email", "statement_descriptor_suffix")
# What Stripe.js sends besides the payment details (tracking, the publishable key): localstripe refuses it.
PAYMENT_METHOD_FIELDS = ("type", "card[number]", "card[exp_month]", "card[exp_year]", "card[cvc]", "sepa_debit[iban]")


@dataclass
class Answer:
    status: int
    body: Json

    @property
    def ok(self) -> bool:
        return self.status < 300


@dataclass
class Saved:
    fingerprint: tuple[Any, ...]
    answer: Answer
    request_id: str
    at: float


Handler = Callable[[str, Params, str], Awaitable[Answer]]


class Bridge:
    def __init__(self, upstream: str, url: str, relay_secret: str):
        self.upstream, self.url = upstream.rstrip("/"), url
        self.kept: defaultdict[str, Json] = defaultdict(dict)  # per object id: what localstripe would not keep
        self.saved: dict[tuple[str, str], Saved] = {}
        self.running: set[tuple[str, str]] = set()
        self.webhooks = WebhookRelay(relay_secret, self.snapshot)
        self.emit = self.webhooks.emit
        self.routes: list[tuple[str, str, Handler]] = [
            ("POST", "/v1/payment_intents", self.create_intent),
            ("POST", "/v1/payment_intents/*/confirm", self.confirm_intent),
            ("POST", "/v1/payment_intents/*/_authenticate", self.authenticate),
            ("POST", "/v1/payment_intents/*", self.update_intent),
            ("GET", "/v1/payment_intents/*", self.retrieve_intent),
            ("POST", "/v1/payment_methods", self.create_payment_method),
            ("POST", "/v1/refunds", self.create_refund),
            ("GET", "/v1/refunds/*", self.retrieve_refund),
            ("GET", "/v1/charges/*", self.retrieve_charge),
        ]

    def app(self) -> web.Application:
        app = web.Application()
        app.cleanup_ctx.append(self._http_session)
        self.webhooks.add_routes(app.router)
        app.router.add_get("/3ds/{id}", self.challenge_page)
        app.router.add_post("/3ds/{id}", self.challenge_answer)
        app.router.add_route("*", "/{path:.*}", self.api)
        return app

    async def _http_session(self, _app: web.Application) -> AsyncIterator[None]:
        self.http = self.webhooks.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        yield
        await self.http.close()

    # --- the API: routing, idempotency, localstripe ---------------------------------------------

    async def api(self, request: web.Request) -> web.StreamResponse:
        if not request.path.startswith("/v1/"):
            return await self.pass_through(request)
        body = await request.text() if request.method == "POST" else ""
        params = parse_qsl(body, keep_blank_values=True) + parse_qsl(request.query_string, keep_blank_values=True)
        handler, object_id = self.route(request.method, request.path)
        auth = request.headers.get("Authorization", "")
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        if not key:
            return respond(await handler(object_id, params, auth))
        fingerprint = (request.method, request.path, tuple(sorted(params)))
        return await self.idempotent((auth, key), fingerprint, lambda: handler(object_id, params, auth))

    def route(self, method: str, path: str) -> tuple[Handler, str]:
        parts = path.rstrip("/").split("/")
        for route_method, pattern, handler in self.routes:
            expected = pattern.split("/")
            if route_method == method and len(expected) == len(parts) and all(
                    want in ("*", part) for want, part in zip(expected, parts, strict=True)):
                return handler, parts[3] if len(parts) > 3 else ""
        return (lambda _id, params, auth: self.call(method, path, params, auth)), ""

    async def idempotent(self, scope: tuple[str, str], fingerprint: tuple[Any, ...],
                         run: Callable[[], Awaitable[Answer]]) -> web.Response:
        """Stripe saves the first answer under a key once the endpoint has started executing (so not a
        400 from validation) and replays it, whatever happened since; other parameters are an error."""
        now = time.monotonic()
        self.saved = {key: saved for key, saved in self.saved.items() if now - saved.at < REPLAY_FOR}
        saved = self.saved.get(scope)
        if saved and saved.fingerprint != fingerprint:
            return respond(Answer(400, shapes.error(
                f"The Idempotency-Key {scope[1]!r} was first used with other parameters or another endpoint; "
                "use a new key for a different request.", kind="idempotency_error")))
        if saved:
            return respond(saved.answer, replay_of=saved.request_id)
        if scope in self.running:
            return respond(Answer(409, shapes.error(
                "Another request with this Idempotency-Key is still in progress; retry it in a moment.",
                code="idempotency_key_in_use")))
        self.running.add(scope)
        try:
            answer = await run()
        finally:
            self.running.discard(scope)
        request_id = new_request_id()
        if answer.status < 400 or answer.status == 402 or answer.status >= 500:
            self.saved[scope] = Saved(fingerprint, answer, request_id, now)
        return respond(answer, request_id=request_id)

    async def call(self, method: str, path: str, params: Params | None = None, auth: str = OWN_KEY) -> Answer:
        """One request to localstripe; its errors come back in Stripe's shape."""
        encoded = urlencode(params or [])
        headers = {"Authorization": auth or OWN_KEY, "Content-Type": "application/x-www-form-urlencoded"}
        url = f"{self.upstream}{path}" + (f"?{encoded}" if method != "POST" and encoded else "")
        async with self.http.request(method, url, data=encoded if method == "POST" else None,
                                     headers=headers) as response:
            text = await response.text()
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if response.status >= 400:
            return Answer(response.status, shapes.upstream_error(response.status, body, text, path))
        return Answer(response.status, body)

    async def pass_through(self, request: web.Request) -> web.Response:
        """Stripe.js (`/js.stripe.com/v3/`) and localstripe's own `/_config/` API, untouched."""
        headers = {name: item for name, item in request.headers.items() if name.lower() in (
            "authorization", "content-type", "origin")}
        async with self.http.request(request.method, f"{self.upstream}{request.path_qs}", headers=headers,
                                     data=await request.read()) as response:
            kept = {name: item for name, item in response.headers.items() if name.lower() == "content-type"
                    or name.lower().startswith("access-control-")}
            return web.Response(status=response.status, body=await response.read(), headers=kept)

    # --- PaymentIntents -----------------------------------------------------------------------

    async def create_intent(self, _id: str, params: Params, auth: str) -> Answer:
        params, failure = await self.real_payment_method(params)
        if failure:
            return failure
        answer = await self.call("POST", "/v1/payment_intents", outside(params, DROPPED), auth)
        if answer.ok:
            self.keep(answer.body["id"], params)
        return await self.shaped_intent(answer, params)

    async def update_intent(self, intent_id: str, params: Params, auth: str) -> Answer:
        if value(params, "payment_method"):
            current = await self.call("GET", f"/v1/payment_intents/{intent_id}", auth=auth)
            if current.ok and current.body["status"] not in CONFIRMABLE:  # localstripe would take it
                return Answer(400, shapes.unexpected_state(await self.snapshot(current.body), "update"))
        params, failure = await self.real_payment_method(params)
        if failure:
            return failure
        answer = await self.call("POST", f"/v1/payment_intents/{intent_id}", outside(params, DROPPED), auth)
        if answer.ok:
            self.keep(intent_id, params)
        return await self.shaped_intent(answer, params)

    async def confirm_intent(self, intent_id: str, params: Params, auth: str) -> Answer:
        path = f"/v1/payment_intents/{intent_id}"
        current = await self.call("GET", path, auth=auth)
        if not current.ok:
            return current
        if current.body["status"] not in CONFIRMABLE:
            return Answer(400, shapes.unexpected_state(await self.snapshot(current.body), "confirm"))
        params, failure = await self.real_payment_method(params)
        if failure:
            return failure
        if value(params, "payment_method"):  # localstripe: 500 "Not implemented"; Stripe: set it, then confirm
            update = await self.call("POST", path, shapes.only(params, "payment_method"), auth)
            if not update.ok:
                return update
        self.keep(intent_id, params)
        answer = await self.call("POST", f"{path}/confirm", outside(params, (*DROPPED, "payment_method")), auth)
        if answer.status == 402:
            return await self.card_error(intent_id, auth)
        if answer.status == 400 and answer.body["error"]["message"] == "Bad request":  # its state check
            latest = await self.call("GET", path, auth=auth)
            return Answer(400, shapes.unexpected_state(await self.snapshot(latest.body), "confirm"))
        shaped = await self.shaped_intent(answer, params)
        if shaped.ok and shaped.body["status"] in ("processing", "requires_action"):
            self.emit(shapes.event(f"payment_intent.{shaped.body['status']}", await self.snapshot(answer.body)))
        return shaped

    async def authenticate(self, intent_id: str, params: Params, auth: str) -> Answer:
        """localstripe's stand-in for the 3-D Secure challenge (as its Stripe.js calls it)."""
        answer = await self.call("POST", f"/v1/payment_intents/{intent_id}/_authenticate", params, auth)
        if answer.status == 402:
            return await self.card_error(intent_id, auth)
        if answer.ok and answer.body["status"] == "requires_payment_method":  # localstripe sends no event
            self.emit(shapes.event("payment_intent.payment_failed", await self.snapshot(answer.body)))
        return await self.shaped_intent(answer, params)

    async def retrieve_intent(self, intent_id: str, params: Params, auth: str) -> Answer:
        return await self.shaped_intent(await self.call("GET", f"/v1/payment_intents/{intent_id}", auth=auth), params)

    async def card_error(self, intent_id: str, auth: str) -> Answer:
        """A decline as Stripe answers it: a card_error with the decline code and the intent."""
        latest = await self.call("GET", f"/v1/payment_intents/{intent_id}", auth=auth)
        intent = await self.snapshot(latest.body)
        return Answer(402, {"error": {**intent["last_payment_error"], "payment_intent": intent}})

    async def shaped_intent(self, answer: Answer, params: Params) -> Answer:
        if not answer.ok:
            return answer
        return Answer(answer.status, await self.snapshot(answer.body, shapes.expansions(params)))

    async def snapshot(self, intent: Json, expand: set[str] | frozenset[str] = frozenset()) -> Json:
        failed_method = None
        if intent.get("last_payment_error"):
            charge = intent.get("latest_charge") or {}
            method_id = charge.get("payment_method") or self.kept[intent["id"]].get("payment_method")
            if method_id:
                failed_method = (await self.call("GET", f"/v1/payment_methods/{method_id}")).body
        return shapes.payment_intent(intent, expand=set(expand), kept=self.kept[intent["id"]],
                                     payment_method=failed_method, bridge_url=self.url)

    def keep(self, intent_id: str, params: Params) -> None:
        kept = self.kept[intent_id]
        for name in ("description", "return_url", "payment_method"):
            if value(params, name) is not None:
                kept[name] = value(params, name)
        if automatic := shapes.nested(params, "automatic_payment_methods"):
            kept["automatic_payment_methods"] = automatic

    # --- PaymentMethods -----------------------------------------------------------------------

    async def real_payment_method(self, params: Params) -> tuple[Params, Answer | None]:
        """A Stripe test id (`pm_card_visa`, …) becomes a new PaymentMethod, as on Stripe."""
        test_id = value(params, "payment_method") or ""
        if test_id not in shapes.TEST_PAYMENT_METHODS:
            return params, None
        made = await self.call("POST", "/v1/payment_methods", shapes.TEST_PAYMENT_METHODS[test_id])
        if not made.ok:
            return params, made
        return [(name, made.body["id"] if name == "payment_method" else item) for name, item in params], None

    async def create_payment_method(self, _id: str, params: Params, auth: str) -> Answer:
        # Stripe.js makes PaymentMethods with the publishable key in the body; localstripe wants a secret key.
        if not auth.startswith("Bearer sk_") and "pk_" in f"{auth} {value(params, 'key')}":
            auth = OWN_KEY
        kept = [(name, item) for name, item in params if name in PAYMENT_METHOD_FIELDS
                or field(name) in ("billing_details", "metadata", "expand")]
        return await self.call("POST", "/v1/payment_methods", kept, auth)

    # --- Refunds and charges ------------------------------------------------------------------

    async def create_refund(self, _id: str, params: Params, auth: str) -> Answer:
        charge = await self.refundable_charge(params, auth)
        if isinstance(charge, Answer):
            return charge
        left = charge["amount"] - charge["amount_refunded"]
        asked = value(params, "amount")
        if left <= 0:  # localstripe refunds a charge again and again
            return Answer(400, shapes.error(f"Charge {charge['id']} has already been refunded.",
                                            code="charge_already_refunded"))
        if asked and asked.isdigit() and int(asked) > left:
            return Answer(400, shapes.error(f"Refund amount ({asked}) is greater than unrefunded amount on charge "
                                            f"({left})", code="amount_too_large", param="amount"))
        # Without an amount, Stripe refunds what is left; localstripe would refund the whole charge again.
        sent = [*outside(params, ("reason", "instructions_email", "amount")), ("amount", asked or str(left))]
        answer = await self.call("POST", "/v1/refunds", sent, auth)
        if not answer.ok:
            return answer
        refund_id = answer.body["id"]
        self.kept[refund_id]["reason"] = value(params, "reason")
        refund = shapes.refund_object(answer.body, self.kept[refund_id])
        self.emit(shapes.event("refund.created", refund))
        refunded = await self.call("GET", f"/v1/charges/{charge['id']}")
        self.emit(shapes.event("charge.refunded", shapes.charge_object(refunded.body)))
        return Answer(answer.status, refund)

    async def refundable_charge(self, params: Params, auth: str) -> Json | Answer:
        if intent_id := value(params, "payment_intent"):
            intent = await self.call("GET", f"/v1/payment_intents/{intent_id}", [("expand[0]", "latest_charge")], auth)
            if not intent.ok:
                return intent
            charge = intent.body.get("latest_charge")
            if not charge or charge["status"] == "failed":  # localstripe crashes (500) when there is no charge
                return Answer(400, shapes.error(
                    f"This PaymentIntent ({intent_id}) does not have a successful charge to refund."))
            return dict(charge)
        answer = await self.call("GET", f"/v1/charges/{value(params, 'charge') or 'none'}", auth=auth)
        return answer.body if answer.ok else answer

    async def retrieve_refund(self, refund_id: str, _params: Params, auth: str) -> Answer:
        answer = await self.call("GET", f"/v1/refunds/{refund_id}", auth=auth)
        return Answer(answer.status, shapes.refund_object(answer.body, self.kept[refund_id])) if answer.ok else answer

    async def retrieve_charge(self, charge_id: str, _params: Params, auth: str) -> Answer:
        answer = await self.call("GET", f"/v1/charges/{charge_id}", auth=auth)
        return Answer(answer.status, shapes.charge_object(answer.body)) if answer.ok else answer

    # --- 3-D Secure ---------------------------------------------------------------------------

    async def challenge_page(self, request: web.Request) -> web.Response:
        """Stands in for the issuer's page that Stripe's redirect_to_url leads to."""
        intent = await self.call("GET", f"/v1/payment_intents/{request.match_info['id']}")
        if not intent.ok:
            raise web.HTTPNotFound(text="no such PaymentIntent")
        amount = f"{intent.body['amount']} {intent.body['currency'].upper()} (minor units)"
        return web.Response(content_type="text/html", text=CHALLENGE_PAGE.format(
            intent=html.escape(intent.body["id"]), amount=html.escape(amount)))

    async def challenge_answer(self, request: web.Request) -> web.Response:
        intent_id = request.match_info["id"]
        success = (await request.post()).get("success") == "true"
        return_url = self.kept[intent_id].get("return_url")
        intent = await self.call("GET", f"/v1/payment_intents/{intent_id}")
        if not intent.ok or not return_url:
            raise web.HTTPNotFound(text="no 3-D Secure challenge for this PaymentIntent")
        secret = intent.body["client_secret"]
        if intent.body["status"] == "requires_action":  # a second click finds it decided
            await self.authenticate(intent_id, [("client_secret", secret), ("success", str(success).lower())], OWN_KEY)
        status = (await self.call("GET", f"/v1/payment_intents/{intent_id}")).body["status"]
        outcome = "succeeded" if status in ("succeeded", "processing") else "failed"
        raise web.HTTPFound(with_query(return_url, payment_intent=intent_id, payment_intent_client_secret=secret,
                                       redirect_status=outcome))


CHALLENGE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>3D Secure test page</title></head>
<body><h1>3D Secure 2 test page</h1>
<p>Payment {intent}: {amount}. This page stands in for the card issuer's (test bridge for localstripe).</p>
<form method="post">
<button type="submit" name="success" value="true" id="complete">Complete authentication</button>
<button type="submit" name="success" value="false" id="fail">Fail authentication</button>
</form></body></html>
"""


def outside(params: Params, fields: tuple[str, ...]) -> Params:
    return [(name, item) for name, item in params if field(name) not in fields]


def new_request_id() -> str:
    return f"req_{secrets.token_hex(7)}"


def respond(answer: Answer, *, request_id: str = "", replay_of: str = "") -> web.Response:
    headers = {"Request-Id": request_id or new_request_id()}
    if replay_of:
        headers.update({"Idempotent-Replayed": "true", "Original-Request": replay_of})
    return web.json_response(answer.body, status=answer.status, headers=headers)


def with_query(url: str, **extra: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode([*parse_qsl(parts.query), *extra.items()])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="localstripe's URL")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    listener = socket.socket()
    listener.bind(("127.0.0.1", args.port))
    listener.listen(128)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    relay_secret = f"whsec_{secrets.token_hex(16)}"
    # localstripe sends its events here; the bridge sends them on to the endpoints registered with it.
    registration = urlencode({"url": f"{url}/_bridge/events", "secret": relay_secret}).encode()
    urllib.request.urlopen(f"{args.upstream}/_config/webhooks/stripe_bridge", registration, timeout=10).close()  # noqa: S310
    print(f"stripe_bridge listening on {url} upstream={args.upstream}", flush=True)
    web.run_app(Bridge(args.upstream, url, relay_secret).app(), sock=listener, print=None, access_log=None)


if __name__ == "__main__":
    main()
