"""50 operators, each watching one running job whose row refreshes itself once a second, for 60 s.

Each operator has their own session and token and polls their own row (…/jobs/<id>/ with
HX-Request, as hx-trigger="every 1s" does) on a fixed schedule: 50 requests a second in
all, never more (a late request skips the slots it missed). The portal is gunicorn with 2
gthread workers. Errors: any answer other than 2xx, except 286 (htmx's "stop polling",
which is fine), and any failed request. For comparison, a few pollers read the same jobs
straight from ArcGIS during the same minute.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bench.harness import Bench, Browser, Result, percentile, say, seconds

NAME = "polling_load"
LATENCY_MS = 20
OPERATORS = 50
DIRECT_POLLERS = 5
DURATION = 60.0
INTERVAL = 1.0
SERVICE = "Watch"
TARGET_P95 = 0.150


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: int = 0
    stale: int = 0  # rows that said they could not refresh
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, latency: float, error: str | None = None, stale: bool = False) -> None:
        with self.lock:
            self.latencies.append(latency)
            if error:
                self.errors.append(error)
            self.stale += stale

    def skip(self, slots: int) -> None:
        with self.lock:
            self.skipped += slots


def poll(start: float, offset: float, request, tally: Tally) -> None:
    """Send `request` at start + offset + k·INTERVAL until DURATION has passed."""
    due = start + offset
    end = start + DURATION
    while due < end:
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent = time.perf_counter()
        try:
            error, stale = request()
        except Exception as exc:  # a failed request is an error, not the end of the run
            error, stale = f"{type(exc).__name__}: {exc}", False
        tally.add(time.perf_counter() - sent, error, stale)
        due += INTERVAL
        now = time.perf_counter()
        if due < now:  # never catch up with a burst: skip the missed slots
            missed = int((now - due) // INTERVAL) + 1
            tally.skip(missed)
            due += missed * INTERVAL


def run(bench: Bench) -> list[Result]:
    with bench.site("watch", LATENCY_MS) as site:
        simulator = site.simulator
        simulator.call("add_service", SERVICE)
        job_ids = simulator.call("add_jobs", SERVICE, OPERATORS)  # EXECUTING until cancelled: they keep polling
        names = [f"operator{number:02d}" for number in range(1, OPERATORS + 1)]
        tokens = [bench.connect(name, site) for name in names]
        bench.portal()
        with ThreadPoolExecutor(max_workers=4) as pool:  # logins hash passwords: a few at a time
            browsers = list(pool.map(bench.browser, names))
        upstream = site.upstream(tokens[0])
        portal_tally, direct_tally = Tally(), Tally()

        def portal_poller(browser: Browser, job_id: str):
            path = f"/sites/{site.slug}/services/{SERVICE}.GPServer/jobs/{job_id}/"

            def request() -> tuple[str | None, bool]:
                answer = browser.get(path, htmx=True)
                if answer.status_code == 286 or 200 <= answer.status_code < 300:
                    return None, "Could not refresh" in answer.text
                return f"HTTP {answer.status_code}", False

            return request

        def direct_poller(job_id: str):
            connection = upstream.connection()

            def request() -> tuple[str | None, bool]:
                connection.get(f"services/{SERVICE}.GPServer/jobs/{job_id}")
                return None, False

            return request

        pollers = [(portal_poller(b, j), portal_tally) for b, j in zip(browsers, job_ids, strict=True)]
        pollers += [(direct_poller(job_ids[i]), direct_tally) for i in range(DIRECT_POLLERS)]
        cpu_before = bench.portal().cpu_seconds()
        start = time.perf_counter() + 1.0
        say(f"   {OPERATORS} operators polling for {DURATION:.0f} s …")
        threads = [
            threading.Thread(target=poll, args=(start, INTERVAL * i / len(pollers), request, tally), daemon=True)
            for i, (request, tally) in enumerate(pollers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        cpu = (bench.portal().cpu_seconds() - cpu_before) / len(portal_tally.latencies)

    latencies = portal_tally.latencies
    p50, p95, p99 = (percentile(latencies, p) for p in (50, 95, 99))
    direct_p95 = percentile(direct_tally.latencies, 95)
    errors = len(portal_tally.errors) + len(direct_tally.errors)
    detail = (
        f"p50 {seconds(p50)}, p95 {seconds(p95)}, p99 {seconds(p99)}, max {seconds(max(latencies))}; "
        f"{len(latencies)} requests ({len(latencies) / elapsed:.1f}/s), {len(portal_tally.errors)} errors, "
        f"{portal_tally.skipped} slots skipped, {portal_tally.stale} rows not refreshed; "
        f"{seconds(cpu)} of portal CPU per request; "
        f"comparison = p95 of {len(direct_tally.latencies)} direct job reads during the run"
    )
    for error in sorted(set(portal_tally.errors + direct_tally.errors))[:5]:
        say(f"   error: {error}")
    result = Result(
        NAME,
        f"{OPERATORS} operators polling their rows 1/s for {DURATION:.0f} s: p95 vs direct reads' p95, "
        f"{LATENCY_MS} ms upstream",
        p95,
        direct_p95,
        f"p95 < {seconds(TARGET_P95)}, 0 errors",
        p95 < TARGET_P95 and errors == 0,
        note=detail,
    )
    say(result.line())
    return [result]
