"""Roles from the shared cache: a permission check costs one cache read, not two queries per request.

Every cached set of permissions is stamped with a generation. Any change to who holds what (a user's
groups or permissions, a group's permissions, a group or permission itself, a migration) replaces the
generation once its transaction commits, so the change takes effect at once on every worker that shares
the cache. Whether a user is active or a superuser comes from the user's row, read on every request.

The cache is the `shared_only` one: while Redis does not answer it holds nothing, so permission sets are read
from the database on every request (failing closed: a per-process copy could miss a role removed meanwhile on
another worker). A generation it could not replace then is dropped from Redis when it answers again
(dashboard/cache.py), so no set cached before the outage is trusted after it.

What a background worker or an API token does is checked against the database itself (`uncached`): without Redis
each process has its own cache, and a role changed in the web process would be unknown to the worker for an hour.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import caches
from django.db import transaction
from django.utils.connection import ConnectionProxy

from accounts.models import ProviderAccount

GENERATION_KEY = "permissions:generation"
ENTRY_SECONDS = 3600

cache = ConnectionProxy(caches, "shared_only")  # as django.core.cache.cache is for "default": the thread's own


def _user_key(user) -> str:
    # The row's creation time too: a deleted user's ID given to a new one never finds the old entry.
    return f"permissions:{user.pk}:{user.date_joined.timestamp()}:{int(user.is_superuser)}"


def _current_generation() -> str:
    cache.add(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
    return cache.get(GENERATION_KEY)


def _replace_generation() -> None:
    cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)


def new_generation(**_signal) -> None:
    """Every cached permission set is stale: now, and again once the change has committed
    (a request in between may have read the roles as they were before it)."""
    _replace_generation()
    transaction.on_commit(_replace_generation)


def uncached(user):
    """The same user, whose permission checks read the database, never the cache: for what acts without a browser
    (a scheduled policy run, an API call), so that a role removed anywhere counts at once."""
    for cached in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cached, None)
    user._permissions_uncached = True
    return user


class CachedPermissionsBackend(ModelBackend):
    """Django's ModelBackend (passwords, is_active, the same permission rules), its permission sets cached. An
    account linked to single sign-on signs in through its provider only (its MFA included), not with a password,
    unless OIDC_LINK_KEEPS_PASSWORD."""

    def user_can_authenticate(self, user) -> bool:
        if not super().user_can_authenticate(user):
            return False
        if settings.OIDC_LINK_KEEPS_PASSWORD:
            return True
        return not ProviderAccount.objects.filter(user=user).exclude(subject="").exists()

    def get_all_permissions(self, user_obj, obj=None):
        if (
            hasattr(user_obj, "_perm_cache")
            or getattr(user_obj, "_permissions_uncached", False)
            or not user_obj.is_active
            or user_obj.is_anonymous
            or obj is not None
        ):
            return super().get_all_permissions(user_obj, obj)
        user_key = _user_key(user_obj)
        found = cache.get_many([GENERATION_KEY, user_key])
        generation, entry = found.get(GENERATION_KEY), found.get(user_key)
        if generation is not None and entry is not None and entry[0] == generation:
            user_obj._perm_cache = entry[1]
            return entry[1]
        # Read the generation before the permissions: a change committed in between leaves this entry stale.
        generation = generation or _current_generation()
        permissions = super().get_all_permissions(user_obj)
        cache.set(user_key, (generation, permissions), timeout=ENTRY_SECONDS)
        return permissions
