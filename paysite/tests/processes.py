"""The real processes that end-to-end tests run beside the test process: the sandbox PSP, the Stripe
emulator (localstripe) behind its test bridge, the BPS's web (gunicorn), a Celery worker (with its
beat) and a storefront's notification endpoint. They share nothing with the test process but the
database, the broker and HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[2]
SANDBOX_KEY = "sk_test_e2e"
SANDBOX_SECRET = "whsec_ZTJlLXNhbmRib3gtd2ViaG9vay1zZWNyZXQtMDE="
# Stripe mode against the emulator: localstripe takes any sk_ key; the bridge checks no pk_ key either.
STRIPE_SECRET_KEY = "sk_test_e2e"
STRIPE_PUBLISHABLE_KEY = "pk_test_e2e"
STRIPE_WEBHOOK_SECRET = "whsec_ZTJlLXN0cmlwZS13ZWJob29rLXNlY3JldC0wMQ=="


class Sandbox:
    """`python -m psp_sandbox` on a free port with its own storage."""

    def __init__(self, storage: Path, *, time_scale: float, settle_delay: float):
        self.storage, self.time_scale, self.settle_delay = storage, time_scale, settle_delay
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {SANDBOX_KEY}"

    def start(self) -> Sandbox:
        command = [
            sys.executable, "-m", "psp_sandbox", "--port", "0", "--api-key", SANDBOX_KEY,
            "--webhook-secret", SANDBOX_SECRET, "--storage", str(self.storage),
            "--time-scale", str(self.time_scale), "--settle-delay", str(self.settle_delay),
        ]
        self.process, self.url = _start_listening(command)
        return self

    def stop(self) -> None:
        _stop(self.process)
        self.process = None

    def faults(self, body: Mapping[str, Any]) -> None:
        self.http.post(f"{self.url}/sandbox/faults", json=body, timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        self.http.delete(f"{self.url}/sandbox/faults", timeout=5).raise_for_status()

    def get(self, path: str) -> Any:
        response = self.http.get(f"{self.url}{path}", timeout=5)
        response.raise_for_status()
        return response.json()


class EventReceiver:
    """`python -m paysite.tests.event_receiver`: a storefront's notification endpoint that verifies
    every signature with `standardwebhooks` and keeps what arrived. Its port is chosen first (as
    RedisServer's), so that the storefront can be pointed at `url` before the secret it is given
    there is known to the receiver: `start(secret)` then."""

    def __init__(self, *, fail_first: int = 0, hold: float = 0.0):
        self.fail_first, self.hold = fail_first, hold
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[str] | None = None

    def start(self, secret: str) -> EventReceiver:
        command = [
            sys.executable, "-m", "paysite.tests.event_receiver", "--port", str(self.port), "--secret", secret,
            "--fail-first", str(self.fail_first), "--hold", str(self.hold),
        ]
        self.process, self.url = _start_listening(command)
        return self

    def stop(self) -> None:
        _stop(self.process)
        self.process = None

    def received(self) -> list[dict[str, Any]]:
        """Every delivery, oldest first: path, headers, body, verified (and the error if not), answered."""
        return list(self._get("/received"))

    def latest(self) -> dict[str, dict[str, Any]]:
        """Per checkout id, the verified event of the highest sequence."""
        return dict(self._get("/latest"))

    def _get(self, path: str) -> Any:
        response = requests.get(f"{self.url}{path}", timeout=5)
        response.raise_for_status()
        return response.json()["data"]


class LocalStripe:
    """localstripe, the third-party Stripe emulator, on a free port of loopback with its state in
    memory, patched where no proxy can help (`localstripe_launcher`). Tests talk to it through a
    `StripeBridge`, never directly."""

    def __init__(self, *, settle_delay: float = 0.5):
        self.settle_delay = settle_delay
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> LocalStripe:
        command = [sys.executable, "-m", "paysite.tests.localstripe_launcher", "--port", "0",
                   "--settle-delay", str(self.settle_delay)]
        self.process, self.url = _start_listening(command)
        return self

    def stop(self) -> None:
        _stop(self.process)
        self.process = None


class StripeBridge:
    """`stripe_bridge` in front of a running LocalStripe: `url` is what the BPS uses as STRIPE_API_BASE.
    Its helpers do what Stripe's dashboard, Stripe.js and the issuer's 3-D Secure page would do."""

    def __init__(self, emulator: LocalStripe):
        self.emulator = emulator
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {STRIPE_SECRET_KEY}"

    def start(self) -> StripeBridge:
        command = [sys.executable, "-m", "paysite.tests.stripe_bridge", "--upstream", self.emulator.url, "--port", "0"]
        self.process, self.url = _start_listening(command)
        return self

    def stop(self) -> None:
        _stop(self.process)
        self.process = None

    def register_webhook(self, url: str, secret: str, *, events: list[str] | None = None,
                         endpoint_id: str = "bps") -> None:
        """A webhook endpoint (as in Stripe's dashboard); the same id again replaces it."""
        body = {"url": url, "secret": secret, "events": events or []}
        self.http.post(f"{self.url}/_config/webhooks/{endpoint_id}", json=body, timeout=5).raise_for_status()

    def unregister_webhook(self, endpoint_id: str = "bps") -> None:
        self.http.delete(f"{self.url}/_config/webhooks/{endpoint_id}", timeout=5).raise_for_status()

    def set_webhooks(self, *, enabled: bool) -> None:
        """Off: no endpoint gets any event (polling alone must find every outcome)."""
        self.http.post(f"{self.url}/_bridge/webhooks", data={"enabled": str(enabled).lower()}, timeout=5
                       ).raise_for_status()

    @contextmanager
    def webhooks_off(self) -> Iterator[None]:
        self.set_webhooks(enabled=False)
        try:
            yield
        finally:
            self.set_webhooks(enabled=True)

    def create_payment_method(self, *, card_number: str = "", iban: str = "") -> str:
        """A PaymentMethod made as Stripe.js makes one in the browser (publishable key, no secret key):
        a card (any test card number) or a SEPA debit (an IBAN). Returns its id."""
        from paysite.tests.stripe_shapes import card, sepa_debit

        details = card(card_number) if card_number else sepa_debit(iban)
        response = requests.post(f"{self.url}/v1/payment_methods", data=[*details, ("key", STRIPE_PUBLISHABLE_KEY)],
                                 timeout=5)
        response.raise_for_status()
        return str(response.json()["id"])

    def authenticate(self, payment_intent: str, client_secret: str, success: bool) -> Any:
        """The shopper passes (or fails) the 3-D Secure challenge; returns the PaymentIntent after it."""
        response = self.http.post(f"{self.url}/v1/payment_intents/{payment_intent}/_authenticate",
                                  data={"client_secret": client_secret, "success": str(success).lower()}, timeout=5)
        return response.json()

    def get(self, path: str) -> Any:
        response = self.http.get(f"{self.url}{path}", timeout=5)
        response.raise_for_status()
        return response.json()


class Web:
    """`gunicorn paysite.wsgi` (or another `app`) on a free port of loopback, in its own process group,
    with the settings given (read at `start`) and the project's gunicorn.conf.py under `options`.
    `url` is known before it starts, so that SITE_URL can name it."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *, options: tuple[str, ...] = (),
                 app: str = "paysite.wsgi"):
        self.app = app
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log_path, self.options = log_path, options
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> Web:
        command = [sys.executable, "-m", "gunicorn", self.app, "--bind", f"127.0.0.1:{self.port}", *self.options]
        self.process = _start_logging(command, {**os.environ, **self.env}, self.log_path, "Booting worker", timeout)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Worker:
    """`celery -A paysite worker -B` in its own process group, with the settings given."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *, concurrency: int = 2, beat: bool = True):
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.concurrency = concurrency
        self.beat = beat
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Worker:
        command = [
            sys.executable, "-m", "celery", "-A", "paysite", "worker", "--loglevel", "INFO",
            *(["--concurrency", str(self.concurrency)] if self.concurrency else []),  # 0: the settings' size
            "--queues", self.env["CELERY_TASK_DEFAULT_QUEUE"],
            "--hostname", f"{worker_marker()}{time.monotonic_ns()}@%h", "--without-mingle", "--without-gossip",
        ]
        if self.beat:
            command += ["--beat", "--schedule", str(self.log_path.with_suffix(".beat"))]
        self.process = _start_logging(command, self.env, self.log_path, " ready.", timeout)
        return self

    def kill(self) -> None:
        """SIGKILL the whole worker (main process, pool and beat), as a crash would."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class RedisServer:
    """A Redis of the test's own on a free port, keeping nothing on disk, so that a test can
    restart the broker as a crash would (every queued message gone) without touching the
    machine's Redis."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _answers(self.port):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()


def _start_listening(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start a server that prints "… listening on URL" first, and keep its output drained."""
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if " listening on " not in line:
        process.kill()
        raise RuntimeError(f"{command[2]} did not start: {line!r}")
    threading.Thread(target=process.stdout.read, daemon=True).start()  # keep the pipe drained
    return process, line.split(" listening on ", 1)[1].split()[0]


def _start_logging(command: list[str], env: Mapping[str, str], log_path: Path, ready: str,
                   timeout: float) -> subprocess.Popen[bytes]:
    """Start a process in its own process group, its output appended to `log_path`, and wait until
    the log says `ready`."""
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log_path.open("ab"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + timeout
    while ready not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{command[2]} did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    return process


def _stop(process: subprocess.Popen[str] | None) -> None:
    if process is not None:
        process.terminate()
        process.wait(timeout=10)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def worker_marker() -> str:
    """What every worker hostname started by this test process begins with."""
    return f"e2e-{os.getpid()}-"


def redis_forget(client: Any, queue: str) -> None:
    """Remove what this test session left in the broker's Redis: its queue and its bindings, the
    pidbox queues of the workers it started and their bindings, and its unacknowledged messages.
    Others' keys in the same database are left alone."""
    marker = worker_marker().encode()
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    for key in client.scan_iter(match=f"{worker_marker()}*"):
        client.delete(key)
    for key in client.scan_iter(match="_kombu.binding*"):
        kind = client.type(key)
        if kind == b"set":
            ours = [member for member in client.smembers(key) if marker in member]
            if ours:
                client.srem(key, *ours)
        elif kind == b"zset":
            ours = [member for member in client.zrange(key, 0, -1) if marker in member]
            if ours:
                client.zrem(key, *ours)
    # Binding lifetimes kept for exchanges whose bindings are gone now (the pidbox's, when ours
    # were its only ones).
    for exchange in client.zrange("_kombu.binding_deadlines", 0, -1):
        if not client.exists(b"_kombu.binding." + exchange):
            client.zrem("_kombu.binding_deadlines", exchange)
    for tag, payload in client.hgetall("unacked").items():
        if queue.encode() in payload or marker in payload:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
