"""The poller's claim at 10,000 and at 1,000,000 payment attempts (issue 14: ≤ 2 ms, flat).

    python -m bench.poller_claim          (`make bench` runs it)

Seeds a throwaway database as the mid-office benchmark does (bench/admin_changelist.py: a shop at
2,000 attempts a day, the last three days' unfinished ones still polled), makes 1,000 of its
unfinished attempts due, and times `attempts_claim_due(limit=100)`, the beat's claim: one
statement that locks 100 due rows (SKIP LOCKED) and writes a claim beside each. Between two timed
claims the rows are made due again and their claims dropped, off the clock. Prints the median and
the 90th percentile at each size and their ratio.
"""

from __future__ import annotations

import statistics
import sys
import time

from bench.admin_changelist import URL, drop_all, seed, setup_django
from bench.database import recreate_database

SIZES = (10_000, 1_000_000)
RUNS = 40
DUE = 1_000

MAKE_DUE = """
UPDATE payments_paymentattempt SET next_poll_at = now() - interval '1 minute'
WHERE id IN (SELECT id FROM payments_paymentattempt WHERE next_poll_at IS NOT NULL
             ORDER BY created_at DESC LIMIT %s)
"""
MAKE_UNFINISHED = """
UPDATE payments_paymentattempt SET status = 'pending', next_poll_at = now() + interval '1 hour'
WHERE id IN (SELECT id FROM payments_paymentattempt ORDER BY created_at DESC LIMIT %s)
"""


def claim_times() -> list[float]:
    from django.db import connection

    from payments.polling import attempts_claim_due

    timings = []
    for _ in range(RUNS):
        with connection.cursor() as cursor:
            cursor.execute(MAKE_DUE, [DUE])
            cursor.execute("DELETE FROM payments_pollclaim")  # as if each claim had been taken
        started = time.perf_counter()
        claimed = attempts_claim_due(limit=100)
        timings.append(time.perf_counter() - started)
        assert len(claimed) == 100, len(claimed)
    return timings[5:]  # the first claims warm PostgreSQL's caches


def main() -> int:
    recreate_database(URL)
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    results = {}
    seeded = 0
    try:
        for size in SIZES:
            seed(seeded, size)
            seeded = size
            with connection.cursor() as cursor:
                cursor.execute(MAKE_UNFINISHED, [DUE + 1_000])  # 1,000 due and 1,000 waiting their turn
                cursor.execute("ANALYZE payments_paymentattempt")
            timings = sorted(claim_times())
            results[size] = (statistics.median(timings), timings[int(0.9 * len(timings))])
            print(f"{size:>9,} attempts: claim of 100 due: median {results[size][0] * 1000:.2f} ms, "
                  f"p90 {results[size][1] * 1000:.2f} ms", flush=True)
    finally:
        drop_all()
    small, large = SIZES
    print(f"\nratio {large:,} ÷ {small:,}: {results[large][0] / results[small][0]:.2f} (goal: ≤ 2 ms, flat)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
