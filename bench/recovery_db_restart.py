"""The one fault the test suite cannot stage: PostgreSQL restarting under a running system.

The suite shares the machine's PostgreSQL, so this drill runs a throwaway PostgreSQL cluster of
its own (initdb in a temporary folder, a free port), with its own Redis, the sandbox PSP,
gunicorn and a Celery worker with beat, exactly as in production but at test pace. It makes 30
bank transfers (a third send no webhook), restarts PostgreSQL while they settle, and prints how
long after the restart the web answered again and every payment reached the PSP's final status.

    .venv/bin/python -m bench.recovery_db_restart

Needs PostgreSQL's server binaries (Debian's postgresql package) and redis-server; run as root it
runs the cluster as the `postgres` user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import requests

from paysite.tests.processes import REPO, SANDBOX_KEY, SANDBOX_SECRET, RedisServer, Sandbox, Web, Worker, _free_port

PG_BIN = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]) if Path("/usr/lib/postgresql").exists() else None
METHODS = ["pm_bank_transfer", "pm_bank_transfer_silent", "pm_bank_transfer_fail"]
SETTLE_SECONDS = 7200 * 0.001  # the sandbox's two hours at the drill's time scale
PACE = {
    "PAYMENTS_POLL_INTERVAL": "1", "PAYMENTS_POLL_FIRST_DELAY": "2", "PAYMENTS_POLL_MAX_DELAY": "4",
    "WEBHOOK_REQUEUE_AFTER": "3", "WEBHOOK_REQUEUE_INTERVAL": "1", "PSP_TIMEOUT": "1", "PSP_RETRY_BACKOFF": "0.05",
}


class Cluster:
    """A PostgreSQL cluster in a temporary folder, trust authentication, on a free port."""

    def __init__(self, folder: Path):
        self.data = folder / "pgdata"
        self.port = _free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/paysite"
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _pg(self, *command: str) -> None:
        subprocess.run([*self.as_postgres, *command], check=True, stdout=subprocess.DEVNULL)

    def create(self) -> Cluster:
        self.data.parent.mkdir(parents=True, exist_ok=True)
        if self.as_postgres:
            shutil.chown(self.data.parent, "postgres")
        self._pg(f"{PG_BIN}/initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        with psycopg.connect(f"postgres://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as db:
            db.execute("CREATE DATABASE paysite")
        return self

    def start(self) -> None:
        self._pg(f"{PG_BIN}/pg_ctl", "-D", str(self.data), "-w", "-l", str(self.data.parent / "pg.log"),
                 "-o", f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1", "start")

    def restart(self) -> None:
        self._pg(f"{PG_BIN}/pg_ctl", "-D", str(self.data), "-w", "-m", "fast", "restart")

    def stop(self) -> None:
        subprocess.run([*self.as_postgres, f"{PG_BIN}/pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"],
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, check=True,
                          capture_output=True, text=True).stdout


def _final_count(url: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=2) as db:
            row = db.execute("SELECT count(*) FROM payments_paymentattempt WHERE status IN ('succeeded', 'failed')")
            return int(row.fetchone()[0])  # type: ignore[index]
    except psycopg.OperationalError:
        return -1


def main() -> int:
    if PG_BIN is None or shutil.which("redis-server") is None:
        print("needs PostgreSQL's server binaries and redis-server")
        return 2
    folder = Path(tempfile.mkdtemp(prefix="paysite-drill-"))
    cluster = Cluster(folder).create()
    broker = RedisServer(folder).start()
    sandbox = Sandbox(folder / "psp.sqlite3", time_scale=0.001, settle_delay=7200).start()
    env = {**os.environ, **PACE, "DEBUG": "true", "DATABASE_URL": cluster.url, "CELERY_BROKER_URL": broker.url,
           "PSP_BASE_URL": sandbox.url, "PSP_API_KEY": SANDBOX_KEY, "PSP_WEBHOOK_SECRET": SANDBOX_SECRET,
           "CELERY_TASK_DEFAULT_QUEUE": "drill"}
    web = None
    worker = Worker({"CELERY_TASK_DEFAULT_QUEUE": "drill"}, folder / "worker.log")
    try:
        _manage(env, "migrate", "--noinput")
        key = _manage(env, "create_api_key", "drill").strip().splitlines()[-1]
        web = Web(env, folder / "web.log", options=("--workers", "2", "--threads", "4"))
        base = env["SITE_URL"] = web.url
        web.start()
        worker.env = env
        worker.start()
        shop = requests.Session()
        shop.headers["Authorization"] = f"Bearer {key}"

        def pay(index: int) -> None:
            checkout = shop.post(f"{base}/api/checkouts/", json={"amount": "12.50", "currency": "EUR"}, timeout=30)
            body = checkout.json()
            shop.post(f"{base}/api/checkouts/{body['id']}/buy-now/", timeout=30,
                      json={"token": body["token"], "payment_method": METHODS[index % 3]}).raise_for_status()

        paid_at = time.monotonic()
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(pay, range(30)))
        # The restart comes just as the PSP settles them: what follows is recovery, not waiting.
        time.sleep(max(0.0, paid_at + SETTLE_SECONDS - time.monotonic()))
        print(f"30 payments settling at the PSP; {_final_count(cluster.url)} final here before the restart")
        started = time.monotonic()
        cluster.restart()
        restarted = time.monotonic()
        print(f"PostgreSQL restarted in {restarted - started:.1f} s")
        web_back = final_at = None
        while time.monotonic() - restarted < 120 and final_at is None:
            if web_back is None:
                try:
                    if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                        web_back = time.monotonic() - restarted
                except requests.RequestException:
                    pass
            if _final_count(cluster.url) == 30:
                final_at = time.monotonic() - restarted
            time.sleep(0.25)
        print(f"web healthy again {web_back:.1f} s after the restart" if web_back is not None else "web never healthy")
        if final_at is None:
            print(f"NOT all final within 120 s: {_final_count(cluster.url)} of 30")
            return 1
        print(f"all 30 payments final {final_at:.1f} s after the restart")
        with psycopg.connect(cluster.url) as db:
            charged_twice = db.execute(
                "SELECT count(*) FROM payments_statuschange WHERE subject = 'attempt' "
                "AND to_status IN ('succeeded', 'failed') GROUP BY attempt_id HAVING count(*) > 1"
            ).fetchall()
        print(f"attempts with more than one final status change: {len(charged_twice)}")
        return 0
    finally:
        worker.stop()
        if web is not None:
            web.stop()
        sandbox.stop()
        broker.kill()
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
