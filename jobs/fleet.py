"""Every job of every GP service of every site the user may see, merged; and runaway jobs flagged.

ArcGIS answers one service at a time. The fleet view asks every GP service concurrently (bounded
overall and per site), with ArcGIS's own filters pushed down and at most a page's worth per service,
merges the answers newest first (or longest running first), and moves through pages with a cursor,
since offsets cannot be merged across services. It yields what it has as services answer, so the
page fills in progressively and one slow site holds nobody.

When the job index covers every site asked and is fresh, the rows come from it instead, in one query, said to be
"as of" its last collection (`served`: history registers the index's side when it is ready; jobs never imports it).

Rows are flagged as jobs/running_long.py says: running long, queued long, cancel stuck.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone

import arcgis_client
from jobs import stored_tokens
from jobs.models import Site
from jobs.queries import FleetQuery, submitted_ms
from jobs.reads import SiteReader, services_of
from jobs.running_long import (
    IndexedBaselines,
    Thresholds,
    baseline,
    cancelling_since,
    flag_for,
    index_baselines,
    known_baseline,
    notice_flagged,
    running_long_after,
)
from jobs.targets import JobEntry, ServiceTarget, remember_entries
from jobs.upstream import shared_read, site_slot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FleetRow:
    row: JobEntry
    submitted_ms: int


@dataclass
class Fleet:
    """What the fleet view shows so far: the page's rows, the services that did not answer, and progress."""

    rows: list[FleetRow] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # "Site · Folder/Name" -> why
    asked: int = 0  # services asked so far
    answered: int = 0
    done: bool = False
    more: bool = False  # there is a next page
    next_cursor: str = ""
    as_of: datetime | None = None  # read from the job index, as it was at this time (None: asked of ArcGIS now)

    @property
    def age_seconds(self) -> int:
        """How old the index's answer is: since the oldest last collection of the services it covers."""
        return max(round((timezone.now() - self.as_of).total_seconds()), 0) if self.as_of else 0

    @property
    def age_text(self) -> str:
        """As static/js/portal.js keeps counting it: "4 s ago", "3 min ago"."""
        seconds = self.age_seconds
        return f"{seconds} s ago" if seconds < 90 else f"{round(seconds / 60)} min ago"


# --- from the job index, when it is fresh ----------------------------------------------------------

# (sites, query) -> the complete fleet from the job index, or None when some site is not collected or not fresh.
IndexedFleet = Callable[[list[Site], FleetQuery], Fleet | None]
_index_source: IndexedFleet | None = None


def register_index_fleet(source: IndexedFleet) -> None:
    """The job index's side of the fleet view (history's app registers it when it is ready)."""
    global _index_source
    _index_source = source


def served(user, sites: list[Site], query: FleetQuery) -> Iterator[Fleet]:
    """The fleet view's rows: from the job index in one query when every site asked is collected and fresh (one
    complete snapshot), else asking every service of every site as they come in (fleet())."""
    if _index_source is not None and sites and (state := _index_source(sites, query)) is not None:
        yield state
        return
    yield from fleet(user, sites, query)


def from_index(
    jobs: list[tuple[ServiceTarget, arcgis_client.Job]], sites: list[Site], query: FleetQuery, services: int, as_of
) -> Fleet:
    """The complete fleet from jobs the index read in the query's order, a page and one more of them (all executing
    ones for runaways only); flagged as the fan-out flags them, from the baselines known without asking ArcGIS."""
    now = timezone.now()
    limits = Thresholds.for_sites(sites)
    indexed = index_baselines(sites)
    entries = []
    for target, job in jobs:
        base = known_baseline(target.site, target.service, indexed) if job.status == arcgis_client.EXECUTING else None
        entries.append(
            JobEntry(target, job.job_id, job, flag=flag_for(job, base, Thresholds.lookup(limits, target), now))
        )
    notice_flagged(entries)
    if query.running_long_only:
        entries = [entry for entry in entries if entry.flag is not None and entry.flag.kind == "running-long"]
    rows = [FleetRow(entry, submitted_ms(entry.job)) for entry in entries if entry.job is not None]
    state = Fleet(asked=services, answered=services, done=True, as_of=as_of)
    state.rows = _with_cancel_times(rows[: query.page_size], limits, now)
    remember_entries(item.row for item in state.rows)
    state.more = len(rows) > query.page_size
    if state.more and state.rows:
        last = state.rows[-1]
        state.next_cursor = f"{last.submitted_ms}:{last.row.job_id}"
    return state


