"""The jobs page of a service holding 10,000 jobs, at 20 ms upstream latency.

Portal: GET the service's jobs page (50 rows), as a browser navigates to it.
Comparison: one direct jobs/query request for the same page (number=50) with requests.
Memory: the peak RSS of a fresh single-worker portal after serving the jobs page of a
100-job service, and of another after serving that of the 10,000-job service: it must
not grow with the number of jobs (the portal fetches one page, never the whole list).
"""

from __future__ import annotations

from bench.harness import Bench, Browser, Result, interleaved, median, peak_rss_mb, say, seconds, timed

NAME = "jobs_page"
LATENCY_MS = 20
BIG, SMALL = "Archive", "Recent"
BIG_JOBS, SMALL_JOBS = 10_000, 100
ROUNDS = 7
PAIRS = 10
MEMORY_REQUESTS = 30
TARGET_RATIO = 1.2
TARGET_GROWTH = 0.05  # of the 100-job peak
STATUSES = ["esriJobSucceeded"] * 6 + ["esriJobFailed", "esriJobCancelled", "esriJobExecuting", "esriJobSubmitted"]
# What the page asks ArcGIS for (jobs.arcgis.AdminClient.query_jobs with no filter).
QUERY = {"jobStatus": "", "userName": "", "machineName": "", "startTime": "", "endTime": "", "start": 1, "number": 50}


def page_path(slug: str, service: str) -> str:
    return f"/sites/{slug}/services/{service}.GPServer/jobs/"


def load_page(browser: Browser, path: str) -> float:
    elapsed, answer = timed(lambda: browser.get(path))
    if answer.status_code != 200 or answer.text.count('<tr id="job-') != 50:
        raise RuntimeError(f"{path}: HTTP {answer.status_code}, {answer.text.count('<tr id=')} rows")
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

        def direct() -> float:
            elapsed, body = timed(lambda: upstream.get(f"services/{BIG}.GPServer/jobs/query", **QUERY))
            if body.get("total") != BIG_JOBS or len(body.get("results") or {}) != 50:
                raise RuntimeError(f"query: total {body.get('total')}")
            return elapsed

        for _ in range(3):  # warm up
            load_page(browser, big)
            direct()
        cpu_before = bench.portal().cpu_seconds()
        times = interleaved({"portal": lambda: load_page(browser, big), "direct": direct}, ROUNDS, PAIRS)
        portal_times, direct_times = times["portal"], times["direct"]
        cpu = (bench.portal().cpu_seconds() - cpu_before) / len(portal_times)

        peaks = {service: peak_rss(bench, site.slug, service) for service in (SMALL, BIG)}

    portal, comparison = median(portal_times), median(direct_times)
    speed = Result(
        NAME,
        f"Jobs page (50 rows) of a {BIG_JOBS:,}-job service vs one jobs/query, {LATENCY_MS} ms upstream",
        portal,
        comparison,
        f"ratio ≤ {TARGET_RATIO}×",
        portal / comparison <= TARGET_RATIO,
        note=f"the page adds {seconds(portal - comparison)} ({seconds(cpu)} of portal CPU), "
        f"so the ratio holds once ArcGIS takes "
        f"≥ {seconds((portal - comparison) / (TARGET_RATIO - 1))} to answer; "
        f"{len(portal_times)} + {len(direct_times)} requests over {ROUNDS} interleaved rounds",
    )
    growth = peaks[BIG] / peaks[SMALL] - 1
    memory = Result(
        "jobs_page_memory",
        f"Worker peak RSS: jobs page of a {BIG_JOBS:,}-job vs a {SMALL_JOBS}-job service",
        peaks[BIG],
        peaks[SMALL],
        f"growth ≤ {TARGET_GROWTH:.0%}",
        growth <= TARGET_GROWTH,
        unit="MB",
        note=f"{growth:+.1%}; fresh single-worker gunicorn for each, {MEMORY_REQUESTS} page loads",
    )
    say(speed.line())
    say(memory.line())
    return [speed, memory]


def peak_rss(bench: Bench, slug: str, service: str) -> float:
    """The peak RSS of a fresh portal worker that served only this service's jobs page."""
    with bench.extra_portal(workers=1, threads=8) as portal:
        browser = Browser.login(portal.url, "olivia")
        for _ in range(MEMORY_REQUESTS):
            load_page(browser, page_path(slug, service))
        [worker] = portal.worker_pids()
        return peak_rss_mb(worker)
