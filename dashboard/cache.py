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
- when Redis answers again, each process that went without it deletes every key of the portal (its KEY_PREFIX)
  from Redis before using it again: a value the outage left behind there (a session signed out meanwhile, the
  permission generation a role change could not replace) is never trusted, even if the process that could not
  write it is gone. Everything there is a cache of the database, or state that rebuilds itself.
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
from django.core.exceptions import ImproperlyConfigured

from dashboard.outages import Outage

_T = TypeVar("_T")

RETRY_SECONDS = 2.0  # after a failure, how long a process goes without Redis before one call tries it again
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
        if not key_prefix:
            raise ImproperlyConfigured("The shared cache needs a KEY_PREFIX: what an outage left is found by it.")
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

    def wrote_without(self, keys: Callable[[], list[str]], client: Callable[[], redis.Redis]) -> None:
        """A write went without Redis. Should Redis have come back meanwhile (another thread found it, and cleared
        it), what Redis holds for these keys is dropped now; otherwise its return will clear them."""
        if self.down:
            return
        try:
            client().delete(*keys())
        except redis.RedisError as exc:
            self.failed(exc)

    def _come_back(self, client: redis.Redis) -> bool:
        try:
            client.ping()
            dropped = self._clear(client)
        except redis.RedisError:
            with self._lock:
                self._retry_at = time.monotonic() + RETRY_SECONDS
            return False
        with self._lock:
            self.down = False
        self.memory.clear()  # the next outage starts from nothing, not from this one's leftovers
        self.outage.recovered(f"{dropped} key{'' if dropped == 1 else 's'} from before dropped from it")
        return True

    def _clear(self, client: redis.Redis) -> int:
        """Deletes every key of the portal. What Redis holds after an outage may be stale: a write this process, or
        one that noticed the outage and died since, could not make (a sign-out, a role change's new generation).
        Everything in it is a cache of the database or state that rebuilds itself, so nothing of it is trusted."""
        pattern = "".join(f"\\{c}" if c in "*?[]\\" else c for c in self.key_prefix) + ":*"
        dropped, batch = 0, []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) == 1000:
                dropped += client.unlink(*batch)
                batch = []
        if batch:
            dropped += client.unlink(*batch)
        return dropped


_servers: dict[str, _Redis] = {}
_servers_lock = threading.Lock()


def _redis_at(location: str, key_prefix: str) -> _Redis:
    found = _servers.get(location)
    if found is None:
        with _servers_lock:
            found = _servers.setdefault(location, _Redis(location, key_prefix))
    return found


class PortalRedisCache(RedisCache):
    """Redis; while it does not answer, this process's own memory."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ReusingClient
        self._location = server if isinstance(server, str) else ",".join(server)
        _redis_at(self._location, self.key_prefix)  # a missing KEY_PREFIX is refused at once

    @property
    def _server(self) -> _Redis:
        return _redis_at(self._location, self.key_prefix)

    def _fallback(self) -> BaseCache:
        return self._server.memory

    def _client(self) -> redis.Redis:
        return self._cache.get_client(write=True)  # type: ignore[attr-defined]  # RedisCache's client, untyped in stubs

    def _degrading(
        self,
        call: Callable[[], _T],
        meanwhile: Callable[[BaseCache], _T],
        writes: Callable[[], list[str]] | None = None,
    ) -> _T:
        server = self._server
        if server.may_call(self._client):
            try:
                return call()
            except redis.RedisError as exc:  # refused, timed out, loading its data after a restart, …
                server.failed(exc)
        server.outage.went_without()
        if writes is not None:
            server.wrote_without(writes, self._client)
        return meanwhile(self._fallback())

    def validate_key(self, key: str) -> None:
        """Django only warns here about keys memcached could not hold (long, or with spaces or control characters),
        character by character: Redis holds any key, and fifty keys of a page's rows cost more checking than
        storing."""

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
            lambda: self._keys([key], version),
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
            lambda: self._keys([key], version),
        )

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._degrading(
            lambda: super(PortalRedisCache, self).touch(key, timeout, version),
            lambda fallback: fallback.touch(key, timeout, version),
            lambda: self._keys([key], version),
        )

    def delete(self, key, version=None):
        return self._degrading(
            lambda: super(PortalRedisCache, self).delete(key, version),
            lambda fallback: fallback.delete(key, version),
            lambda: self._keys([key], version),
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
            lambda: self._keys([key], version),
        )

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._degrading(
            lambda: super(PortalRedisCache, self).set_many(data, timeout, version),
            lambda fallback: fallback.set_many(data, timeout, version),
            lambda: self._keys(data, version),
        )

    def delete_many(self, keys, version=None):
        keys = list(keys)
        return self._degrading(
            lambda: super(PortalRedisCache, self).delete_many(keys, version),
            lambda fallback: fallback.delete_many(keys, version),
            lambda: self._keys(keys, version),
        )

    def clear(self):
        return self._degrading(lambda: super(PortalRedisCache, self).clear(), lambda fallback: fallback.clear())


_NOTHING = DummyCache("", {})


class SharedOnlyRedisCache(PortalRedisCache):
    """Redis; while it does not answer, nothing at all: its users go to the database, the source of truth."""

    def _fallback(self) -> BaseCache:
        return _NOTHING


def state(cache: BaseCache) -> State:
    """The shared cache as this process finds it now: `ok`; `degraded` (Redis answers again, but this process
    has not gone back to it yet: the retry interval has not passed); `down` (Redis does not answer). A cache that
    is not Redis is always `ok`.

    Asking goes back to a Redis that answers once the retry interval has passed, as any call would: a process
    that hears nothing but this check (its clients' connections all kept by another) would otherwise report
    itself degraded until some other request happened to land on it."""
    if not isinstance(cache, PortalRedisCache):
        return "ok"
    try:
        cache._client().ping()
    except redis.RedisError:
        return "down"
    return "ok" if cache._server.may_call(cache._client) else "degraded"
