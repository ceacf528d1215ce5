"""A private Redis for the tests of the portal's own cache classes, sessions and readiness (dashboard/cache.py,
dashboard/health.py): started once per module on a free port, stopped with it."""

from __future__ import annotations

import pytest

import dashboard.cache
from jobs import shared_cache
from tests.conftest import IN_CI
from tests.private_servers import PrivateRedis, missing

RETRY = 0.2  # seconds: the cache's retry interval, shortened for the tests


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory):
    if lacking := missing():
        reason = f"no private Redis: {', '.join(lacking)}"
        if IN_CI:
            pytest.fail(reason + " (CI is set, so this is a failure)", pytrace=False)
        pytest.skip(reason)
    server = PrivateRedis(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_cache(private_redis: PrivateRedis, settings, monkeypatch):
    """The portal's caches and sessions as production configures them, on the private Redis, empty."""
    if private_redis.running:
        private_redis.resume()  # a test may leave it hanging
    else:
        private_redis.start()  # or stopped
    private_redis.client().flushall()
    monkeypatch.setattr(dashboard.cache, "RETRY_SECONDS", RETRY)
    monkeypatch.setattr(dashboard.cache, "_servers", {})
    common = {
        "LOCATION": private_redis.url + "/0",
        "KEY_PREFIX": "gpjobs",
        "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
    }
    settings.CACHES = {
        "default": {"BACKEND": "dashboard.cache.PortalRedisCache", **common},
        "shared_only": {"BACKEND": "dashboard.cache.SharedOnlyRedisCache", **common},
    }
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    settings.SESSION_CACHE_ALIAS = "shared_only"
    shared_cache._shared_cache.cache_clear()
    yield private_redis
    private_redis.resume()
    shared_cache._shared_cache.cache_clear()
