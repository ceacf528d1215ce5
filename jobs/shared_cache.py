"""The shared cache (Redis with several workers), as one client per process. While Redis does not answer, its
calls go to this process's own memory instead, never raising (dashboard/cache.py): what lives here then works per
process."""

from __future__ import annotations

import functools

from django.core.cache import caches


@functools.cache
def _shared_cache():
    """One cache client per process, shared by every thread: upstream calls run in pool threads,
    and Django's per-thread `cache` would open a new Redis connection in each of them."""
    return caches.create_connection("default")


def backend():
    """The process's cache backend itself (e.g. to use a Redis structure the cache API has no word for)."""
    return _shared_cache()


class _Cache:
    def __getattr__(self, name):
        return getattr(_shared_cache(), name)


cache = _Cache()