def fleet(user, sites: list[Site], query: FleetQuery) -> Iterator[Fleet]:
    """The fleet as it comes in: a snapshot whenever services have answered (at most every few tenths
    of a second), then the complete one with done=True. The snapshots share one Fleet object."""
    limits = Thresholds.for_sites(sites)  # database work here, on the request's thread
    indexed = index_baselines(sites)
    readers = {site.pk: SiteReader(user, site) for site in sites}
    events: queue.Queue = queue.Queue()
    overall = threading.BoundedSemaphore(settings.ARCGIS_FLEET_CONCURRENCY)
    now = timezone.now()

    def site_work(site: Site) -> None:
        reader = readers[site.pk]
        try:
            with site_slot(site):
                services = reader.call(lambda client: services_of(site, client))
                targets = [ServiceTarget(site, s.ref, s.description) for s in services if query.wants(s.ref)]
                events.put(("asked", len(targets)))
                for (target, status), result in _service_calls(reader, targets, query, overall, limits, now, indexed):
                    if status != _STATISTICS:
                        events.put(("jobs", target, result))
                events.put(("answered", len(targets)))
        except stored_tokens.READ_ERRORS as exc:
            events.put(("site failed", site, exc))
        except Exception:  # named as failed like any other, never a table silently short of a site
            log.exception("reading the jobs of %s failed", site.slug)
            events.put(("site failed", site, arcgis_client.ArcGISError("The portal failed reading it (see its log).")))
        finally:
            events.put(("site done", site))

    for site in sites:
        threading.Thread(target=site_work, args=(site,), daemon=True, name="arcgis-fleet").start()
    state = Fleet()
    collected: list[FleetRow] = []
    remaining, last_sent = len(sites), 0.0
    remembered: set[tuple[ServiceTarget, str]] = set()

    def remember(rows: list[FleetRow]) -> None:
        """Rows shown are kept, so that an action on one answers with everything the row showed."""
        shown = [item.row for item in rows if (item.row.target, item.row.job_id) not in remembered]
        remember_entries(shown)
        remembered.update((row.target, row.job_id) for row in shown)

    while remaining:
        try:
            event = events.get(timeout=0.1)
        except queue.Empty:
            event = None
        if event is not None:
            kind = event[0]
            if kind == "site done":
                remaining -= 1
            elif kind == "asked":
                state.asked += event[1]
            elif kind == "answered":
                state.answered += event[1]
            elif kind == "site failed":
                site, exc = event[1], event[2]
                state.failures[site.name] = exc.message
            elif kind == "jobs":
                target, result = event[1], event[2]
                if isinstance(result, arcgis_client.ArcGISError):
                    state.failures[f"{target.site.name} · {target.service.key}"] = result.message
                else:
                    jobs, base = result
                    collected = _merge(collected, target, jobs, base, query, limits, now)
        if time.monotonic() - last_sent >= 0.25 and (collected or state.failures):
            state.rows = collected[: query.page_size]
            remember(state.rows)
            last_sent = time.monotonic()
            yield state
    for reader in readers.values():
        reader.settle()
    state.rows = _with_cancel_times(collected[: query.page_size], limits, now)
    remember(state.rows)
    state.more = len(collected) > query.page_size
    if state.more and state.rows:
        last = state.rows[-1]
        state.next_cursor = f"{last.submitted_ms}:{last.row.job_id}"
    state.done = True
    yield state


