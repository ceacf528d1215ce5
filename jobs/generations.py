"""Generations: what a process keeps of the database for its requests (the sites, a user's stored tokens, the saved
views) is stamped with a generation kept in the shared cache, and any change to it replaces the generation: every
process reads it again at its next request.

A change replaces the generation at once and again once its transaction commits (a request in between may have read
the database as it was before). The generations live in the `shared_only` cache, as the permission sets do: while
Redis does not answer it holds nothing, there is no generation, and every request reads the database (nothing
another worker changed meanwhile is missed). Without Redis (one process: the demo, the tests) the cache is the
process's own memory, which does not hear of a change another process made (`manage.py addsite`, the worker): there
what is kept is read again at least every LOCAL_SECONDS. The generations a request needs are read in the same round
trip as what its user holds (accounts.permission_cache.read_along).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Generic, TypeGuard, TypeVar

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction
from django.utils.connection import ConnectionProxy

from accounts import permission_cache

LOCAL_SECONDS = 2.0

_T = TypeVar("_T")

cache = ConnectionProxy(caches, "shared_only")


class Generation:
    """One generation, or one per user (its key a function of the user's pk)."""

    def __init__(self, key: Callable[[int | None], str]):
        self.key = key
        permission_cache.read_along(lambda user: key(user.pk))

    def current(self, user, user_id: int | None = None) -> str | None:
        """The generation now, as read with the user's Holdings when it was (`user_id`: for another's, or with no
        user); None while the shared cache holds nothing."""
        key = self.key(user.pk if user_id is None and user is not None else user_id)
        generation = permission_cache.read_with(user, key) or cache.get(key)
        if generation is None:
            cache.add(key, uuid.uuid4().hex, timeout=None)
            generation = cache.get(key)
        return generation

    def replace(self, user_id: int | None = None) -> None:
        """What it stamps changed: now, and once the change has committed."""
        key = self.key(user_id)

        def new() -> None:
            cache.set(key, uuid.uuid4().hex, timeout=None)

        new()
        transaction.on_commit(new)


def usable(kept: tuple[str, float, _T] | None, generation: str) -> TypeGuard[tuple[str, float, _T]]:
    """Whether what a process kept, as (its generation, when it was read (time.monotonic()), the value), may be used
    under `generation`, the one now."""
    if kept is None or kept[0] != generation:
        return False
    return not isinstance(caches["shared_only"], LocMemCache) or time.monotonic() - kept[1] < LOCAL_SECONDS


class Kept(Generic[_T]):
    """One value a process keeps under one generation for every user (all the sites, all the saved views): read from
    the database again once the generation is replaced, by one thread while the others wait for it."""

    def __init__(self, generation: Generation, read: Callable[[], _T]):
        self._generation = generation
        self._read = read
        self._kept: tuple[str, float, _T] | None = None
        self._lock = threading.Lock()

    def current(self, user) -> _T | None:
        """The value as of this user's request (`user` None: with no user); None when it cannot be known to be
        current (then ask the database)."""
        generation = self._generation.current(user, user_id=0)
        if generation is None:
            return None
        kept = self._kept
        if not usable(kept, generation):
            with self._lock:
                kept = self._kept
                if not usable(kept, generation):
                    kept = self._kept = (generation, time.monotonic(), self._read())
        return kept[2]
