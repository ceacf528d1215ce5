"""What the portal counts as it works, for Prometheus: leaf counters that anything may call, never reading back.

- Counters and histograms kept by prometheus-client as things happen: upstream calls by site and operation (their
  duration and their errors, reported by the client through its observer).
- What the portal read anyway, kept in the shared cache for the gauges: jobs by site, service and status (the
  overview's job statistics) and jobs running long. Only services a site lists are recorded, by the name it lists
  them under (jobs.reads.listed_target), so the series are as many as the fleet's GP services, whatever URLs ask
  for; their index is a Redis set (one member added at a time), and a scrape names at most METRICS_MAX_SERVICES
  services per gauge: the rest add up under `service="other"` per site.

The scrape that shows them all (dashboard.metrics) sits above everything; nothing here imports it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from prometheus_client import Counter, Histogram
from redis.exceptions import RedisError

import arcgis_client
from jobs import shared_cache
from jobs.shared_cache import cache

log = logging.getLogger(__name__)

# Not registered anywhere at import: a scrape builds its registry (dashboard.metrics.exposition).
UPSTREAM_SECONDS = Histogram(
    "gpjobs_upstream_request_seconds",
    "ArcGIS calls by site and operation (query, job, statistics, services, cancel, delete, purgeQueue, …).",
    ["site", "operation"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=None,
)
UPSTREAM_ERRORS = Counter(
    "gpjobs_upstream_errors",
    "ArcGIS calls that failed, by site, operation and error (e.g. UpstreamTimeout, OperationRefused).",
    ["site", "operation", "error"],
    registry=None,
)
COUNTED = [UPSTREAM_SECONDS, UPSTREAM_ERRORS]

# What the portal read is kept this long for the gauges: a service nobody looked at for an hour drops out.
READ_TTL = 3600
JOBS = "metrics:jobs"  # + ":<site pk>:<service key>" → {"site", "service", "counts": {status: n}, "read"}
RUNNING_LONG = "metrics:running_long"  # + ":<site pk>:<service key>" → {"site", "service", "count", "read"}
OTHER = "other"  # the service label of what a scrape does not name
INDEXED_PER_NAMED = 10  # the index holds at most this many times METRICS_MAX_SERVICES keys


# --- what others call --------------------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamObserver:
    """Counts one site's ArcGIS calls; handed to arcgis_client.SiteConnection by jobs.upstream.connection_for."""

    site: str  # the site's slug

    def __call__(self, operation: str, seconds: float, error: arcgis_client.ArcGISError | None) -> None:
        UPSTREAM_SECONDS.labels(site=self.site, operation=operation).observe(seconds)
        if error is not None:
            UPSTREAM_ERRORS.labels(site=self.site, operation=operation, error=type(error).__name__).inc()


def record_job_counts(site, service_key: str, stats: arcgis_client.JobStatistics) -> None:
    """A service's job statistics as just read (the overview's counts)."""
    counts = {"succeeded": stats.succeeded, "failed": stats.failed, "cancelled": stats.cancelled, "active": stats.other}
    _remember(JOBS, site, service_key, {"counts": counts})


def record_running_long(site, service_key: str, count: int) -> None:
    """How many of a service's jobs run longer than they should, as the fleet view last found them."""
    _remember(RUNNING_LONG, site, service_key, {"count": count})


def _remember(kind: str, site, service_key: str, values: dict) -> None:
    key = f"{kind}:{site.pk}:{service_key}"
    try:
        if not SeriesIndex(kind).add(key, settings.METRICS_MAX_SERVICES * INDEXED_PER_NAMED):
            return  # a fleet this large is counted by the services already indexed
    except RedisError as exc:  # the gauges wait; the read that was made stands
        log.warning("metrics: could not index %s: %s", key, exc)
        return
    cache.set(key, {"site": site.slug, "service": service_key, "read": time.time(), **values}, READ_TTL)


def recalled(kind: str) -> list[dict]:
    """What was last read, by site and service: at most METRICS_MAX_SERVICES services by name, the rest added up
    per site under service "other"."""
    index = SeriesIndex(kind)
    try:
        keys = index.members()
    except RedisError as exc:
        log.warning("metrics: could not read the index of %s: %s", kind, exc)
        return []
    found = cache.get_many(sorted(keys)) if keys else {}
    if gone := keys - set(found):  # services not read for READ_TTL
        with contextlib.suppress(RedisError):
            index.discard(gone)
    entries = sorted(found.values(), key=lambda v: (v["site"], v["service"]))
    named, rest = entries[: settings.METRICS_MAX_SERVICES], entries[settings.METRICS_MAX_SERVICES :]
    others: dict[str, dict] = {}
    for entry in rest:
        other = others.setdefault(entry["site"], {"site": entry["site"], "service": OTHER, "read": 0.0})
        _add_up(other, entry)
    return named + [others[site] for site in sorted(others)]


def _add_up(total: dict, entry: dict) -> None:
    total["read"] = max(total["read"], entry["read"])
    if "count" in entry:
        total["count"] = total.get("count", 0) + entry["count"]
    if "counts" in entry:
        counts = total.setdefault("counts", {})
        for status, count in entry["counts"].items():
            counts[status] = counts.get(status, 0) + count


class SeriesIndex:
    """The cache keys a gauge has values under. With Redis (several processes) a Redis set, one member added or
    removed at a time; otherwise (one process, a local-memory cache) a set in this process."""

    _local: dict[str, set[str]] = {}
    _local_lock = threading.Lock()

    def __init__(self, kind: str):
        self.kind = kind
        backend = shared_cache.backend()
        self._redis = backend if isinstance(backend, RedisCache) else None

    def _client_and_name(self):
        assert self._redis is not None
        name = self._redis.make_and_validate_key(f"{self.kind}:index")
        return self._redis._cache.get_client(name, write=True), name

    def add(self, key: str, limit: int) -> bool:
        """Adds the key unless the index holds `limit` keys already; whether the key is (now) in it."""
        if self._redis is None:
            with self._local_lock:
                keys = self._local.setdefault(self.kind, set())
                if key not in keys and len(keys) >= limit:
                    return False
                keys.add(key)
                return True
        client, name = self._client_and_name()
        if not client.sadd(name, key):
            return True  # known already: one round trip
        if client.scard(name) > limit:
            client.srem(name, key)
            return False
        return True

    def members(self) -> set[str]:
        if self._redis is None:
            with self._local_lock:
                return set(self._local.get(self.kind, ()))
        client, name = self._client_and_name()
        return {member.decode() for member in client.smembers(name)}

    def discard(self, keys: set[str]) -> None:
        if self._redis is None:
            with self._local_lock:
                self._local.get(self.kind, set()).difference_update(keys)
            return
        client, name = self._client_and_name()
        client.srem(name, *keys)

    @classmethod
    def forget_all(cls) -> None:
        """Empties the in-process indexes (tests start each with a clean cache)."""
        with cls._local_lock:
            cls._local.clear()
