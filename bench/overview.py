"""The overview of a site with 50 GP services, each ArcGIS call taking 50 ms.

Portal: what a browser does, over one connection: GET / (the shell, at once), then the stream the
shell names (GET /overview/stream, server-sent events) until its `done` event: the site's section
with its services, then each service's counts as ArcGIS answers (the portal asks them concurrently).
Timed from the shell's request to `done`.
Comparison: the same upstream data fetched one call after the other with requests: the services
listing, then the statistics of each service.
For information: GET /overview/refresh (htmx), the same answers in one response (the 30 s refresh).

The portal shares identical reads for about a second, so its rounds are spaced further apart; it
keeps a site's list of services for a minute, so after the first load only the counts are asked.
"""

from __future__ import annotations

import re
import time

from bench.harness import Bench, Browser, Result, Spacing, interleaved, median, say, seconds, timed

NAME = "overview"
LATENCY_MS = 50
SERVICES = 50
ROUNDS = 7
TARGET_SECONDS = 0.3
# A service's counts as the stream and the refresh send them: a cell swapped in by id.
COUNTS = re.compile(r'<td class="counts"[^>]*hx-swap-oob="true">(.*?)</td>', re.S)


def counts_in(html: str) -> int:
    """How many services' counts arrived; a service whose counts failed stops the measure."""
    cells = COUNTS.findall(html)
    for cell in cells:
        if " total</a>" not in cell:
            raise RuntimeError(f"a service's counts failed: {cell[:300]}")
    return len(cells)


class OverviewLoad:
    """The overview as a browser loads it; also notes when the shell and the first counts arrived."""

    def __init__(self, browser: Browser):
        self.browser = browser
        self.shell: list[float] = []
        self.first_counts: list[float] = []

    def __call__(self) -> float:
        started = time.perf_counter()
        page = self.browser.get("/")
        if page.status_code != 200 or "sse-connect" not in page.text:
            raise RuntimeError(f"overview shell: HTTP {page.status_code}")
        self.shell.append(time.perf_counter() - started)
        counts = 0
        for event, data in self.browser.events("/overview/stream"):
            if event == "done":
                break
            arrived = counts_in(data)
            if arrived and not counts:
                self.first_counts.append(time.perf_counter() - started)
            counts += arrived
        elapsed = time.perf_counter() - started
        if counts != SERVICES:
            raise RuntimeError(f"the overview stream held {counts} counts, not {SERVICES}")
        return elapsed


def run(bench: Bench) -> list[Result]:
    with bench.site("overview", LATENCY_MS) as site:
        names = [f"Model{number:02d}" for number in range(1, SERVICES + 1)]
        for name in names:
            site.simulator.call("add_service", name)
        site.simulator.call("add_jobs", names[0], 20, ["esriJobSucceeded", "esriJobFailed", "esriJobExecuting"])
        token = bench.connect("olivia", site)
        browser = bench.browser("olivia")
        upstream = site.upstream(token)
        load = OverviewLoad(browser)

        def sequential() -> float:
            def fetch() -> None:
                listing = upstream.get("services")
                gp = [s["serviceName"] for s in listing["services"] if s["type"] == "GPServer"]
                if len(gp) != SERVICES:
                    raise RuntimeError(f"the listing has {len(gp)} GP services")
                for name in gp:
                    upstream.post(f"services/{name}.GPServer/jobs/statistics")

            return timed(fetch)[0]

        def refresh() -> float:
            elapsed, answer = timed(lambda: browser.get("/overview/refresh", htmx=True))
            if answer.status_code != 200 or counts_in(answer.text) != SERVICES:
                raise RuntimeError(f"overview refresh: HTTP {answer.status_code}")
            return elapsed

        portal = bench.portal()
        stream_cpu: list[float] = []
        refresh_cpu: list[float] = []
        spacing = Spacing()  # both portal sides read the same shared counts
        sides = {
            "portal": spacing(portal.metered(load, stream_cpu)),
            "refresh": spacing(portal.metered(refresh, refresh_cpu)),
            "sequential": sequential,
        }
        for side in sides.values():  # warm up: connections, templates, the list of services
            side()
        for figures in (load.shell, load.first_counts, stream_cpu, refresh_cpu):
            figures.clear()
        times = interleaved(sides, ROUNDS)

    portal, portal_refresh, direct = (median(times[side]) for side in sides)
    result = Result(
        NAME,
        f"Overview of {SERVICES} services: shell + stream until done vs the same calls in sequence, "
        f"{LATENCY_MS} ms each",
        portal,
        direct,
        f"≤ {seconds(TARGET_SECONDS)}",
        portal <= TARGET_SECONDS,
        note=f"shell {seconds(median(load.shell))}, first counts at {seconds(median(load.first_counts))}; "
        f"{seconds(median(stream_cpu))} of portal CPU per overview; {ROUNDS} interleaved rounds over one connection",
    )
    refreshed = Result(
        f"{NAME}_refresh",
        "The same counts in one answer (/overview/refresh, every 30 s)",
        portal_refresh,
        direct,
        "(for information)",
        None,
        note=f"{seconds(median(refresh_cpu))} of portal CPU per refresh",
    )
    say(result.line())
    say(refreshed.line())
    return [result, refreshed]
