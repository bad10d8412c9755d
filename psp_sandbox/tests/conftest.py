"""Fixtures: the sandbox as a real process, and a webhook receiver.

The shared sandbox runs at `--time-scale 0.001 --settle-delay 1000`, so a
pending payment or refund settles one real second after it is made and the
webhook retries come after 5 ms, 0.3 s, 1.8 s, 7.2 s, ...
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .client import Psp
from .receiver import Receiver
from .sandbox_process import SandboxProcess

TIME_SCALE = 0.001
SETTLE_DELAY = 1000  # PSP seconds: one real second at TIME_SCALE


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    storage = tmp_path_factory.mktemp("psp") / "psp.sqlite3"
    options = ("--time-scale", str(TIME_SCALE), "--settle-delay", str(SETTLE_DELAY))
    process = SandboxProcess(storage, *options).start()
    yield process
    process.stop()


@pytest.fixture
def psp(sandbox: SandboxProcess, receiver: Receiver) -> Iterator[Psp]:
    client = Psp(sandbox.url, webhook_url=receiver.url())
    yield client
    # Faults and webhook knobs are global to the process: none leaks into the next test.
    client.http.delete(sandbox.url + "/sandbox/faults", timeout=15)


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "own.sqlite3"
