"""The shared cache: Django's Redis cache, one client per pool, and a Redis outage that slows the portal down
instead of breaking it.

Django's RedisCacheClient builds a new `redis.Redis` for every cache operation, and each one sets up some two
hundred response callbacks: a few per request adds up to a noticeable share of a request's time. A `redis.Redis`
over a pool is thread-safe, so one per pool serves every thread.

Redis going away (stopped, hanging, restarted empty) never raises into a request:

- every call waits at most the socket timeouts the settings give (a fraction of a second), and after one failure
  the process stops asking Redis for RETRY_SECONDS; then one call (one thread) tries again. A Redis that hangs
  costs one short timeout every few seconds per process, not seconds per request.
- meanwhile `PortalRedisCache` keeps what it is given in this process's memory, so the circuit breakers, shared
  reads and rate counts go on per process; `SharedOnlyRedisCache` keeps nothing, so its users (sessions, permission
  sets) read the database, the source of truth, and nothing one process did is missed by another.
- every key a process could not write (set, add, delete, incr…) while Redis was away is deleted from Redis when
  it answers again, before the process reads from it: a value the outage left behind there (a session signed
  out meanwhile, the permission generation a role change could not replace) is never trusted.
- the outage is logged once when it starts and once when it ends (dashboard.outages).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from dashboard.outages import Outage

_T = TypeVar("_T")

RETRY_SECONDS = 2.0  # after a failure, how long a process goes without Redis before one call tries it again
MISSED_KEYS_KEPT = 10_000  # beyond this many keys missed in one outage, every key of the portal is dropped instead
FALLBACK_ENTRIES = 10_000  # what a process keeps in its own memory meanwhile

State = Literal["ok", "degraded", "down"]


class _ReusingClient(RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        return self._client_for(self._get_connection_pool(write))

    @functools.cache  # noqa: B019 - one client per pool for the life of the process is the point
    def _client_for(self, pool):
        return self._client(connection_pool=pool)


class _Redis:
    """One Redis server as this process sees it: shared by every thread and both cache classes."""

    def __init__(self, location: str, key_prefix: str):
        address = urlsplit(location.split(",")[0].split(";")[0])
        where = address.path if address.scheme == "unix" else f"{address.hostname}:{address.port or 6379}"
        self.outage = Outage(
            f"The shared cache (Redis at {where})",
            "sessions and permissions are read from the database, the circuit breakers, shared reads and rate "
            "limits work per process until it answers again",
        )
        self.key_prefix = key_prefix
        self.down = False
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self._probing = False
        self._missed: set[str] = set()  # Redis keys written while it was away: deleted from Redis on its return
        self._missed_too_many = False
        self.memory = LocMemCache(f"gpjobs-fallback:{location}", {"OPTIONS": {"MAX_ENTRIES": FALLBACK_ENTRIES}})

    def may_call(self, client: Callable[[], redis.Redis]) -> bool:
        """Whether a call may go to Redis now: it is answering, or it is time to try again and Redis is back."""
        if not self.down:
            return True
        with self._lock:
            if not self.down:
                return True
            if self._probing or time.monotonic() < self._retry_at:
                return False
            self._probing = True  # this thread tries; the others go on without Redis meanwhile
        try:
            return self._come_back(client())
        finally:
            self._probing = False

    def failed(self, exc: redis.RedisError) -> None:
        with self._lock:
            self.down = True
            self._retry_at = time.monotonic() + RETRY_SECONDS
        self.outage.failed(exc)

    def missed(self, keys: Iterable[str], client: Callable[[], redis.Redis]) -> None:
        """Keys a write could not reach Redis with: dropped there once it answers again."""
        keys = list(keys)
        if not keys:
            return
        with self._lock:
            if self.down:
                if len(self._missed) + len(keys) > MISSED_KEYS_KEPT:
                    self._missed_too_many = True
                    self._missed.clear()
                elif not self._missed_too_many:
                    self._missed.update(keys)
                return
        # Redis came back while this write went elsewhere: drop what Redis still holds for these keys.
        try:
            client().delete(*keys)
        except redis.RedisError as exc:
            self.failed(exc)
            self.missed(keys, client)

    def missed_everything(self) -> None:
        """A clear() while Redis was away: every key of the portal is dropped from it on its return."""
        with self._lock:
            self._missed_too_many = True
            self._missed.clear()

    def _come_back(self, client: redis.Redis) -> bool:
        dropped = 0
        try:
            client.ping()
            if self._missed_too_many:
                for key in client.scan_iter(match=f"{self.key_prefix}:*" if self.key_prefix else "*", count=1000):
                    dropped += client.delete(key)
            while True:
                with self._lock:
                    batch = list(self._missed)[:1000]
                    if not batch:
                        # Nothing written meanwhile is left in Redis: calls may use it again.
                        self.down, self._missed_too_many = False, False
                        break
                dropped += client.delete(*batch)
                with self._lock:
                    self._missed.difference_update(batch)
        except redis.RedisError:
            with self._lock:
                self._retry_at = time.monotonic() + RETRY_SECONDS
            return False
        self.memory.clear()  # the next outage starts from nothing, not from this one's leftovers
        self.outage.recovered(f"{dropped} key{'' if dropped == 1 else 's'} written meanwhile dropped from it")
        return True


_servers: dict[str, _Redis] = {}
_servers_lock = threading.Lock()


def _server(location: str, key_prefix: str) -> _Redis:
    with _servers_lock:
        return _servers.setdefault(location, _Redis(location, key_prefix))


class PortalRedisCache(RedisCache):
    """Redis; while it does not answer, this process's own memory."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ReusingClient
        self._server = _server(server if isinstance(server, str) else ",".join(server), self.key_prefix)
        self._meanwhile = self._fallback()

    def _fallback(self) -> BaseCache:
        return self._server.memory

    def _client(self) -> redis.Redis:
        return self._cache.get_client(write=True)  # type: ignore[attr-defined]  # RedisCache's client, untyped in stubs

    def _degrading(
        self, call: Callable[[], _T], meanwhile: Callable[[BaseCache], _T], writes: Iterable[str] = ()
    ) -> _T:
        if self._server.may_call(self._client):
            try:
                return call()
            except redis.RedisError as exc:  # refused, timed out, loading its data after a restart, …
                self._server.failed(exc)
        self._server.outage.went_without()
        self._server.missed(writes, self._client)
        return meanwhile(self._meanwhile)

    def _keys(self, keys: Iterable[Any], version: int | None) -> list[str]:
        return [self.make_and_validate_key(key, version=version) for key in keys]

    @property
    def shared(self) -> bool:
        """Whether this process is using Redis now (False during an outage)."""
        return not self._server.down

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._degrading(
            lambda: super(PortalRedisCache, self).add(key, value, timeout, version),
            lambda fallback: fallback.add(key, value, timeout, version),
            self._keys([key], version),
        )

    def get(self, key, default=None, version=None):
        return self._degrading(
            lambda: super(PortalRedisCache, self).get(key, default, version),
            lambda fallback: fallback.get(key, default, version),
        )

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._degrading(
            lambda: super(PortalRedisCache, self).set(key, value, timeout, version),
            lambda fallback: fallback.set(key, value, timeout, version),
            self._keys([key], version),
        )

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._degrading(
            lambda: super(PortalRedisCache, self).touch(key, timeout, version),
            lambda fallback: fallback.touch(key, timeout, version),
            self._keys([key], version),
        )

    def delete(self, key, version=None):
        return self._degrading(
            lambda: super(PortalRedisCache, self).delete(key, version),
            lambda fallback: fallback.delete(key, version),
            self._keys([key], version),
        )

    def get_many(self, keys, version=None):
        keys = list(keys)
        return self._degrading(
            lambda: super(PortalRedisCache, self).get_many(keys, version),
            lambda fallback: fallback.get_many(keys, version),
        )

    def has_key(self, key, version=None):
        return self._degrading(
            lambda: super(PortalRedisCache, self).has_key(key, version),
            lambda fallback: fallback.has_key(key, version),
        )

    def incr(self, key, delta=1, version=None):
        return self._degrading(
            lambda: super(PortalRedisCache, self).incr(key, delta, version),
            lambda fallback: fallback.incr(key, delta, version),
            self._keys([key], version),
        )

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._degrading(
            lambda: super(PortalRedisCache, self).set_many(data, timeout, version),
            lambda fallback: fallback.set_many(data, timeout, version),
            self._keys(data, version),
        )

    def delete_many(self, keys, version=None):
        keys = list(keys)
        return self._degrading(
            lambda: super(PortalRedisCache, self).delete_many(keys, version),
            lambda fallback: fallback.delete_many(keys, version),
            self._keys(keys, version),
        )

    def clear(self):
        def meanwhile(fallback: BaseCache) -> None:
            self._server.missed_everything()
            fallback.clear()

        return self._degrading(lambda: super(PortalRedisCache, self).clear(), meanwhile)


class SharedOnlyRedisCache(PortalRedisCache):
    """Redis; while it does not answer, nothing at all: its users go to the database, the source of truth."""

    def _fallback(self) -> BaseCache:
        return DummyCache("", {})


def state(cache: BaseCache) -> State:
    """The shared cache as this process finds it now: `ok`; `degraded` (Redis answers again, but this process
    has not gone back to it yet); `down` (Redis does not answer). A cache that is not Redis is always `ok`."""
    if not isinstance(cache, PortalRedisCache):
        return "ok"
    try:
        cache._client().ping()
    except redis.RedisError:
        return "down"
    return "ok" if cache.shared else "degraded"
