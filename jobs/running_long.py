"""Runaway jobs: what a GP service usually takes, which jobs stand out, and which the portal noticed (for alerts).

A service's baseline is the 95th percentile of the durations of its succeeded jobs: those of the last 30 days in
the job index when it holds enough of them (history registers that source: jobs never imports history), else those
ArcGIS still keeps (from at least five of them; without enough history nothing is flagged by duration). An executing job
is running long past both a multiple of it and it plus a margin; a queued job is queued long past a
threshold; a job still cancelling after a few minutes is cancel stuck. Thresholds are the site's, or a
service's own.
"""

from __future__ import annotations

import enum
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import arcgis_client
from jobs import after_response, site_directory
from jobs.models import THRESHOLDS, AuditEvent, Site
from jobs.shared_cache import cache
from jobs.targets import Flag, JobEntry, ServiceTarget
from jobs.upstream import shared_read, shared_value

BASELINE_SAMPLES = 100  # the most recent succeeded jobs a baseline is taken from
BASELINE_MINIMUM = 5  # fewer than this: no baseline, nothing flagged by duration
BASELINE_SECONDS = 600  # baselines are shared for ten minutes


# --- what a service usually takes -----------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """The 95th percentile of a service's succeeded durations, or why there is none."""

    samples: int
    p95: timedelta | None
    days: int = 0  # taken from the job index over this many days; 0: from the jobs ArcGIS still keeps

    @property
    def known(self) -> bool:
        return self.p95 is not None

    @property
    def text(self) -> str:
        if self.p95 is None:
            return (
                f"Not enough history to judge running times: {self.samples} succeeded job"
                f"{'' if self.samples == 1 else 's'} on the server, {BASELINE_MINIMUM} needed."
            )
        jobs = f"{self.samples:,} succeeded jobs"
        among = f"the {jobs} of the last {self.days} days" if self.days else f"the last {jobs}"
        return f"Usually ≤ {minutes_text(self.p95)} (95% of {among})."


def baseline_of(jobs: list[arcgis_client.Job]) -> Baseline:
    durations = [
        job.ended - job.submitted for job in jobs if job.ended and job.submitted and job.ended >= job.submitted
    ]
    if len(durations) < BASELINE_MINIMUM:
        return Baseline(len(durations), None)
    seconds = sorted(d.total_seconds() for d in durations)
    p95 = statistics.quantiles(seconds, n=20, method="inclusive")[-1]
    return Baseline(len(durations), timedelta(seconds=p95))


# Baselines by (site pk, service key in lower case): the job index's, for the services it holds enough jobs of.
IndexedBaselines = dict[tuple[int, str], Baseline]
_index_source: Callable[[list[Site]], IndexedBaselines] | None = None


def register_index_baselines(source: Callable[[list[Site]], IndexedBaselines]) -> None:
    """The job index's baselines of the services of some sites (history's app registers it when it is ready). It
    reads the database: call it on the request's thread, and hand its answer to threads that ask ArcGIS."""
    global _index_source
    _index_source = source


def index_baselines(sites: list[Site]) -> IndexedBaselines:
    """The baselines the job index holds enough jobs for; none when no index is installed."""
    return _index_source(sites) if _index_source is not None and sites else {}


def indexed_baseline(indexed: IndexedBaselines, site: Site, service: arcgis_client.ServiceRef) -> Baseline | None:
    """ArcGIS matches service names whatever their case, and so does the index."""
    return indexed.get((site.pk, service.key.lower()))


def known_baseline(
    site: Site, service: arcgis_client.ServiceRef, indexed: IndexedBaselines | None = None
) -> Baseline | None:
    """The service's baseline from the index, or if someone read it from ArcGIS in the last ten minutes; never asks
    ArcGIS. `indexed`: index_baselines() of its site (None reads the database now: on the request's thread only)."""
    indexed = index_baselines([site]) if indexed is None else indexed
    return indexed_baseline(indexed, site, service) or shared_value(("baseline", site.pk, service.match_key))


def baseline(
    site: Site,
    client: arcgis_client.AdminClient,
    service: arcgis_client.ServiceRef,
    indexed: IndexedBaselines | None = None,
) -> Baseline:
    """The service's baseline: the index's when it holds enough jobs, else from ArcGIS's own, shared for ten minutes
    between everyone who may see the site. `indexed`: index_baselines() of its site, read on the request's thread
    (a caller on another thread must pass it: None reads the database now)."""
    if (found := indexed_baseline(index_baselines([site]) if indexed is None else indexed, site, service)) is not None:
        return found

    def fetch() -> Baseline:
        page = client.query_jobs(service, status=arcgis_client.SUCCEEDED, number=BASELINE_SAMPLES)
        return baseline_of(page.jobs)

    return shared_read(("baseline", site.pk, service.match_key), fetch, BASELINE_SECONDS)


