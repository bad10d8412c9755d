"""The webhook side of the Stripe test bridge (`stripe_bridge`): the endpoints registered with it, the
events localstripe sends it, and their delivery, signed as Stripe signs.

localstripe posts its events to the bridge (`/_bridge/events`, registered in localstripe at start-up,
signed with a secret of the bridge's own); the relay reshapes their objects like the API's answers
and sends them on, with the events the bridge makes for what localstripe never announces. Endpoints
are registered as with localstripe (`POST /_config/webhooks/{id}` with url, secret and optional
events), can be removed (`DELETE`, which localstripe lacks), and all of them switched off
(`POST /_bridge/webhooks` with enabled=false) so that polling alone must find every outcome.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

import aiohttp
import stripe
from aiohttp import web

from paysite.tests import stripe_shapes as shapes
from paysite.tests.stripe_shapes import Json, field


@dataclass
class Endpoint:
    url: str
    secret: str
    events: list[str]


class WebhookRelay:
    def __init__(self, relay_secret: str, reshape_intent: Callable[[Json], Awaitable[Json]]):
        self.relay_secret, self.reshape_intent = relay_secret, reshape_intent
        self.endpoints: dict[str, Endpoint] = {}
        self.on = True
        self.deliveries: set[asyncio.Task[None]] = set()
        self.http: aiohttp.ClientSession  # the bridge's, set when it starts

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/_config/webhooks/{id}", self.register)
        router.add_delete("/_config/webhooks/{id}", self.unregister)
        router.add_post("/_bridge/webhooks", self.switch)
        router.add_post("/_bridge/events", self.relay)

    async def register(self, request: web.Request) -> web.Response:
        """localstripe's `POST /_config/webhooks/{id}` (url, secret, optional events), answered here."""
        if request.content_type == "application/json":
            data = await request.json()
        else:
            params = parse_qsl(await request.text())
            data = {**dict(params), "events": [item for name, item in params if field(name) == "events"]}
        if not str(data.get("url", "")).startswith("http") or not data.get("secret"):
            raise web.HTTPBadRequest(text="url and secret are required")
        self.endpoints[request.match_info["id"]] = Endpoint(data["url"], data["secret"], list(data.get("events") or []))
        return web.Response()

    async def unregister(self, request: web.Request) -> web.Response:
        self.endpoints.pop(request.match_info["id"], None)  # localstripe has no way to remove one
        return web.Response()

    async def switch(self, request: web.Request) -> web.Response:
        self.on = (await request.post()).get("enabled") == "true"
        return web.Response()

    async def relay(self, request: web.Request) -> web.Response:
        """localstripe's own events, reshaped like the API's objects and sent on to the endpoints."""
        payload = await request.read()
        try:
            stripe.WebhookSignature.verify_header(payload.decode(), request.headers.get("Stripe-Signature", ""),
                                                  self.relay_secret)
        except stripe.SignatureVerificationError:
            raise web.HTTPBadRequest(text="not signed by localstripe") from None
        incoming = json.loads(payload)
        data_object = incoming["data"]["object"]
        if data_object.get("object") == "payment_intent":
            data_object = await self.reshape_intent(data_object)
        self.emit({**shapes.event(incoming["type"], data_object), "id": incoming["id"], "created": incoming["created"]})
        return web.Response()

    def emit(self, event: Json) -> None:
        task = asyncio.get_running_loop().create_task(self.deliver(event))
        self.deliveries.add(task)
        task.add_done_callback(self.deliveries.discard)

    async def deliver(self, event: Json) -> None:
        """Signed as Stripe signs (`t=…,v1=…`, HMAC-SHA256 of "t.payload" keyed by the whole secret).
        One try each: Stripe retries for three days, and the BPS must not depend on either."""
        payload = json.dumps(event, indent=2).encode()
        for endpoint in list(self.endpoints.values()) if self.on else []:
            if endpoint.events and not {event["type"], "*"} & set(endpoint.events):
                continue
            stamp = int(time.time())
            signature = hmac.new(endpoint.secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
            headers = {"Content-Type": "application/json; charset=utf-8",
                       "Stripe-Signature": f"t={stamp},v1={signature}"}
            try:
                async with self.http.post(endpoint.url, data=payload, headers=headers) as answer:
                    print(f"webhook {event['type']} {event['data']['object'].get('id')} -> {answer.status}", flush=True)
            except (aiohttp.ClientError, TimeoutError) as failure:
                print(f"webhook {event['type']} to {endpoint.url} failed: {failure!r}", flush=True)
