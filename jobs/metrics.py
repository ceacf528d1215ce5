"""Prometheus metrics: what the portal counts, and /metrics.

Two kinds, both cheap to scrape (a scrape never calls ArcGIS):

- Counters and histograms kept by prometheus-client as things happen: upstream calls by site and
  operation (their duration and their errors, reported by the client through its observer). With
  several gunicorn workers, set PROMETHEUS_MULTIPROC_DIR: each worker writes its counts there and a
  scrape of any worker adds them all up (prometheus-client's multiprocess mode).
- Metrics computed at scrape time from what every process shares: from the cache, where the portal
  writes what it reads anyway, jobs by site, service and status (the overview's job statistics), jobs
  running long (`record_running_long()`), and each site's circuit breaker; from the database, cancel
  policy runs and alert deliveries, which the background workers record there, on whatever host.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

import arcgis_client
from jobs import upstream

log = logging.getLogger(__name__)

# Not registered anywhere at import: a scrape builds its registry (see `exposition`).
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
    upstream.cache.set(key, {"site": site.slug, "service": service_key, "read": time.time(), **values}, READ_TTL)
    index = upstream.cache.get(kind) or set()
    if key not in index:  # a lost race drops a key until that service is read again, seconds later
        upstream.cache.set(kind, index | {key}, None)


def _recalled(kind: str) -> list[dict]:
    index = upstream.cache.get(kind) or set()
    found = upstream.cache.get_many(list(index)) if index else {}
    if len(found) < len(index):  # forget services not read for READ_TTL
        upstream.cache.set(kind, set(found), None)
    return sorted(found.values(), key=lambda v: (v["site"], v["service"]))


# --- the scrape ------------------------------------------------------------------------------------


class SharedCollector:
    """What the portal last read and the breakers' state (from the cache), and policy runs and alert deliveries
    (from the database): the same whichever process is scraped."""

    def collect(self):
        yield from self.from_the_cache()
        yield from self.from_the_database()

    def from_the_database(self):
        from policies.models import Delivery, PolicyRun

        runs = CounterMetricFamily(
            "gpjobs_policy_runs", "Cancel policy runs that ended, by policy and outcome.", labels=["policy", "outcome"]
        )
        ended = PolicyRun.objects.exclude(outcome__in=PolicyRun.UNFINISHED)
        for policy, outcome, count in ended.values_list("policy__name", "outcome").annotate(n=Count("id")):
            runs.add_metric([policy, outcome], count)
        # By name, so that a counter never goes down: a channel or policy deleted (its rows with it) or renamed
        # ends its series instead.
        alerts = CounterMetricFamily(
            "gpjobs_alerts_sent",
            "Alert deliveries sent, or failed for good, by channel.",
            labels=["channel", "outcome"],
        )
        done = Delivery.objects.filter(status__in=[Delivery.Status.SENT, Delivery.Status.FAILED])
        for channel, status, count in done.values_list("channel__name", "status").annotate(n=Count("id")):
            alerts.add_metric([channel, status], count)
        yield from (runs, alerts)

    def from_the_cache(self):
        from jobs.models import Site

        jobs = GaugeMetricFamily(
            "gpjobs_jobs",
            "Jobs by site, service and status, as the portal last read them.",
            labels=["site", "service", "status"],
        )
        read = GaugeMetricFamily(
            "gpjobs_jobs_read_timestamp_seconds", "When a service's jobs were last read.", labels=["site", "service"]
        )
        for entry in _recalled(JOBS):
            for status, count in entry["counts"].items():
                jobs.add_metric([entry["site"], entry["service"], status], count)
            read.add_metric([entry["site"], entry["service"]], entry["read"])
        running_long = GaugeMetricFamily(
            "gpjobs_jobs_running_long",
            "Jobs running longer than expected, as the fleet view last found them.",
            labels=["site", "service"],
        )
        for entry in _recalled(RUNNING_LONG):
            running_long.add_metric([entry["site"], entry["service"]], entry["count"])
        breaker_open = GaugeMetricFamily(
            "gpjobs_circuit_breaker_open",
            "1 while the portal does not call a site (it stopped answering).",
            labels=["site"],
        )
        failures = GaugeMetricFamily(
            "gpjobs_circuit_breaker_failures", "Consecutive timeouts or connection failures of a site.", labels=["site"]
        )
        for site in Site.objects.only("pk", "slug", "name"):
            state = upstream.SiteGuard(site.pk, site.name).state()
            breaker_open.add_metric([site.slug], 1 if state.get("opened") is not None else 0)
            failures.add_metric([site.slug], state.get("failures", 0))
        yield from (jobs, read, running_long, breaker_open, failures)


def exposition() -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # every worker's counters and histograms, added up
    else:
        for metric in COUNTED:
            registry.register(metric)
    registry.register(SharedCollector())
    return generate_latest(registry)


@login_not_required
@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus' scrape, with the bearer token METRICS_TOKEN; without one configured there is nothing here."""
    expected = settings.METRICS_TOKEN
    if not expected:
        raise Http404
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {expected}".encode()):
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
