"""The jobs page of a service holding 10,000 jobs, at 20 ms upstream latency.

The page is a shell, rendered at once, whose table loads itself: the table is the request that waits
for ArcGIS. Portal: GET the jobs page with HX-Request and HX-Target: job-table, as the shell's
loader asks for it (50 rows). Comparison: one direct jobs/query request for the same page of jobs
with requests. The portal shares identical reads for about a second, so each round reads another
page of the service (page N, start 50·(N-1)+1, on both sides): every table waits for ArcGIS.
Also: the shell's own time, and the portal CPU per page, shell + table.
Memory: the peak RSS of a fresh single-worker portal after serving the table of a 100-job
service, and of another after serving that of the 10,000-job service: it must not grow with the
number of jobs (the portal fetches one page, never the whole list).
"""

from __future__ import annotations

import itertools

from bench.harness import Bench, Browser, Result, interleaved, median, peak_rss_mb, say, seconds, timed

NAME = "jobs_page"
LATENCY_MS = 20
BIG, SMALL = "Archive", "Recent"
BIG_JOBS, SMALL_JOBS = 10_000, 100
ROUNDS = 7
PAIRS = 10
SHELLS = 30
MEMORY_REQUESTS = 30
TARGET_RATIO = 1.5
TARGET_CPU = 0.010
TARGET_GROWTH = 0.05  # of the 100-job peak
STATUSES = ["esriJobSucceeded"] * 6 + ["esriJobFailed", "esriJobCancelled", "esriJobExecuting", "esriJobSubmitted"]
# What the table asks ArcGIS for (arcgis_client.AdminClient.query_jobs with no filter), but `start`.
QUERY = {"jobStatus": "", "userName": "", "machineName": "", "startTime": "", "endTime": "", "number": 50}


def page_path(slug: str, service: str) -> str:
    return f"/sites/{slug}/services/{service}.GPServer/jobs/"


def load_table(browser: Browser, path: str, page: int = 1) -> float:
    """The table fragment, as the shell's loader asks for it."""
    elapsed, answer = timed(lambda: browser.get(f"{path}?page={page}", target="job-table"))
    if answer.status_code != 200 or answer.text.count('<tr id="job-') != 50 or "<html" in answer.text:
        raise RuntimeError(f"{path}: HTTP {answer.status_code}, {answer.text.count('<tr id=')} rows")
    return elapsed


def load_shell(browser: Browser, path: str) -> float:
    elapsed, answer = timed(lambda: browser.get(path))
    if answer.status_code != 200 or 'id="job-table"' not in answer.text or '<tr id="job-' in answer.text:
        raise RuntimeError(f"{path}: HTTP {answer.status_code}, not the shell")
    return elapsed


def run(bench: Bench) -> list[Result]:
    with bench.site("archive", LATENCY_MS) as site:
        simulator = site.simulator
        for service, count in ((BIG, BIG_JOBS), (SMALL, SMALL_JOBS)):
            simulator.call("add_service", service)
            # Spread over the last few hours, like a busy service's history.
            simulator.call("add_jobs", service, count, STATUSES, spread_s=1.5)
        token = bench.connect("olivia", site)
        browser = bench.browser("olivia")
        upstream = site.upstream(token)
        big = page_path(site.slug, BIG)
        # Each side goes through the pages 1, 2, 3…
        portal_pages, direct_pages = itertools.count(1), itertools.count(1)

        def portal() -> float:
            return load_table(browser, big, next(portal_pages))

        def direct() -> float:
            query = {**QUERY, "start": (next(direct_pages) - 1) * 50 + 1}
            elapsed, body = timed(lambda: upstream.get(f"services/{BIG}.GPServer/jobs/query", **query))
            if body.get("total") != BIG_JOBS or len(body.get("results") or {}) != 50:
                raise RuntimeError(f"query: total {body.get('total')}")
            return elapsed

        for _ in range(3):  # warm up
            load_shell(browser, big)
            portal()
            direct()
        cpu_before = bench.portal().cpu_seconds()
        times = interleaved({"portal": portal, "direct": direct}, ROUNDS, PAIRS)
        portal_times, direct_times = times["portal"], times["direct"]
        table_cpu = (bench.portal().cpu_seconds() - cpu_before) / len(portal_times)
        cpu_before = bench.portal().cpu_seconds()
        shell_times = [load_shell(browser, big) for _ in range(SHELLS)]
        shell_cpu = (bench.portal().cpu_seconds() - cpu_before) / SHELLS

        peaks = {service: peak_rss(bench, site.slug, service) for service in (SMALL, BIG)}

    portal, comparison = median(portal_times), median(direct_times)
    cpu = shell_cpu + table_cpu
    speed = Result(
        NAME,
        f"Jobs table (50 rows) of a {BIG_JOBS:,}-job service vs one jobs/query, {LATENCY_MS} ms upstream",
        portal,
        comparison,
        f"ratio ≤ {TARGET_RATIO}×",
        portal / comparison <= TARGET_RATIO,
        note=f"the table adds {seconds(portal - comparison)}; the shell before it takes "
        f"{seconds(median(shell_times))}; {len(portal_times)} + {len(direct_times)} requests over {ROUNDS} "
        "interleaved rounds, another page each time",
    )
    cost = Result(
        f"{NAME}_cpu",
        "Portal CPU per jobs page: shell + table",
        cpu,
        None,
        f"≤ {seconds(TARGET_CPU)}",
        cpu <= TARGET_CPU,
        note=f"shell {seconds(shell_cpu)} + table {seconds(table_cpu)} of the gunicorn workers' CPU time",
    )
    growth = peaks[BIG] / peaks[SMALL] - 1
    memory = Result(
        f"{NAME}_memory",
        f"Worker peak RSS: jobs table of a {BIG_JOBS:,}-job vs a {SMALL_JOBS}-job service",
        peaks[BIG],
        peaks[SMALL],
        f"growth ≤ {TARGET_GROWTH:.0%}",
        growth <= TARGET_GROWTH,
        unit="MB",
        note=f"{growth:+.1%}; fresh single-worker gunicorn for each, {MEMORY_REQUESTS} tables",
    )
    for result in (speed, cost, memory):
        say(result.line())
    return [speed, cost, memory]


def peak_rss(bench: Bench, slug: str, service: str) -> float:
    """The peak RSS of a fresh portal worker that served only this service's jobs table."""
    with bench.extra_portal(workers=1, threads=8) as portal:
        browser = bench.browser("olivia", portal)
        for page in range(1, MEMORY_REQUESTS + 1):
            load_table(browser, page_path(slug, service), page % 2 + 1)  # (the 100-job service has two pages)
        [worker] = portal.worker_pids()
        return peak_rss_mb(worker)
