"""Roles from the shared cache: what a signed-in user holds costs one cache read per request, not four queries.

What a user holds (Holdings: their permissions, their groups, whether their account is linked to single sign-on)
is cached as one entry, stamped with a generation. Any change to who holds what (a user's groups or permissions,
a group's permissions, a group or permission itself, an account linked or unlinked, a migration) replaces the
generation once its transaction commits, so the change takes effect at once on every worker that shares the
cache. Whether a user is active or a superuser, and their password's hash (a changed password ends their other
sessions), come from the user's row, read on every request.

The cache is the `shared_only` one: while Redis does not answer it holds nothing, so permission sets are read
from the database on every request (failing closed: a per-process copy could miss a role removed meanwhile on
another worker). A generation it could not replace then is dropped from Redis when it answers again
(dashboard/cache.py), so no set cached before the outage is trusted after it.

What a background worker or an API token does is checked against the database itself (`uncached`): without Redis
each process has its own cache, and a role changed in the web process would be unknown to the worker for an hour.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.db import connections, router, transaction
from django.utils.connection import ConnectionProxy

from accounts.models import ProviderAccount

GENERATION_KEY = "permissions:generation"
ENTRY_SECONDS = 3600

cache = ConnectionProxy(caches, "shared_only")  # as django.core.cache.cache is for "default": the thread's own


def _user_key(user) -> str:
    # The row's creation time too: a deleted user's ID given to a new one never finds the old entry.
    return f"holdings:{user.pk}:{user.date_joined.timestamp()}:{int(user.is_superuser)}"


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
    for cached in ("_perm_cache", "_user_perm_cache", "_group_perm_cache", "_holdings", "_read_along"):
        with contextlib.suppress(AttributeError):  # (delattr, not __dict__: the user may be a lazy object)
            delattr(user, cached)
    user._permissions_uncached = True
    return user


@dataclass(frozen=True)
class Holdings:
    """What a user holds: permissions (as ModelBackend names them), groups, and whether the account is linked to a
    single sign-on identity (then its password does not sign in, unless OIDC_LINK_KEEPS_PASSWORD)."""

    permissions: frozenset[str]
    group_ids: frozenset[int]
    group_names: frozenset[str]
    linked: bool


# Keys of the shared cache that other layers read on most requests (the generations of what they keep per process:
# sites, a user's tokens, saved views), each a function of the user: read in the same round trip as the user's
# Holdings, one per request.
_read_along: list[Callable[[Any], str]] = []


def read_along(key_of: Callable[[Any], str]) -> None:
    """Have the key key_of(user) read with every user's Holdings (see read_with)."""
    _read_along.append(key_of)


def read_with(user, key: str) -> str | None:
    """What `key` held when this request read the user's Holdings; None when it held nothing or was not read
    (then read it yourself)."""
    found = getattr(user, "_read_along", None)  # (getattr: request.user is a lazy object)
    return found.get(key) if found else None


def holdings(user) -> Holdings:
    """The user's Holdings: from the shared cache while its generation stands, else read (and cached). Kept on the
    user object for the rest of the request, as Django keeps its permission sets."""
    found = getattr(user, "_holdings", None)  # (getattr: request.user is a lazy object)
    if found is not None:
        return found
    if getattr(user, "_permissions_uncached", False) or not user.is_active:
        found = _read(user)
    else:
        user_key = _user_key(user)
        along = [key_of(user) for key_of in _read_along]
        cached = cache.get_many([GENERATION_KEY, user_key, *along])
        user._read_along = {key: cached[key] for key in along if key in cached}
        generation, entry = cached.get(GENERATION_KEY), cached.get(user_key)
        if generation is not None and entry is not None and entry[0] == generation:
            found = entry[1]
        else:
            # Read the generation before the database: a change committed in between leaves this entry stale.
            generation = generation or _current_generation()
            found = _read(user)
            cache.set(user_key, (generation, found), timeout=ENTRY_SECONDS)
    user._holdings = found
    return found


def _read(user) -> Holdings:
    permissions = ModelBackend().get_all_permissions(user) if user.is_active else set()
    groups = list(Group.objects.filter(user=user).values_list("pk", "name"))
    linked = ProviderAccount.objects.filter(user=user).exclude(subject="").exists()
    return Holdings(
        frozenset(permissions), frozenset(pk for pk, _ in groups), frozenset(name for _, name in groups), linked
    )


class CachedPermissionsBackend(ModelBackend):
    """Django's ModelBackend (passwords, is_active, the same permission rules), its permission sets cached. An
    account linked to single sign-on signs in through its provider only (its MFA included), not with a password,
    unless OIDC_LINK_KEEPS_PASSWORD."""

    def user_can_authenticate(self, user) -> bool:
        """At a sign-in with a password: read from the database, never from the cache."""
        if not super().user_can_authenticate(user):
            return False
        if settings.OIDC_LINK_KEEPS_PASSWORD:
            return True
        return not ProviderAccount.objects.filter(user=user).exclude(subject="").exists()

    def get_user(self, user_id):
        """A session's user on every request: its row from the database, whether it is linked from its Holdings."""
        user = _user_row(user_id)
        if user is None or not ModelBackend.user_can_authenticate(self, user):
            return None
        return user if settings.OIDC_LINK_KEEPS_PASSWORD or not holdings(user).linked else None

    def get_all_permissions(self, user_obj, obj=None):
        if hasattr(user_obj, "_perm_cache") or not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return super().get_all_permissions(user_obj, obj)
        if getattr(user_obj, "_permissions_uncached", False):
            return super().get_all_permissions(user_obj, obj)
        user_obj._perm_cache = set(holdings(user_obj).permissions)
        return user_obj._perm_cache


def _user_row(user_id):
    """The user whose primary key the session holds, or None: the row read with a SELECT written once per process
    (the ORM's get() spent ten times longer building that query, on every request, than the database answering it),
    its values converted as the ORM converts them."""
    model = get_user_model()
    try:
        pk = model._meta.pk.to_python(user_id)
    except ValidationError:
        return None
    alias = router.db_for_read(model)
    return next(iter(model._default_manager.db_manager(alias).raw(_select_user(alias), [pk])), None)


@functools.cache
def _select_user(alias: str) -> str:
    meta, quote = get_user_model()._meta, connections[alias].ops.quote_name
    columns = ", ".join(quote(field.column) for field in meta.concrete_fields)
    return f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608 - names only
