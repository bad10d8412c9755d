"""Command-line options, each also settable as an environment variable.

`PSP_SANDBOX_<NAME>` (for example `PSP_SANDBOX_PORT`) sets an option's
default; the command line wins over it.
"""

from __future__ import annotations

import argparse
import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ENV_PREFIX = "PSP_SANDBOX_"

# A fixed demo secret so a BPS configured once keeps verifying after restarts.
# It is public on purpose: this is a sandbox, never a real PSP.
DEMO_WEBHOOK_SECRET = "whsec_nQxn1sKGmCmOppoXCnxzKgmOWNcR+WOQZGWjuJADFX8="  # noqa: S105 - public demo value


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8001
    api_key: str = "sk_test_sandbox"
    webhook_secret: str = DEMO_WEBHOOK_SECRET
    settle_delay: float = 7200.0
    time_scale: float = 1.0
    session_ttl: float = 86400.0
    storage: str = "var/psp_sandbox.sqlite3"


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return number


def _non_negative(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return number


def _port(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"not a port: {value}")
    return number


def _secret(value: str) -> str:
    if not value.startswith("whsec_"):
        raise argparse.ArgumentTypeError("must start with whsec_")
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except binascii.Error as exc:
        raise argparse.ArgumentTypeError(f"not base64 after whsec_: {exc}") from exc
    if len(key) < 16:
        raise argparse.ArgumentTypeError("the key must be at least 16 bytes")
    return value


_OPTIONS: list[tuple[str, Callable[[str], Any], str]] = [
    ("host", str, "address to listen on"),
    ("port", _port, "port to listen on (0: any free port, shown in the start line)"),
    (
        "api_key",
        str,
        "the bearer key every /v1/ and /sandbox/faults request must carry",
    ),
    (
        "webhook_secret",
        _secret,
        "Standard Webhooks secret (whsec_ + base64) signing events",
    ),
    (
        "settle_delay",
        _non_negative,
        "PSP seconds until a pending payment or refund is final",
    ),
    (
        "time_scale",
        _positive,
        "real seconds per PSP second (settle delay, webhook retries)",
    ),
    ("session_ttl", _positive, "real seconds a session stays open (not scaled)"),
    ("storage", str, "SQLite file holding the sandbox's state (parent created)"),
]


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m psp_sandbox",
        description="Sandbox PSP implementing the PSP protocol (docs/psp-protocol.md). Every option "
        f"can also be set as an environment variable {ENV_PREFIX}<NAME>; the command line wins.",
    )
    defaults = Config()
    for name, parse, text in _OPTIONS:
        env_name = ENV_PREFIX + name.upper()
        builtin = getattr(defaults, name)
        default = builtin
        if env_name in environ:
            try:
                default = parse(environ[env_name])
            except (argparse.ArgumentTypeError, ValueError) as exc:
                parser.error(f"{env_name}: {exc}")
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=parse,
            default=default,
            help=f"{text} (default: {builtin}; env {env_name})",
        )
    return parser


def parse_config(argv: Sequence[str], environ: Mapping[str, str]) -> Config:
    namespace = build_parser(environ).parse_args(list(argv))
    return Config(**vars(namespace))
