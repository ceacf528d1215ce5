"""The activity charts' numbers: jobs per hour or day by outcome, duration percentiles per period, the services with
the most failures and the most running time, and per machine and per user breakdowns. Each is a Table: what the chart
draws, what the <table> beside it lists and what the API answers, so the three can never disagree.

Two queries count them all, whatever the number of jobs (bench/history_db.py: every site's 30 days, a third of a
million jobs). count() reads the filtered jobs once: on PostgreSQL, GROUPING SETS count them per period, per service,
per machine and per user in one pass (each job's outcome worked out once, each count a filter on it); elsewhere they
are grouped once by every key together and added up here. The percentiles read only the succeeded jobs: PostgreSQL
computes them per period (percentile_cont, a period's jobs read in the index's order by the period's bounds, so none
are sorted but within their period); SQLite, which has none, hands over a bounded list of durations and Python
interpolates the same way (duration_percentiles() is the one interface)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from functools import cached_property
from typing import Literal

from django.db import connection
from django.db.models import (
    Aggregate,
    Case,
    CharField,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
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
EVERY_OUTCOME = (*OUTCOMES, *RARE_OUTCOMES)
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


def outcome_number() -> Case:
    """outcome() in SQL, as the outcome's place in EVERY_OUTCOME (the commonest, Succeeded, tested first)."""
    return Case(
        When(~Q(gone_while=""), then=Value(EVERY_OUTCOME.index(GONE))),
        *(When(status=status, then=Value(EVERY_OUTCOME.index(name))) for status, name in _TERMINAL_OUTCOMES.items()),
        default=Value(EVERY_OUTCOME.index(ACTIVE)),
        output_field=IntegerField(),
    )


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

    def after(self, at: datetime) -> datetime:
        """The start of the period after the one starting `at`."""
        if self.step == "hour":
            return (at + timedelta(hours=1)).astimezone(self.zone)
        # the next local midnight, whatever a daylight saving change did to the day's length
        return (at.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=self.zone)

    def periods(self) -> list[datetime]:
        """Every period's start, oldest first, the empty ones too."""
        found, at = [], self.start_of(self.since)
        while at <= self.until:
            found.append(at)
            at = self.after(at)
        return found

    def bounds(self) -> list[datetime]:
        """Every period's start, and the end of the last one."""
        found = self.periods()
        return [*found, self.after(found[-1])]

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

Numbers = tuple[float, float, float]  # p50, p95, max


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


def duration_percentiles(jobs: QuerySet[IndexedJob], span: Span | None = None) -> dict[object, Numbers]:
    """(p50, p95, max) of the jobs' durations in seconds, per period of the span by its start (without a span: one
    group, keyed None). One query."""
    timed = jobs.filter(duration_ms__isnull=False).order_by()
    if connection.vendor != "postgresql":
        return _in_python(timed, span.trunc() if span else None)
    if span is not None:
        return _per_period(timed, span)
    p50, p95 = PercentileCont(0.5, "duration_ms"), PercentileCont(0.95, "duration_ms")
    found = timed.aggregate(p50=p50, p95=p95, top=Max("duration_ms"))
    return {None: (found["p50"] / 1000, found["p95"] / 1000, found["top"] / 1000)} if found["top"] is not None else {}


def _per_period(timed: QuerySet[IndexedJob], span: Span) -> dict[object, Numbers]:
    """PostgreSQL: each period's percentiles from its own jobs (the index hands them over by submission time, so
    only a period's durations are sorted, never the whole span's)."""
    jobs, params = timed.values("submitted", "duration_ms").query.sql_with_params()
    bounds = span.bounds()
    query = f"""
        SELECT period.n, numbers.p50, numbers.p95, numbers.top
        FROM unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS period (since, until, n)
        CROSS JOIN LATERAL (
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY jobs.duration_ms) AS p50,
                percentile_cont(0.95) WITHIN GROUP (ORDER BY jobs.duration_ms) AS p95, max(jobs.duration_ms) AS top
            FROM ({jobs}) AS jobs
            WHERE jobs.submitted >= period.since AND jobs.submitted < period.until
        ) AS numbers
        WHERE numbers.top IS NOT NULL"""  # noqa: S608 - Django's SQL of the jobs (values as parameters) in constant SQL
    with connection.cursor() as cursor:
        cursor.execute(query, [bounds[:-1], bounds[1:], *params])
        return {bounds[n - 1]: (p50 / 1000, p95 / 1000, top / 1000) for n, p50, p95, top in cursor.fetchall()}


def _in_python(timed: QuerySet[IndexedJob], by) -> dict[object, Numbers]:
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


# --- the counts: one pass over the jobs ---------------------------------------------------------------------


