"""Django's Redis cache, with one redis client per connection pool instead of one per call.

Django's RedisCacheClient builds a new `redis.Redis` for every cache operation, and each one sets
up some two hundred response callbacks: a few per request adds up to a noticeable share of a
request's time. A `redis.Redis` over a pool is thread-safe, so one per pool serves every thread.
"""

import functools

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _ReusingClient(RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        return self._client_for(self._get_connection_pool(write))

    @functools.cache  # noqa: B019 - one client per pool for the life of the process is the point
    def _client_for(self, pool):
        return self._client(connection_pool=pool)


class PortalRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ReusingClient
