"""Roles from the shared cache: a permission check costs one cache read, not two queries per request.

Every cached set of permissions is stamped with a generation. Any change to who holds what (a user's
groups or permissions, a group's permissions, a group or permission itself, a migration) replaces the
generation once its transaction commits, so the change takes effect at once on every worker that shares
the cache. Whether a user is active or a superuser comes from the user's row, read on every request.

The cache is the `shared_only` one: while Redis does not answer it holds nothing, so permission sets are read
from the database on every request (failing closed: a per-process copy could miss a role removed meanwhile on
another worker). A generation it could not replace then is dropped from Redis when it answers again
(dashboard/cache.py), so no set cached before the outage is trusted after it.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.backends import ModelBackend
from django.core.cache import caches
from django.db import transaction
from django.utils.connection import ConnectionProxy

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


class CachedPermissionsBackend(ModelBackend):
    """Django's ModelBackend (passwords, is_active, the same permission rules), its permission sets cached."""

    def get_all_permissions(self, user_obj, obj=None):
        if hasattr(user_obj, "_perm_cache") or not user_obj.is_active or user_obj.is_anonymous or obj is not None:
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
