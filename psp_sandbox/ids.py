"""Opaque, prefixed identifiers (`tok_`, `pay_`, `re_`, `evt_`)."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    # 18 random bytes: unguessable, and URL-safe so ids sit in paths as they are.
    return f"{prefix}_{secrets.token_urlsafe(18)}"
