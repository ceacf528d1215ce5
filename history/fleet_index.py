"""The fleet view from the job index: when every site it covers is collected and fresh (each of its services read
by the collector within two HISTORY_COLLECT_SECONDS), its rows come from one query over the index, with the fan-out's
filters, order and keyset cursor; jobs.fleet shows them as it shows ArcGIS's own answers (history registers this
with jobs.fleet when its app is ready).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, ExpressionWrapper, F, IntegerField, Min, Q
from django.db.models.functions import Collate
from django.utils import timezone

import arcgis_client
from history.models import IndexedJob, ServiceCollection
from history.queries import HistoryQuery, matching
from jobs.fleet import Fleet, from_index
from jobs.models import Site
from jobs.queries import FleetQuery
from jobs.targets import ServiceTarget

FRESH_INTERVALS = 2  # a service last collected longer ago than this many intervals is not fresh
MAX_EXECUTING = 5_000  # runaways only: the executing jobs read at once to find them (a bound, far above use)
COLUMNS = ("site_id", "folder", "service", "job_id", "status", "submitted", "ended", "username", "machine")


@dataclass(frozen=True)
class Coverage:
    """What the index covers of the sites asked: the services matching the query, and as of when."""

    services: int
    as_of: datetime


def indexed_fleet(sites: list[Site], query: FleetQuery) -> Fleet | None:
    """The fleet from the index, or None when some site asked is not collected or not fresh (then it fans out).
    Services picked by glob patterns (a policy's, never the fleet view's filters) are left to the fan-out."""
    if query.services:
        return None
    coverage = _coverage(sites, query)
    if coverage is None:
        return None
    by_pk = {site.pk: site for site in sites}
    jobs = [(_target(by_pk[row[0]], row[1], row[2]), _job(row)) for row in _rows(sites, query)]
    return from_index(jobs, sites, query, coverage.services, coverage.as_of)


def _coverage(sites: list[Site], query: FleetQuery) -> Coverage | None:
    """One small query: each site's services, those never collected, the oldest last pass. Every site must have
    collected services, all of them within FRESH_INTERVALS; a site whose collector stopped (its account rejected,
    the worker down) or a service it has not read yet sends the fleet view back to ArcGIS."""
    collections = ServiceCollection.objects.filter(site__in=sites)
    found = {
        row["site_id"]: row
        for row in collections.values("site_id").annotate(
            services=Count("id"),
            wanted=Count("id", filter=_services_q(query)),
            never=Count("id", filter=Q(last_pass__isnull=True)),
            oldest=Min("last_pass"),
        )
    }
    if set(found) != {site.pk for site in sites} or any(row["never"] for row in found.values()):
        return None
    as_of = min(row["oldest"] for row in found.values())
    if timezone.now() - as_of > timedelta(seconds=FRESH_INTERVALS * settings.HISTORY_COLLECT_SECONDS):
        return None
    return Coverage(sum(row["wanted"] for row in found.values()), as_of)


def _services_q(query: FleetQuery) -> Q:
    """The folder and service filters on service_key ("folder/name" in lower case, as ArcGIS matches names)."""
    return HistoryQuery(folder=query.folder, service=query.service).service_filter()


def _rows(sites: list[Site], query: FleetQuery):
    """The one query for the rows: the filters as ArcGIS applies them, newest first (or oldest first) with the job
    ID breaking ties in the fan-out's order, past the cursor; a page and one more (runaways: every executing job)."""
    # The sites are seldom selective (a fleet is most of them): written so that no planner prefers the site's index
    # (SQLite without statistics would, and sort every job of the sites) to an index in the list's order.
    site = ExpressionWrapper(F("site_id") + 0, output_field=IntegerField())
    statuses = (arcgis_client.EXECUTING,) if query.running_long_only else query.statuses
    jobs = matching(
        IndexedJob.objects.alias(site_ref=site).filter(
            _services_q(query), site_ref__in=[s.pk for s in sites], submitted__isnull=False, gone_while=""
        ),
        statuses,
        query.username,
        query.machine,
        query.since,
        query.until,
    )
    # Job IDs compare by code point, as the fan-out compares them in Python (PostgreSQL's default collation may not).
    jobs = jobs.annotate(job_key=Collate("job_id", "C") if connection.vendor == "postgresql" else F("job_id"))
    if query.cursor is not None:
        jobs = jobs.filter(_beyond(query))
    ordering = ("submitted", "job_key") if query.longest_first else ("-submitted", "-job_key")
    limit = MAX_EXECUTING if query.running_long_only else query.page_size + 1
    return jobs.order_by(*ordering).values_list(*COLUMNS)[:limit]


def _beyond(query: FleetQuery) -> Q:
    """Past the previous page's last row (its submitted time in whole ms, as the cursor has it, and its job ID)."""
    assert query.cursor is not None
    at_ms, last_id = query.cursor
    start = datetime.fromtimestamp(at_ms / 1000, tz=UTC)
    end = start + timedelta(milliseconds=1)
    same_ms = Q(submitted__gte=start, submitted__lt=end)
    if query.longest_first:
        return Q(submitted__gte=end) | (same_ms & Q(job_key__gt=last_id))
    return Q(submitted__lt=start) | (same_ms & Q(job_key__lt=last_id))


def _target(site: Site, folder: str, service: str) -> ServiceTarget:
    return ServiceTarget(site, arcgis_client.ServiceRef(folder, service))


def _job(row) -> arcgis_client.Job:
    _, _, _, job_id, status, submitted, ended, username, machine = row
    return arcgis_client.Job(job_id, status, submitted, ended, username or None, machine or None)
