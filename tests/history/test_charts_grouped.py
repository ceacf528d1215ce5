"""The charts' counts come from one grouped query (history.activity.count): on a varied set of jobs (several sites,
a service spelled two ways, every outcome, no duration, no machine or user, more machines and users than a chart
lists, jobs outside the span) they equal what the per-chart queries they replaced count, by day and by hour, in UTC
and across a daylight saving change. On SQLite and on PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

import arcgis_client
from history import activity
from history.models import IndexedJob
from jobs.models import Site
from tests.history.factory import indexed

pytestmark = pytest.mark.django_db

ZURICH = ZoneInfo("Europe/Zurich")
# Zurich leaves summer time on 25 October 2026, at 03:00: the days around it, and a day of hours before it
SINCE, UNTIL = datetime(2026, 10, 20, tzinfo=ZURICH), datetime(2026, 10, 29, 23, 59, tzinfo=ZURICH)
HOURLY = (datetime(2026, 10, 22, 6, tzinfo=ZURICH), datetime(2026, 10, 23, 5, 59, tzinfo=ZURICH))
STATUSES = (
    arcgis_client.SUCCEEDED,
    arcgis_client.SUCCEEDED,
    arcgis_client.FAILED,
    arcgis_client.CANCELLED,
    arcgis_client.TIMED_OUT,
    arcgis_client.DELETED,
    arcgis_client.EXECUTING,
    arcgis_client.SUBMITTED,
    arcgis_client.SUCCEEDED,
)
SERVICES = ("Hydrology/Watershed", "HYDROLOGY/watershed", "Hydrology/FloodModel", "Roads/Buffer", "Print")


@pytest.fixture
def sites(site) -> list[Site]:
    other = Site.objects.create(slug="north", name="North", admin_url="https://north.example.com/arcgis/admin")
    return [site, other]


@pytest.fixture
def varied(sites):
    """300 jobs spread over 12 days around the span (some before and after it) every 57 minutes, their site,
    service, status, duration, machine and user cycling at different rates."""
    at = SINCE - timedelta(days=1)
    for n in range(300):
        status = STATUSES[n % len(STATUSES)]
        indexed(
            sites[n % 2],
            SERVICES[n % len(SERVICES)],
            status,
            submitted=at,
            seconds=None if n % 11 == 0 else 30 + (n * 37) % 900,
            machine="" if n % 13 == 0 else f"GIS{n % 14:02d}",
            user="" if n % 17 == 0 else f"analyst{n % 12}",
            gone_while=arcgis_client.EXECUTING if status == arcgis_client.EXECUTING and n % 2 else "",
        )
        at += timedelta(minutes=57)
    return sites


# --- the per-chart queries the grouped one replaced ------------------------------------------------------------------


def per_chart(jobs, span: activity.Span, sites: list[Site]) -> dict[str, activity.Table]:
    """The charts as they were counted before: one GROUP BY a chart."""
    charts = activity.Activity(jobs, span, sites)
    per_period = defaultdict(lambda: defaultdict(int))
    for row in jobs.annotate(period=span.trunc()).values("period", "status", "gone_while").annotate(n=Count("pk")):
        per_period[row["period"]][activity.outcome(row["status"], row["gone_while"])] += row["n"]
    series = activity._series(name for counts in per_period.values() for name in counts)
    values = {at: [counts.get(name, 0) for name in series] for at, counts in per_period.items()}
    word = "hour" if span.step == "hour" else "day"
    tables = {
        "jobs-per-period": charts._periods_table(
            "jobs-per-period", f"Jobs per {word}, by outcome", series, "jobs", values
        )
    }
    tables["duration-percentiles"] = _percentiles(charts, jobs, span)
    charts.services = _services(jobs, charts)
    tables["top-failing-services"] = charts.top_failing_services
    tables["running-time-by-service"] = charts.running_time_by_service
    for name, column, first in (("by-machine", "machine", "Machine"), ("by-user", "username", "User")):
        tables[name] = _breakdown(jobs, name, column, first)
    return tables


def _percentiles(charts, jobs, span) -> activity.Table:
    succeeded = jobs.filter(status=arcgis_client.SUCCEEDED, gone_while="", duration_ms__isnull=False)
    if connection.vendor == "postgresql":
        numbers = {
            "p50": activity.PercentileCont(0.5, "duration_ms"),
            "p95": activity.PercentileCont(0.95, "duration_ms"),
        }
        rows = succeeded.annotate(group=span.trunc()).values("group").annotate(**numbers, top=Max("duration_ms"))
        found = {row["group"]: [row["p50"] / 1000, row["p95"] / 1000, row["top"] / 1000] for row in rows}
    else:
        found = {at: list(numbers) for at, numbers in activity._in_python(succeeded, span.trunc()).items()}
    title = "Duration of succeeded jobs, from submission to end"
    return charts._periods_table("duration-percentiles", title, ["p50", "p95", "Max"], "seconds", found)


def _services(jobs, charts) -> list[dict]:
    failures = {
        "failed": Count("pk", filter=Q(status=arcgis_client.FAILED, gone_while="")),
        "timed_out": Count("pk", filter=Q(status=arcgis_client.TIMED_OUT, gone_while="")),
    }
    found = jobs.values("site_id", "service_key").annotate(jobs=Count("pk"), **failures, running_ms=Sum("duration_ms"))
    # the greatest spelling by code point, whatever the database's collation sorts first
    spellings = defaultdict(lambda: ("", ""))
    for row in jobs.values("site_id", "service_key", "folder", "service").distinct():
        folder, name = spellings[row["site_id"], row["service_key"]]
        spellings[row["site_id"], row["service_key"]] = (max(folder, row["folder"]), max(name, row["service"]))
    services = []
    for row in found:
        folder, name = spellings[row["site_id"], row["service_key"]]
        site = charts.sites[row["site_id"]]
        label = f"{folder}/{name}" if folder else name
        label = f"{label} · {site.name}" if charts.several_sites else label
        services.append({**row, "label": label, "key": f"{site.slug}:{row['service_key']}"})
    return services


def _breakdown(jobs, name: str, column: str, first: str) -> activity.Table:
    by_key = defaultdict(lambda: defaultdict(int))
    for row in jobs.values(column, "status", "gone_while").annotate(n=Count("pk")):
        by_key[row[column]][activity.outcome(row["status"], row["gone_while"])] += row["n"]
    series = activity._series(outcome for counts in by_key.values() for outcome in counts)
    ranked = sorted(by_key.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    rows = [
        activity.Row(key or "—", [counts.get(s, 0) for s in series], key=key) for key, counts in ranked[: activity.TOP]
    ]
    note = f"The {activity.TOP} with the most jobs, of {len(ranked)}." if len(ranked) > activity.TOP else ""
    title = {"by-machine": "Jobs per machine, by outcome", "by-user": "Jobs per user, by outcome"}[name]
    return activity.Table(name, title, first, series, "jobs", rows, note)


# --- the grouped query against them ----------------------------------------------------------------------------------


def assert_same_charts(jobs, span: activity.Span, sites: list[Site]) -> activity.Activity:
    grouped = activity.Activity(jobs, span, sites)
    expected = per_chart(jobs, span, sites)
    for table in grouped.tables():
        want = expected[table.name]
        assert (table.title, table.first, table.series, table.unit, table.note) == (
            want.title,
            want.first,
            want.series,
            want.unit,
            want.note,
        ), table.name
        assert [(row.label, row.at, row.key) for row in table.rows] == [(r.label, r.at, r.key) for r in want.rows]
        assert [row.values for row in table.rows] == [pytest.approx(row.values) for row in want.rows], table.name
    return grouped


@pytest.mark.parametrize("zone", [UTC, ZURICH], ids=["UTC", "Zurich"])
def test_by_day_the_grouped_counts_are_the_per_chart_counts(varied, zone):
    with timezone.override(zone):
        span = activity.span_of(SINCE, UNTIL)
        assert span.step == "day"
        # every job of the sites, some submitted before or after the span (counted in all but the periods' charts)
        jobs = IndexedJob.objects.filter(site__in=varied)
        charts = assert_same_charts(jobs, span, varied)
    counted = charts.counted
    assert sum(tally.jobs for tally in counted["services"].values()) == 300
    assert sum(sum(row.values) for row in charts.jobs_per_period.rows) < 300  # those outside the span: no period
    assert None in counted["periods"]
    assert len(charts.by_machine.rows) == activity.TOP and charts.by_machine.note == "The 10 with the most jobs, of 15."
    assert {"Deleted", "Gone"} <= set(charts.by_user.series)
    labels = {row.label for row in charts.running_time_by_service.rows}
    # one service spelled two ways: its folder's and its name's greatest spelling each, by code point
    assert "Hydrology/watershed · Main site" in labels and "Hydrology/watershed · North" in labels
    assert not any(
        label.lower().startswith("hydrology/watershed") and label.startswith("HYDROLOGY") for label in labels
    )


def test_by_hour_and_of_one_site_and_filtered_the_grouped_counts_are_the_per_chart_counts(varied):
    with timezone.override(ZURICH):
        span = activity.span_of(*HOURLY)
        assert span.step == "hour"
        within = IndexedJob.objects.filter(submitted__gte=HOURLY[0], submitted__lte=HOURLY[1])
        charts = assert_same_charts(within.filter(site=varied[0]), span, varied[:1])
        assert sum(sum(row.values) for row in charts.jobs_per_period.rows) == within.filter(site=varied[0]).count()
        assert_same_charts(within.filter(site__in=varied, status=arcgis_client.FAILED), span, varied)
        assert_same_charts(within.filter(site__in=varied, username="analyst3"), span, varied)


def test_no_jobs_counts_nothing(sites):
    charts = activity.Activity(IndexedJob.objects.filter(site__in=sites), activity.span_of(SINCE, UNTIL), sites)
    assert all(table.empty for table in charts.tables())
    assert charts.top_failing_services.rows == [] and charts.by_user.rows == []
