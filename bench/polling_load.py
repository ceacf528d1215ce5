"""100 operators watching jobs pages for 60 s, the portal served by gunicorn with 2 gthread workers.

Five GP services of one site hold 20 active jobs each; 20 operators watch each service. Each
operator has their own session and ArcGIS token, loads the table once (HX-Target: job-table) to
get the page's one poller, then polls as htmx does: GET the poller's hx-get with its hx-vals added
to the query, every hx-trigger seconds; a poll still in flight when the next is due drops it
(hx-sync="this:drop"); an answer that carries a new poller replaces it and its timer; a 286 or a
poller without hx-get stops it. Every 5 s one watched job of each service ends and a new one is
submitted, so rows change and pollers are replaced as in real use.

Errors: any answer other than 200 or 286, any failed request, and any answer that says it could
not refresh. Upstream: the simulator counts the ArcGIS requests per service during the run.
For comparison, a few pollers read a like service's jobs/query straight from ArcGIS, 1/s each,
during the same minute. The load generator runs in the bench's own process, on the same two
cores: how late its requests went out and how much CPU it used are reported with the figures.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import urlencode

from bench.harness import Bench, Browser, Result, median, percentile, say, seconds

NAME = "polling_load"
LATENCY_MS = 20
SERVICES = 5
ACTIVE = 20  # active jobs per watched service: a page of them
OPERATORS = 100
DIRECT_POLLERS = 5
DURATION = 60.0
CHURN_EVERY = 5.0  # seconds between one job of each service ending and a new one arriving
TARGET_P95 = 0.150
TARGET_CALLS = 2.0  # upstream calls per second per watched service
EXECUTING, SUCCEEDED = "esriJobExecuting", "esriJobSucceeded"
QUERY = {"jobStatus": "", "userName": "", "machineName": "", "startTime": "", "endTime": "", "start": 1, "number": 50}


@dataclass(frozen=True)
class Poller:
    url: str  # hx-get with the hx-vals in its query, as htmx sends it
    seconds: int


STOPPED = Poller("", 0)  # a poller without hx-get: nothing left to watch


def read_poller(html: str) -> Poller | None:
    """The poller an answer carries: a new one, STOPPED, or None when the answer leaves it as it is."""
    found = re.search(r'<div id="job-poller"([^>]*)>', html)
    if found is None:
        return None
    attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', found.group(1)))
    if "hx-get" not in attributes:
        return STOPPED
    url = unescape(attributes["hx-get"])
    values = json.loads(unescape(attributes["hx-vals"]))
    every = re.fullmatch(r"every (\d+)s", attributes["hx-trigger"])
    if every is None:
        raise RuntimeError(f"unexpected poller trigger {attributes['hx-trigger']!r}")
    return Poller(f"{url}{'&' if '?' in url else '?'}{urlencode(values)}", int(every.group(1)))


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)  # how late each request went out
    errors: list[str] = field(default_factory=list)
    not_refreshed: list[str] = field(default_factory=list)
    dropped: int = 0  # polls due while the previous one was still in flight
    intervals: Counter = field(default_factory=Counter)  # the polls' hx-trigger seconds
    new_pollers: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, latency: float, lag: float, error: str | None = None, stale: str | None = None) -> None:
        with self.lock:
            self.latencies.append(latency)
            self.lags.append(lag)
            if error:
                self.errors.append(error)
            if stale:
                self.not_refreshed.append(stale)


def watch(browser: Browser, poller: Poller, first_due: float, end: float, tally: Tally) -> None:
    """One operator's page: poll as htmx does until the end of the run."""
    due = first_due
    while poller is not STOPPED and due < end:
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent = time.perf_counter()
        error = stale = None
        new = None
        try:
            answer = browser.get(poller.url, htmx=True)
            if answer.status_code not in (200, 286):
                error = f"HTTP {answer.status_code}"
            elif "Could not refresh:" in answer.text:
                stale = re.sub(r"<[^>]+>", "", answer.text.split("Could not refresh:", 1)[1].split("</p>", 1)[0])
            new = STOPPED if answer.status_code == 286 else read_poller(answer.text)
        except Exception as exc:  # a failed request is an error, not the end of the run
            error = f"{type(exc).__name__}: {exc}"
        now = time.perf_counter()
        tally.add(now - sent, sent - due, error, stale and stale.strip())
        with tally.lock:
            tally.intervals[poller.seconds] += 1
        if new is not None:  # the swapped-in poller starts its own timer
            with tally.lock:
                tally.new_pollers += new is not STOPPED
            poller, due = new, now + new.seconds
        else:
            due += poller.seconds
            if due < now:  # hx-sync="this:drop": triggers during the request were dropped
                missed = int((now - due) // poller.seconds) + 1
                with tally.lock:
                    tally.dropped += missed
                due += missed * poller.seconds


def run(bench: Bench) -> list[Result]:
    with bench.site("watch", LATENCY_MS) as site:
        simulator = site.simulator
        services = [f"Watch{number}" for number in range(1, SERVICES + 1)]
        watched_jobs: dict[str, list[str]] = {}
        for service in [*services, "Direct"]:
            simulator.call("add_service", service)
            watched_jobs[service] = simulator.call("add_jobs", service, ACTIVE, [EXECUTING], spread_s=30)
        names = [f"operator{number:03d}" for number in range(1, OPERATORS + 1)]
        tokens = [bench.connect(name, site) for name in names]
        browsers = [bench.browser(name) for name in names]

        # Each operator opens their page's table once: that gives them the page's poller.
        pollers, table_times = [], []
        for number, browser in enumerate(browsers):
            path = f"/sites/{site.slug}/services/{services[number % SERVICES]}.GPServer/jobs/"
            started = time.perf_counter()
            answer = browser.get(path, target="job-table")
            table_times.append(time.perf_counter() - started)
            poller = read_poller(answer.text)
            if answer.status_code != 200 or answer.text.count('<tr id="job-') != ACTIVE or not poller:
                raise RuntimeError(f"{path}: HTTP {answer.status_code}, no poller or not {ACTIVE} rows")
            pollers.append(poller)

        portal_tally, direct_tally = Tally(), Tally()
        upstream = site.upstream(tokens[0])

        def direct_poller(first_due: float, end: float) -> None:
            connection = upstream.connection()
            due = first_due
            while due < end:
                time.sleep(max(due - time.perf_counter(), 0))
                sent = time.perf_counter()
                error = None
                try:
                    connection.get("services/Direct.GPServer/jobs/query", **QUERY)
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                direct_tally.add(time.perf_counter() - sent, sent - due, error)
                due = max(due + 1.0, time.perf_counter())

        stop_churn = threading.Event()

        def churn() -> None:
            """Every few seconds one watched job of each service ends, and a new one is submitted."""
            while not stop_churn.wait(CHURN_EVERY):
                for service in services:
                    simulator.call("set_status", service, watched_jobs[service].pop(), SUCCEEDED)
                    simulator.call("add_jobs", service, 1, [EXECUTING])

        simulator.call("clear_requests")
        portal = bench.portal()
        cpu_before, own_cpu_before = portal.cpu_seconds(), time.process_time()
        start = time.perf_counter() + 1.0
        end = start + DURATION
        threads = [
            threading.Thread(target=watch, args=(browser, poller, start + i / OPERATORS, end, portal_tally))
            for i, (browser, poller) in enumerate(zip(browsers, pollers, strict=True))
        ]
        for number in range(DIRECT_POLLERS):
            threads.append(threading.Thread(target=direct_poller, args=(start + number / DIRECT_POLLERS, end)))
        threads.append(threading.Thread(target=churn))
        say(f"   {OPERATORS} operators ({OPERATORS // SERVICES} per service) polling for {DURATION:.0f} s …")
        for thread in threads:
            thread.start()
        for thread in threads[:-1]:
            thread.join()
        elapsed = time.perf_counter() - start
        stop_churn.set()
        threads[-1].join()
        cpu = portal.cpu_seconds() - cpu_before
        own_cpu = time.process_time() - own_cpu_before
        calls = simulator.call("request_counts")
        resent = sum(browser.resent for browser in browsers)

    latencies = portal_tally.latencies
    p50, p95, p99 = (percentile(latencies, p) for p in (50, 95, 99))
    direct_p95 = percentile(direct_tally.latencies, 95)
    per_service = {service: sum(n for (s, _), n in calls.items() if s == service) / elapsed for service in services}
    operations: dict[str, int] = {}
    for (service, operation), count in calls.items():
        if service in services:
            operations[operation] = operations.get(operation, 0) + count
    busiest = max(per_service.values())
    errors = len(portal_tally.errors) + len(direct_tally.errors) + len(portal_tally.not_refreshed)
    for error in sorted(set(portal_tally.errors + direct_tally.errors + portal_tally.not_refreshed))[:5]:
        say(f"   error: {error}")
    say(
        f"   upstream calls per watched service: {', '.join(f'{rate:.2f}/s' for rate in per_service.values())} "
        f"({', '.join(f'{op} {n}' for op, n in sorted(operations.items()))} in {elapsed:.0f} s)"
    )
    say(f"   polls by interval: {', '.join(f'every {s} s: {n}' for s, n in sorted(portal_tally.intervals.items()))}")
    say(
        f"   load generator: {own_cpu / elapsed:.0%} of a core; polls went out late by p50 "
        f"{seconds(median(portal_tally.lags))}, p95 {seconds(percentile(portal_tally.lags, 95))}, "
        f"max {seconds(max(portal_tally.lags))}"
    )
    latency = Result(
        NAME,
        f"{OPERATORS} operators watching 20 active jobs each for {DURATION:.0f} s: poll p95 vs direct jobs/query p95, "
        f"{LATENCY_MS} ms upstream",
        p95,
        direct_p95,
        f"p95 < {seconds(TARGET_P95)}, 0 errors",
        p95 < TARGET_P95 and errors == 0,
        note=f"p50 {seconds(p50)}, p99 {seconds(p99)}, max {seconds(max(latencies))}; {len(latencies)} polls "
        f"({len(latencies) / elapsed:.1f}/s), {len(portal_tally.errors)} errors, "
        f"{len(portal_tally.not_refreshed)} could not refresh, {portal_tally.dropped} dropped while in flight, "
        f"{portal_tally.new_pollers} new pollers, {resent} resent on a new connection as a browser does; "
        f"{seconds(cpu / len(latencies))} of portal CPU per poll "
        f"({cpu / elapsed:.0%} of a core); tables loaded once in {seconds(median(table_times))} (median); "
        f"{OPERATORS // SERVICES} operators per service on {SERVICES} services of one site",
    )
    upstream_rate = Result(
        f"{NAME}_upstream",
        f"ArcGIS calls per second per watched service ({OPERATORS // SERVICES} operators each) vs one poller's",
        busiest,
        1.0,
        f"≤ {TARGET_CALLS:g}/s per service",
        busiest <= TARGET_CALLS,
        unit="/s",
        note="the busiest service; a lone operator polling once a second would cost 1/s",
    )
    say(latency.line())
    say(upstream_rate.line())
    return [latency, upstream_rate]
