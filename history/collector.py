"""The collector: one pass over a site reads every GP service's new and changed jobs with the site's monitoring
account and writes them into the job index.

A pass lists the site's GP services, then claims them a few at a time with a lease in the database (a conditional
UPDATE: two workers, on any hosts, never collect one service at once, and a dead worker's lease runs out), reads
them concurrently within the site's request budget, and writes each service's answer in one transaction that first
checks the lease is still its own. Per service it asks ArcGIS for:

- the jobs submitted since its newest known one (less a small overlap, for jobs ArcGIS lists late), newest first,
  page after page by submitted time: each next page ends where the last one ended, its equal submitted times
  included, so a page cut amid equal times loses nothing and a job removed meanwhile shifts nothing;
- the jobs it saw active that this window does not cover, the cheapest way the index's own counts say: by
  starting the window early, by one range of submitted times, or by one query per active status;
- and, one by one, only those active jobs that answer left out: gone (NotFound) is recorded as "gone while
  <status>", never as a guessed outcome.

So a service where nothing changed costs one to three calls a pass. A status only ever moves forward (an older or
duplicated answer never turns a finished job active again); each status seen is kept as a Transition. A site that
stalls or rejects the account ends its own pass at its first such answer (its breaker opens as for every read):
other sites, collected on their own tasks or threads, never wait for it. Rows older than HISTORY_RETENTION_DAYS are
pruned a bounded batch at a time.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

import arcgis_client
from arcgis_client import statuses
from history.models import ACTIVE_JOB, IndexedJob, MonitoringAccount, ServiceCollection, Transition
from history.monitoring import AccountProblem, ReadOnlyClient, Session, problem_of
from jobs.models import Site
from jobs.reads import services_of

log = logging.getLogger(__name__)

PAGE = 200  # jobs asked for at a time
MAX_PAGES = 500  # pages one range may take (100,000 jobs): beyond, the service's pass fails and says so
OVERLAP = timedelta(minutes=2)  # the window starts this long before the newest known submitted time
LEASE = timedelta(minutes=5)  # a claimed service is its worker's for this long, unless it finishes first
CLAIM_PER_READER = 4  # services claimed at a time, per concurrent read
PRUNE_BATCH = 1000  # rows deleted at a time…
PRUNE_BATCHES = 10  # …and at most this many batches a pass: the rest next pass
MS = timedelta(milliseconds=1)

# How far along its life a status is: a job only ever moves to a later one. Finished is finished: the first
# terminal status seen stays.
_ORDER = {
    statuses.NEW: 0,
    statuses.SUBMITTED: 1,
    statuses.WAITING: 2,
    statuses.EXECUTING: 3,
    statuses.CANCELLING: 4,
    statuses.DELETING: 4,
}
FINISHED = 5
# Errors after which nothing more is asked of the site in this pass: it stalls, refuses connections or rejects the
# account; what it would answer for the other services is the same.
SITE_ERRORS = (arcgis_client.UpstreamUnavailable, arcgis_client.TokenRejected)


def rank(status: str) -> int:
    return FINISHED if status in statuses.TERMINAL_STATUSES else _ORDER.get(status, -1)


def service_key(ref: arcgis_client.ServiceRef) -> str:
    """'folder/name' (or 'name') in lower case: ArcGIS matches both case-insensitively."""
    return ref.key.lower()


def pages(count: int) -> int:
    return max(1, math.ceil(count / PAGE))


# --- what to read ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """An active job of the index, as the pass starts."""

    pk: int
    status: str
    submitted: datetime | None


MERGE, RANGE, STATUSES = "merge", "range", "statuses"


@dataclass
class Plan:
    """What to ask ArcGIS about one service: the window of new jobs from `since` (None: every job), and how to read
    again the active jobs it does not cover (`older`)."""

    collection: ServiceCollection
    ref: arcgis_client.ServiceRef
    since: datetime | None
    active: dict[str, Known]
    older: dict[str, Known] = field(default_factory=dict)
    how: str = MERGE

    @property
    def window_start(self) -> datetime | None:
        if self.how == MERGE and self.older:
            oldest = _oldest_dated(self)
            if oldest is not None and (self.since is None or oldest < self.since):
                return oldest
        return self.since


def plans_for(site: Site, collections: list[ServiceCollection], refs: dict[str, arcgis_client.ServiceRef]):
    """Each claimed service's Plan: its active jobs (one query for all), and for those outside the window, the
    cheapest way to read them again by the index's counts."""
    active: dict[str, dict[str, Known]] = {c.service_key: {} for c in collections}
    rows = IndexedJob.objects.filter(ACTIVE_JOB, site=site, service_key__in=list(active))
    for key, job_id, pk, status, submitted in rows.values_list("service_key", "job_id", "pk", "status", "submitted"):
        active[key][job_id] = Known(pk, status, submitted)
    plans = []
    for collection in collections:
        since = collection.newest_submitted - OVERLAP if collection.newest_submitted else None
        plan = Plan(collection, refs[collection.service_key], since, active[collection.service_key])
        if since is not None:
            plan.older = {job_id: k for job_id, k in plan.active.items() if k.submitted is None or k.submitted < since}
        plans.append(plan)
    counted = [plan for plan in plans if plan.older]
    counts = _counts(site, counted)
    for i, plan in enumerate(counted):
        plan.how = _cheapest(plan, counts[f"window{i}"], counts.get(f"range{i}", 0))
    return plans


