"""The job index at size: 1,000,000 indexed jobs on PostgreSQL (10 sites, 2,000 GP services, 90 days, one service
in fifty failing more often, 50 users, 12 machines), filled by the database itself in batches, then:

- the first page (50 rows) of filtered lists of the history, newest first: every job of 7 days (the default), the
  failed ones of 30 days, one service over 90 days, one user's, one machine's, one job by its ID — the slowest
  held to ≤ 50 ms;
- the 30-day activity charts of every site (jobs per day by outcome, duration percentiles per day, the services
  with the most failures and the most running time, per machine, per user): all of them ≤ 300 ms;
- the history's CSV streamed: memory must not grow with the rows (peak of Python's allocations, about 330,000 rows
  vs 30,000);
- bytes per indexed job: the table, its TOAST and every index (pg_total_relation_size), over the rows.

The pages, charts and CSV are the history's own code (history.queries, history.activity, history.exports). Each
figure is the median of warm runs. It runs in a process of its own against a private database made for it
(`bench_history`, on DATABASE_URL's server or BENCH_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/test)
and dropped at the end; the side-by-side comparison is each query's time against its target.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

from bench.harness import PROJECT_DIR, Bench, Result, median, say, seconds

NAME = "history_db"
DATABASE = "bench_history"
ROWS = 1_000_000
SITES = 10
SERVICES = 200  # per site
DAYS = 90
BATCH = 100_000
RUNS = 7
TARGET_PAGE = 0.050
TARGET_CHARTS = 0.300
TARGET_GROWTH = 0.10
CSV_ROWS = (30_000, 330_000)

# Captured at import, before the bench points DATABASE_URL at its own SQLite file.
_given = os.environ.get("DATABASE_URL", "")
SERVER_URL = os.environ.get("BENCH_POSTGRES_URL") or (
    _given if _given.startswith("postgres") else "postgres://postgres@127.0.0.1:5432/test"
)


def database_url(name: str) -> str:
    parts = urlsplit(SERVER_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(SERVER_URL, autocommit=True) as connection:
        connection.execute(sql)


def run(bench: Bench) -> list[Result]:
    _admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    _admin(f"CREATE DATABASE {DATABASE}")
    try:
        figures = _in_own_process(bench)
    finally:
        _admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    return results(figures)


def _in_own_process(bench: Bench) -> dict:
    env = bench.env | {"DATABASE_URL": database_url(DATABASE)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.history_db"], cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    figures = None
    for line in process.stdout:
        if line.startswith("FIGURES "):
            figures = json.loads(line[8:])
        else:
            say(line.rstrip("\n"))
    if process.wait() != 0 or figures is None:
        raise RuntimeError(f"the history bench's process failed (exit {process.returncode})")
    return figures


def results(figures: dict) -> list[Result]:
    pages = figures["pages"]
    slowest = max(pages, key=pages.get)
    page = Result(
        f"{NAME}_page",
        f"History of {ROWS:,} indexed jobs (PostgreSQL): the first page of a filtered list, the slowest filter",
        pages[slowest],
        TARGET_PAGE,
        f"≤ {seconds(TARGET_PAGE)}",
        pages[slowest] <= TARGET_PAGE,
        note=f"slowest: {slowest}; " + ", ".join(f"{name} {seconds(value)}" for name, value in pages.items()),
    )
    charts = figures["charts"]
    total = figures["charts_all"]
    chart = Result(
        f"{NAME}_charts",
        "The 30-day activity charts of every site, all of them as the page counts them",
        total,
        TARGET_CHARTS,
        f"≤ {seconds(TARGET_CHARTS)}",
        total <= TARGET_CHARTS,
        note="each alone: "
        + ", ".join(f"{name} {seconds(value)}" for name, value in charts.items())
        + f"; over {figures['rows_30_days']:,} jobs; one site's ({figures['rows_30_days_one_site']:,} jobs) "
        f"{seconds(figures['charts_one_site'])}",
    )
    small, large = figures["csv_peak_mb"]
    growth = large / small - 1 if small else 0.0
    csv = Result(
        f"{NAME}_csv",
        f"The history's CSV streamed: peak Python memory for about {CSV_ROWS[1]:,} rows vs {CSV_ROWS[0]:,}",
        large,
        small,
        f"growth ≤ {TARGET_GROWTH:.0%}",
        growth <= TARGET_GROWTH,
        unit="MB",
        note=f"{growth:+.1%}; {figures['csv_rows_per_s']:,.0f} rows/s",
    )
    size = Result(
        f"{NAME}_bytes",
        "Bytes per indexed job: table, TOAST and indexes",
        figures["bytes_per_job"],
        None,
        "reported",
        None,
        unit="B",
        note="; ".join(f"{name} {value:.0f} B" for name, value in figures["bytes_by_relation"].items())
        + f"; filled in {figures['fill_seconds']:.0f} s",
    )
    extra = Result(
        f"{NAME}_watch",
        "The failure-rate watch's last hour (every site), then one site's 30-day runaway baselines",
        figures["failure_rates"],
        None,
        "reported",
        None,
        note=f"baselines of one site's 200 services {seconds(figures['baselines'])}",
    )
    for result in (page, chart, csv, size, extra):
        say(result.line())
    return [page, chart, csv, size, extra]


# --- in the bench's own process, on its private database ---------------------------------------------------------


def timed_median(call, runs: int = RUNS) -> float:
    call()  # warm: plans, caches
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return median(times)


def fill(site_pks: list[int]) -> float:
    """ROWS jobs written by the database itself, BATCH at a time, oldest first as the collector appends them: spread
    over DAYS up to now; statuses by a service's own failure rate; active jobs only in the last hour."""
    from django.db import connection

    started = time.perf_counter()
    sites = "ARRAY[" + ",".join(map(str, site_pks)) + "]"
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.22)")
        for first in range(1, ROWS + 1, BATCH):
            cursor.execute(
                f"""
                INSERT INTO history_indexedjob (site_id, folder, service, service_key, job_id, status, submitted,
                    ended, duration_ms, username, machine, first_seen, last_seen, gone_while)
                SELECT site, folder, name, lower(folder || '/' || name), 'j' || md5(i::text), status, submitted,
                    ended, (extract(epoch FROM ended - submitted) * 1000)::bigint, 'analyst' || (i * 7 %% 50 + 1),
                    'GIS' || lpad((i * 13 %% 12 + 1)::text, 2, '0') || '.EXAMPLE.COM', submitted,
                    coalesce(ended, now()), ''
                FROM (
                    SELECT i, site, folder, name, submitted, status,
                        CASE WHEN status IN ('esriJobExecuting', 'esriJobSubmitted') THEN NULL
                             ELSE submitted + make_interval(secs => minutes * 60 * (0.5 + random())) END AS ended
                    FROM (
                        SELECT i, ({sites})[1 + i %% {SITES}] AS site, 'Team' || (i / {SITES} %% {SERVICES} %% 20)
                            AS folder, 'Model' || (i / {SITES} %% {SERVICES}) AS name,
                            1 + i / {SITES} %% {SERVICES} %% 30 AS minutes, submitted,
                            CASE WHEN submitted > now() - interval '1 hour' AND random() < 0.3 THEN
                                     (ARRAY['esriJobExecuting', 'esriJobSubmitted'])[1 + (i %% 2)]
                                 WHEN random() < CASE WHEN i / {SITES} %% {SERVICES} %% 50 = 7 THEN 0.4 ELSE 0.06 END
                                     THEN 'esriJobFailed'
                                 WHEN random() < 0.04 THEN 'esriJobCancelled'
                                 WHEN random() < 0.01 THEN 'esriJobTimedOut'
                                 ELSE 'esriJobSucceeded' END AS status
                        FROM (
                            SELECT i, now() - make_interval(secs => ({DAYS} * 86400.0 * ({ROWS} - i) / {ROWS})
                                + 3600 * 4 * sin(i / 97.0)) AS submitted
                            FROM generate_series(%s, %s) AS i
                        ) AS times
                    ) AS jobs
                ) AS done
                """,
                [first, min(first + BATCH - 1, ROWS)],
            )
            say(f"  filled {min(first + BATCH - 1, ROWS):,} of {ROWS:,} ({time.perf_counter() - started:.0f} s)")
        cursor.execute("VACUUM ANALYZE history_indexedjob")
    return time.perf_counter() - started


