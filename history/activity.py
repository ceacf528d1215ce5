"""The activity charts' numbers, counted in the database with a few GROUP BY queries over the filtered jobs: jobs per
hour or day by outcome, duration percentiles per period, the services with the most failures and the most running
time, and per machine and per user breakdowns. Each is a Table: what the chart draws, what the <table> beside it
lists and what the API answers, so the three can never disagree.

Percentiles: PostgreSQL computes them (percentile_cont); SQLite, which has none, hands over a bounded list of
durations and Python interpolates the same way (duration_percentiles() is the one interface)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from functools import cached_property
from typing import Literal

from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Max, Q, QuerySet, Sum
from django.db.models.functions import Trunc
from django.utils import timezone

import arcgis_client
from history.models import IndexedJob
from jobs.models import Site

# The outcomes a job is counted under, in the portal's status words; "Active" is every status that may still change.
SUCCEEDED = arcgis_client.status_label(arcgis_client.SUCCEEDED)
FAILED = arcgis_client.status_label(arcgis_client.FAILED)
CANCELLED = arcgis_client.status_label(arcgis_client.CANCELLED)
TIMED_OUT = arcgis_client.status_label(arcgis_client.TIMED_OUT)
DELETED = arcgis_client.status_label(arcgis_client.DELETED)
ACTIVE = "Active"
GONE = "Gone"  # vanished from ArcGIS while active: how it ended is not known
OUTCOMES = (SUCCEEDED, FAILED, CANCELLED, TIMED_OUT, ACTIVE)  # always shown
RARE_OUTCOMES = (DELETED, GONE)  # shown when some job has them
FAILURES = (arcgis_client.FAILED, arcgis_client.TIMED_OUT)
_TERMINAL_OUTCOMES = {
    arcgis_client.SUCCEEDED: SUCCEEDED,
    arcgis_client.FAILED: FAILED,
    arcgis_client.CANCELLED: CANCELLED,
    arcgis_client.TIMED_OUT: TIMED_OUT,
    arcgis_client.DELETED: DELETED,
}

TOP = 10  # services, machines and users shown in a breakdown
PYTHON_PERCENTILE_LIMIT = 200_000  # durations handed to Python at most (SQLite): the most recent ones
HOURLY_UP_TO = timedelta(days=2)  # a longer span is drawn by day


def outcome(status: str, gone_while: str = "") -> str:
    if gone_while:
        return GONE
    return _TERMINAL_OUTCOMES.get(status, ACTIVE)


# --- what a chart shows ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str  # as the table's first column shows it
    values: list  # one per series; None where there is no number (no succeeded job that hour)
    at: datetime | None = None  # a period's start
    key: str = ""  # a category's own name (a service key, a machine)


@dataclass(frozen=True)
class Table:
    """One chart's numbers: `first` names the first column (the period, or the service…), `series` the others."""

    name: str  # the figure's data-chart
    title: str
    first: str
    series: list[str]
    unit: str  # "jobs", "seconds" or "hours"
    rows: list[Row] = field(default_factory=list)
    note: str = ""

    @property
    def empty(self) -> bool:
        return not any(value for row in self.rows for value in row.values)

    def column(self, name: str) -> list:
        index = self.series.index(name)
        return [row.values[index] for row in self.rows]


# --- the span and its periods -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """The time the charts cover, cut into hours (up to two days) or days, in the user's time zone."""

    since: datetime
    until: datetime
    zone: tzinfo

    @property
    def step(self) -> Literal["hour", "day"]:
        return "hour" if self.until - self.since <= HOURLY_UP_TO else "day"

    def start_of(self, when: datetime) -> datetime:
        local = when.astimezone(self.zone)
        if self.step == "hour":
            return local.replace(minute=0, second=0, microsecond=0)
        return local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None).replace(tzinfo=self.zone)

    def periods(self) -> list[datetime]:
        """Every period's start, oldest first, the empty ones too."""
        found, at = [], self.start_of(self.since)
        while at <= self.until:
            found.append(at)
            if self.step == "hour":
                at = (at + timedelta(hours=1)).astimezone(self.zone)
            else:  # the next local midnight, whatever a daylight saving change did to the day's length
                at = (at.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=self.zone)
        return found

    def label(self, at: datetime) -> str:
        local = at.astimezone(self.zone)
        return local.strftime("%Y-%m-%d %H:%M") if self.step == "hour" else local.strftime("%Y-%m-%d")

    @property
    def period_word(self) -> str:
        return "Hour" if self.step == "hour" else "Day"

    def trunc(self) -> Trunc:
        return Trunc("submitted", self.step, tzinfo=self.zone)