def _oldest_dated(plan: Plan) -> datetime | None:
    return min((k.submitted for k in plan.older.values() if k.submitted is not None), default=None)


def _counts(site: Site, plans: list[Plan]) -> dict[str, int]:
    """For each plan (by its position), the index's jobs of its service in its window (`window<i>`) and in the range
    of its older active jobs before it (`range<i>`): one query for them all, where a query per count made planning
    a pass about as slow as reading it."""
    if not plans:
        return {}
    near, counts = Q(), {}
    for i, plan in enumerate(plans):
        assert plan.since is not None
        key, oldest = plan.collection.service_key, _oldest_dated(plan)
        near |= Q(service_key=key, submitted__gte=min(oldest, plan.since) if oldest else plan.since)
        counts[f"window{i}"] = Count("pk", filter=Q(service_key=key, submitted__gte=plan.since))
        if oldest is not None:
            counts[f"range{i}"] = Count(
                "pk", filter=Q(service_key=key, submitted__gte=oldest, submitted__lt=plan.since)
            )
    return IndexedJob.objects.filter(near, site=site).aggregate(**counts)


def _cheapest(plan: Plan, in_window: int, in_range: int) -> str:
    """Calls each way takes, by the index's counts: start the window at the oldest active job; read that range
    apart; or ask per active status (plus one call per job whose status a query cannot ask for)."""
    unaskable = sum(1 for k in plan.older.values() if k.status not in statuses.QUERYABLE_STATUSES or not k.submitted)
    costs = {
        MERGE: pages(in_range + in_window) - pages(in_window) + unaskable,
        RANGE: pages(in_range) + unaskable,
        STATUSES: len({k.status for k in plan.older.values()} & set(statuses.QUERYABLE_STATUSES)) + unaskable,
    }
    return min(costs, key=lambda how: (costs[how], list(costs).index(how)))


# --- reading (any thread; no database) ------------------------------------------------------------------


class TooManyJobs(arcgis_client.ArcGISError):
    pass


def newer(old: arcgis_client.Job | None, new: arcgis_client.Job) -> arcgis_client.Job:
    """Of two answers about one job, the later in its life (the first, when neither is)."""
    return new if old is None or rank(new.status) > rank(old.status) else old


