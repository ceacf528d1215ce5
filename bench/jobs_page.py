"""The jobs page of a service holding 10,000 jobs, at 20 ms upstream latency, as a browser loads it and as it
loads without JavaScript, each against one direct jobs/query for the same page of jobs.

- table: GET the jobs page with HX-Request and HX-Target: job-table, as the shell's loader asks for it (50 rows).
- shell: the page itself, which calls no one (its table loads itself).
- pair: what a browser does: the shell, then its table, one after the other (the shell reads the table's jobs
  ahead, so the table finds them shared).
- inline: the page with its rows in one request (`?inline=1`), as it loads without JavaScript.
The comparison is one direct jobs/query with requests. The portal shares identical reads for about a second, so
every request reads another page of the service (page N, start 50·(N-1)+1, on both sides): every table waits for
ArcGIS. All four are interleaved, round by round. Also: the portal CPU of each; per page, the pair's.
Memory: the peak RSS of a fresh single-worker portal after serving the table of a 100-job service, and of another
after serving that of the 10,000-job service: it must not grow with the number of jobs (the portal fetches one
page, never the whole list).
"""

from __future__ import annotations

import itertools
import time

from bench.harness import Bench, Browser, Result, interleaved, median, peak_rss_mb, say, seconds, timed

NAME = "jobs_page"
LATENCY_MS = 20
BIG, SMALL = "Archive", "Recent"
BIG_JOBS, SMALL_JOBS = 10_000, 100
PAGES = BIG_JOBS // 50
ROUNDS = 7
PER_ROUND = 10
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


def load_shell(browser: Browser, path: str, page: int = 1) -> float:
    elapsed, answer = timed(lambda: browser.get(f"{path}?page={page}"))
    if answer.status_code != 200 or 'id="job-table"' not in answer.text or '<tr id="job-' in answer.text:
        raise RuntimeError(f"{path}: HTTP {answer.status_code}, not the shell")
    return elapsed


def load_pair(browser: Browser, path: str, page: int = 1) -> float:
    """What a browser does: the shell, then its table."""
    return load_shell(browser, path, page) + load_table(browser, path, page)


def load_inline(browser: Browser, path: str, page: int = 1) -> float:
    """The whole page with its rows, as a browser without JavaScript asks for it."""
    elapsed, answer = timed(lambda: browser.get(f"{path}?page={page}&inline=1"))
    if answer.status_code != 200 or answer.text.count('<tr id="job-') != 50 or "<html" not in answer.text:
        raise RuntimeError(f"{path}?inline=1: HTTP {answer.status_code}, {answer.text.count('<tr id=')} rows")
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
        portal = bench.portal()
        # Every portal request reads the next page (1, 2, 3… round the service's 200), and so does every direct one:
        # a page comes round again seconds later, long after the portal's shared read of it went stale.
        portal_pages, direct_pages = itertools.count(), itertools.count()

        def next_page() -> int:
            return next(portal_pages) % PAGES + 1

        def table() -> float:
            return load_table(browser, big, next_page())

        def shell() -> float:
            elapsed = load_shell(browser, big, next_page())
            time.sleep(0.1)  # its read ahead ends here: its CPU is the shell's, and it slows no other side's request
            return elapsed

        def pair() -> float:
            return load_pair(browser, big, next_page())

        def inline() -> float:
            return load_inline(browser, big, next_page())

        def direct() -> float:
            query = {**QUERY, "start": (next(direct_pages) % PAGES) * 50 + 1}
            elapsed, body = timed(lambda: upstream.get(f"services/{BIG}.GPServer/jobs/query", **query))
            if body.get("total") != BIG_JOBS or len(body.get("results") or {}) != 50:
                raise RuntimeError(f"query: total {body.get('total')}")
            return elapsed

        sides = {"table": table, "shell": shell, "pair": pair, "inline": inline, "direct": direct}
        for _ in range(3):  # warm up: connections opened, templates compiled
            for side in sides.values():
                side()
        cpu: dict[str, list[float]] = {name: [] for name in sides}
        metered = {name: portal.metered(side, cpu[name]) for name, side in sides.items()}
        times = interleaved(metered, ROUNDS, PER_ROUND)

        peaks = {service: peak_rss(bench, site.slug, service) for service in (SMALL, BIG)}

    # The workers' CPU clock ticks every 10 ms: a request's own share is the mean over many.
    return report(times, {name: sum(spent) / len(spent) for name, spent in cpu.items()}, peaks)


def report(times: dict[str, list[float]], cpu: dict[str, float], peaks: dict[str, float]) -> list[Result]:
    """The figures, each portal side against the one direct query; CPU is each side's mean per request."""
    direct = median(times["direct"])
    requests = f"{len(times['direct'])} of each over {ROUNDS} interleaved rounds, another page each time"

    def against_direct(name: str, title: str, note: str, target: bool = True) -> Result:
        portal = median(times[name])
        return Result(
            f"{NAME}_{name}",
            f"{title} vs one jobs/query, {LATENCY_MS} ms upstream",
            portal,
            direct,
            f"ratio ≤ {TARGET_RATIO}×" if target else "(information)",
            portal / direct <= TARGET_RATIO if target else None,
            note=f"{note}; {seconds(cpu[name])} of portal CPU; {requests}",
        )

    table = against_direct("table", "Jobs table (50 rows) of a 10,000-job service", "the fragment the shell loads")
    shell = against_direct("shell", "The jobs page's shell (no upstream call)", "the page before its table", False)
    pair = against_direct("pair", "Jobs page as a browser loads it: shell, then table", "two requests in turn")
    inline = against_direct("inline", "Jobs page with its 50 rows in one request (`?inline=1`)", "without JavaScript")
    # A page as the browser loads it is the pair: its shell reads its table's jobs ahead, so the shell alone costs
    # that read and the table alone costs it again; the pair costs it once.
    per_page = cpu["pair"]
    cost = Result(
        f"{NAME}_cpu",
        "Portal CPU per jobs page: shell + table as a browser loads them",
        per_page,
        None,
        f"≤ {seconds(TARGET_CPU)}",
        per_page <= TARGET_CPU,
        note=f"the gunicorn workers' CPU time for the pair; alone, the shell {seconds(cpu['shell'])} (with its read "
        f"ahead) and the table {seconds(cpu['table'])}; inline {seconds(cpu['inline'])}",
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
    results = [table, shell, pair, inline, cost, memory]
    for result in results:
        say(result.line())
    return results


def peak_rss(bench: Bench, slug: str, service: str) -> float:
    """The peak RSS of a fresh portal worker that served only this service's jobs table."""
    with bench.extra_portal(workers=1, threads=8) as portal:
        browser = bench.browser("olivia", portal)
        for page in range(1, MEMORY_REQUESTS + 1):
            load_table(browser, page_path(slug, service), page % 2 + 1)  # (the 100-job service has two pages)
        [worker] = portal.worker_pids()
        return peak_rss_mb(worker)