def span_of(since: datetime, until: datetime) -> Span:
    return Span(since, until, timezone.get_current_timezone())


# --- percentiles: in the database where it can, else in Python --------------------------------------------------


class PercentileCont(Aggregate):
    """PostgreSQL's percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, fraction: float, expression: str, **extra):
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def percentile(ordered: list[float], fraction: float) -> float:
    """As percentile_cont: linear interpolation between the closest ranks of an ordered list."""
    place = fraction * (len(ordered) - 1)
    low, high = math.floor(place), math.ceil(place)
    return ordered[low] + (ordered[high] - ordered[low]) * (place - low)


def duration_percentiles(jobs: QuerySet[IndexedJob], by=None) -> dict[object, tuple[float, float, float]]:
    """(p50, p95, max) of the jobs' durations in seconds, per value of the expression `by` (without it: one group,
    keyed None). One query."""
    timed = jobs.filter(duration_ms__isnull=False).order_by()
    if connection.vendor != "postgresql":
        return _in_python(timed, by)
    numbers: dict[str, Aggregate] = {"p50": PercentileCont(0.5, "duration_ms")}
    numbers |= {"p95": PercentileCont(0.95, "duration_ms"), "top": Max("duration_ms")}
    if by is None:
        found = timed.aggregate(**numbers)
        rows: Iterable[dict] = [{"group": None, **found}] if found["top"] is not None else []
    else:
        rows = timed.annotate(group=by).values("group").annotate(**numbers)
    return {row["group"]: (row["p50"] / 1000, row["p95"] / 1000, row["top"] / 1000) for row in rows}


def _in_python(timed: QuerySet[IndexedJob], by) -> dict[object, tuple[float, float, float]]:
    if by is not None:
        pairs: Iterable = timed.annotate(group=by).order_by("-submitted").values_list("group", "duration_ms")
    else:
        pairs = ((None, ms) for ms in timed.order_by("-submitted").values_list("duration_ms", flat=True))
    groups: dict[object, list[float]] = defaultdict(list)
    for n, (group, ms) in enumerate(pairs):
        if n >= PYTHON_PERCENTILE_LIMIT:
            break
        groups[group].append(ms / 1000)
    answer = {}
    for group, seconds in groups.items():
        seconds.sort()
        answer[group] = (percentile(seconds, 0.5), percentile(seconds, 0.95), seconds[-1])
    return answer


# --- the charts ---------------------------------------------------------------------------------------------


class Activity:
    """The charts of a set of jobs over a span; each chart is counted when first asked for (one or two queries)."""

    def __init__(self, jobs: QuerySet[IndexedJob], span: Span, sites: list[Site]):
        self.jobs = jobs.order_by()
        self.span = span
        self.sites = {site.pk: site for site in sites}
        self.several_sites = len(sites) > 1

    def _periods_table(self, name: str, title: str, series: list[str], unit: str, values: dict) -> Table:
        """A row for every period of the span, the empty ones too (no jobs: 0; no duration: None)."""
        empty = [0 if unit == "jobs" else None] * len(series)
        rows = [Row(self.span.label(at), values.get(at, empty), at=at) for at in self.span.periods()]
        return Table(name, title, self.span.period_word, series, unit, rows)

    @cached_property
    def jobs_per_period(self) -> Table:
        counted = (
            self.jobs.annotate(period=self.span.trunc())
            .values("period", "status", "gone_while")
            .annotate(n=Count("pk"))
            .order_by()
        )
        by_period: dict[datetime, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for row in counted:
            by_period[row["period"]][outcome(row["status"], row["gone_while"])] += row["n"]
        series = _series(outcome for counts in by_period.values() for outcome in counts)
        values = {at: [counts.get(name, 0) for name in series] for at, counts in by_period.items()}
        word = "hour" if self.span.step == "hour" else "day"
        return self._periods_table("jobs-per-period", f"Jobs per {word}, by outcome", series, "jobs", values)

    @cached_property
    def duration_percentiles(self) -> Table:
        succeeded = self.jobs.filter(status=arcgis_client.SUCCEEDED, gone_while="")
        found = duration_percentiles(succeeded, self.span.trunc())
        values = {at: list(numbers) for at, numbers in found.items()}
        title = "Duration of succeeded jobs, from submission to end"
        return self._periods_table("duration-percentiles", title, ["p50", "p95", "Max"], "seconds", values)

    @cached_property
    def services(self) -> list[dict]:
        """Every service's jobs, failures and running time (one query), labelled with its site when several are
        shown."""
        found = (
            self.jobs.values("site_id", "service_key")
            .annotate(
                jobs=Count("pk"),
                failed=Count("pk", filter=Q(status=arcgis_client.FAILED, gone_while="")),
                timed_out=Count("pk", filter=Q(status=arcgis_client.TIMED_OUT, gone_while="")),
                running_ms=Sum("duration_ms"),
                folder=Max("folder"),
                name=Max("service"),
            )
            .order_by()
        )
        services = []
        for row in found:
            label = f"{row['folder']}/{row['name']}" if row["folder"] else row["name"]
            site = self.sites.get(row["site_id"])
            if self.several_sites and site is not None:
                label = f"{label} · {site.name}"
            services.append({**row, "label": label, "key": f"{site.slug if site else ''}:{row['service_key']}"})
        return services

    @cached_property
    def top_failing_services(self) -> Table:
        failing = sorted(
            (s for s in self.services if s["failed"] + s["timed_out"]),
            key=lambda s: (-(s["failed"] + s["timed_out"]), s["label"]),
        )[:TOP]
        rows = [Row(s["label"], [s["failed"], s["timed_out"], s["jobs"]], key=s["key"]) for s in failing]
        series = [FAILED, TIMED_OUT, "Jobs"]
        return Table("top-failing-services", "Services with the most failures", "Service", series, "jobs", rows)

    @cached_property
    def running_time_by_service(self) -> Table:
        busy = sorted((s for s in self.services if s["running_ms"]), key=lambda s: (-s["running_ms"], s["label"]))
        rows = [Row(s["label"], [round(s["running_ms"] / 3_600_000, 2), s["jobs"]], key=s["key"]) for s in busy[:TOP]]
        return Table(
            "running-time-by-service",
            "Services with the most running time",
            "Service",
            ["Running time", "Jobs"],
            "hours",
            rows,
        )

    def _breakdown(self, name: str, title: str, column: str, first: str) -> Table:
        counted = self.jobs.values(column, "status", "gone_while").annotate(n=Count("pk")).order_by()
        by_key: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for row in counted:
            by_key[row[column]][outcome(row["status"], row["gone_while"])] += row["n"]
        series = _series(outcome for counts in by_key.values() for outcome in counts)
        ranked = sorted(by_key.items(), key=lambda item: (-sum(item[1].values()), item[0]))
        rows = [Row(key or "—", [counts.get(s, 0) for s in series], key=key) for key, counts in ranked[:TOP]]
        note = f"The {TOP} with the most jobs, of {len(ranked)}." if len(ranked) > TOP else ""
        return Table(name, title, first, series, "jobs", rows, note)

    @cached_property
    def by_machine(self) -> Table:
        return self._breakdown("by-machine", "Jobs per machine, by outcome", "machine", "Machine")

    @cached_property
    def by_user(self) -> Table:
        return self._breakdown("by-user", "Jobs per user, by outcome", "username", "User")

    def tables(self) -> list[Table]:
        return [
            self.jobs_per_period,
            self.duration_percentiles,
            self.top_failing_services,
            self.running_time_by_service,
            self.by_machine,
            self.by_user,
        ]


def _series(found: Iterable[str]) -> list[str]:
    """The outcomes always shown, and the rare ones that occur."""
    seen = set(found)
    return [*OUTCOMES, *(name for name in RARE_OUTCOMES if name in seen)]


@dataclass(frozen=True)
class Summary:
    """A service's recent activity in one line: "Last 7 days: 1,204 jobs, 3 % failed, p95 11 min"."""

    days: int
    jobs: int
    failed: int
    p95_seconds: float | None

    @property
    def failed_percent(self) -> float:
        return 100 * self.failed / self.jobs if self.jobs else 0.0

    @property
    def text(self) -> str:
        share = self.failed_percent
        failed = f"{share:.1f} %" if 0 < share < 1 else f"{round(share)} %"
        words = [f"{self.jobs:,} job{'s' if self.jobs != 1 else ''}", f"{failed} failed"]
        if self.p95_seconds is not None:
            words.append(f"p95 {roughly(self.p95_seconds)}")
        return f"Last {self.days} days: {', '.join(words)}"


def roughly(seconds: float) -> str:
    """A duration in one round number: "45 s", "11 min", "2.5 h"."""
    if seconds < 60:
        return f"{round(seconds)} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def summary(jobs: QuerySet[IndexedJob], days: int) -> Summary:
    """Two queries: the counts, and the p95 of the succeeded jobs' durations."""
    counts = jobs.aggregate(jobs=Count("pk"), failed=Count("pk", filter=Q(status__in=FAILURES, gone_while="")))
    found = duration_percentiles(jobs.filter(status=arcgis_client.SUCCEEDED, gone_while=""))
    p95 = found[None][1] if None in found else None
    return Summary(days, counts["jobs"], counts["failed"], p95)