def read_range(
    client: arcgis_client.AdminClient,
    ref: arcgis_client.ServiceRef,
    *,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    status: str | None = None,
) -> dict[str, arcgis_client.Job]:
    """Every job of the service submitted in [start_time, end_time] (bounds included; None: open), newest first.

    Each next page asks for the jobs no newer than the last page's oldest (endTime one millisecond past it, for a
    server whose bound excludes), so equal submitted times across a page cut are read again rather than skipped,
    and jobs added or removed meanwhile shift nothing. A page of one submitted time only is passed by position."""
    found: dict[str, arcgis_client.Job] = {}
    upper, position = end_time, 1
    for _ in range(MAX_PAGES):
        page = client.query_jobs(ref, status=status, start_time=start_time, end_time=upper, start=position, number=PAGE)
        fresh = 0
        for job in page.jobs:
            fresh += job.job_id not in found
            found[job.job_id] = newer(found.get(job.job_id), job)
        if page.next_start is None or not page.jobs:
            return found
        oldest = page.jobs[-1].submitted
        below = oldest + MS if oldest is not None else None
        if fresh and below is not None and (upper is None or below < upper):
            upper, position = below, 1
        else:
            position += len(page.jobs)
    raise TooManyJobs(f"{ref.key} lists more than {MAX_PAGES * PAGE:,} jobs in one range; the rest is not read.")


@dataclass
class Reading:
    """What ArcGIS said of one service: every job it answered about, and the active ones it no longer has."""

    seen: dict[str, arcgis_client.Job] = field(default_factory=dict)
    vanished: set[str] = field(default_factory=set)


def read_service(client: ReadOnlyClient, plan: Plan) -> Reading:
    """The service's new jobs, and the active ones it had (see the module's docstring)."""
    reading = Reading()
    start = plan.window_start
    reading.seen = read_range(client, plan.ref, start_time=start)
    older = {
        job_id: k for job_id, k in plan.older.items() if start is not None and (not k.submitted or k.submitted < start)
    }
    if older and plan.how in (RANGE, STATUSES):
        assert plan.since is not None
        oldest = min((k.submitted for k in older.values() if k.submitted), default=None)
        if oldest is not None:
            wanted = {k.status for k in older.values()} & set(statuses.QUERYABLE_STATUSES)
            asked: list[str | None] = [None] if plan.how == RANGE else [*sorted(wanted, key=rank)]
            for status in asked:
                answered = read_range(client, plan.ref, start_time=oldest, end_time=plan.since + MS, status=status)
                for job_id, job in answered.items():
                    reading.seen[job_id] = newer(reading.seen.get(job_id), job)
    # Active jobs no answer held: one by one (finished under a status not asked for, or gone).
    for job_id in plan.active:
        if job_id in reading.seen:
            continue
        try:
            reading.seen[job_id] = client.get_job(plan.ref, job_id)
        except arcgis_client.NotFound:
            reading.vanished.add(job_id)
    return reading


# --- writing (the site's thread) ---------------------------------------------------------------------------


class LeaseLost(Exception):
    """Another worker holds the service now (this one's lease ran out): what was read is not written."""


@dataclass
class Tally:
    new: int = 0
    changed: int = 0
    vanished: int = 0

    def add(self, other: Tally) -> None:
        self.new += other.new
        self.changed += other.changed
        self.vanished += other.vanished


UPDATED = ["folder", "service", "status", "submitted", "ended", "duration_ms", "username", "machine", "last_seen"]


def _row(site: Site, plan: Plan, job: arcgis_client.Job, now: datetime) -> IndexedJob:
    ended = job.ended if job.is_terminal else None
    duration = None
    if ended and job.submitted:
        duration = max(int((ended - job.submitted) / MS), 0)
    return IndexedJob(
        site=site,
        folder=plan.ref.folder,
        service=plan.ref.name,
        service_key=plan.collection.service_key,
        job_id=job.job_id,
        status=job.status[:40],
        submitted=job.submitted,
        ended=ended,
        duration_ms=duration,
        username=(job.username or "")[:150],
        machine=(job.machine or "")[:150],
        first_seen=now,
        last_seen=now,
        gone_while="",
    )


