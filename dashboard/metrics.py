"""/metrics: Prometheus' scrape of what every process of the portal counts and shares.

A scrape never calls ArcGIS. It shows the counters and histograms of jobs.counters (with several gunicorn workers,
set PROMETHEUS_MULTIPROC_DIR: each worker writes its counts there and a scrape of any worker adds them all up), what
the portal last read and each site's circuit breaker (from the shared cache), and cancel policy runs, alert
deliveries and the job history's collector (from the database, where the background workers record them, on whatever
host), and whether each dependency answers (dashboard.health; the database's figures are left out while it does not).
"""

from __future__ import annotations

import hmac
import os
import time

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from dashboard import health
from history.models import IndexedJob, MonitoringAccount
from jobs import counters
from jobs.models import Site
from jobs.shared_cache import cache
from jobs.upstream import SiteGuard
from policies.models import Delivery, PolicyRun

# --- the scrape ------------------------------------------------------------------------------------


class SharedCollector:
    """What the portal last read and the breakers' state (from the cache), and policy runs and alert deliveries
    (from the database): the same whichever process is scraped."""

    def collect(self):
        yield from self.from_the_cache()
        yield from self.from_the_database()
        yield from self.the_job_history()

    def the_job_history(self):
        lag = GaugeMetricFamily(
            "gpjobs_history_lag_seconds",
            "Seconds since the collector's last complete pass over a site (since its monitoring account was set, "
            "before the first).",
            labels=["site"],
        )
        duration = GaugeMetricFamily(
            "gpjobs_history_pass_seconds",
            "How long the collector's last complete pass over a site took.",
            labels=["site"],
        )
        failing = GaugeMetricFamily(
            "gpjobs_history_account_failing", "1 while a site's monitoring account fails.", labels=["site"]
        )
        now = timezone.now()
        accounts = MonitoringAccount.objects.values_list(
            "site__slug", "last_pass", "last_pass_seconds", "changed", "failing_since"
        )
        for slug, last_pass, seconds, changed, failing_since in accounts:
            lag.add_metric([slug], max((now - (last_pass or changed)).total_seconds(), 0.0))
            if seconds is not None:
                duration.add_metric([slug], seconds)
            failing.add_metric([slug], 0 if failing_since is None else 1)
        size = GaugeMetricFamily(
            "gpjobs_history_indexed_jobs", "Jobs in the job history's index (PostgreSQL: its estimate)."
        )
        size.add_metric([], index_size())
        yield from (lag, duration, failing, size)

    def from_the_database(self):
        runs = CounterMetricFamily(
            "gpjobs_policy_runs",
            "Cancel policy runs that ended, by site, policy and outcome.",
            labels=["site", "policy", "outcome"],
        )
        ended = PolicyRun.objects.exclude(outcome__in=PolicyRun.UNFINISHED)
        by_policy = ended.values_list("policy__site__slug", "policy__name", "outcome").annotate(n=Count("id"))
        for site, policy, outcome, count in by_policy:
            runs.add_metric([site, policy, outcome], count)
        # By name, so that a counter never goes down: a channel or policy deleted (its rows with it) or renamed
        # ends its series instead.
        alerts = CounterMetricFamily(
            "gpjobs_alerts_sent",
            "Alert deliveries sent, or failed for good, by channel (and its site; empty: every site).",
            labels=["site", "channel", "outcome"],
        )
        done = Delivery.objects.filter(status__in=[Delivery.Status.SENT, Delivery.Status.FAILED])
        by_channel = done.values_list("channel__site__slug", "channel__name", "status").annotate(n=Count("id"))
        for site, channel, status, count in by_channel:
            alerts.add_metric([site or "", channel, status], count)
        yield from (runs, alerts)

    def from_the_cache(self):
        jobs = GaugeMetricFamily(
            "gpjobs_jobs",
            "Jobs by site, service and status, as the portal last read them.",
            labels=["site", "service", "status"],
        )
        read = GaugeMetricFamily(
            "gpjobs_jobs_read_timestamp_seconds", "When a service's jobs were last read.", labels=["site", "service"]
        )
        for entry in counters.recalled(counters.JOBS):
            for status, count in entry["counts"].items():
                jobs.add_metric([entry["site"], entry["service"], status], count)
            read.add_metric([entry["site"], entry["service"]], entry["read"])
        running_long = GaugeMetricFamily(
            "gpjobs_jobs_running_long",
            "Jobs running longer than expected, as the fleet view last found them.",
            labels=["site", "service"],
        )
        for entry in counters.recalled(counters.RUNNING_LONG):
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
            state = SiteGuard(site.pk, site.name).state()
            breaker_open.add_metric([site.slug], 1 if state.get("opened") is not None else 0)
            failures.add_metric([site.slug], state.get("failures", 0))
        yield from (jobs, read, running_long, breaker_open, failures)


INDEX_SIZE_KEY = "metrics:history:indexed_jobs"
INDEX_SIZE_SECONDS = 60  # a count is taken at most this often


def index_size() -> float:
    """The index's row count, cheaply: PostgreSQL's own estimate (as of its last analyze), else a count kept a
    minute in the shared cache."""
    table = IndexedJob._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
            row = cursor.fetchone()
        if row and row[0] is not None and row[0] >= 0:  # -1: never analyzed yet
            return float(row[0])
    kept = cache.get(INDEX_SIZE_KEY)
    if kept is not None and time.time() - kept[0] < INDEX_SIZE_SECONDS:
        return kept[1]
    count = float(IndexedJob.objects.count())
    cache.set(INDEX_SIZE_KEY, (time.time(), count), INDEX_SIZE_SECONDS * 2)
    return count


def left_out_sites() -> set[str]:
    """The slugs a scrape leaves out: sites restricted to groups, when METRICS_INCLUDE_RESTRICTED_SITES is off."""
    if settings.METRICS_INCLUDE_RESTRICTED_SITES:
        return set()
    return set(Site.objects.filter(groups__isnull=False).values_list("slug", flat=True))


class LeavingOut:
    """Another registry's metrics without the samples of the given sites (their `site` label)."""

    def __init__(self, registry: CollectorRegistry, sites: set[str]):
        self.registry, self.sites = registry, sites

    def collect(self):
        for family in self.registry.collect():
            family.samples = [sample for sample in family.samples if sample.labels.get("site") not in self.sites]
            yield family


def exposition() -> bytes:
    gathered = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(gathered)  # every worker's counters and histograms, added up
    else:
        for metric in counters.COUNTED:
            gathered.register(metric)
    states = health.dependency_states()
    gathered.register(health.DependencyCollector(states))
    if states["database"] == "down":  # without it the scrape still says which dependency is down
        return generate_latest(gathered)
    gathered.register(SharedCollector())
    if not (left_out := left_out_sites()):
        return generate_latest(gathered)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LeavingOut(gathered, left_out))
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