@dataclass
class Tally:
    """Jobs by outcome; a service's also its running time and its spelling (the greatest, by code point)."""

    outcomes: Counter[str] = field(default_factory=Counter)
    running_ms: int = 0
    folder: str = ""
    service: str = ""

    @property
    def jobs(self) -> int:
        return sum(self.outcomes.values())

    def add(self, outcomes: dict[str, int], running_ms: int | None, folder: str | None, service: str | None) -> None:
        for name, n in outcomes.items():
            if n:  # an outcome no job has is not seen
                self.outcomes[name] += n
        self.running_ms += running_ms or 0
        self.folder = max(self.folder, folder or "")
        self.service = max(self.service, service or "")


# What count() files its tallies under: a period's start (None: submitted outside the span's periods), a service's
# (site id, service key), a machine, a user.
PARTS = ("periods", "services", "machines", "users")
Counted = dict[str, dict]  # a part's name: {its key: Tally}


def count(jobs: QuerySet[IndexedJob], span: Span) -> Counted:
    """Every count the charts show but the percentiles, per period, service, machine and user. One query."""
    counted: Counted = {part: defaultdict(Tally) for part in PARTS}
    found = _grouping_sets(jobs, span) if connection.vendor == "postgresql" else _grouped_once(jobs, span)
    for part, key, outcomes, running_ms, folder, service in found:
        counted[part][key].add(outcomes, running_ms, folder, service)
    return counted


class PeriodNumber(Func):
    """PostgreSQL: which of the bounds' periods a job was submitted in, 1 for the first (0 before it, after the last
    one past their number): a search among a few bounds per job, where truncating the time in the user's time zone
    costs more."""

    output_field = IntegerField()

    def __init__(self, bounds: list[datetime]):
        super().__init__(F("submitted"))
        self.bounds = bounds

    def as_sql(self, compiler, connection, **extra):
        submitted, params = compiler.compile(self.source_expressions[0])
        return f"width_bucket({submitted}, %s::timestamptz[])", [*params, self.bounds]


SEPARATOR = "\x1f"  # in no service key, folder or service name


class Spelled(Func):
    """PostgreSQL: a job's service key, folder and service name in one column (SEPARATOR between them)."""

    template = "(%(expressions)s)"
    arg_joiner = f" || chr({ord(SEPARATOR)}) || "
    output_field = CharField()

    def __init__(self):
        super().__init__(F("service_key"), F("folder"), F("service"))


# The grouping sets: a period's machines are few, so one set counts both parts. GROUPING() of _TOLD_BY tells a row's
# set: a bit for each of them its set does not group by.
_SETS = {("period", "machine"): "periods and machines", ("site_id", "spelled"): "services", ("username",): "users"}
_TOLD_BY = ("period", "site_id", "username")
_SET_OF_BITS = {
    sum(1 << bit for bit, name in enumerate(reversed(_TOLD_BY)) if name not in columns): name
    for columns, name in _SETS.items()
}


def _grouping_sets(jobs: QuerySet[IndexedJob], span: Span) -> Iterator[tuple]:
    """PostgreSQL: the jobs grouped three ways in one pass (GROUPING SETS, each hashed as the jobs stream by).

    Each job's outcome is worked out once, and each outcome's count is a filter on it: the sets group by their own
    keys alone. OFFSET 0 keeps the jobs a subquery the planner does not flatten, so it takes the period and the
    spelled service for columns of a few hundred values each (not for as many as the submission times, or the
    product of three columns' variety): it hashes every set in one pass rather than sort a third of a million jobs.
    A service's spellings come as groups of their own (the greatest per key is kept), cheaper than max() per job."""
    periods = span.periods()
    rows = jobs.annotate(period=PeriodNumber(span.bounds()), spelled=Spelled(), outcome=outcome_number())
    sql, params = rows.values(
        "period", "machine", "site_id", "spelled", "username", "outcome", "duration_ms"
    ).query.sql_with_params()
    counts = ", ".join(f"count(*) FILTER (WHERE outcome = {n})" for n in range(len(EVERY_OUTCOME)))
    sets = ", ".join(f"({', '.join(columns)})" for columns in _SETS)
    query = f"""
        SELECT GROUPING({", ".join(_TOLD_BY)}), period, machine, site_id, spelled, username, {counts},
            sum(duration_ms)::bigint
        FROM ({sql} OFFSET 0) AS jobs
        GROUP BY GROUPING SETS ({sets})"""  # noqa: S608 - Django's SQL of the jobs (values as parameters), constants
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        for bits, period, machine, site_id, spelled, username, *numbers, running_ms in cursor.fetchall():
            outcomes = dict(zip(EVERY_OUTCOME, numbers, strict=True))
            match _SET_OF_BITS[bits]:
                case "periods and machines":  # period 0, past the last or None (never submitted): outside the span
                    at = periods[period - 1] if period and period <= len(periods) else None
                    yield "periods", at, outcomes, running_ms, "", ""
                    yield "machines", machine, outcomes, running_ms, "", ""
                case "services":
                    service_key, folder, service = spelled.split(SEPARATOR)
                    yield "services", (site_id, service_key), outcomes, running_ms, folder, service
                case _:
                    yield "users", username, outcomes, running_ms, "", ""