def store(site: Site, plan: Plan, reading: Reading, owner: str, now: datetime, seconds: float) -> Tally:
    """Write one service's answer in one transaction, if the service's lease is still `owner`'s (which it then
    gives up): new jobs, changed ones with a Transition each, the active ones gone."""
    tally = Tally()
    newest = max((job.submitted for job in reading.seen.values() if job.submitted), default=None)
    if plan.collection.newest_submitted and (newest is None or newest < plan.collection.newest_submitted):
        newest = plan.collection.newest_submitted
    with transaction.atomic():
        fenced = ServiceCollection.objects.filter(pk=plan.collection.pk, lease_owner=owner).update(
            folder=plan.ref.folder,
            service=plan.ref.name,
            newest_submitted=newest,
            last_pass=now,
            last_pass_seconds=seconds,
            problem="",
            lease_owner="",
            lease_until=None,
        )
        if not fenced:
            raise LeaseLost(plan.collection.service_key)
        existing = _existing(site, plan.collection.service_key, list(reading.seen))
        rows, moved, touched, fixes = [], [], [], []
        for job in reading.seen.values():
            old = existing.get(job.job_id)
            if old is None:
                rows.append(_row(site, plan, job, now))
                moved.append(job.job_id)
                tally.new += 1
                continue
            pk, status, gone_while, blanks = old
            if rank(job.status) > rank(status):
                rows.append(_row(site, plan, job, now))
                moved.append(job.job_id)
                tally.changed += 1
                continue
            # Not later in its life: the status stays; the answer only fills what the row lacks, or says it is back.
            fills = {name: value for name in blanks if (value := _value(job, name))}
            if gone_while or fills:
                fixes.append((pk, fills))
                tally.changed += 1
            elif rank(status) < FINISHED:
                touched.append(pk)
        if rows:
            IndexedJob.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["site", "service_key", "job_id"],
                update_fields=[*UPDATED, "gone_while"],
            )
            ids = _ids(site, plan.collection.service_key, rows)
            Transition.objects.bulk_create(
                Transition(job_id=ids[job_id], status=reading.seen[job_id].status[:40], seen=now) for job_id in moved
            )
        for pk, fills in fixes:
            IndexedJob.objects.filter(pk=pk).update(gone_while="", last_seen=now, **fills)
        if touched:
            IndexedJob.objects.filter(pk__in=touched).update(last_seen=now)
        gone = [plan.active[job_id].pk for job_id in reading.vanished]
        if gone:
            tally.vanished = IndexedJob.objects.filter(pk__in=gone, gone_while="").update(gone_while=F("status"))
    return tally


def _value(job: arcgis_client.Job, name: str):
    if name == "submitted":
        return job.submitted
    return (getattr(job, name) or "")[:150]


def _existing(site: Site, key: str, job_ids: list[str]) -> dict[str, tuple[int, str, str, list[str]]]:
    """The index's rows of these jobs: pk, status, gone_while, and which of the answer's fields it lacks."""
    found = {}
    for chunk in _chunks(job_ids, 500):
        rows = IndexedJob.objects.filter(site=site, service_key=key, job_id__in=chunk).values_list(
            "job_id", "pk", "status", "gone_while", "submitted", "username", "machine"
        )
        for job_id, pk, status, gone_while, submitted, username, machine in rows:
            blanks = [n for n, v in (("submitted", submitted), ("username", username), ("machine", machine)) if not v]
            found[job_id] = (pk, status, gone_while, blanks)
    return found


def _ids(site: Site, key: str, rows: list[IndexedJob]) -> dict[str, int]:
    ids = {row.job_id: row.pk for row in rows if row.pk is not None}
    missing = [row.job_id for row in rows if row.pk is None]  # a database that does not return them
    for chunk in _chunks(missing, 500):
        ids |= dict(IndexedJob.objects.filter(site=site, service_key=key, job_id__in=chunk).values_list("job_id", "pk"))
    return ids


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --- leases ----------------------------------------------------------------------------------------------


def new_owner() -> str:
    """A lease owner: this host, process and pass."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def claim(site: Site, owner: str, started: datetime, done: set[int], count: int) -> list[ServiceCollection]:
    """Up to `count` of the site's services not collected since `started` (least recently collected first) whose
    lease is free or ran out, now `owner`'s: the conditional UPDATE gives each to one worker only."""
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    due = Q(last_pass__isnull=True) | Q(last_pass__lt=started)
    lost: set[int] = set()
    while True:
        candidates = (
            ServiceCollection.objects.filter(free & due, site=site)
            .exclude(pk__in=done | lost)
            .order_by(F("last_pass").asc(nulls_first=True), "pk")
            .values_list("pk", flat=True)[:count]
        )
        pks = list(candidates)
        if not pks:
            return []
        ServiceCollection.objects.filter(free, pk__in=pks).update(lease_owner=owner, lease_until=now + LEASE)
        if won := list(ServiceCollection.objects.filter(pk__in=pks, lease_owner=owner)):
            return won
        lost.update(pks)  # another worker claimed these between our read and our update: the next ones, then


