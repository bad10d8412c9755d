"""Running the sandbox as a real process, the way the BPS meets it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

API_KEY = "sk_test_contract"
SECRET = "whsec_MfKQ9r3GKtJ9vQ0vQ4pA3bUeP1XW5Xb2tq9hZUq3c4E="
REPO_ROOT = Path(__file__).resolve().parents[2]


class SandboxProcess:
    def __init__(self, storage: Path, *options: str) -> None:
        self.storage = storage
        self.options = options
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.start_line = ""

    def start(self) -> SandboxProcess:
        command = [sys.executable, "-m", "psp_sandbox", "--port", "0"]
        command += ["--api-key", API_KEY, "--webhook-secret", SECRET]
        command += ["--storage", str(self.storage), *self.options]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PSP_SANDBOX_")}
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.start_line = self.process.stdout.readline()
        assert " listening on " in self.start_line, self.start_line
        self.url = self.start_line.split(" listening on ", 1)[1].split()[0]
        # It prints the line once it is listening; one request proves it answers.
        requests.get(f"{self.url}/sandbox/health", timeout=5).raise_for_status()
        return self

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(timeout=10)
        self.process = None