def minutes_text(value: timedelta) -> str:
    minutes = value.total_seconds() / 60
    if minutes < 1:
        return f"{max(round(value.total_seconds()), 1)} s"
    if minutes < 90:
        return f"{math.ceil(minutes)} min"
    return f"{minutes / 60:.1f} h"


# --- flags ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    running_long_factor: float = 3.0
    running_long_margin: int = 10  # minutes
    queued_long_minutes: int = 30
    cancel_stuck_minutes: int = 5

    @classmethod
    def for_sites(cls, sites: list[Site]) -> dict[tuple[int, str], Thresholds]:
        """Each site's thresholds (key (site pk, "")) and each service's own, over its site's."""
        found = {(site.pk, ""): cls(**{name: getattr(site, name) for name in THRESHOLDS}) for site in sites}
        for own in site_directory.service_thresholds(sites):
            base = found[(own.site_id, "")]
            values = {name: getattr(own, name) for name in THRESHOLDS if getattr(own, name) is not None}
            found[(own.site_id, own.service.lower())] = replace(base, **values)
        return found

    @staticmethod
    def lookup(table: dict, target: ServiceTarget) -> Thresholds:
        """ArcGIS's service names are case-insensitive, and so is this."""
        own = table.get((target.site.pk, target.service.key.lower()))
        return own or table.get((target.site.pk, "")) or Thresholds()


def running_long_after(base: Baseline | None, limits: Thresholds) -> timedelta | None:
    """How long since its submission an executing job may run before it is running long; None: no baseline."""
    if base is None or base.p95 is None:
        return None
    return _running_long_past(base.p95, limits)


def _running_long_past(usual: timedelta, limits: Thresholds) -> timedelta:
    return max(usual * limits.running_long_factor, usual + timedelta(minutes=limits.running_long_margin))


@dataclass(frozen=True)
class CancellingSince:
    """Since when a job is cancelling, as well as the portal knows. ArcGIS keeps no time for it: `exact` when the
    portal sent the cancel itself (the audit trail, whoever sent it, however); otherwise `at` is when the portal
    first saw the job cancelling, and it may have been cancelling for longer."""

    at: datetime
    exact: bool


def flag_for(
    job: arcgis_client.Job,
    base: Baseline | None,
    limits: Thresholds,
    now: datetime,
    cancelling_since: CancellingSince | None = None,
) -> Flag | None:
    """The one flag a job deserves, if any. The edges: a job is flagged only once strictly past them. A cancelling
    job is judged only when it is known since when it cancels (cancelling_since)."""
    if job.submitted is None:
        return None
    age = now - job.submitted
    usual = base.p95 if base is not None else None  # None: not known
    if job.status == arcgis_client.EXECUTING and usual is not None and age > _running_long_past(usual, limits):
        times = age / usual if usual.total_seconds() else math.inf
        return Flag("running-long", f"Running long: {times:.1f}× its usual {minutes_text(usual)}")
    if job.status in arcgis_client.QUEUED_STATUSES and age > timedelta(minutes=limits.queued_long_minutes):
        return Flag("queued-long", f"Queued long: waiting {minutes_text(age)}")
    if job.status == arcgis_client.CANCELLING and cancelling_since is not None:
        stuck = now - cancelling_since.at
        if stuck > timedelta(minutes=limits.cancel_stuck_minutes):
            at_least = "" if cancelling_since.exact else "at least "
            return Flag("cancel-stuck", f"Cancel stuck: cancelling for {at_least}{minutes_text(stuck)}")
    return None


# Jobs the portal found flagged as it read them (running long, queued long, cancel stuck: the fleet view, a service's
# jobs page, the overview's counts, a policy's run), kept in the shared cache for the alert watch (policies.alerts),
# which alerts once per job and kind.
NOTICED = "flags_noticed"  # + ":<kind>:<site pk>:<service key>" → {"kind", "site": pk, "service", "jobs": {ID: why}}
NOTICED_SECONDS = 600
NOTICED_PER_SERVICE = 500  # jobs kept per service and kind until the watch takes them: a bound, never reached in use
FLAG_KINDS = ("running-long", "queued-long", "cancel-stuck")


# What this process noticed lately, per service and kind: a page read again and again (every operator's poll of it)
# writes its notices once a minute, not at every read, and a service's entry is put in the index once.
NOTICE_AGAIN_SECONDS = 60  # well within NOTICED_SECONDS: a notice never expires while its jobs are still read
_noticed_here: dict[str, tuple[float, dict[str, str]]] = {}


def forget_notices_here() -> None:
    """For tests: the next notice of every service is written."""
    _noticed_here.clear()


