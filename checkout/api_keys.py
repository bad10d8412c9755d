"""Storefront API keys: created once, stored as SHA-256, checked on every API request. A key
speaks for its storefront: what it creates belongs to that storefront, and it sees nothing else.

A live key is remembered in Django's cache (Redis in production, the file cache of one machine in
the demo), under its digest, so the API's hot path asks the database nothing to know its caller.
Revocation still takes effect at once, in every process that shares the cache:

- `api_key_revoke` commits `revoked_at`, then (after the commit) writes a *tombstone* for the
  digest and deletes the remembered entry. Every lookup reads the tombstone together with the
  entry (one round trip) and a tombstone wins, so once `api_key_revoke` returns no process
  accepts the key, cached or not.
- A request that read the key in the database just before the revocation and remembers it just
  after it could make the key live again. So an entry is only trusted once its writer has asked
  the database again *after* writing it (`_still_live`: an UPDATE of `last_used_at`, or a SELECT,
  `WHERE revoked_at IS NULL`): either that second look sees the revocation (the writer deletes
  its entry and refuses), or the revocation committed after it and its post-commit delete removes
  the entry. This holds even if the tombstone itself is lost (an evicting Redis, the file cache's
  culling); the tombstone only closes the moment between that write and that second look.
- Entries live `REMEMBER_FOR` (5 min), tombstones `TOMBSTONE_FOR` (1 h), longer than any entry.

Revoke keys only through `api_key_revoke` (the mid-office's action does): after a bulk UPDATE of
`revoked_at` the cache would go on accepting the key until its next database look, up to
`LAST_USED_EVERY` later.
`last_used_at` is written at most once a minute per key over all processes (a marker in the
cache says it was written), and that write is the second look above, so it costs nothing more.
If the cache cannot be reached, keys are checked in the database alone, as before.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any

from django.core.cache import cache
from django.db import router, transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from checkout.models import ApiKey, Storefront

logger = logging.getLogger(__name__)

KEY_PREFIX = "bps_"
REMEMBER_FOR = 300  # seconds a live key is remembered in the cache
TOMBSTONE_FOR = 3600  # seconds a revoked key's tombstone lives: longer than any remembered entry
LAST_USED_EVERY = 60  # seconds between two writes of a key's last_used_at
# What a remembered entry holds: enough for every API view, so none reads the key's row.
_KEY_FIELDS = ("id", "storefront_id", "name", "prefix", "key_hash")
_STOREFRONT_FIELDS = ("id", "name")


def _digest(key: str) -> str:
    # Keys are 256 random bits, so a plain hash is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def _entry_key(digest: str) -> str:
    return f"apikey:v1:live:{digest}"


def _tombstone_key(digest: str) -> str:
    return f"apikey:v1:revoked:{digest}"


def _used_key(digest: str) -> str:
    return f"apikey:v1:used:{digest}"


def api_key_create(*, storefront_name: str) -> tuple[ApiKey, str]:
    """Create a key for the storefront `storefront_name`, creating the storefront if it is new
    (an existing one gets one more live key). Returns the record and the key itself, which is
    never stored."""
    storefront, _created = Storefront.objects.get_or_create(name=storefront_name)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey.objects.create(storefront=storefront, name=storefront_name, prefix=key[:10], key_hash=_digest(key))
    return record, key


def api_key_revoke(*, api_key: ApiKey) -> None:
    """Revoke the key: refused by every process once this returns (or, inside an outer
    transaction, once that commits)."""
    now = timezone.now()
    with transaction.atomic():
        if ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now):
            api_key.revoked_at = now
        transaction.on_commit(lambda: _forget(api_key.key_hash))


def _forget(digest: str) -> None:
    # The tombstone first: from this moment no lookup accepts the key, whatever else the cache holds.
    cache.set(_tombstone_key(digest), True, timeout=TOMBSTONE_FOR)
    cache.delete(_entry_key(digest))


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
        api_key = live_api_key(_digest(key))
        if api_key is None:
            raise AuthenticationFailed()
        return StorefrontClient(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def live_api_key(digest: str) -> ApiKey | None:
    """The live key of this digest, from the cache when it remembers it; None if there is none."""
    entry_key, tombstone_key = _entry_key(digest), _tombstone_key(digest)
    try:
        found = cache.get_many([entry_key, tombstone_key, _used_key(digest)])
    except Exception:
        logger.warning("API keys: the cache cannot be read; checking the key in the database", exc_info=True)
        return _from_database_only(digest)
    if found.get(tombstone_key):
        return None
    entry = found.get(entry_key)
    if entry is not None:
        api_key = _from_entry(entry, digest)
        if api_key is not None:
            if found.get(_used_key(digest)):
                return api_key  # its last_used_at was written this minute (read with the entry)
            # A remembered key is checked in the database again once a minute, as last_used_at is written.
            return api_key if _still_live(api_key.pk, digest, only_if_due=True) else None
    api_key = ApiKey.objects.select_related("storefront").filter(key_hash=digest, revoked_at__isnull=True).first()
    if api_key is None:
        return None
    cache.add(entry_key, _entry_of(api_key), timeout=REMEMBER_FOR)
    # The second look, after remembering it: see the module's docstring.
    return api_key if _still_live(api_key.pk, digest, only_if_due=False) else None


def _still_live(api_key_id: int, digest: str, *, only_if_due: bool) -> bool:
    """Whether the key is still unrevoked in the database, writing its last_used_at when a minute
    has passed since the last write. With `only_if_due`, nothing is asked when it is not due."""
    live = ApiKey.objects.filter(pk=api_key_id, revoked_at__isnull=True)
    if cache.add(_used_key(digest), True, timeout=LAST_USED_EVERY):
        still = live.update(last_used_at=timezone.now()) == 1  # autocommit: at most once a minute per key
    elif only_if_due:
        return True
    else:
        still = live.exists()
    if not still:
        _forget(digest)  # it was revoked: remember that too
    return still


def _entry_of(api_key: ApiKey) -> tuple[Any, ...]:
    return (
        *(getattr(api_key, name) for name in _KEY_FIELDS),
        *(getattr(api_key.storefront, name) for name in _STOREFRONT_FIELDS),
    )


def _from_entry(entry: Any, digest: str) -> ApiKey | None:
    """The key as a model instance, its other columns deferred (read from the database only if
    something asks for them; a save() writes only the columns loaded)."""
    if not isinstance(entry, tuple) or len(entry) != len(_KEY_FIELDS) + len(_STOREFRONT_FIELDS):
        return None  # not ours (another version's entry): look it up again
    values = entry[: len(_KEY_FIELDS)]
    if values[_KEY_FIELDS.index("key_hash")] != digest:
        return None
    db = router.db_for_read(ApiKey)
    api_key = ApiKey.from_db(db, list(_KEY_FIELDS), list(values))
    api_key.storefront = Storefront.from_db(db, list(_STOREFRONT_FIELDS), list(entry[len(_KEY_FIELDS):]))
    return api_key


def _from_database_only(digest: str) -> ApiKey | None:
    """The lookup without the cache (it cannot be reached): last_used_at by its own age."""
    api_key = ApiKey.objects.select_related("storefront").filter(key_hash=digest, revoked_at__isnull=True).first()
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > LAST_USED_EVERY:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key


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