def list_pages(sites) -> dict[str, float]:
    """The first page of filtered lists of the history, as the history page asks for it (history.queries)."""
    from datetime import timedelta

    from django.utils import timezone

    from history.models import IndexedJob
    from history.queries import HistoryQuery

    now = timezone.now()
    job_id = IndexedJob.objects.order_by("-submitted").values_list("job_id", flat=True)[ROWS // 2]
    lists = {
        "7 days": HistoryQuery(since=now - timedelta(days=7)),
        "failed, 30 days": HistoryQuery(statuses=("esriJobFailed",), since=now - timedelta(days=30)),
        "one service, 90 days": HistoryQuery(folder="Team3", service="Model123", since=now - timedelta(days=90)),
        "one user, 30 days": HistoryQuery(username="analyst17", since=now - timedelta(days=30)),
        "one machine, 7 days": HistoryQuery(machine="GIS05.EXAMPLE.COM", since=now - timedelta(days=7)),
        "one job ID": HistoryQuery(job_id=job_id),
    }
    return {name: timed_median(lambda query=query: query.page(sites)) for name, query in lists.items()}


CHARTS = {
    "jobs per day by outcome": "jobs_per_period",
    "duration percentiles per day": "duration_percentiles",
    "top failing services": "top_failing_services",
    "most running time": "running_time_by_service",
    "per machine": "by_machine",
    "per user": "by_user",
}


def charts(sites) -> tuple[dict[str, float], float, int]:
    """The 30-day activity charts of these sites as the history page counts them (history.activity): each one alone,
    and all of them together, as the page asks (two share one query)."""
    from datetime import timedelta

    from django.utils import timezone

    from history.activity import Activity, span_of
    from history.queries import HistoryQuery

    query = HistoryQuery(since=timezone.now() - timedelta(days=30))
    jobs = query.jobs(sites)

    def activity() -> Activity:  # a new one each time: it keeps each chart once counted
        return Activity(jobs, span_of(*query.span()), sites)

    each = {title: timed_median(lambda name=name: getattr(activity(), name), runs=3) for title, name in CHARTS.items()}
    return each, timed_median(lambda: activity().tables(), runs=3), jobs.count()


def csv_memory(sites) -> tuple[list[float], float]:
    """Peak Python allocations while the history's CSV (history.exports) of about CSV_ROWS rows is streamed."""
    import tracemalloc
    from datetime import timedelta

    from django.utils import timezone

    from history import exports
    from history.queries import HistoryQuery
    from jobs import csv_export

    peaks, rate = [], 0.0
    for count in CSV_ROWS:
        query = HistoryQuery(since=timezone.now() - timedelta(days=DAYS * count / ROWS))
        tracemalloc.start()
        started = time.perf_counter()
        lines = sum(1 for _ in csv_export.lines(exports.COLUMNS, exports.rows(query, sites)))
        rate = lines / (time.perf_counter() - started)
        peaks.append(tracemalloc.get_traced_memory()[1] / 1e6)
        tracemalloc.stop()
    return peaks, rate


def sizes() -> tuple[float, dict[str, float]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), pg_total_relation_size('history_indexedjob') FROM history_indexedjob")
        count, total = cursor.fetchone()
        cursor.execute(
            """SELECT 'table', pg_relation_size('history_indexedjob')
               UNION ALL SELECT indexrelid::regclass::text, pg_relation_size(indexrelid)
               FROM pg_index WHERE indrelid = 'history_indexedjob'::regclass ORDER BY 2 DESC"""
        )
        by_relation = {name: size / count for name, size in cursor.fetchall()}
    return total / count, by_relation


def watch_queries(sites) -> tuple[float, float]:
    from django.core.cache import cache
    from django.utils import timezone

    from history import baselines, failure_rates

    def one_site_baselines():
        cache.delete(baselines._key(sites[0].pk))
        baselines.index_baselines(sites[:1])

    return timed_median(lambda: failure_rates.failing_services(timezone.now())), timed_median(one_site_baselines)


def main() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    from jobs.models import Site

    sites = [
        Site.objects.create(slug=f"site{n}", name=f"Site {n}", admin_url=f"https://gis{n}.example.com/arcgis/admin")
        for n in range(SITES)
    ]
    figures: dict = {"fill_seconds": fill([site.pk for site in sites])}
    figures["pages"] = list_pages(sites)
    figures["charts"], figures["charts_all"], figures["rows_30_days"] = charts(sites)
    _, figures["charts_one_site"], figures["rows_30_days_one_site"] = charts(sites[:1])
    figures["csv_peak_mb"], figures["csv_rows_per_s"] = csv_memory(sites)
    figures["bytes_per_job"], figures["bytes_by_relation"] = sizes()
    figures["failure_rates"], figures["baselines"] = watch_queries(sites)
    print("FIGURES " + json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