def _grouped_once(jobs: QuerySet[IndexedJob], span: Span) -> Iterator[tuple]:
    """Elsewhere (SQLite): the jobs grouped by every key together, each group then added to each part."""
    periods = set(span.periods())
    columns = ("period", "site_id", "service_key", "folder", "service", "machine", "username", "status", "gone_while")
    found = jobs.annotate(period=span.trunc()).values(*columns).annotate(n=Count("*"), running_ms=Sum("duration_ms"))
    for row in found:
        outcomes = {outcome(row["status"], row["gone_while"]): row["n"]}
        spelling = (row["running_ms"], row["folder"], row["service"])
        yield "periods", row["period"] if row["period"] in periods else None, outcomes, *spelling
        yield "services", (row["site_id"], row["service_key"]), outcomes, *spelling
        yield "machines", row["machine"], outcomes, *spelling
        yield "users", row["username"], outcomes, *spelling


# --- the charts ---------------------------------------------------------------------------------------------


class Activity:
    """The charts of a set of jobs over a span: the counts in one query when a chart first asks, the percentiles in
    another."""

    def __init__(self, jobs: QuerySet[IndexedJob], span: Span, sites: list[Site]):
        self.jobs = jobs.order_by()
        self.span = span
        self.sites = {site.pk: site for site in sites}
        self.several_sites = len(sites) > 1

    @cached_property
    def counted(self) -> Counted:
        return count(self.jobs, self.span)

    def _periods_table(self, name: str, title: str, series: list[str], unit: str, values: dict) -> Table:
        """A row for every period of the span, the empty ones too (no jobs: 0; no duration: None)."""
        empty = [0 if unit == "jobs" else None] * len(series)
        rows = [Row(self.span.label(at), values.get(at, empty), at=at) for at in self.span.periods()]
        return Table(name, title, self.span.period_word, series, unit, rows)

    @cached_property
    def jobs_per_period(self) -> Table:
        by_period = self.counted["periods"]
        series = _series(outcome for tally in by_period.values() for outcome in tally.outcomes)
        values = {at: [tally.outcomes[name] for name in series] for at, tally in by_period.items()}
        word = "hour" if self.span.step == "hour" else "day"
        return self._periods_table("jobs-per-period", f"Jobs per {word}, by outcome", series, "jobs", values)

    @cached_property
    def duration_percentiles(self) -> Table:
        succeeded = self.jobs.filter(status=arcgis_client.SUCCEEDED, gone_while="")
        values = {at: list(numbers) for at, numbers in duration_percentiles(succeeded, self.span).items()}
        title = "Duration of succeeded jobs, from submission to end"
        return self._periods_table("duration-percentiles", title, ["p50", "p95", "Max"], "seconds", values)

    @cached_property
    def services(self) -> list[dict]:
        """Every service's jobs, failures and running time, labelled with its site when several are shown."""
        services = []
        for (site_id, service_key), tally in self.counted["services"].items():
            label = f"{tally.folder}/{tally.service}" if tally.folder else tally.service
            site = self.sites.get(site_id)
            if self.several_sites and site is not None:
                label = f"{label} · {site.name}"
            services.append(
                {
                    "jobs": tally.jobs,
                    "failed": tally.outcomes[FAILED],
                    "timed_out": tally.outcomes[TIMED_OUT],
                    "running_ms": tally.running_ms,
                    "label": label,
                    "key": f"{site.slug if site else ''}:{service_key}",
                }
            )
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

    def _breakdown(self, name: str, title: str, part: str, first: str) -> Table:
        by_key = self.counted[part]
        series = _series(outcome for tally in by_key.values() for outcome in tally.outcomes)
        ranked = sorted(by_key.items(), key=lambda item: (-item[1].jobs, item[0]))
        rows = [Row(key or "—", [tally.outcomes[s] for s in series], key=key) for key, tally in ranked[:TOP]]
        note = f"The {TOP} with the most jobs, of {len(ranked)}." if len(ranked) > TOP else ""
        return Table(name, title, first, series, "jobs", rows, note)

    @cached_property
    def by_machine(self) -> Table:
        return self._breakdown("by-machine", "Jobs per machine, by outcome", "machines", "Machine")

    @cached_property
    def by_user(self) -> Table:
        return self._breakdown("by-user", "Jobs per user, by outcome", "users", "User")

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
