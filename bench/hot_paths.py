"""The hot paths under load, each as a ratio to a baseline measured in the same run (issue 14).

    python -m bench.hot_paths          (`make bench` runs it with the others)

Starts everything itself, as production runs it but on this one machine: a throwaway PostgreSQL
database (on the server of BENCH_DATABASE_URL), a Redis of its own, the sandbox PSP behind a
fixed-delay stand-in (bench/psp_delay.py), the BPS under gunicorn with the project's
gunicorn.conf.py (DEBUG off), a Celery worker with beat, and the baseline: a hello-world Django
project (bench/hello_world.py) on the same gunicorn configuration. Then, in order:

  baseline          GET / of the hello-world project, 16 connections
  checkout creation POST /api/checkouts/, 16 connections, the PSP answering at once; ÷ baseline
  Buy Now latency   one client, the PSP answering after 50 ms: our p50/p99 minus the PSP's own
                    (the same client calling the stand-in directly, in the same run)
  Buy Now rate      16 connections, PSP at 50 ms: Buy Nows/s ÷ (16 ÷ 0.05 s); the stand-in called
                    directly the same way is printed beside it
  webhook intake    signed unique payment.succeeded events/s, 16 connections; ÷ baseline
  processing        how fast the worker applied them (first event sent → last applied), and how
                    many were still waiting 5 s after the last one was answered

Absolute figures swing with whatever else the machine runs; the ratios much less. No figure here
is asserted anywhere: this prints, people read. `python -m bench.hot_paths webhooks` runs one group
of rows (creation, buy-now, webhooks; the baseline always); BENCH_SCALE=0.25 a smaller version;
BENCH_WORKER_CONCURRENCY sets the Celery worker's pool size (the worker's own default otherwise).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from bench import load
from bench.database import drop_database, recreate_database
from paysite.tests.processes import (
    REPO,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    RedisServer,
    Sandbox,
    Web,
    Worker,
    _start_listening,
    _stop,
)

URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/paysite_bench_hot")
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
CONNECTIONS = 16
WORKER_CONCURRENCY = int(os.environ.get("BENCH_WORKER_CONCURRENCY", "0"))  # 0: the worker's default
PSP_DELAY_MS = 50
COUNTS = {
    "hello": int(12_000 * SCALE), "checkouts": int(3_000 * SCALE), "latency": int(300 * SCALE),
    "events": int(4_000 * SCALE),
}
GOALS = {
    "checkout creation": "≥ 0.25", "Buy Now rate": "≥ 0.8", "webhook intake": "≥ 0.45",
    "Buy Now p50 over PSP": "≤ 10 ms", "Buy Now p99 over PSP": "≤ 25 ms",
}


@dataclass(frozen=True)
class Stack:
    bps: str
    hello: str
    psp: str  # the delayed stand-in
    api_key: str


@contextmanager
def stack(folder: Path) -> Iterator[Stack]:
    recreate_database(URL)
    broker = RedisServer(folder).start()
    sandbox = Sandbox(folder / "psp.sqlite3", time_scale=0.001, settle_delay=7200).start()
    delay, delay_url = _start_listening([sys.executable, "-m", "bench.psp_delay", "--upstream", sandbox.url])
    env = {
        **os.environ, "DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(40), "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": URL, "CELERY_BROKER_URL": broker.url, "CELERY_TASK_DEFAULT_QUEUE": "bench",
        "PSP_BASE_URL": delay_url, "PSP_API_KEY": SANDBOX_KEY, "PSP_WEBHOOK_SECRET": SANDBOX_SECRET,
        "LOG_LEVEL": "WARNING", "CACHE_URL": f"{broker.url.rsplit('/', 1)[0]}/2",  # Redis, as production has it
    }
    bps = Web(env, folder / "bps.log")
    hello = Web({"DJANGO_SETTINGS_MODULE": "bench.hello_world"}, folder / "hello.log", app="bench.hello_world")
    worker = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=REPO, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        key = subprocess.run([sys.executable, "manage.py", "create_api_key", "bench"], cwd=REPO, env=env,
                             check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        env["SITE_URL"] = bps.url
        bps.start()
        hello.start()
        worker = Worker(env, folder / "worker.log", concurrency=WORKER_CONCURRENCY).start()
        os.environ.update({name: env[name] for name in ("DATABASE_URL", "SECRET_KEY", "PSP_API_KEY",
                                                        "PSP_WEBHOOK_SECRET", "ALLOWED_HOSTS", "DEBUG")})
        yield Stack(bps=bps.url, hello=hello.url, psp=delay_url, api_key=key)
    finally:
        if worker is not None:
            worker.stop()
        hello.stop()
        bps.stop()
        _stop(delay)
        sandbox.stop()
        broker.kill()
        drop_database(URL)


def set_psp_delay(psp: str, milliseconds: int) -> None:
    requests.put(f"{psp}/_delay", data=str(milliseconds), timeout=5).raise_for_status()


# --- what each row sends --------------------------------------------------------------------


def hello_request(_item: int) -> load.Request:
    return "GET", "/", {}, None


def checkout_request(api_key: str) -> load.Build:
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}

    def build(number: int) -> load.Request:
        body = {"amount": "12.50", "currency": "EUR", "description": f"Bench order {number}",
                "reference": f"bench-{number}"}
        return "POST", "/api/checkouts/", headers, json.dumps(body).encode()
    return build


def buy_now_request(checkout: tuple[str, str]) -> load.Request:
    checkout_id, token = checkout
    body = json.dumps({"token": token, "payment_method": "pm_card_visa"}).encode()
    return "POST", f"/api/checkouts/{checkout_id}/buy-now/", {"Content-Type": "application/json"}, body


def psp_payment_request(token: str) -> load.Request:
    body = {"token": token, "amount": "12.50", "currency": "EUR", "payment_method": "pm_card_visa",
            "redirect_url": "http://127.0.0.1/return", "webhook_url": "http://127.0.0.1:9/"}
    headers = {"Authorization": f"Bearer {SANDBOX_KEY}", "Content-Type": "application/json",
               "Idempotency-Key": uuid.uuid4().hex}
    return "POST", "/v1/payments", headers, json.dumps(body).encode()


def webhook_request(payment: dict[str, Any]) -> load.Request:
    event_id = f"evt_{uuid.uuid4().hex}"
    body = json.dumps({"id": event_id, "type": "payment.succeeded", "created_at": payment["updated_at"],
                       "data": payment}).encode()
    stamp = str(int(time.time()))
    key = base64.b64decode(SANDBOX_SECRET.removeprefix("whsec_"))
    signature = base64.b64encode(hmac.new(key, f"{event_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
    headers = {"Content-Type": "application/json", "webhook-id": event_id, "webhook-timestamp": stamp,
               "webhook-signature": f"v1,{signature.decode()}"}
    return "POST", "/webhooks/psp/", headers, body


# --- the rows -------------------------------------------------------------------------------


def create_checkouts(run_on: Stack, count: int) -> tuple[load.Run, list[tuple[str, str]]]:
    run = load.run(run_on.bps, checkout_request(run_on.api_key), list(range(count)), keep=True)
    made = [(body["id"], body["token"]) for _n, status, raw in run.answers if status == 201
            for body in [json.loads(raw)]]
    return run, made


def psp_sessions(psp: str, count: int) -> list[str]:
    def build(number: int) -> load.Request:
        body = {"checkout_id": f"direct-{uuid.uuid4().hex}", "amount": "12.50", "currency": "EUR"}
        headers = {"Authorization": f"Bearer {SANDBOX_KEY}", "Content-Type": "application/json",
                   "Idempotency-Key": uuid.uuid4().hex}
        return "POST", "/v1/sessions", headers, json.dumps(body).encode()
    run = load.run(psp, build, list(range(count)), keep=True)
    return [json.loads(raw)["token"] for _n, status, raw in run.answers if status == 201]


def seed_pending_attempts(count: int) -> list[dict[str, Any]]:
    """`count` checkouts with a pending bank transfer each, written as Buy Now leaves them, and
    for each the PSP's payment object as it settles (version 2, succeeded)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paysite.settings")
    django.setup()
    from django.utils import timezone

    from payments.models import Checkout, PaymentAttempt, Storefront

    storefront = Storefront.objects.get(name="bench")
    now = timezone.now()
    checkouts, attempts, payments = [], [], []
    for _number in range(count):
        checkout = Checkout(amount=Decimal("12.50"), currency="EUR", psp_token=f"tok_{uuid.uuid4().hex}",
                            expires_at=now + timedelta(days=1), status="processing", storefront=storefront)
        attempt = PaymentAttempt(checkout=checkout, status="pending", payment_method="pm_bank_transfer",
                                 amount=checkout.amount, currency="EUR", psp_payment_id=f"pay_{uuid.uuid4().hex}",
                                 psp_version=1, next_poll_at=now + timedelta(hours=1))
        attempt.idempotency_key = f"bps-payment-{attempt.id}"
        checkouts.append(checkout)
        attempts.append(attempt)
        payments.append({
            "id": attempt.psp_payment_id, "token": checkout.psp_token, "checkout_id": str(checkout.id),
            "amount": "12.50", "currency": "EUR", "payment_method": "pm_bank_transfer", "status": "succeeded",
            "failure_code": None, "failure_message": None, "next_action": None, "refunded_amount": "0.00",
            "metadata": {"attempt_id": str(attempt.id), "checkout_id": str(checkout.id)}, "version": 2,
            "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "updated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        })
    Checkout.objects.bulk_create(checkouts, batch_size=1000)
    PaymentAttempt.objects.bulk_create(attempts, batch_size=1000)
    return payments


