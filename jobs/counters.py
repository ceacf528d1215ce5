"""What the portal counts as it works, for Prometheus: leaf counters that anything may call, never reading back.

- Counters and histograms kept by prometheus-client as things happen: upstream calls by site and operation (their
  duration and their errors, reported by the client through its observer).
- What the portal read anyway, kept in the shared cache for the gauges: jobs by site, service and status (the
  overview's job statistics) and jobs running long.

The scrape that shows them all (dashboard.metrics) sits above everything; nothing here imports it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

import arcgis_client
from jobs.shared_cache import cache

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
    cache.set(key, {"site": site.slug, "service": service_key, "read": time.time(), **values}, READ_TTL)
    index = cache.get(kind) or set()
    if key not in index:  # a lost race drops a key until that service is read again, seconds later
        cache.set(kind, index | {key}, None)


def recalled(kind: str) -> list[dict]:
    index = cache.get(kind) or set()
    found = cache.get_many(list(index)) if index else {}
    if len(found) < len(index):  # forget services not read for READ_TTL
        cache.set(kind, set(found), None)
    return sorted(found.values(), key=lambda v: (v["site"], v["service"]))