def notice(kind: str, site: Site, service: str, flagged: dict[str, str]) -> None:
    """Jobs of a service just found flagged `kind` (job ID → why, in words), added to those noticed before and not
    yet expired. Never reads ArcGIS or the database."""
    if not flagged:
        return
    key = f"{NOTICED}:{kind}:{site.pk}:{service.lower()}"  # one service however a URL spelled it
    now = time.monotonic()
    written_at, written = _noticed_here.get(key, (0.0, {}))
    lately = now - written_at < NOTICE_AGAIN_SECONDS
    if lately and flagged.items() <= written.items():
        return
    earlier = (cache.get(key) or {}).get("jobs", {})
    jobs = dict(list({**earlier, **flagged}.items())[-NOTICED_PER_SERVICE:])
    cache.set(key, {"kind": kind, "site": site.pk, "service": service, "jobs": jobs}, NOTICED_SECONDS)
    if not lately:
        index = cache.get(NOTICED) or set()
        if key not in index:  # a lost race drops a notice until that service is read again
            cache.set(NOTICED, index | {key}, None)
    _noticed_here[key] = (written_at if lately else now, jobs)


def notice_running_long(site: Site, service: str, flagged: dict[str, str]) -> None:
    notice("running-long", site, service, flagged)


def notice_flagged(entries: list[JobEntry]) -> None:
    """Every flagged entry of a page, by kind and service (once the page is sent: the alert watch can wait)."""
    found: dict[tuple[str, ServiceTarget], dict[str, str]] = {}
    for entry in entries:
        if entry.flag is not None and entry.flag.kind in FLAG_KINDS:
            found.setdefault((entry.flag.kind, entry.target), {})[entry.job_id] = entry.flag.text
    for (kind, target), flagged in found.items():
        after_response.defer(notice, kind, target.site, target.service.key, flagged)


def noticed() -> list[dict]:
    """What notice() kept, still fresh: [{"kind", "site": pk, "service", "jobs": {job ID: why}}]."""
    index = cache.get(NOTICED) or set()
    found = cache.get_many(list(index)) if index else {}
    if len(found) < len(index):
        cache.set(NOTICED, set(found), None)
    return [found[key] for key in sorted(found)]


def cancelling_since(site: Site, service: str, job_ids: list[str]) -> dict[str, CancellingSince]:
    """When each job started cancelling, as well as the portal knows: its own cancel request (from the
    audit trail), else the first time it saw the job cancelling (kept in the shared cache), a lower bound."""
    now = time.time()
    seen = {}
    for job_id in job_ids:
        key = f"cancelling:{site.pk}:{service.lower()}:{job_id}"
        cache.add(key, now, timeout=24 * 3600)
        seen[job_id] = CancellingSince(datetime.fromtimestamp(cache.get(key, now), tz=UTC), exact=False)
    events = AuditEvent.objects.filter(
        site=site,
        service__iexact=service,  # the service as any URL spelled it
        job_id__in=job_ids,
        action=AuditEvent.Action.CANCEL,
        outcome=AuditEvent.Outcome.SUCCESS,
    )
    requested: dict[str, datetime] = {}
    for job_id, created in events.values_list("job_id", "created"):
        requested[job_id] = min(requested.get(job_id, created), created)
    # The portal's own request is when the job began cancelling (a first sighting later than it says less).
    return seen | {job_id: CancellingSince(at, exact=True) for job_id, at in requested.items()}


def service_limits(target: ServiceTarget) -> Thresholds:
    return Thresholds.lookup(Thresholds.for_sites([target.site]), target)


class Known(enum.Enum):
    BASELINE = "the service's baseline known lately, read when the flags are"


KNOWN_BASELINE = Known.BASELINE


def flag_entries(
    rows: list[JobEntry],
    now: datetime | None = None,
    base: Baseline | Known | None = KNOWN_BASELINE,
    limits: Thresholds | None = None,
) -> list[JobEntry]:
    """Entries of one service's page with their flags, from what the portal knows without asking ArcGIS:
    the service's baseline (`base`: one just read, or the one known lately, already looked up (None: none is) or
    looked up now), the thresholds (`limits`, or the service's now), and since when cancelling jobs cancel."""
    if not rows:
        return rows
    now = now or datetime.now(UTC)
    target = rows[0].target
    limits = limits or service_limits(target)
    if base is KNOWN_BASELINE:
        base = known_baseline(target.site, target.service)
    cancelling = [row.job_id for row in rows if row.status == arcgis_client.CANCELLING]
    since = cancelling_since(target.site, target.service.key, cancelling) if cancelling else {}
    flagged = [
        _with_flag(row, flag_for(row.job, base, limits, now, since.get(row.job_id))) if row.job else row for row in rows
    ]
    notice_flagged(flagged)
    return flagged


def _with_flag(row: JobEntry, flag: Flag | None) -> JobEntry:
    """The entry with this flag: itself when it has it already (most rows have none, and a copy costs more than
    judging them)."""
    return row if flag == row.flag else replace(row, flag=flag)
