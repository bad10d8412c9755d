"""Benchmark of the mid-office at 10,000 and at 1,000,000 payment attempts.

    python -m bench.admin_changelist          (or `make bench-admin`)

Creates a throwaway PostgreSQL database on the server of BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/paysite_bench), migrates it, seeds checkouts with one attempt
each in SQL (generate_series), then measures the attempt and checkout changelists, two searches,
a filter and the dashboard: the median time of several requests through Django's test client
(no network), and the number of queries. It grows the same database to the larger size and
measures again, then drops it. The shop is seeded at a steady 2,000 attempts a day, so the
larger size is a shop that has run longer: the last days look the same at both sizes.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import time

from bench.database import drop_database, recreate_database

SIZES = (10_000, 1_000_000)
RUNS = 15
PER_DAY = 2_000
URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/paysite_bench")

PAGES = [
    ("attempt list", "/admin/payments/paymentattempt/"),
    ("checkout list", "/admin/checkout/checkout/"),
    ("attempts, status=failed", "/admin/payments/paymentattempt/?status=failed"),
    ("attempts, search reference prefix", "/admin/payments/paymentattempt/?q=order-000424"),
    ("checkouts, search exact reference", "/admin/checkout/checkout/?q=order-0004242"),
    ("checkouts, search PSP payment id", "/admin/checkout/checkout/?q=pay_{payment}"),
    ("dashboard", "/admin/"),
]

# One checkout and its attempt per row number i; i = 0 is the newest. Attempts older than three
# days are settled (a few in review), as polling would have left them; newer ones may be unfinished.
SEED_SQL = """
WITH rows AS (
    SELECT i, now() - (i * interval '1 day' / {per_day}) AS at, md5(i::text) AS h,
           CASE WHEN i %% 1000 = 999 THEN 'needs_review'
                WHEN i < {per_day} * 3 AND i %% 100 >= 97
                    THEN (ARRAY['started', 'pending', 'requires_action'])[i %% 3 + 1]
                WHEN i %% 100 < 82 THEN 'succeeded' ELSE 'failed' END AS status,
           CASE WHEN i %% 10 = 0 THEN 'USD' ELSE 'EUR' END AS currency,
           ((i %% 9000) + 100)::numeric / 100 AS amount
    FROM generate_series(%(low)s, %(high)s - 1) AS i
), storefront AS (
    INSERT INTO checkout_storefront (name, event_position, created_at) VALUES ('bench', 0, now())
    ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id
), checkouts AS (
    INSERT INTO checkout_checkout (id, amount, currency, description, reference, psp_token, expires_at, status,
                                   success_url, failure_url, storefront_id, psp_provider, event_sequence,
                                   created_at, updated_at)
    SELECT md5(h || 'c')::uuid, amount, currency, 'Order ' || i, 'order-' || lpad(i::text, 7, '0'), 'tok_' || h,
           at + interval '1 day',
           CASE status WHEN 'succeeded' THEN 'paid' WHEN 'failed' THEN 'open' ELSE 'processing' END, '', '',
           (SELECT id FROM storefront), 'generic', 0, at, at
    FROM rows
)
INSERT INTO payments_paymentattempt (id, checkout_id, status, payment_method, amount, currency, psp_payment_id,
                                     psp_version, failure_code, action_url, refunded_amount, idempotency_key,
                                     next_poll_at, poll_count, review_note, psp_contradiction,
                                     contradicting_payment_id, created_at, updated_at)
SELECT md5(h || 'a')::uuid, md5(h || 'c')::uuid, status,
       (ARRAY['pm_card_visa', 'pm_card_mastercard', 'pm_bank_transfer', 'pm_card_3ds'])[i %% 4 + 1],
       amount, currency,
       'pay_' || h, 1, CASE status WHEN 'failed' THEN 'card_declined' ELSE '' END, '', 0, 'bps-payment-' || h,
       CASE WHEN status IN ('started', 'pending', 'requires_action') THEN now() + interval '1 minute' END,
       CASE WHEN status = 'needs_review' THEN 40 ELSE 0 END,
       CASE WHEN status = 'needs_review' THEN 'No final status before PAYMENTS_POLL_GIVE_UP_AFTER.' ELSE '' END,
       false, '', at, at
FROM rows
"""


def drop_all() -> None:
    from django.db import connections

    connections.close_all()
    drop_database(URL)


def setup_django() -> None:
    os.environ["DATABASE_URL"] = URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paysite.settings")
    os.environ["DEBUG"] = "true"
    import django

    django.setup()


def seed(low: int, high: int) -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(SEED_SQL.format(per_day=PER_DAY), {"low": low, "high": high})
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE checkout_checkout")
        cursor.execute("VACUUM ANALYZE payments_paymentattempt")
    return time.perf_counter() - started


def measure(client: object, path: str) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):  # warm caches (ours and PostgreSQL's)
        client.get(path)  # type: ignore[attr-defined]
    timings = []
    for _ in range(RUNS):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(path)  # type: ignore[attr-defined]
            timings.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(timings) * 1000, len(queries)


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        plan = " ".join(row[0] for row in cursor.fetchall())
    return "index" if "Index" in plan else "SEQUENTIAL SCAN"


def main() -> int:
    recreate_database(URL)
    setup_django()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-only-password")
    client = Client()
    client.force_login(user)
    results: dict[int, dict[str, tuple[float, int]]] = {}
    seeded = 0
    try:
        for size in SIZES:
            took = seed(seeded, size)
            seeded = size
            print(f"seeded {size:,} attempts (+{took:.1f} s)", flush=True)
            # The seed names row 4242's PSP payment after its md5 (a name, not a secret).
            payment = hashlib.md5(b"4242", usedforsecurity=False).hexdigest()
            results[size] = {label: measure(client, path.format(payment=payment)) for label, path in PAGES}
            for label, (ms, queries) in results[size].items():
                print(f"  {label:36} {ms:8.1f} ms {queries:3d} queries", flush=True)
        print("reference prefix search plan:", explain(
            "SELECT id FROM checkout_checkout WHERE reference::text LIKE 'order-000424%' ORDER BY created_at DESC"))
    finally:
        if not os.environ.get("BENCH_KEEP"):  # keep it to look at plans by hand
            drop_all()
    small, large = SIZES
    print(f"\n| page | {small:,}: ms | queries | {large:,}: ms | queries | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    worst = 0.0
    for label, _path in PAGES:
        (ms_small, q_small), (ms_large, q_large) = results[small][label], results[large][label]
        ratio = ms_large / ms_small
        if label != "dashboard":
            worst = max(worst, ratio)
        print(f"| {label} | {ms_small:.1f} | {q_small} | {ms_large:.1f} | {q_large} | {ratio:.2f}x |")
    same_queries = all(results[small][label][1] == results[large][label][1] for label, _ in PAGES)
    print(f"\nworst changelist ratio {worst:.2f}x (goal ≤ 1.5x); same query counts: {same_queries}")
    return 0 if same_queries else 1


if __name__ == "__main__":
    sys.exit(main())
