"""The overview of a site with 50 GP services, each ArcGIS call taking 50 ms.

Portal: the overview page, then every per-service counts fragment it names
(hx-trigger="load") fetched as a browser does, in parallel over 16 connections (HTTP/2
behind the TLS terminator) and, for comparison, over 6 (an HTTP/1.1 browser).
Comparison: the same upstream data fetched one call after the other with requests: the
services listing, then the statistics of each service.
"""

from __future__ import annotations

import queue
from concurrent.futures import ThreadPoolExecutor

from bench.harness import Bench, Browser, Result, interleaved, load_triggers, median, say, seconds, timed

NAME = "overview"
LATENCY_MS = 50
SERVICES = 50
ROUNDS = 5
CONNECTIONS = 16
HTTP1_CONNECTIONS = 6
TARGET_SECONDS = 0.3


class OverviewBrowser:
    """A browser that loads the overview and then its fragments over `connections` connections."""

    def __init__(self, browser: Browser, connections: int):
        self.connections = [browser.connection() for _ in range(connections)]
        self.page = browser
        self.pool = ThreadPoolExecutor(max_workers=connections)

    def load(self) -> float:
        def run() -> int:
            page = self.page.get("/")
            if page.status_code != 200:
                raise RuntimeError(f"overview: HTTP {page.status_code}")
            urls = load_triggers(page.text)
            pending = queue.SimpleQueue()
            for url in urls:
                pending.put(url)
            # Like a browser: each connection takes the next fragment as soon as it is free.
            list(self.pool.map(lambda connection: fetch_until_done(connection, pending), self.connections))
            return len(urls)

        elapsed, count = timed(run)
        if count != SERVICES:
            raise RuntimeError(f"the overview named {count} counts fragments, not {SERVICES}")
        return elapsed

    def close(self) -> None:
        self.pool.shutdown()


def fetch_until_done(connection: Browser, pending: queue.SimpleQueue) -> None:
    while True:
        try:
            url = pending.get_nowait()
        except queue.Empty:
            return
        answer = connection.get(url, htmx=True)
        if answer.status_code != 200 or "total" not in answer.text:
            raise RuntimeError(f"{url}: HTTP {answer.status_code}: {answer.text[:200]}")


def run(bench: Bench) -> list[Result]:
    with bench.site("overview", LATENCY_MS) as site:
        names = [f"Model{number:02d}" for number in range(1, SERVICES + 1)]
        for name in names:
            site.simulator.call("add_service", name)
        site.simulator.call("add_jobs", names[0], 20, ["esriJobSucceeded", "esriJobFailed", "esriJobExecuting"])
        token = bench.connect("olivia", site)
        browser = bench.browser("olivia")
        upstream = site.upstream(token)
        http2 = OverviewBrowser(browser, CONNECTIONS)
        http1 = OverviewBrowser(browser, HTTP1_CONNECTIONS)

        def sequential() -> float:
            def fetch() -> None:
                listing = upstream.get("services")
                gp = [s["serviceName"] for s in listing["services"] if s["type"] == "GPServer"]
                if len(gp) != SERVICES:
                    raise RuntimeError(f"the listing has {len(gp)} GP services")
                for name in gp:
                    upstream.post(f"services/{name}.GPServer/jobs/statistics")

            return timed(fetch)[0]

        sides = {"portal": http2.load, "portal_http1": http1.load, "sequential": sequential}
        for load in sides.values():  # warm up: connections, templates
            load()
        cpu_before = bench.portal().cpu_seconds()
        times = interleaved(sides, ROUNDS)
        http2.close()
        http1.close()

        # Both portal sides do the same work: a page and its fragments.
        cpu = (bench.portal().cpu_seconds() - cpu_before) / (2 * ROUNDS)

    portal, portal_http1, direct = (median(times[side]) for side in sides)
    result = Result(
        NAME,
        f"Overview + {SERVICES} counts fragments, {CONNECTIONS} connections, vs the same calls in sequence, "
        f"{LATENCY_MS} ms each",
        portal,
        direct,
        f"≤ {seconds(TARGET_SECONDS)}",
        portal <= TARGET_SECONDS,
        note=f"{seconds(cpu)} of portal CPU per overview; {ROUNDS} rounds",
    )
    http1 = Result(
        f"{NAME}_http1",
        f"The same over {HTTP1_CONNECTIONS} connections (HTTP/1.1 browsers)",
        portal_http1,
        direct,
        "(for information)",
        None,
    )
    say(result.line())
    say(http1.line())
    return [result, http1]