def release(collection: ServiceCollection, owner: str, problem: str = "") -> None:
    fields: dict = {"lease_owner": "", "lease_until": None}
    if problem:
        fields["problem"] = problem[:300]
    ServiceCollection.objects.filter(pk=collection.pk, lease_owner=owner).update(**fields)


def sync_services(site: Site, services: list[arcgis_client.Service]) -> dict[str, arcgis_client.ServiceRef]:
    """The site's collection rows follow its listed GP services: new ones added, vanished ones dropped (their jobs
    stay in the index). Returns the listed services by key."""
    listed = {service_key(s.ref): s.ref for s in services}
    known = set(ServiceCollection.objects.filter(site=site).values_list("service_key", flat=True))
    ServiceCollection.objects.bulk_create(
        [
            ServiceCollection(site=site, folder=ref.folder, service=ref.name, service_key=key)
            for key, ref in listed.items()
            if key not in known
        ],
        ignore_conflicts=True,
    )
    if known - set(listed):
        ServiceCollection.objects.filter(site=site, service_key__in=known - set(listed)).delete()
    return listed


# --- retention ---------------------------------------------------------------------------------------------


def prune(site: Site, now: datetime | None = None) -> int:
    """Drop the site's jobs submitted before HISTORY_RETENTION_DAYS (or, with no submitted time, last seen then),
    at most PRUNE_BATCHES batches of PRUNE_BATCH rows a pass."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.HISTORY_RETENTION_DAYS)
    old = Q(submitted__lt=cutoff) | Q(submitted__isnull=True, last_seen__lt=cutoff)
    removed = 0
    for _ in range(PRUNE_BATCHES):
        pks = list(IndexedJob.objects.filter(old, site=site).values_list("pk", flat=True)[:PRUNE_BATCH])
        if not pks:
            break
        with _writing(), transaction.atomic():
            Transition.objects.filter(job_id__in=pks).delete()
            removed += IndexedJob.objects.filter(pk__in=pks).delete()[1].get(IndexedJob._meta.label, 0)
    return removed


# --- a site's pass -----------------------------------------------------------------------------------------


@dataclass
class SitePass:
    """How one site's pass went: the summary collect_jobs prints and /metrics shows."""

    site: Site
    tally: Tally = field(default_factory=Tally)
    services: int = 0  # collected in this pass
    failed: int = 0  # services whose own answer failed
    calls: int = 0  # upstream calls
    pruned: int = 0
    seconds: float = 0.0
    problem: str = ""  # why the pass ended early (the site or its account)
    skipped: bool = False  # no monitoring account

    @property
    def summary(self) -> str:
        t = self.tally
        line = (
            f"{self.site.slug}: {t.new} new, {t.changed} changed, {t.vanished} vanished jobs in {self.services} "
            f"services; {self.calls} upstream calls; {self.seconds:.2f} s"
        )
        if self.failed:
            line += f"; {self.failed} services failed"
        if self.pruned:
            line += f"; {self.pruned} pruned"
        if self.skipped:
            line = f"{self.site.slug}: no monitoring account, not collected"
        return f"{line}. {self.problem}" if self.problem else line


