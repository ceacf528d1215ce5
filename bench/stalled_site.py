"""One stalled ArcGIS site must not hold the portal: another site's jobs table and /healthz stay quick.

Two sites, 20 ms upstream latency each. 16 operators loop (half a second between requests) over
the second site's jobs table and the overview stream (which asks both sites), while a probe times
the first site's jobs table (another page each time, so each one waits for ArcGIS) and /healthz,
four times a second. First with nothing stalled, then with the second site's simulator stalling
every request (fault `stall`, 60 s; the site's read timeout 2 s): its first requests wait out the
timeout, then its circuit breaker opens and they fail at once; after the 30 s cool-down one trial
waits again. The calm phase comes first: once opened, the breaker keeps the site failing fast.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.harness import Bench, Browser, Result, median, percentile, say, seconds, timed

NAME = "stalled_site"
LATENCY_MS = 20
READ_TIMEOUT = 2.0
LOAD_THREADS = 16
PAUSE = 0.5  # between one load thread's requests: enough load to fill every site slot, not to saturate the CPU
PROBE_EVERY = 0.25
CALM, STALLED = 20.0, 40.0  # seconds of each phase
TARGET = 1.0
HEALTHY_JOBS = 2_000
STATUSES = ["esriJobSucceeded"] * 6 + ["esriJobFailed", "esriJobCancelled", "esriJobExecuting", "esriJobSubmitted"]


@dataclass
class Phase:
    table: list[float] = field(default_factory=list)
    healthz: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)  # how the load's requests on the stalled site ended
    errors: list[str] = field(default_factory=list)


def outcome(html: str) -> str:
    """How a page of the stalled site ended, in a few words."""
    for words, name in (
        ("did not answer within", "waited out the read timeout"),
        ("is not answering since", "failed at once (breaker open)"),
        ("already has", "failed at once (no request slot)"),
    ):
        if words in html:
            return name
    return "answered"


def run(bench: Bench) -> list[Result]:
    with (
        bench.site("healthy", LATENCY_MS) as healthy,
        bench.site("stalled", LATENCY_MS, read_timeout=READ_TIMEOUT, action_timeout=READ_TIMEOUT) as stalled,
    ):
        healthy.simulator.call("add_service", "Daily")
        healthy.simulator.call("add_jobs", "Daily", HEALTHY_JOBS, STATUSES, spread_s=2)
        stalled.simulator.call("add_service", "Nightly")
        stalled.simulator.call("add_jobs", "Nightly", 200, STATUSES, spread_s=2)
        bench.connect("olivia", healthy)
        probe = bench.browser("olivia")
        loaders = []
        for number in range(1, LOAD_THREADS + 1):
            name = f"load{number:02d}"
            bench.connect(name, healthy)
            bench.connect(name, stalled)
            loaders.append(bench.browser(name))
        healthy_table = f"/sites/{healthy.slug}/services/Daily.GPServer/jobs/"
        stalled_table = f"/sites/{stalled.slug}/services/Nightly.GPServer/jobs/"
        pages = HEALTHY_JOBS // 50
        phases = {"calm": Phase(), "stalled": Phase()}
        current = ["calm"]
        stop = threading.Event()

        def probing() -> None:
            number = 0
            while not stop.is_set():
                phase = phases[current[0]]
                due = time.perf_counter() + PROBE_EVERY
                number += 1
                path = f"{healthy_table}?page={number % pages + 1}"
                elapsed, answer = timed(lambda path=path: probe.get(path, target="job-table", timeout=60))
                if answer.status_code != 200 or answer.text.count('<tr id="job-') != 50:
                    phase.errors.append(f"healthy table: HTTP {answer.status_code}, {answer.text[:200]}")
                phase.table.append(elapsed)
                elapsed, answer = timed(lambda: probe.get("/healthz", timeout=60))
                if answer.status_code != 200:
                    phase.errors.append(f"/healthz: HTTP {answer.status_code}")
                phase.healthz.append(elapsed)
                time.sleep(max(due - time.perf_counter(), 0))

        def loading(browser: Browser) -> None:
            turn = 0
            while not stop.is_set():
                phase = phases[current[0]]
                turn += 1
                started = time.perf_counter()
                try:
                    if turn % 2:
                        answer = browser.get(stalled_table, target="job-table", timeout=60)
                        phase.outcomes[outcome(answer.text) if answer.status_code == 200 else "error"] += 1
                    else:
                        for event, _ in browser.events("/overview/stream", timeout=60):
                            if event == "done":
                                break
                        phase.outcomes["overview streams"] += 1
                except Exception as exc:
                    phase.errors.append(f"load: {type(exc).__name__}: {exc}")
                phase.load.append(time.perf_counter() - started)
                time.sleep(PAUSE)

        threads = [threading.Thread(target=probing)]
        threads += [threading.Thread(target=loading, args=(browser,)) for browser in loaders]
        say(f"   {LOAD_THREADS} operators on the second site: {CALM:.0f} s calm, then {STALLED:.0f} s stalled …")
        for thread in threads:
            thread.start()
        time.sleep(CALM)
        stalled.simulator.call("fault", "stall", seconds=60)
        current[0] = "stalled"
        time.sleep(STALLED)
        stop.set()
        for thread in threads:
            thread.join()
        stalled.simulator.call("clear_faults")

    calm, stall = phases["calm"], phases["stalled"]
    for name, phase in phases.items():
        duration = CALM if name == "calm" else STALLED
        ends = ", ".join(f"{count} {what}" for what, count in phase.outcomes.most_common())
        say(
            f"   {name}: healthy table p50 {seconds(median(phase.table))}, p95 {seconds(percentile(phase.table, 95))}, "
            f"max {seconds(max(phase.table))}; /healthz p50 {seconds(median(phase.healthz))}, "
            f"p95 {seconds(percentile(phase.healthz, 95))}, max {seconds(max(phase.healthz))}; "
            f"load {len(phase.load) / duration:.0f} requests/s (p50 {seconds(median(phase.load))}, "
            f"max {seconds(max(phase.load))}): {ends}"
        )
    errors = calm.errors + stall.errors
    for error in sorted(set(errors))[:5]:
        say(f"   error: {error}")
    results = []
    for kind, title in (("table", "Another site's jobs table"), ("healthz", "/healthz")):
        during, before = getattr(stall, kind), getattr(calm, kind)
        results.append(
            Result(
                f"{NAME}_{kind}",
                f"{title} while a stalled site is under load: slowest vs with nothing stalled",
                max(during),
                max(before),
                f"max < {seconds(TARGET)}",
                max(during) < TARGET and not errors,
                note=f"p50 {seconds(median(during))}, p95 {seconds(percentile(during, 95))} "
                f"(nothing stalled: {seconds(median(before))}, {seconds(percentile(before, 95))}); "
                f"{len(during)} + {len(before)} probes; {len(errors)} errors",
            )
        )
    for result in results:
        say(result.line())
    return results
