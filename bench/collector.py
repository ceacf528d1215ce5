"""The job history's collector at size: 2,000 GP services over 10 simulated sites (200 each, every ArcGIS call taking
50 ms), 10 new jobs per service per minute, collected by ONE worker process.

Each site is a simulator process running the `fleet` scenario (jobs queue 5–90 s, run 30–600 s, 10 % fail; about
60 active per service at any time) on a manual clock that the bench moves along with real time, or holds still.
Each has a monitoring account (username and password). The worker is a process of its own (`python -m
bench.collector`) on a private PostgreSQL database (`bench_collector`, on DATABASE_URL's server or BENCH_POSTGRES_URL,
else postgres://postgres@127.0.0.1:5432/test, dropped at the end); on the bench's word it runs one pass,
history.collector.collect() over every monitored site (each site on a thread, as `manage.py collect_jobs` does),
and says how it went. The bench sends a pass every INTERVAL seconds, as beat would (a pass that overruns is followed
at once by the next).

- First pass: the sites' whole backlog (every job of the last 11.5 minutes), then catch-up passes until one fits
  in the interval; only then does the measure start.
- Lag: every change at ArcGIS during MEASURE seconds (a job submitted, executing, finished, at the time the
  simulator made it) against the first Transition the index holds that shows it or a later status (its `seen`:
  the time the collector wrote it); p50 and p95 in seconds and in intervals. The passes go on until one that began
  after the window has ended, so its last changes are collected too.
- Calls per service: the clocks are held still (nothing changes at ArcGIS any more), one pass collects what
  changed until then, the simulators' request logs are cleared, and one more pass runs: its requests per service,
  counted by the simulators.
- Pass duration per site (history.collector.SitePass.seconds) and the worker's CPU time (user + system, every
  thread) per pass, over the scheduled passes.

INTERVAL is HISTORY_COLLECT_SECONDS's default, 30 s, unless BENCH_COLLECT_SECONDS says otherwise (the lag is held to
two intervals of whatever length). The whole measure takes about five minutes, half of it the first passes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import subprocess
import sys
import threading
import time
from collections import defaultdict

from bench.harness import PROJECT_DIR, Bench, Result, SimulatorProcess, median, percentile, say, seconds
from bench.history_db import _admin as admin_sql
from bench.history_db import database_url

NAME = "collector"
DATABASE = "bench_collector"
SITES = 10
SERVICES = 200  # per site
JOBS_PER_MINUTE = 10.0  # per service
LATENCY_MS = 50
INTERVAL = float(os.environ.get("BENCH_COLLECT_SECONDS", "30"))
MEASURE = 3 * INTERVAL  # seconds of changes at ArcGIS whose lag is measured
CATCH_UP_PASSES = 3  # at most, after the first, before the measure starts
TARGET_LAG = 2  # intervals, p95
TARGET_CALLS = 3  # per service, in a pass when nothing changed
ACCOUNT = ("siteadmin", "siteadmin")


# --- the bench's side ---------------------------------------------------------------------------------------------


class Worker:
    """The collecting process: one pass each time it is told, its figures back as one JSON line."""

    def __init__(self, env: dict[str, str], admin_urls: list[str]):
        env = env | {"BENCH_COLLECTOR_SITES": json.dumps(admin_urls), "HISTORY_COLLECT_SECONDS": f"{INTERVAL:.0f}"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.collector"],
            cwd=PROJECT_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._answer("READY")

    def _answer(self, word: str) -> dict:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(word):
                return json.loads(line[len(word) :].strip() or "{}")
            say(line.rstrip("\n"))
        raise RuntimeError(f"the collecting process ended (exit {self.process.wait()})")

    def run_pass(self) -> dict:
        assert self.process.stdin is not None
        self.process.stdin.write("pass\n")
        self.process.stdin.flush()
        return self._answer("PASS ")

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def on_all(simulators: list[SimulatorProcess], command: str, *args) -> list:
    """The command on every simulator at once; their answers in order."""
    answers: list = [None] * len(simulators)

    def call(i: int) -> None:
        answers[i] = simulators[i].call(command, *args)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(simulators))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def start_simulators() -> list[SimulatorProcess]:
    options = {"services": SERVICES, "jobs_per_minute": JOBS_PER_MINUTE}
    simulators = [SimulatorProcess(LATENCY_MS, "fleet", options, manual_clock=True) for _ in range(SITES)]
    threads = [threading.Thread(target=simulator.start) for simulator in simulators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if not all(simulator.admin_url for simulator in simulators):
        raise RuntimeError("a simulator did not start")
    return simulators


def summary(answer: dict) -> str:
    sites = answer["sites"]
    jobs = sum(site["new"] for site in sites), sum(site["changed"] for site in sites)
    return (
        f"{answer['seconds']:.1f} s ({max(site['seconds'] for site in sites):.1f} s the slowest site), "
        f"{jobs[0]:,} new and {jobs[1]:,} changed jobs, {sum(site['calls'] for site in sites):,} calls, "
        f"CPU {answer['cpu']:.1f} s"
    )


def run(bench: Bench) -> list[Result]:
    admin_sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    admin_sql(f"CREATE DATABASE {DATABASE}")
    simulators: list[SimulatorProcess] = []
    worker = None
    try:
        simulators = start_simulators()
        on_all(simulators, "follow_clock", True)
        worker = Worker(bench.env | {"DATABASE_URL": database_url(DATABASE)}, [s.admin_url for s in simulators])
        figures = measure(worker, simulators)
    finally:
        if worker is not None:
            worker.stop()
        for simulator in simulators:
            simulator.stop()
        admin_sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    return results(figures)


def measure(worker: Worker, simulators: list[SimulatorProcess]) -> dict:
    figures: dict = {}
    first = worker.run_pass()
    say(f"  first pass (the backlog): {summary(first)}")
    figures["first"] = first
    for _ in range(CATCH_UP_PASSES):
        answer = worker.run_pass()
        say(f"  catch-up pass: {summary(answer)}")
        if answer["seconds"] <= INTERVAL:
            break
    started = time.time()
    passes = scheduled_passes(worker, started, started + MEASURE)
    figures["window"] = (started, started + MEASURE)
    figures["passes"] = passes
    on_all(simulators, "follow_clock", False)  # nothing happens at ArcGIS from here on
    say(f"  clocks held; a pass collects what changed until then: {summary(worker.run_pass())}")
    on_all(simulators, "clear_requests")
    quiet = worker.run_pass()
    say(f"  a pass where nothing changed: {summary(quiet)}")
    figures["quiet"] = quiet
    figures["requests"] = on_all(simulators, "request_counts")
    figures["lags"] = lags(simulators, *figures["window"])
    return figures


def scheduled_passes(worker: Worker, started: float, until: float) -> list[dict]:
    """A pass every INTERVAL from `started` (as beat sends them), until one that began at `until` or later is done:
    it has read every service after the last change before `until`."""
    passes, due = [], started
    while not passes or passes[-1]["started"] < until:
        time.sleep(max(0.0, due - time.time()))
        answer = worker.run_pass()
        passes.append(answer)
        say(f"  pass at +{answer['started'] - started:.1f} s: {summary(answer)}")
        due = max(due + INTERVAL, time.time())  # one that overran is followed at once
    return passes


def lags(simulators: list[SimulatorProcess], start: float, end: float) -> dict:
    """Each change at ArcGIS in [start, end): how long until the index showed it (or a later status)."""
    from history.collector import rank

    seen = transitions()
    changes = unseen = 0
    delays: list[float] = []
    for jobs in on_all(simulators, "lifecycles"):
        for job_id, submitted, began, ended, status in jobs:
            steps = [(submitted, rank("esriJobSubmitted")), (began, rank("esriJobExecuting")), (ended, rank(status))]
            for at_ms, level in steps:
                if at_ms is None or not start <= at_ms / 1000 < end:
                    continue
                changes += 1
                shown = [when for when, shown_level in seen.get(job_id, ()) if shown_level >= level]
                if shown:
                    delays.append(min(shown) - at_ms / 1000)
                else:
                    unseen += 1
    return {"changes": changes, "unseen": unseen, "delays": delays}


def transitions() -> dict[str, list[tuple[float, int]]]:
    """Every Transition the index holds: (seen, its status's rank) by job ID, read straight from the database."""
    import psycopg

    from history.collector import rank

    seen: dict[str, list[tuple[float, int]]] = defaultdict(list)
    with psycopg.connect(database_url(DATABASE)) as connection:
        rows = connection.execute(
            "SELECT j.job_id, t.status, extract(epoch FROM t.seen)::float8 FROM history_transition t "
            "JOIN history_indexedjob j ON j.id = t.job_id"
        )
        for job_id, status, when in rows:
            seen[job_id].append((when, rank(status)))
    return seen


def calls_per_service(requests: list[dict]) -> tuple[list[int], int]:
    """Requests each GP service received, and those naming no service (listing the services, tokens)."""
    per_service, site_level = [], 0
    for counts in requests:
        by_service: dict[str, int] = defaultdict(int)
        for (service, _operation), count in counts.items():
            if service is None:
                site_level += count
            else:
                by_service[service.lower()] += count
        per_service += list(by_service.values()) + [0] * (SERVICES - len(by_service))
    return per_service, site_level


def results(figures: dict) -> list[Result]:
    found = figures["lags"]
    delays = found["delays"]
    p50, p95 = percentile(delays, 50), percentile(delays, 95)
    passes = figures["passes"]
    lag = Result(
        f"{NAME}_lag",
        f"Collector, {SITES * SERVICES:,} GP services on {SITES} sites, {JOBS_PER_MINUTE:.0f} new jobs per service per "
        f"minute: lag from a change at ArcGIS to the index, p95 (interval {INTERVAL:.0f} s)",
        p95,
        TARGET_LAG * INTERVAL,
        f"≤ {TARGET_LAG} intervals ({seconds(TARGET_LAG * INTERVAL)})",
        p95 <= TARGET_LAG * INTERVAL,
        note=f"p50 {seconds(p50)} ({p50 / INTERVAL:.2f} intervals), p95 {p95 / INTERVAL:.2f} intervals, max "
        f"{seconds(max(delays))}; {found['changes']:,} changes (submitted, executing, finished) in {MEASURE:.0f} s, "
        f"{found['unseen']} never indexed; {len(passes)} passes, one worker process, PostgreSQL",
    )
    per_service, site_level = calls_per_service(figures["requests"])
    busiest = max(per_service)
    busy_calls = [sum(site["calls"] for site in answer["sites"]) / (SITES * SERVICES) for answer in passes]
    calls = Result(
        f"{NAME}_calls",
        "Collector: upstream calls per service in a pass when nothing changed (the most any service got)",
        busiest,
        TARGET_CALLS,
        f"≤ {TARGET_CALLS}",
        busiest <= TARGET_CALLS,
        unit="calls",
        note=f"mean {sum(per_service) / len(per_service):.2f} over {len(per_service):,} services (counted at the "
        f"simulators); {site_level} calls naming no service; while jobs change: {median(busy_calls):.2f} calls per "
        "service per pass",
    )
    site_seconds = [site["seconds"] for answer in passes for site in answer["sites"]]
    first = figures["first"]
    duration = Result(
        f"{NAME}_pass",
        f"Collector: one site's pass ({SERVICES} GP services, {LATENCY_MS} ms an ArcGIS call), median",
        median(site_seconds),
        None,
        "reported",
        None,
        note=f"max {seconds(max(site_seconds))}; every site's at once {seconds(median([p['seconds'] for p in passes]))}"
        f" (median); the first pass, {sum(s['new'] for s in first['sites']):,} jobs of backlog, "
        f"{seconds(first['seconds'])}",
    )
    cpu = [answer["cpu"] for answer in passes]
    wall = passes[-1]["ended"] - passes[0]["started"]
    load = Result(
        f"{NAME}_cpu",
        "Collector: CPU time of the worker process per pass over every site (user + system)",
        median(cpu),
        None,
        "reported",
        None,
        note=f"{sum(cpu) / wall:.0%} of one core over {wall:.0f} s; the first pass {first['cpu']:.1f} s; peak RSS "
        f"{figures['quiet']['rss_mb']:.0f} MB",
    )
    for result in (lag, calls, duration, load):
        say(result.line())
    return [lag, calls, duration, load]


# --- in the collecting process, on its private database -----------------------------------------------------------


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_pass(sites) -> dict:
    from history import collector

    started, cpu = time.time(), cpu_seconds()
    done = collector.collect(sites)
    ended = time.time()
    return {
        "started": started,
        "ended": ended,
        "seconds": ended - started,
        "cpu": cpu_seconds() - cpu,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "sites": [
            {
                "slug": result.site.slug,
                "seconds": result.seconds,
                "calls": result.calls,
                "services": result.services,
                "new": result.tally.new,
                "changed": result.tally.changed,
                "vanished": result.tally.vanished,
                "failed": result.failed,
                "problem": result.problem,
            }
            for result in done
        ],
    }


def main() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    logging.disable(logging.INFO)  # each pass's summary per site, each audit line: the bench reports them itself
    call_command("migrate", interactive=False, verbosity=0)
    from django.contrib.auth import get_user_model

    from history import monitoring
    from jobs.models import Site

    admin = get_user_model().objects.create_user("bench-admin", is_staff=True, is_superuser=True)
    sites = []
    for n, admin_url in enumerate(json.loads(os.environ["BENCH_COLLECTOR_SITES"]), start=1):
        site = Site.objects.create(slug=f"fleet{n:02d}", name=f"Fleet {n}", admin_url=admin_url, insecure=True)
        monitoring.set_account(site, admin, username=ACCOUNT[0], password=ACCOUNT[1], via="cli")
        sites.append(site)
    print("READY", flush=True)
    for line in sys.stdin:
        if line.strip() == "pass":
            print("PASS " + json.dumps(one_pass(sites)), flush=True)


if __name__ == "__main__":
    main()