class EveryJob:
    """Every job of the fleet's query, each once, page after page by its cursor (each page asks every service
    again, or the index: `read` is fleet or served), at most `limit`. Iterate it; then `failures` names the services
    that did not answer on some page."""

    def __init__(
        self, user, sites: list[Site], query: FleetQuery, *, limit: int, page_size: int = 200, read=None
    ) -> None:
        self.user, self.sites, self.query, self.limit, self.page_size = user, sites, query, limit, page_size
        self.read = read or fleet
        self.failures: dict[str, str] = {}

    def __iter__(self) -> Iterator[JobEntry]:
        cursor: tuple[int, str] | None = None
        seen: set[tuple[ServiceTarget, str]] = set()
        while len(seen) < self.limit:
            size = min(self.page_size, self.limit - len(seen))
            *_, state = self.read(self.user, self.sites, replace(self.query, page_size=size, cursor=cursor))
            self.failures.update(state.failures)
            for item in state.rows:
                key = (item.row.target, item.row.job_id)
                if key not in seen and len(seen) < self.limit:
                    seen.add(key)
                    yield item.row
            if not state.more or not state.rows:
                return
            cursor = (state.rows[-1].submitted_ms, state.rows[-1].row.job_id)


_STATISTICS = "statistics"  # a service's job counts, asked before its jobs


def _service_calls(
    reader: SiteReader, targets: list[ServiceTarget], query: FleetQuery, overall, limits, now, indexed: IndexedBaselines
):
    """Each service's jobs in each asked status, as they come in: ((target, status), result).

    For active jobs, one statistics call per service first tells which have any at all: most services
    of a fleet are idle, and one cheap call spares several queries. A busy service's queries start as
    soon as its statistics answer, ahead of the other services' statistics still waiting."""
    statuses = query.asked_statuses
    statistics_first = len(statuses) >= 2 and set(statuses) <= set(arcgis_client.ACTIVE_STATUSES)

    def call(task):
        target, status = task
        if status == _STATISTICS:
            key = ("stats", target.site.pk, target.service.key)
            return reader.call(lambda client: shared_read(key, lambda: client.job_statistics(target.service)))
        return _ask(reader, target, status, query, overall, Thresholds.lookup(limits, target), now, indexed)

    def then(task, result):
        target, status = task
        # An error is reported by the queries that follow.
        busy = status == _STATISTICS and (isinstance(result, arcgis_client.ArcGISError) or result.other > 0)
        return [(target, status) for status in statuses] if busy else []

    tasks: list[tuple[ServiceTarget, str | None]]
    if statistics_first:
        tasks = [(target, _STATISTICS) for target in targets]
    else:
        tasks = [(target, status) for target in targets for status in statuses]
    return arcgis_client.as_completed(call, tasks, settings.ARCGIS_MAX_CONCURRENCY, then=then)


def _ask(
    reader,
    target: ServiceTarget,
    status: str | None,
    query: FleetQuery,
    overall,
    limits: Thresholds,
    now,
    indexed: IndexedBaselines,
):
    """One service's jobs in one status, pushed down to ArcGIS; the baseline too when some are executing (the index's,
    `indexed`, when it holds enough jobs: read before, as this runs on another thread than the request's)."""
    since, until = query.window()
    with overall:

        def run(client: arcgis_client.AdminClient):
            base, end = None, until
            if query.running_long_only:
                # Runaways are the oldest executing jobs: ask only for those submitted long enough ago.
                base = baseline(target.site, client, target.service, indexed)
                if (limit := running_long_after(base, limits)) is None:
                    return [], base
                end = min(until, now - limit) if until else now - limit

            def ask(start: int, number: int, after: datetime | None = None, before: datetime | None = None):
                """A page of the window, narrowed to jobs submitted at or after `after`, at or before `before`."""
                return client.query_jobs(
                    target.service,
                    status=status,
                    username=query.username,
                    machine=query.machine,
                    start_time=max(filter(None, (since, after)), default=None),
                    end_time=min(filter(None, (end, before)), default=None),
                    start=start,
                    number=number,
                )

            jobs = _unshown_jobs(ask, query)
            if base is None and any(job.status == arcgis_client.EXECUTING for job in jobs):
                base = baseline(target.site, client, target.service, indexed)
            return jobs, base

        return reader.call(run)


