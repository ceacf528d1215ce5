"""The fleet view (/jobs/, active jobs) over 4 sites of 50 GP services each, every ArcGIS call taking 50 ms.

Like a real fleet, most services are idle with a finished history; one in seven (8 per site, 32 in
all) has a few active jobs. Portal: what a browser does over one connection: GET /jobs/ (the shell),
then the stream it names until `done`; timed to the first snapshot that holds rows, and to `done`
(the complete first page: 50 rows merged newest first from every service). Comparison: a script
asking each service for its jobs, one jobs/query after the other (200 × 50 ms).
The portal shares identical reads for about a second, so its rounds are spaced further apart; a
site's list of services is kept for a minute and a service's baseline for ten.

Memory: the peak RSS of a fresh single-worker portal serving the fleet view a few times, with the
busy services holding a few active jobs, then 1,000 each, then 5,000 each: the portal asks each
service for a page per status (51 jobs), so past a page its memory must not grow with the jobs.
"""

from __future__ import annotations

import contextlib
import re
import time
from html import unescape

from bench.harness import Bench, Browser, Result, Spacing, interleaved, median, peak_rss_mb, say, seconds, timed

NAME = "fleet"
LATENCY_MS = 50
SITES = 4
SERVICES = 50  # per site
FOLDERS = 5
BUSY_EVERY = 7  # one service in seven has active jobs
ROUNDS = 3
MEMORY_LOADS = 3
MORE_JOBS = (1_000, 5_000)  # active jobs per busy service, for the memory measure
TARGET_FIRST = 0.5
TARGET_DONE = 1.5
TARGET_GROWTH = 0.05
PAGE = 50
ACTIVE = ["esriJobNew", "esriJobSubmitted", "esriJobWaiting", "esriJobExecuting", "esriJobCancelling"]
FINISHED = ["esriJobSucceeded"] * 8 + ["esriJobFailed", "esriJobCancelled"]
QUERY = {"jobStatus": "", "userName": "", "machineName": "", "startTime": "", "endTime": "", "start": 1, "number": 50}


def service_keys() -> list[str]:
    return [f"Team{number % FOLDERS + 1}/Model{number:02d}" for number in range(1, SERVICES + 1)]


class FleetLoad:
    """The fleet view as a browser loads it; notes when the first rows arrived."""

    def __init__(self, browser: Browser, services: int):
        self.browser = browser
        self.services = services
        self.first_rows: list[float] = []
        self.snapshots: list[int] = []

    def __call__(self) -> float:
        started = time.perf_counter()
        shell = self.browser.get("/jobs/")
        found = re.search(r'sse-connect="([^"]+)"', shell.text)
        if shell.status_code != 200 or found is None:
            raise RuntimeError(f"fleet shell: HTTP {shell.status_code}")
        first, last, snapshots = None, "", 0
        for event, data in self.browser.events(unescape(found.group(1))):
            if event == "done":
                break
            snapshots += 1
            last = data
            if first is None and '<tr id="job-' in data:
                first = time.perf_counter() - started
        elapsed = time.perf_counter() - started
        rows = last.count('<tr id="job-')
        complete = f"from {self.services} GP services" in last and "did not answer" not in last
        if rows != PAGE or not complete or first is None:
            progress = re.search(r'<p id="fleet-progress".*?</p>', last, re.S)
            raise RuntimeError(f"fleet view: {rows} rows; {progress.group(0) if progress else last[-500:]}")
        self.first_rows.append(first)
        self.snapshots.append(snapshots)
        return elapsed


def run(bench: Bench) -> list[Result]:
    keys = service_keys()
    busy = keys[::BUSY_EVERY]
    with contextlib.ExitStack() as stack:
        sites = [stack.enter_context(bench.site(f"fleet{number}", LATENCY_MS)) for number in range(1, SITES + 1)]
        upstreams = []
        for site in sites:
            for key in keys:
                folder, name = key.split("/")
                site.simulator.call("add_service", name, folder)
                site.simulator.call("add_jobs", key, 20 if key in busy else 10, FINISHED, spread_s=120)
            for key in busy:
                site.simulator.call("add_jobs", key, 3, ACTIVE[1:4], spread_s=20)
            upstreams.append(site.upstream(bench.connect("olivia", site)))
        browser = bench.browser("olivia")
        load = FleetLoad(browser, SITES * SERVICES)

        def sequential() -> float:
            def ask_each() -> None:
                for upstream in upstreams:
                    for key in keys:
                        upstream.get(f"services/{key}.GPServer/jobs/query", **QUERY)

            return timed(ask_each)[0]

        portal = Spacing()(load)
        portal()  # warm up: connections, templates, the lists of services, the baselines
        load.first_rows.clear()
        load.snapshots.clear()
        cpu_before = bench.portal().cpu_seconds()
        times = interleaved({"portal": portal, "sequential": sequential}, ROUNDS)
        cpu = (bench.portal().cpu_seconds() - cpu_before) / ROUNDS

        peaks, held = [peak_rss(bench)], 3
        for total in MORE_JOBS:
            for site in sites:
                for key in busy:
                    site.simulator.call("add_jobs", key, total - held, ACTIVE, spread_s=1)
            held = total
            peaks.append(peak_rss(bench))

    complete, direct = median(times["portal"]), median(times["sequential"])
    first = median(load.first_rows)
    services = f"{SITES * SERVICES} GP services over {SITES} sites ({len(busy) * SITES} busy)"
    first_result = Result(
        f"{NAME}_first_rows",
        f"Fleet view of {services}, {LATENCY_MS} ms each: first rows vs asking each service in turn",
        first,
        direct,
        f"≤ {seconds(TARGET_FIRST)}",
        first <= TARGET_FIRST,
        note=f"shell + stream until the first snapshot holding rows; {ROUNDS} interleaved rounds",
    )
    done_result = Result(
        NAME,
        "The same, complete (the stream's done: 50 rows merged from every service)",
        complete,
        direct,
        f"≤ {seconds(TARGET_DONE)}",
        complete <= TARGET_DONE,
        note=f"{median(load.snapshots):.0f} snapshots per load; {seconds(cpu)} of portal CPU per fleet view; "
        "the comparison is one jobs/query per service, one after the other",
    )
    growth = peaks[2] / peaks[1] - 1
    memory = Result(
        f"{NAME}_memory",
        f"Worker peak RSS: fleet view with {MORE_JOBS[1]:,} vs {MORE_JOBS[0]:,} active jobs per busy service",
        peaks[2],
        peaks[1],
        f"growth ≤ {TARGET_GROWTH:.0%}",
        growth <= TARGET_GROWTH,
        unit="MB",
        note=f"{growth:+.1%}; with 3 active jobs per busy service {peaks[0]:.1f} MB; fresh single-worker gunicorn "
        f"for each, {MEMORY_LOADS} fleet views; the portal reads at most {PAGE + 1} jobs per status and service",
    )
    for result in (first_result, done_result, memory):
        say(result.line())
    return [first_result, done_result, memory]


def peak_rss(bench: Bench) -> float:
    """The peak RSS of a fresh portal worker that served only the fleet view."""
    with bench.extra_portal(workers=1, threads=8) as portal:
        load = Spacing()(FleetLoad(bench.browser("olivia", portal), SITES * SERVICES))
        for _ in range(MEMORY_LOADS):
            load()
        [worker] = portal.worker_pids()
        return peak_rss_mb(worker)
