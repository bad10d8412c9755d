"""Start-up rules for settings read from the environment: production fails closed.

Every refusal is a `SystemExit` with one line naming the variable: it stops manage.py, gunicorn
and celery before anything is served, and prints exactly that line. Pure functions of their
arguments (no Django import), so that `paysite/settings.py` can call them while it loads.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Iterable

# The demo's public values, known to anyone who reads this repository: welcome while DEBUG is on,
# refused when it is off. One line per secret. Stripe's keys have no demo value: Stripe mode
# always needs real ones (test keys, or any key an emulator accepts).
DEMO_SECRETS: dict[str, str] = {
    "SECRET_KEY": "demo-only-secret-key-never-use-in-production-0123456789abcdef",
    "PSP_API_KEY": "sk_test_sandbox",
    "PSP_WEBHOOK_SECRET": "whsec_nQxn1sKGmCmOppoXCnxzKgmOWNcR+WOQZGWjuJADFX8=",
}

# Standard Webhooks: a secret is 24 to 64 random bytes; fewer is guessable.
WEBHOOK_SECRET_MIN_BYTES = 24
# Django's own `check --deploy` wants 50 characters (security.W009).
SECRET_KEY_MIN_LENGTH = 50


def _refuse(name: str, why: str) -> SystemExit:
    return SystemExit(f"paysite: {name} {why}")


def secret(name: str, value: str, *, debug: bool) -> str:
    """`value` if production may use it; with DEBUG on, the demo value fills a gap.

    With DEBUG off, a missing value, the demo value, and a SECRET_KEY that is a demo or too short
    stop start-up.
    """
    demo = DEMO_SECRETS.get(name, "")
    if debug:
        return value or demo
    if not value:
        raise _refuse(name, "is not set; it is required when DEBUG is off.")
    if value == demo:
        raise _refuse(name, "is the public demo value; set a real one when DEBUG is off.")
    if name == "SECRET_KEY":
        if value.startswith(("demo-", "django-insecure-")):
            raise _refuse(name, "is a demo key; set a real one when DEBUG is off.")
        if len(value) < SECRET_KEY_MIN_LENGTH:
            raise _refuse(name, f"is shorter than {SECRET_KEY_MIN_LENGTH} characters; set a real one.")
    return value


def webhook_secret(name: str, value: str) -> str:
    """`value` if it is a usable `whsec_` secret (or empty, for an optional one), whatever DEBUG is.

    A malformed secret would otherwise only show at the first webhook, as a refused delivery.
    """
    if not value:
        return value
    if not value.startswith("whsec_"):
        raise _refuse(name, "must start with whsec_.")
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise _refuse(name, "is not valid base64 after whsec_.") from None
    if len(key) < WEBHOOK_SECRET_MIN_BYTES:
        raise _refuse(name, f"holds {len(key)} bytes; a webhook secret needs at least {WEBHOOK_SECRET_MIN_BYTES}.")
    return value


def networks(name: str, values: Iterable[str]) -> list[str]:
    """The IP addresses and CIDR networks in `values`, each normalised (`10.0.0.1` -> `10.0.0.1/32`)."""
    parsed = []
    for value in values:
        try:
            parsed.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise _refuse(name, f"holds {value!r}, which is not an IP address or network.") from None
    return parsed


# Caches that each process keeps to itself: a key revoked in one process would stay remembered in
# the others (checkout/api_keys.py), and refusal counts and throttles would be per process.
_PER_PROCESS_CACHES = ("django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache")


def shared_cache(name: str, config: dict[str, object], *, debug: bool) -> dict[str, object]:
    """`config` if every process of the BPS shares that cache; with DEBUG off a per-process one
    (locmem://, dummycache://) stops start-up."""
    if not debug and config.get("BACKEND") in _PER_PROCESS_CACHES:
        raise _refuse(name, "names a cache of one process; the BPS's processes must share one (redis://, filecache://).")
    return config


PROVIDERS = ("generic", "stripe")
_STRIPE_KEY_PREFIXES = {
    "STRIPE_SECRET_KEY": ("sk_test_", "sk_live_", "rk_test_", "rk_live_"),
    "STRIPE_PUBLISHABLE_KEY": ("pk_test_", "pk_live_"),
    "STRIPE_WEBHOOK_SECRET": ("whsec_",),
}


def provider(name: str, value: str) -> str:
    if value not in PROVIDERS:
        raise _refuse(name, f"is {value!r}; it must be one of: {', '.join(PROVIDERS)}.")
    return value


def stripe_keys(
    *, secret_key: str, publishable_key: str, webhook_secret: str, api_base: str, required: bool, debug: bool,
) -> tuple[str, str, str, str]:
    """Stripe's keys, checked for their shape (a publishable key where the secret one belongs is
    a common slip), and live keys never beside test keys. Required only in Stripe mode."""
    values = {"STRIPE_SECRET_KEY": secret_key, "STRIPE_PUBLISHABLE_KEY": publishable_key,
              "STRIPE_WEBHOOK_SECRET": webhook_secret}
    for name, value in values.items():
        if not value:
            if required:
                raise _refuse(name, "is not set; it is required when PSP_PROVIDER is stripe.")
            continue
        if not value.startswith(_STRIPE_KEY_PREFIXES[name]) or len(value) <= len(_STRIPE_KEY_PREFIXES[name][0]):
            raise _refuse(name, f"must start with {' or '.join(_STRIPE_KEY_PREFIXES[name])}.")
    if secret_key and publishable_key and ("_live_" in secret_key) != ("_live_" in publishable_key):
        raise _refuse("STRIPE_PUBLISHABLE_KEY", "is for the other mode (live/test) than STRIPE_SECRET_KEY.")
    if api_base and not debug:
        raise _refuse("STRIPE_API_BASE", "points Stripe at an emulator; that is for tests, with DEBUG on.")
    if api_base and not api_base.startswith(("http://", "https://")):
        raise _refuse("STRIPE_API_BASE", "must be an http(s) URL.")
    return secret_key, publishable_key, webhook_secret, api_base.rstrip("/")