def waiting_events() -> int:
    from webhooks.models import WebhookEvent

    return WebhookEvent.objects.filter(outcome=WebhookEvent.Outcome.RECEIVED).count()


def measure_baseline(run_on: Stack, figures: dict[str, Any]) -> None:
    set_psp_delay(run_on.psp, 0)
    load.run(run_on.hello, hello_request, list(range(500)))  # warm the workers
    baseline = load.run(run_on.hello, hello_request, list(range(COUNTS["hello"])))
    figures["baseline"] = baseline.rate
    print(f"baseline: hello-world {baseline.rate:,.0f} requests/s (p50 {baseline.p50 * 1000:.1f} ms)", flush=True)


def measure_creation(run_on: Stack, figures: dict[str, Any]) -> list[tuple[str, str]]:
    set_psp_delay(run_on.psp, 0)
    load.run(run_on.bps, checkout_request(run_on.api_key), list(range(200)))  # warm-up
    creation, checkouts = create_checkouts(run_on, COUNTS["checkouts"])
    figures["checkout creation"] = creation.rate / figures["baseline"]
    print(f"checkout creation: {creation.rate:,.1f}/s, p50 {creation.p50 * 1000:.1f} ms, "
          f"ratio {figures['checkout creation']:.3f} (errors {creation.errors()})", flush=True)
    return checkouts


