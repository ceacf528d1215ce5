"""The fleet view of 2,000 GP services (4 sites of 500, every ArcGIS call taking 50 ms) served from a fresh job index,
against the same view fanning out to every service, measured side by side.

The sites and their jobs are those of bench/fleet.py, ten times as many services: most idle with a finished history,
one in seven with a few active jobs. The index holds every job ArcGIS holds (as the collector would have written
them) and 200,000 older finished ones; each service is collected. Portal (index): each round marks every service
collected just now, then a browser loads /jobs/ (the shell, then its stream) until the first rows; comparison
(fan-out): the services marked collected an hour ago, so the same view asks ArcGIS, timed to its first rows and to
its complete first page. Both show the same 50 rows from the same 2,000 services.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from bench.fleet import ACTIVE, FINISHED, LATENCY_MS, FleetLoad
from bench.harness import Bench, Result, Spacing, interleaved, median, say, seconds, timed

NAME = "fleet_index"
SITES = 4
SERVICES = 500  # per site
FOLDERS = 5
BUSY_EVERY = 7
OLDER_JOBS = 200_000
ROUNDS = 5
TARGET_FIRST = 0.100


def service_keys() -> list[str]:
    return [f"Team{number % FOLDERS + 1}/Model{number:03d}" for number in range(1, SERVICES + 1)]


def index_jobs(site, key: str, answers: list[dict]) -> list:
    """The jobs as the collector writes them."""
    from history.models import IndexedJob

    folder, name = key.split("/")
    now = datetime.now(UTC)
    made = []
    for job in answers:
        submitted = datetime.fromtimestamp(job["submittedTime"] / 1000, tz=UTC)
        ended = datetime.fromtimestamp(job["endTime"] / 1000, tz=UTC) if job.get("endTime") else None
        made.append(
            IndexedJob(
                site=site,
                folder=folder,
                service=name,
                service_key=key.lower(),
                job_id=job["jobId"],
                status=job["status"],
                submitted=submitted,
                ended=ended,
                duration_ms=int((ended - submitted).total_seconds() * 1000) if ended else None,
                username=job.get("username") or "",
                machine=job.get("machinename") or "",
                first_seen=submitted,
                last_seen=now,
            )
        )
    return made


def older_jobs(sites, keys: list[str]) -> list:
    """Finished jobs of the last 90 days that ArcGIS has forgotten."""
    from history.models import IndexedJob

    now = datetime.now(UTC)
    made = []
    for i in range(OLDER_JOBS):
        site, key = sites[i % len(sites)], keys[i // len(sites) % len(keys)]
        folder, name = key.split("/")
        submitted = now - timedelta(days=1) - timedelta(seconds=i * 38)
        made.append(
            IndexedJob(
                site=site,
                folder=folder,
                service=name,
                service_key=key.lower(),
                job_id=f"jold{i:08d}",
                status=FINISHED[i % len(FINISHED)],
                submitted=submitted,
                ended=submitted + timedelta(minutes=5),
                duration_ms=300_000,
                username=f"analyst{i % 7 + 1}",
                machine=f"GIS0{i % 3 + 1}.EXAMPLE.COM",
                first_seen=submitted,
                last_seen=submitted + timedelta(minutes=5),
            )
        )
    return made


def collected(sites, keys: list[str]) -> None:
    from history.models import ServiceCollection

    ServiceCollection.objects.bulk_create(
        [
            ServiceCollection(
                site=site.site, folder=key.split("/")[0], service=key.split("/")[1], service_key=key.lower()
            )
            for site in sites
            for key in keys
        ]
    )


def mark_collected(ago: timedelta) -> None:
    from django.utils import timezone

    from history.models import ServiceCollection

    ServiceCollection.objects.update(last_pass=timezone.now() - ago)


def run(bench: Bench) -> list[Result]:
    from history.models import IndexedJob

    keys = service_keys()
    busy = keys[::BUSY_EVERY]
    with contextlib.ExitStack() as stack:
        sites = [stack.enter_context(bench.site(f"index{n}", LATENCY_MS)) for n in range(1, SITES + 1)]
        jobs = []
        for site in sites:
            for key in keys:
                folder, name = key.split("/")
                site.simulator.call("add_service", name, folder)
                site.simulator.call("add_jobs", key, 20 if key in busy else 10, FINISHED, spread_s=120)
            for key in busy:
                site.simulator.call("add_jobs", key, 3, ACTIVE[1:4], spread_s=20)
            for key in keys:
                jobs += index_jobs(site.site, key, site.simulator.call("jobs", key))
            bench.connect("olivia", site)
        jobs += older_jobs([site.site for site in sites], keys)
        IndexedJob.objects.bulk_create(jobs, batch_size=5_000)
        collected(sites, keys)
        say(f"  {len(jobs):,} indexed jobs, {SITES * SERVICES:,} services collected")
        services = SITES * SERVICES
        index_load = FleetLoad(bench.browser("olivia"), services)
        fan_out_load = FleetLoad(bench.browser("olivia"), services)

        shells: list[float] = []

        def from_index() -> float:
            mark_collected(timedelta(seconds=1))
            shells.append(timed(lambda: index_load.browser.get("/jobs/"))[0])
            return index_load()

        def fanning_out() -> float:
            mark_collected(timedelta(hours=1))
            return fan_out_load()

        spaced = Spacing()
        sides = {"index": spaced(from_index), "fan-out": spaced(fanning_out)}
        for side in sides.values():  # warm up: connections, templates, the lists of services, the baselines
            side()
        index_load.first_rows.clear()
        fan_out_load.first_rows.clear()
        times = interleaved(sides, ROUNDS)
        mark_collected(timedelta(hours=1))

    first, fan_out_first = median(index_load.first_rows), median(fan_out_load.first_rows)
    result = Result(
        NAME,
        f"Fleet view of {services:,} GP services from a fresh job index: first rows vs the live fan-out's",
        first,
        fan_out_first,
        f"≤ {seconds(TARGET_FIRST)}",
        first <= TARGET_FIRST,
        note=f"shell ({seconds(median(shells))}) + stream, {ROUNDS} interleaved rounds; the fan-out complete in "
        f"{seconds(median(times['fan-out']))} ({LATENCY_MS} ms an ArcGIS call); {len(jobs):,} jobs in the index"
        " (SQLite)",
    )
    say(result.line())
    return [result]
