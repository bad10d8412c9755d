"""`python -m psp_sandbox [options]`: run the sandbox PSP until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from .api import Api
from .app import App
from .config import Config, parse_config
from .delivery import DeliveryWorker
from .events import EventWriter
from .faults import FaultRegistry
from .idempotency import IdempotencyKeys
from .server import SandboxServer, make_server
from .settler import Settler
from .store import Database


class Sandbox:
    """Every part of the running sandbox, wired together."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.db = Database(config.storage)
        faults = FaultRegistry()
        keys = IdempotencyKeys(self.db)
        self.delivery = DeliveryWorker(self.db, secret=config.webhook_secret, time_scale=config.time_scale)
        events = EventWriter(faults, self.delivery.wake)
        self.settler = Settler(self.db, events, keys)
        api = Api(config, self.db, events, faults, self.settler.wake)
        app = App(
            api_key=config.api_key,
            db=self.db,
            router=api.routes(),
            faults=faults,
            keys=keys,
        )
        self.server: SandboxServer = make_server(config.host, config.port, app)

    def start_line(self) -> str:
        c = self.config
        return (
            f"psp_sandbox listening on {self.server.url} api_key={c.api_key}"
            f" webhook_secret={c.webhook_secret} settle_delay={c.settle_delay:g}s"
            f" time_scale={c.time_scale:g} (settles in {c.settle_delay * c.time_scale:g} real s)"
            f" session_ttl={c.session_ttl:g}s storage={c.storage}"
        )

    def serve(self) -> None:
        # The stop signals are blocked before any thread starts (threads inherit the mask) and
        # then waited for synchronously: no handler runs inside a lock. A handler that set a
        # threading.Event deadlocked when SIGINT and SIGTERM arrived together (Ctrl-C under
        # `make run` sends both).
        stop_signals = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        self.delivery.start()
        self.settler.start()
        serving = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)
        serving.start()
        # The one line a developer (or a test) reads to learn where it listens.
        sys.stdout.write(self.start_line() + "\n")
        sys.stdout.flush()
        signal.sigwait(stop_signals)
        self.server.shutdown()
        self.server.server_close()
        self.settler.stop()
        self.delivery.stop()


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_config(sys.argv[1:] if argv is None else argv, os.environ)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    Sandbox(config).serve()


if __name__ == "__main__":
    main()