def measure_buy_now(run_on: Stack, figures: dict[str, Any], checkouts: list[tuple[str, str]]) -> None:
    latency_count = COUNTS["latency"]
    set_psp_delay(run_on.psp, 0)
    tokens = psp_sessions(run_on.psp, latency_count + len(checkouts))
    set_psp_delay(run_on.psp, PSP_DELAY_MS)
    direct = load.run(run_on.psp, psp_payment_request, tokens[:latency_count], connections=1, processes=1)
    ours = load.run(run_on.bps, buy_now_request, checkouts[:latency_count], connections=1, processes=1)
    figures["Buy Now p50 over PSP"] = (ours.p50 - direct.p50) * 1000
    figures["Buy Now p99 over PSP"] = (ours.percentile(0.99) - direct.percentile(0.99)) * 1000
    print(f"Buy Now latency: ours p50 {ours.p50 * 1000:.1f} ms p99 {ours.percentile(0.99) * 1000:.1f} ms; "
          f"the PSP's own p50 {direct.p50 * 1000:.1f} ms p99 {direct.percentile(0.99) * 1000:.1f} ms "
          f"(errors {ours.errors()})", flush=True)

    ideal = CONNECTIONS / (PSP_DELAY_MS / 1000)
    direct_rate = load.run(run_on.psp, psp_payment_request, tokens[latency_count:])
    buy_now = load.run(run_on.bps, buy_now_request, checkouts[latency_count:])
    figures["Buy Now rate"] = buy_now.rate / ideal
    print(f"Buy Now rate: {buy_now.rate:,.1f}/s = {figures['Buy Now rate']:.3f} of {ideal:.0f}/s, p50 "
          f"{buy_now.p50 * 1000:.1f} ms (errors {buy_now.errors()}); the PSP called directly: "
          f"{direct_rate.rate:,.1f}/s = {direct_rate.rate / ideal:.3f}", flush=True)
    set_psp_delay(run_on.psp, 0)