MAX_READS_PER_SERVICE = 10  # a bound on reading on past jobs that share one time, whatever a server answers


def _unshown_jobs(ask, query: FleetQuery) -> list[arcgis_client.Job]:
    """At least one more than a page of a service's jobs not shown yet, if it has them, such that no job of the
    service ranks between them and the rest.

    ArcGIS lists newest first, in no set order among jobs submitted at the same time, so where its answer is
    cut off, jobs of that last time may be missing: only the jobs on the near side of it are sure to be all
    there. In the rare case they are not enough, the window moves to that time (inclusive, never by offset,
    as the list changes while it is read) and what is read again is recognised by job ID. The cursor's window
    includes its own time too, so the rows shown already come back and are left out: one more is asked for."""
    wanted = query.page_size + 1
    number = wanted + 1 + (1 if query.cursor else 0)  # + the cut-off time's jobs + the cursor's own row
    read: dict[str, arcgis_client.Job] = {}
    window: dict[str, datetime] = {}
    for _ in range(MAX_READS_PER_SERVICE):
        page = ask(1, number, **window)
        if query.longest_first and page.total > len(page.jobs):
            page = ask(max(page.total - number + 1, 1), number, **window)  # the oldest: on ArcGIS's last page
        fresh = [job for job in page.jobs if job.submitted and job.job_id not in read]
        read.update((job.job_id, job) for job in fresh)
        if page.total <= len(page.jobs) or not fresh:  # all of the window is read, or nothing new came
            break
        times = [submitted_ms(job) for job in read.values()]
        if query.longest_first:
            cut = max(times)
            complete = [job for job in read.values() if submitted_ms(job) < cut]
        else:
            cut = min(times)
            complete = [job for job in read.values() if submitted_ms(job) > cut]
        if len(complete := query.not_shown(complete)) >= wanted:
            return complete
        at = datetime.fromtimestamp(cut / 1000, tz=UTC)
        window = {"after": at} if query.longest_first else {"before": at}
    return query.not_shown(list(read.values()))


def _merge(collected, target, jobs, base, query: FleetQuery, limits, now) -> list[FleetRow]:
    rows = list(collected)
    service_limits = Thresholds.lookup(limits, target)
    flagged = []
    for job in jobs:  # as _unshown_jobs read them: each with a submitted time, none shown yet
        entry = JobEntry(target, job.job_id, job, flag=flag_for(job, base, service_limits, now))
        flagged.append(entry)
        if query.running_long_only and (entry.flag is None or entry.flag.kind != "running-long"):
            continue
        rows.append(FleetRow(entry, submitted_ms(job)))
    notice_flagged(flagged)
    rows.sort(key=lambda item: query.order_key(item.submitted_ms, item.row.job_id))
    return rows[: query.page_size + 1]  # one more than a page says whether there is a next one


def _with_cancel_times(rows: list[FleetRow], limits, now: datetime) -> list[FleetRow]:
    """Cancel-stuck needs to know since when a job is cancelling: the audit trail and the cache tell."""
    by_service: dict[ServiceTarget, list[str]] = {}
    for item in rows:
        if item.row.status == arcgis_client.CANCELLING:
            by_service.setdefault(item.row.target, []).append(item.row.job_id)
    if not by_service:
        return rows
    since = {}
    for target, job_ids in by_service.items():
        for job_id, at in cancelling_since(target.site, target.service.key, job_ids).items():
            since[(target, job_id)] = at
    result = []
    for item in rows:
        row = item.row
        if row.job is not None and (row.target, row.job_id) in since:  # a cancelling row always has its job
            flag = flag_for(row.job, None, Thresholds.lookup(limits, row.target), now, since[(row.target, row.job_id)])
            item = FleetRow(replace(row, flag=flag), item.submitted_ms)
        result.append(item)
    notice_flagged([item.row for item in result])
    return result
