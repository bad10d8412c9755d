"""The command line: options, their defaults, and environment variables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from .sandbox_process import REPO_ROOT

pytestmark = pytest.mark.sandbox

OPTIONS = [
    ("--host", "127.0.0.1", "PSP_SANDBOX_HOST"),
    ("--port", "8001", "PSP_SANDBOX_PORT"),
    ("--api-key", "sk_test_sandbox", "PSP_SANDBOX_API_KEY"),
    ("--webhook-secret", "whsec_", "PSP_SANDBOX_WEBHOOK_SECRET"),
    ("--settle-delay", "7200", "PSP_SANDBOX_SETTLE_DELAY"),
    ("--time-scale", "1.0", "PSP_SANDBOX_TIME_SCALE"),
    ("--session-ttl", "86400", "PSP_SANDBOX_SESSION_TTL"),
    ("--storage", "var/psp_sandbox.sqlite3", "PSP_SANDBOX_STORAGE"),
]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PSP_SANDBOX_")}
    return {**env, **extra}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "psp_sandbox", *args],
        cwd=REPO_ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )


def _start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "psp_sandbox", "--port", "0", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline()


def test_help_shows_every_option_with_its_default_and_variable() -> None:
    answer = _run(["--help"], _env())
    assert answer.returncode == 0
    text = " ".join(answer.stdout.split())
    for option, default, variable in OPTIONS:
        assert option in text
        assert f"default: {default}" in text
        assert variable in text


def test_environment_variables_set_options_and_the_command_line_wins(
    tmp_path: Path,
) -> None:
    # given options from the environment, one of them also on the command line
    env = _env(
        PSP_SANDBOX_API_KEY="sk_from_env",
        PSP_SANDBOX_SESSION_TTL="60",
        PSP_SANDBOX_TIME_SCALE="0.5",
        PSP_SANDBOX_STORAGE=str(tmp_path / "deep" / "er" / "env.sqlite3"),
    )
    process, line = _start(["--time-scale", "0.25"], env)
    try:
        # then the start line shows the URL, the key and the settings in force
        url = line.split(" listening on ", 1)[1].split()[0]
        assert "api_key=sk_from_env" in line
        assert "session_ttl=60s" in line
        assert "time_scale=0.25" in line
        assert "settle_delay=7200s" in line
        assert "webhook_secret=whsec_" in line
        # and the key from the environment is the one that works
        good = requests.get(
            url + "/v1/sessions/tok_x",
            headers={"Authorization": "Bearer sk_from_env"},
            timeout=10,
        )
        assert good.status_code == 404
        # and the storage's parent folders were created
        assert (tmp_path / "deep" / "er" / "env.sqlite3").exists()
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0  # SIGTERM is a clean stop


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--time-scale", "0"], {}),
        (["--settle-delay", "-1"], {}),
        (["--port", "70000"], {}),
        (["--webhook-secret", "not-a-secret"], {}),
        (["--webhook-secret", "whsec_!!!"], {}),
        ([], {"PSP_SANDBOX_PORT": "abc"}),
        ([], {"PSP_SANDBOX_SESSION_TTL": "0"}),
    ],
)
def test_a_bad_value_stops_with_a_usage_error(args: list[str], env: dict[str, str]) -> None:
    answer = _run(args, _env(**env))
    assert answer.returncode == 2
    assert "error" in answer.stderr


@pytest.mark.parametrize(
    ("signals", "tries"), [(["SIGTERM"], 1), (["SIGINT"], 1), (["SIGINT", "SIGTERM"], 6)]
)
def test_it_stops_promptly_on_ctrl_c_and_terminate_even_both_at_once(
    tmp_path: Path, signals: list[str], tries: int
) -> None:
    import signal as signal_module

    for attempt in range(tries):  # the race of two signals at once shows up about every other time
        # given a running sandbox
        process = subprocess.Popen(
            [sys.executable, "-m", "psp_sandbox", "--port", "0", "--storage", str(tmp_path / f"{attempt}.sqlite3")],
            cwd=REPO_ROOT, env=_env(), stdout=subprocess.PIPE, text=True,
        )
        assert process.stdout is not None
        assert " listening on " in process.stdout.readline()
        # when it gets Ctrl-C and a terminate back to back (what `make run` does on Ctrl-C)
        for name in signals:
            process.send_signal(getattr(signal_module, name))
        # then it exits, cleanly, within seconds
        try:
            assert process.wait(timeout=10) == 0
        finally:
            process.kill()
