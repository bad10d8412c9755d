"""Storefront API keys: created once, stored as SHA-256, checked on every API request. A key
speaks for its storefront: what it creates belongs to that storefront, and it sees nothing else."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from checkout.models import ApiKey, Storefront

KEY_PREFIX = "bps_"


def _digest(key: str) -> str:
    # Keys are 256 random bits, so a plain hash is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(*, storefront_name: str) -> tuple[ApiKey, str]:
    """Create a key for the storefront `storefront_name`, creating the storefront if it is new
    (an existing one gets one more live key). Returns the record and the key itself, which is
    never stored."""
    storefront, _created = Storefront.objects.get_or_create(name=storefront_name)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey.objects.create(storefront=storefront, name=storefront_name, prefix=key[:10], key_hash=_digest(key))
    return record, key


def api_key_revoke(*, api_key: ApiKey) -> None:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])


class StorefrontClient:
    """The authenticated caller of the API: a storefront holding a live key."""

    is_authenticated = True

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key


class ApiKeyAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[StorefrontClient, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword or len(parts) != 2:
            return None
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed() from None
        api_key = (
            ApiKey.objects.select_related("storefront").filter(key_hash=_digest(key), revoked_at__isnull=True).first()
        )
        if api_key is None:
            raise AuthenticationFailed()
        now = timezone.now()
        if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)  # at most once a minute
        return StorefrontClient(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def caller_api_key(request: Request) -> ApiKey:
    """The key that authenticated this API request (views behind HasApiKey always have one)."""
    if not isinstance(request.auth, ApiKey):
        raise AuthenticationFailed()
    return request.auth


def caller_storefront(request: Request) -> Storefront:
    """The storefront whose key authenticated this API request."""
    return caller_api_key(request).storefront


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the storefront's key."""

    target_class = "checkout.api_keys.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A key from `manage.py create_api_key`."}


class HasApiKey(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiKey)