def collect_site(site: Site, owner: str | None = None) -> SitePass:
    """One pass over the site with its monitoring account."""
    result = SitePass(site)
    account = MonitoringAccount.objects.filter(site=site).select_related("site").first()
    if account is None:
        result.skipped = True
        return result
    owner = owner or new_owner()
    started_at, started = timezone.now(), time.monotonic()
    session = Session(account)
    client: ReadOnlyClient | None = None
    problem: AccountProblem | None = None
    try:
        client = session.client()
        refs = sync_services(site, services_of(site, client))
        problem = _collect_services(site, client, refs, owner, started_at, result)
    except AccountProblem as exc:
        problem = exc
    except arcgis_client.ArcGISError as exc:
        problem = problem_of(exc)
    result.calls = client.calls if client is not None else session.trades
    result.pruned = prune(site)
    result.seconds = time.monotonic() - started
    session.fared(problem)
    if problem is None:
        MonitoringAccount.objects.filter(pk=account.pk).update(
            last_pass=timezone.now(), last_pass_seconds=result.seconds
        )
    else:
        result.problem = problem.message
    log.info("collected %s", result.summary)
    return result


def _collect_services(
    site: Site,
    client: ReadOnlyClient,
    refs: dict[str, arcgis_client.ServiceRef],
    owner: str,
    started_at: datetime,
    result: SitePass,
) -> AccountProblem | None:
    """Claim, read and store the site's services a few at a time until none is due; stops at the first answer that
    says the site or the account fails (that problem is returned)."""
    readers = max(1, settings.ARCGIS_REQUESTS_PER_SITE)
    stop = threading.Event()
    done: set[int] = set()

    def read(plan: Plan) -> tuple[Reading | Exception | None, float]:
        if stop.is_set():
            return None, 0.0
        began = time.monotonic()
        try:
            return read_service(client, plan), time.monotonic() - began
        except (arcgis_client.ArcGISError, AccountProblem) as exc:
            if isinstance(exc, (*SITE_ERRORS, AccountProblem)):
                stop.set()
            return exc, time.monotonic() - began

    problem: AccountProblem | None = None
    while not stop.is_set():
        claimed = claim(site, owner, started_at, done, readers * CLAIM_PER_READER)
        if not claimed:
            break
        done |= {c.pk for c in claimed}
        plans = plans_for(site, claimed, refs)
        for plan, outcome in arcgis_client.as_completed(read, plans, readers):
            answer, seconds = (outcome, 0.0) if isinstance(outcome, arcgis_client.ArcGISError) else outcome
            if isinstance(answer, Reading):
                try:
                    with _writing():
                        result.tally.add(store(site, plan, answer, owner, timezone.now(), seconds))
                    result.services += 1
                except LeaseLost:
                    log.warning("%s %s: the lease ran out before its answer was written", site.slug, plan.ref)
                except DatabaseError as exc:  # e.g. SQLite busy: asked again next pass
                    log.warning("%s %s: its answer could not be written (%s)", site.slug, plan.ref, exc)
                    result.failed += 1
                    with contextlib.suppress(DatabaseError):
                        release(plan.collection, owner, "Its jobs could not be written to the index; next pass.")
                continue
            if isinstance(answer, AccountProblem):
                problem = problem or answer
            elif isinstance(answer, SITE_ERRORS):
                problem = problem or problem_of(answer)
            elif isinstance(answer, Exception):
                result.failed += 1
            release(plan.collection, owner, str(getattr(answer, "message", "")) if answer is not None else "")
    return problem


_sqlite_writes = threading.Lock()


def _writing():
    """SQLite takes one writer at a time: this process's site threads take turns rather than time out waiting."""
    return _sqlite_writes if connection.vendor == "sqlite" else contextlib.nullcontext()


def collect(sites: Iterable[Site]) -> list[SitePass]:
    """A pass over each site, all at once on threads of their own: a site that stalls holds only its own."""
    sites = list(sites)
    if len(sites) == 1:
        return [collect_site(sites[0])]
    results: dict[int, SitePass] = {}

    def run(site: Site) -> None:
        try:
            results[site.pk] = collect_site(site)
        except Exception:
            log.exception("the collector's pass over %s failed", site.slug)
            results[site.pk] = SitePass(site, problem="The pass failed unexpectedly; the details are in the log.")
        finally:
            connection.close()  # this thread's own

    threads = [threading.Thread(target=run, args=(site,), name=f"collect-{site.slug}") for site in sites]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results[site.pk] for site in sites]


def monitored_sites() -> list[Site]:
    return list(Site.objects.filter(monitoring__isnull=False).order_by("slug"))