def measure_webhooks(run_on: Stack, figures: dict[str, Any]) -> None:
    payments = seed_pending_attempts(COUNTS["events"])
    intake = load.run(run_on.bps, webhook_request, payments)
    figures["webhook intake"] = intake.rate / figures["baseline"]
    print(f"webhook intake: {intake.rate:,.1f}/s, p50 {intake.p50 * 1000:.1f} ms, ratio "
          f"{figures['webhook intake']:.3f} (errors {intake.errors()})", flush=True)
    figures.update(drain(intake))


def measure(run_on: Stack, rows: set[str]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    measure_baseline(run_on, figures)
    if rows & {"creation", "buy-now"}:
        checkouts = measure_creation(run_on, figures)
        if "buy-now" in rows:
            measure_buy_now(run_on, figures, checkouts)
    if "webhooks" in rows:
        measure_webhooks(run_on, figures)
    return figures


def drain(intake: load.Run) -> dict[str, Any]:
    """Watch the worker apply the burst: when the last event was applied, and what was left 5 s
    after the last delivery was answered."""
    left_after_5s = None
    while True:
        now = time.perf_counter()
        waiting = waiting_events()
        if left_after_5s is None and now >= intake.ended + 5:
            left_after_5s = waiting
        if waiting == 0:
            break
        if now > intake.ended + 600:
            raise RuntimeError(f"{waiting} events still waiting 10 minutes after the burst")
        time.sleep(0.05)
    applied_rate = intake.count / (now - intake.started)
    print(f"processing: {applied_rate:,.1f} events/s applied (burst start → last applied, "
          f"{now - intake.ended:.1f} s after the last delivery); waiting 5 s after the burst: "
          f"{left_after_5s if left_after_5s is not None else 0}", flush=True)
    return {"processing rate": applied_rate, "intake rate": intake.rate,
            "backlog 5 s after": left_after_5s or 0}


def report(figures: dict[str, Any]) -> None:
    print("\n| row | figure | goal |\n| --- | ---: | --- |")
    for row in ("checkout creation", "Buy Now rate", "webhook intake"):
        if row in figures:
            print(f"| {row} | {figures[row]:.3f} of the baseline | {GOALS[row]} |")
    for row in ("Buy Now p50 over PSP", "Buy Now p99 over PSP"):
        if row in figures:
            print(f"| {row} | +{figures[row]:.1f} ms | {GOALS[row]} |")
    if "processing rate" in figures:
        print(f"| webhook processing | {figures['processing rate']:,.0f}/s vs intake {figures['intake rate']:,.0f}/s, "
              f"{figures['backlog 5 s after']} left 5 s after | ≥ intake, 0 left |")
    print(f"\nbaseline: {figures['baseline']:,.0f} hello-world requests/s on this machine in this run")


ROWS = ("creation", "buy-now", "webhooks")


def main() -> int:
    rows = set(sys.argv[1:]) or set(ROWS)
    if not rows <= set(ROWS):
        print(f"usage: python -m bench.hot_paths [{' | '.join(ROWS)}] ...  (all rows by default)")
        return 2
    with tempfile.TemporaryDirectory(prefix="paysite-bench-") as folder, stack(Path(folder)) as running:
        report(measure(running, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
