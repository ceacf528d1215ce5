"""Read-side use cases: what the pages show, read through the operator's own token.

Every read here checks the token rules (jobs/stored_tokens.py), holds one of the site's request
slots while it waits for ArcGIS, and shares identical reads between operators for about a
second (jobs/upstream.py). A failed read is returned, not raised: every error a page shows
has `.message` and `.reconnect`. Views only translate HTTP.
"""

from __future__ import annotations

import concurrent.futures
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.utils import timezone

import arcgis_client
from jobs import after_response, audit, counters, running_long, stored_tokens
from jobs.models import Site, StoredToken
from jobs.queries import JobQuery
from jobs.targets import JobEntry, ServiceTarget
from jobs.upstream import shared_read, site_slot

ReadError = stored_tokens.NotConnected | arcgis_client.ArcGISError


# --- the services of a site -----------------------------------------------------------------


@dataclass
class SiteSection:
    """A site as the overview and its own page show it: its GP services by folder."""

    site: Site
    token: StoredToken | None
    folders: dict[str, list[ServiceTarget]] = field(default_factory=dict)
    error: ReadError | None = None

    @property
    def connected(self) -> bool:
        return self.token is not None and self.token.is_usable

    @property
    def targets(self) -> list[ServiceTarget]:
        return [target for targets in self.folders.values() for target in targets]


@dataclass(frozen=True)
class ServiceCounts:
    target: ServiceTarget
    stats: arcgis_client.JobStatistics | None = None
    error: ReadError | None = None
    running_long: int = 0  # executing jobs far past what the service usually takes


def _running_long(
    site: Site, client: arcgis_client.AdminClient, target: ServiceTarget, limits, indexed: running_long.IndexedBaselines
) -> int:
    """How many of the service's executing jobs run long (its baseline from the index, or read from ArcGIS at most
    every ten minutes). Only jobs submitted long enough ago can, and they are the oldest: ArcGIS is asked for those
    alone, and counts them."""
    base = running_long.baseline(site, client, target.service, indexed)
    count, flagged = 0, {}
    if (limit := running_long.running_long_after(base, limits)) is not None:
        now = timezone.now()
        executing = shared_read(
            ("running long", site.pk, target.service.match_key),
            lambda: client.query_jobs(target.service, status=arcgis_client.EXECUTING, end_time=now - limit, number=100),
        )
        for job in executing.jobs:
            flag = running_long.flag_for(job, base, limits, now)
            if flag is not None and flag.kind == "running-long":
                flagged[job.job_id] = flag.text
        # Past the first hundred ArcGIS only counts them: submitted before the limit, they all run long.
        count = len(flagged) + max(executing.total - len(executing.jobs), 0)
    running_long.notice_running_long(site, target.service.key, flagged)
    counters.record_running_long(site, target.service.key, count)
    return count


def services_of(site: Site, client: arcgis_client.AdminClient) -> list[arcgis_client.Service]:
    """The site's GP services; the list changes rarely, so it is shared for a minute."""
    return shared_read(
        ("services", site.pk),
        lambda: client.list_gp_services(settings.ARCGIS_MAX_CONCURRENCY),
        settings.SERVICES_CACHE_SECONDS,
    )


def _section(site: Site, token: StoredToken | None, services: list[arcgis_client.Service]) -> SiteSection:
    section = SiteSection(site, token)
    for service in sorted(services, key=lambda s: (s.folder.lower(), s.name.lower())):
        section.folders.setdefault(service.folder, []).append(ServiceTarget(site, service.ref, service.description))
    return section


def _counts(site: Site, client: arcgis_client.AdminClient, target: ServiceTarget) -> arcgis_client.JobStatistics:
    stats = shared_read(("stats", site.pk, target.service.match_key), lambda: client.job_statistics(target.service))
    counters.record_job_counts(site, target.service.key, stats)  # /metrics shows what was read, never reads itself
    return stats


class SiteReader:
    """One user's reads on one site: the token is looked up and decrypted on the request's thread,
    the upstream calls may then run on any thread (they never touch the database)."""

    def __init__(self, user, site: Site, token: StoredToken | None = None, *, token_known: bool = False):
        self.user, self.site = user, site
        self.token = token if token_known else stored_tokens.stored_token(user, site)
        self.rejections = stored_tokens.RejectionWatch(user, site)
        self.client: arcgis_client.AdminClient | None = None
        self.refusal: stored_tokens.NotConnected | None = None  # why there is no client
        try:
            self.client = stored_tokens.client_with(site, self.token)
        except stored_tokens.NotConnected as exc:
            self.refusal = exc

    def call(self, func):
        """func(client), or raises the reason it cannot be called; a rejected token is noted."""
        if self.refusal is not None:
            raise self.refusal
        try:
            return func(self.client)
        except arcgis_client.ArcGISError as exc:
            self.rejections.saw(exc)
            raise

    def settle(self) -> None:
        """On the request's thread, after the calls: a rejected token is marked, once."""
        self.rejections.settle()


def site_section(user, site: Site) -> SiteSection:
    """One site's GP services by folder, without counts (the site page)."""
    reader = SiteReader(user, site)
    try:
        with site_slot(site):
            services = reader.call(lambda client: services_of(site, client))
    except stored_tokens.READ_ERRORS as exc:
        section = SiteSection(site, reader.token, error=exc)
    else:
        section = _section(site, reader.token, services)
    reader.settle()
    return section


def listed_target(site: Site, client: arcgis_client.AdminClient, target: ServiceTarget) -> ServiceTarget:
    """The service as the site lists it: ArcGIS's names are case-insensitive, so `floodmodel` in a URL is its
    FloodModel, and only names the site lists are counted (a URL's spelling never makes a series of its own)."""
    wanted = target.service.key.lower()
    for service in services_of(site, client):
        if service.ref.key.lower() == wanted:
            return ServiceTarget(site, service.ref, service.description)
    raise arcgis_client.NotFound(f"{target.service.key} is not a GP service on {site.name}.", code=404)


def service_counts(user, target: ServiceTarget) -> ServiceCounts:
    """One service's counts (a cell's Retry), under the name the site lists it by."""
    reader = SiteReader(user, target.site)
    try:
        with site_slot(target.site):
            target = reader.call(lambda client: listed_target(target.site, client, target))
            stats = reader.call(lambda client: _counts(target.site, client, target))
    except stored_tokens.READ_ERRORS as exc:
        result = ServiceCounts(target, error=exc)
    else:
        result = ServiceCounts(target, stats)
    reader.settle()
    return result


def all_counts(user, sections: list[SiteSection]) -> list[ServiceCounts]:
    """Every listed service's counts, concurrently (the overview's periodic refresh)."""
    listed = {section.site.pk: section for section in sections if section.error is None}
    events = _stream_sites(user, [section.site for section in sections], listed)
    return [event for event in events if isinstance(event, ServiceCounts)]


def overview(user, sites: list[Site]) -> Iterator[SiteSection | ServiceCounts]:
    """The overview as it comes in: each site's section as soon as its services are listed,
    then each service's counts as they answer. Sites are read concurrently and fail on their own;
    a site that does not answer within its budget ends as an error, never holding the page."""
    return _stream_sites(user, sites, {})


def _stream_sites(user, sites: list[Site], listed: dict[int, SiteSection]) -> Iterator[SiteSection | ServiceCounts]:
    readers = {site.pk: SiteReader(user, site) for site in sites}  # database work here, on this thread
    thresholds = running_long.Thresholds.for_sites(sites)
    indexed = running_long.index_baselines(sites)  # the threads below never touch the database
    events: queue.Queue = queue.Queue()
    done = object()

    def work(site: Site) -> None:
        reader = readers[site.pk]
        try:
            with site_slot(site):
                section = listed.get(site.pk)
                if section is None:
                    try:
                        services = reader.call(lambda client: services_of(site, client))
                    except stored_tokens.READ_ERRORS as exc:
                        events.put(SiteSection(site, reader.token, error=exc))
                        return
                    section = _section(site, reader.token, services)
                    events.put(section)

                def counts(target: ServiceTarget) -> ServiceCounts:
                    stats = reader.call(lambda client: _counts(site, client, target))
                    if not stats.other:  # nothing runs: nothing can run long
                        return ServiceCounts(target, stats)
                    limits = running_long.Thresholds.lookup(thresholds, target)
                    try:
                        long_count = reader.call(lambda client: _running_long(site, client, target, limits, indexed))
                    except arcgis_client.ArcGISError:
                        long_count = 0  # the counts stand on their own
                    return ServiceCounts(target, stats, running_long=long_count)

                for target, result in arcgis_client.as_completed(
                    counts, section.targets, settings.ARCGIS_MAX_CONCURRENCY
                ):
                    if isinstance(result, arcgis_client.ArcGISError):
                        result = ServiceCounts(target, error=result)
                    events.put(result)
        except stored_tokens.READ_ERRORS as exc:  # no slot free, or no token
            events.put(listed.get(site.pk) or SiteSection(site, reader.token, error=exc))
        finally:
            events.put(done)

    threads = [threading.Thread(target=work, args=(site,), daemon=True, name="arcgis-site") for site in sites]
    for thread in threads:
        thread.start()
    remaining = len(threads)
    while remaining:
        event = events.get()
        if event is done:
            remaining -= 1
        else:
            yield event
    for reader in readers.values():
        reader.settle()


# --- the jobs of a service --------------------------------------------------------------------


@dataclass
class JobTable:
    target: ServiceTarget
    token: StoredToken | None
    rows: list[JobEntry] = field(default_factory=list)
    page: arcgis_client.QueryPage | None = None
    error: ReadError | None = None
    seconds: float = 0.0  # how long ArcGIS took


def _page(
    reader: SiteReader,
    target: ServiceTarget,
    query: JobQuery,
    on_fetch: Callable[[], object] = lambda: None,
    remember: bool = True,
) -> arcgis_client.QueryPage:
    """The page `query` asks for, shared (`on_fetch` is called just before this call asks ArcGIS itself). The jobs
    of a page read from ArcGIS are remembered (ServiceTarget.remember) once, by the read, for whoever shows them
    (once the page is sent: nobody waits for it);
    `remember=False` for a list no row will show (an export's), whose reads are shared apart from the pages'."""
    site = target.site

    def fetch(client: arcgis_client.AdminClient) -> arcgis_client.QueryPage:
        on_fetch()
        return query.run(client, target.service)

    return reader.call(
        lambda client: shared_read(
            ("jobs" if remember else "listed jobs", site.pk, target.service.match_key, *query.key()),
            lambda: fetch(client),
            then=(lambda page: after_response.defer(target.remember, page.jobs)) if remember else None,
        )
    )


def _single(reader: SiteReader, target: ServiceTarget, job_id: str) -> arcgis_client.Job | None:
    site = target.site

    def get(client):
        try:
            return client.get_job(target.service, job_id)
        except arcgis_client.NotFound:
            return None

    return reader.call(
        lambda client: shared_read(
            ("job", site.pk, target.service.match_key, job_id),
            lambda: get(client),
            then=lambda job: after_response.defer(target.remember, [job] if job else []),
        )
    )


def job_table(
    user, target: ServiceTarget, query: JobQuery, *, job_id: str | None = None, last_events: bool = True
) -> JobTable:
    """One page of a service's jobs (or the one job asked for by ID), with the last portal action on each (unless
    `last_events` is False: a page's rows do not show it; their details read it when opened)."""
    reader = SiteReader(user, target.site)
    table = JobTable(target, reader.token)
    # What flags the rows, read before the page: meanwhile a read under way (the shell's, ahead) is still coming.
    base, limits = running_long.known_baseline(target.site, target.service), running_long.service_limits(target)
    started = time.monotonic()
    try:
        with site_slot(target.site):
            if job_id:
                job = _single(reader, target, job_id)
                jobs = [job] if job else []
                page = arcgis_client.QueryPage(jobs=jobs, total=len(jobs), start=1, number=1, next_start=None)
            else:
                page = _page(reader, target, query)
    except stored_tokens.READ_ERRORS as exc:
        table.error = _explained(reader, target, exc)
    else:
        table.page = page  # (its jobs remembered by whoever read them: _page, _single)
        job_ids = [job.job_id for job in page.jobs]
        latest = audit.latest_events(target.site, target.service.key, job_ids) if last_events else {}
        rows = [JobEntry(target, job.job_id, job, last_event=latest.get(job.job_id)) for job in page.jobs]
        table.rows = running_long.flag_entries(rows, base=base, limits=limits)
    table.seconds = time.monotonic() - started
    reader.settle()
    return table


# A page's shell asks ArcGIS for the page of jobs its table will ask for as soon as it loads, on one of a few threads
# of the process: the table's request, a moment later, finds the answer shared (or on its way) instead of waiting
# for ArcGIS from its start. Reads ahead wait for no one: beyond a few not yet started (a site that stalls holds
# its threads), a shell reads nothing ahead and its table reads as it did before.
_ahead = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="arcgis-ahead")
_AHEAD_WAITING = 8
_ahead_waiting = threading.BoundedSemaphore(_AHEAD_WAITING)
# How long a shell waits for its read ahead to be on its way. A thread that wants the interpreter while another
# renders gets it only at the next switch (every 5 ms), and again after each cache call: a read handed over as the
# shell went on rendering reached ArcGIS only once the shell was done. Waiting (about a millisecond: two cache calls)
# lets it get its request out first; the rendering then overlaps ArcGIS's answer, not the request. When the read does
# not start at once (another thread or worker is reading the same page, the pool is busy), the shell goes on after
# one switch's worth.
AHEAD_HANDOVER_SECONDS = 0.005


def read_ahead(user, target: ServiceTarget, query: JobQuery) -> None:
    """Start reading the page of jobs `query` asks for, to be shared with the table's request that follows; nothing
    when reads are not shared, or the user cannot read the site now. What goes wrong is the table's to say."""
    if settings.SHARED_READ_SECONDS <= 0:
        return
    reader = SiteReader(user, target.site)  # the token: read and checked here, on the request's thread
    if reader.client is None:
        return
    on_its_way = threading.Event()  # asking ArcGIS now, or done (shared already, or failed)

    def read() -> None:
        _ahead_waiting.release()
        try:
            with site_slot(target.site):
                _page(reader, target, query, on_fetch=on_its_way.set)
        except stored_tokens.READ_ERRORS:
            pass  # the table's request reads again, and says why it could not
        finally:
            on_its_way.set()

    if _ahead_waiting.acquire(blocking=False):
        _ahead.submit(read)
        on_its_way.wait(AHEAD_HANDOVER_SECONDS)


LIST_PAGE = 200  # jobs asked for at a time when a whole list is read (an export, "select all matching")


def each_job(
    user, target: ServiceTarget, query: JobQuery, *, limit: int, job_id: str | None = None
) -> Iterator[JobEntry]:
    """Every job the query matches (or the one job asked for by ID), page after page in its order, each once, at
    most `limit`, flagged as the pages flag them. A failed read raises its ReadError (what came before it stands);
    a site slot is held for each page's read only."""
    reader = SiteReader(user, target.site)
    start, seen = 1, set[str]()
    try:
        while len(seen) < limit:
            with site_slot(target.site):
                if job_id:
                    job = _single(reader, target, job_id)
                    page = arcgis_client.QueryPage([job] if job else [], 1 if job else 0, 1, 1, None)
                else:
                    wanted = replace(query, start=start, number=min(LIST_PAGE, limit - len(seen)))
                    page = _page(reader, target, wanted, remember=False)
            fresh = [job for job in page.jobs if job.job_id not in seen][: limit - len(seen)]
            seen.update(job.job_id for job in fresh)
            yield from running_long.flag_entries([JobEntry(target, job.job_id, job) for job in fresh])
            if page.next_start is None or not page.jobs:
                return
            start += len(page.jobs)
    finally:
        reader.settle()


def _explained(reader: SiteReader, target: ServiceTarget, exc: ReadError) -> ReadError:
    """A service ArcGIS does not know as a GP service is named as such (e.g. a MapServer opened as one)."""
    if not isinstance(exc, arcgis_client.NotFound) or exc.code != 404:
        return exc
    try:
        services = reader.call(lambda client: services_of(target.site, client))
    except stored_tokens.READ_ERRORS:
        return exc
    if target.service not in {service.ref for service in services}:
        return arcgis_client.NotFound(f"{target.service.key} is not a GP service on {target.site.name}.", code=404)
    return exc


# --- what changed on a page ---------------------------------------------------------------------


@dataclass
class Changes:
    """What the page's one poll learns: rows that changed (their status, or what their flag says), and how many
    newer jobs exist."""

    rows: list[JobEntry] = field(default_factory=list)
    still_active: dict[str, str] = field(default_factory=dict)  # job ID -> JobEntry.state, for the next poll
    newer: int = 0  # jobs newer than the page's newest (first page, newest first)
    newer_capped: bool = False
    error: ReadError | None = None
    seconds: float = 0.0


MAX_SINGLE_READS = 20  # rows that left the page's window are read one by one, this many at most


def changes(user, target: ServiceTarget, query: JobQuery, watched: dict[str, str], newest_ms: int | None) -> Changes:
    """Re-read the page's window once (shared with every operator looking at the same page) and report the
    watched rows (job ID -> JobEntry.state) that changed: their status, or their flag (a job that has just
    crossed the running-long threshold, a queue that grew longer). Rows no longer in the window (pushed out by
    newer jobs, or filtered out by a status filter) are read one by one, a few at most."""
    reader = SiteReader(user, target.site)
    result = Changes()
    started = time.monotonic()
    base: running_long.Baseline | running_long.Known | None = running_long.KNOWN_BASELINE
    try:
        with site_slot(target.site):
            page = _page(reader, target, query)
            seen: dict[str, arcgis_client.Job | None] = {job.job_id: job for job in page.jobs}  # None: gone
            missing = [job_id for job_id in watched if job_id not in seen][:MAX_SINGLE_READS]
            for job_id, job in arcgis_client.as_completed(lambda j: _single(reader, target, j), missing):
                if not isinstance(job, arcgis_client.ArcGISError):  # else: asked again next time
                    seen[job_id] = job
            if any((job := seen.get(job_id)) and job.status == arcgis_client.EXECUTING for job_id in watched):
                base = _baseline_if_possible(reader, target) or running_long.KNOWN_BASELINE
    except stored_tokens.READ_ERRORS as exc:
        result.error = exc
        result.still_active = dict(watched)
    else:
        read = [
            JobEntry(target, job_id, seen[job_id], gone=seen[job_id] is None) for job_id in watched if job_id in seen
        ]
        now_rows = {row.job_id: row for row in running_long.flag_entries(read, base=base)}
        changed = []
        for job_id, state in watched.items():
            if job_id not in now_rows:  # not read this time (over the one-by-one limit): ask again next time
                result.still_active[job_id] = state
                continue
            row = now_rows[job_id]
            if row.state != state:
                changed.append(row)
            if row.active:
                result.still_active[job_id] = row.state
        latest = audit.latest_events(target.site, target.service.key, [row.job_id for row in changed])
        result.rows = [replace(r, last_event=latest.get(r.job_id)) for r in changed]
        if newest_ms is not None:
            newer = [job for job in page.jobs if job.submitted and job.submitted.timestamp() * 1000 > newest_ms]
            result.newer = len(newer)
            result.newer_capped = len(newer) == len(page.jobs) and page.next_start is not None
    result.seconds = time.monotonic() - started
    reader.settle()
    return result


def _baseline_if_possible(reader: SiteReader, target: ServiceTarget) -> running_long.Baseline | None:
    """The service's baseline (shared, read at most every ten minutes), or None when it cannot be read now:
    the flags then stand on what is known."""
    try:
        return reader.call(lambda client: running_long.baseline(target.site, client, target.service))
    except arcgis_client.ArcGISError:
        return None


def _read_one_by_one(user, items: list[tuple[ServiceTarget, str]]) -> list[JobEntry]:
    """Jobs of one site, read concurrently; those that could not be read are left out."""
    site = items[0][0].site
    reader = SiteReader(user, site)
    entries = []
    try:
        with site_slot(site):
            for (target, job_id), job in arcgis_client.as_completed(
                lambda item: _single(reader, item[0], item[1]), items, settings.ARCGIS_MAX_CONCURRENCY
            ):
                if not isinstance(job, arcgis_client.ArcGISError):
                    entries.append(JobEntry(target, job_id, job, gone=job is None))
    except stored_tokens.READ_ERRORS:
        pass  # this site's rows stay as they are; the next poll asks again
    reader.settle()
    return entries


def rows_now(user, wanted: list[tuple[ServiceTarget, str]]) -> list[JobEntry]:
    """Jobs of any services and sites read again one by one (a few at most: the fleet view's rows in motion, such
    as a job just cancelled), flagged as the pages flag them. A job that could not be read is left out: it is
    asked about again next time."""
    by_site: dict[int, list[tuple[ServiceTarget, str]]] = {}
    for target, job_id in wanted[:MAX_SINGLE_READS]:
        by_site.setdefault(target.site.pk, []).append((target, job_id))
    entries: list[JobEntry] = []
    for items in by_site.values():
        entries += _read_one_by_one(user, items)
    by_service: dict[ServiceTarget, list[JobEntry]] = {}
    for entry in entries:
        by_service.setdefault(entry.target, []).append(entry)
    return [row for rows in by_service.values() for row in running_long.flag_entries(rows)]


# --- one job ---------------------------------------------------------------------------------

PARAMETER_READS = 8  # a job's inputs and results are read this many at a time
# What all the values of one job's inputs and results may take together, shared out between them: a page holds
# them all at once, and JSON takes many times its size in memory.
PARAMETERS_BUDGET_BYTES = 4 * 1024 * 1024


@dataclass
class ParameterRead:
    """One input or result of a job: its value, or why it could not be read (that never fails the page)."""

    kind: str  # "inputs" or "results"
    name: str
    parameter: arcgis_client.JobParameter | None = None
    error: ReadError | None = None


@dataclass
class JobDetail:
    """A job's page: its row, and from its Services Directory page its messages, inputs and results.

    `error` is why the job itself could not be read; `page_error` why its page could not (no address,
    an address the portal does not follow, or a failed read), while the row still shows."""

    target: ServiceTarget
    token: StoredToken | None
    row: JobEntry
    error: ReadError | None = None
    page: arcgis_client.RestJob | None = None
    page_error: ReadError | None = None
    inputs: list[ParameterRead] = field(default_factory=list)
    results: list[ParameterRead] = field(default_factory=list)


def _job_page(reader: SiteReader, target: ServiceTarget, job: arcgis_client.Job) -> arcgis_client.RestJob:
    """The job's Services Directory page, shared like the other reads (several operators may watch one job)."""
    site = target.site
    key = ("jobpage", site.pk, target.service.key, job.job_id)
    return reader.call(lambda client: shared_read(key, lambda: client.rest_job(target.service, job)))


def _parameters(reader: SiteReader, target: ServiceTarget, job: arcgis_client.Job, page: arcgis_client.RestJob):
    """Every input and result of the job, read concurrently (a few at a time); each one may fail on its own."""
    wanted = [("inputs", name) for name in page.inputs] + [("results", name) for name in page.results]
    limit = min(settings.ARCGIS_MAX_CONCURRENCY, PARAMETER_READS)

    def read(items: list[tuple[str, str]], each: int) -> list:
        return arcgis_client.run_concurrently(
            lambda item: reader.call(lambda client: client.job_parameter(target.service, job, *item, max_bytes=each)),
            items,
            limit,
        )

    # The budget shared out evenly; what the small values leave goes to the large ones, read again with it.
    each = PARAMETERS_BUDGET_BYTES // max(len(wanted), 1)
    answers = read(wanted, each)
    large = [i for i, answer in enumerate(answers) if isinstance(answer, arcgis_client.ResponseTooLarge)]
    if large:
        used = sum(len(json.dumps(a.value)) for a in answers if isinstance(a, arcgis_client.JobParameter))
        left = (PARAMETERS_BUDGET_BYTES - used) // len(large)
        if left > each:
            for i, answer in zip(large, read([wanted[i] for i in large], left), strict=True):
                answers[i] = answer
    reads: dict[str, list[ParameterRead]] = {"inputs": [], "results": []}
    for (kind, name), answer in zip(wanted, answers, strict=True):
        if isinstance(answer, arcgis_client.ArcGISError):
            reads[kind].append(ParameterRead(kind, name, error=answer))
        else:
            reads[kind].append(ParameterRead(kind, name, parameter=answer))
    return reads["inputs"], reads["results"]


def job_detail(user, target: ServiceTarget, job_id: str) -> JobDetail:
    """The job (one admin read), then its Services Directory page and the values of its inputs and
    results, all with the operator's own token while one of the site's slots is held."""
    reader = SiteReader(user, target.site)
    detail = JobDetail(target, reader.token, JobEntry(target, job_id, None))
    try:
        with site_slot(target.site):
            job = _single(reader, target, job_id)
            detail.row = JobEntry(target, job_id, job, gone=job is None)
            if job is not None:
                try:
                    detail.page = _job_page(reader, target, job)
                except stored_tokens.READ_ERRORS as exc:
                    detail.page_error = exc
                else:
                    detail.inputs, detail.results = _parameters(reader, target, job, detail.page)
    except stored_tokens.READ_ERRORS as exc:
        detail.error = exc
        detail.row = JobEntry(target, job_id, target.recall([job_id]).get(job_id))
    if detail.error is None:
        latest = audit.latest_events(target.site, target.service.key, [job_id])
        detail.row = replace(detail.row, last_event=latest.get(job_id))
    reader.settle()
    return detail


@dataclass
class NewMessages:
    """What a job page's poll learns: the messages logged after those shown, and, once the job has
    ended (or is gone), its row read again."""

    target: ServiceTarget
    job_id: str
    count: int  # messages the job has logged in all: the next poll asks for those after these
    messages: list[arcgis_client.JobMessage] = field(default_factory=list)
    page: arcgis_client.RestJob | None = None
    row: JobEntry | None = None
    error: ReadError | None = None
    seconds: float = 0.0

    @property
    def finished(self) -> bool:
        """Nothing more will come: the job ended or is gone, or asking again cannot work."""
        if self.row is not None:
            return True
        error = self.error
        return error is not None and (
            error.reconnect or isinstance(error, arcgis_client.UnsafeJobURL | arcgis_client.NoJobPage)
        )


def new_messages(user, target: ServiceTarget, job_id: str, after: int) -> NewMessages:
    """The messages a job logged after the first `after`. Costs one (shared) read of the job's page; the
    job's address comes from the row cache when it is there. The job is read again only once it has
    ended, or when its page no longer knows it."""
    reader = SiteReader(user, target.site)
    result = NewMessages(target, job_id, after)
    started = time.monotonic()
    try:
        with site_slot(target.site):
            job = target.recall([job_id]).get(job_id)
            if job is None or not job.url:
                job = _single(reader, target, job_id)
            if job is None:
                result.row = JobEntry(target, job_id, None, gone=True)
            else:
                try:
                    page = _job_page(reader, target, job)
                except arcgis_client.OperationRefused:  # e.g. "Invalid URL": has the job gone?
                    if _single(reader, target, job_id) is None:
                        result.row = JobEntry(target, job_id, None, gone=True)
                    else:
                        raise
                else:
                    result.page = page
                    result.messages = page.messages_after(after)
                    result.count = max(page.message_count, after)
                    if page.is_terminal:
                        ended = _single(reader, target, job_id)
                        result.row = JobEntry(target, job_id, ended, gone=ended is None)
    except stored_tokens.READ_ERRORS as exc:
        result.error = exc
    if result.row is not None and not result.row.gone:
        latest = audit.latest_events(target.site, target.service.key, [job_id])
        result.row = replace(result.row, last_event=latest.get(job_id))
    result.seconds = time.monotonic() - started
    reader.settle()
    return result


@dataclass(frozen=True)
class LastError:
    """A failed job's last telling error message (None when it logged none), or why it could not be read."""

    message: arcgis_client.JobMessage | None = None
    error: ReadError | None = None


FAILED_STATUSES = frozenset({arcgis_client.FAILED, arcgis_client.TIMED_OUT})


def last_error(user, target: ServiceTarget, job: arcgis_client.Job) -> LastError | None:
    """For a row's details: a failed job's last error, at the cost of one (shared) read of its page.
    None for a job that did not fail, without any upstream call."""
    if job.status not in FAILED_STATUSES:
        return None
    reader = SiteReader(user, target.site)
    try:
        with site_slot(target.site):
            page = _job_page(reader, target, job)
    except stored_tokens.READ_ERRORS as exc:
        result = LastError(error=exc)
    else:
        result = LastError(page.last_error)
    reader.settle()
    return result


@dataclass(frozen=True)
class QueuedCounts:
    """How many of a service's jobs a purge would cancel now, by status (new, submitted, waiting)."""

    by_status: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def text(self) -> str:
        """E.g. "12 jobs are queued now: 3 new, 9 submitted, 0 waiting"."""
        total = self.total
        parts = ", ".join(
            f"{count} {arcgis_client.status_label(status).lower()}" for status, count in self.by_status.items()
        )
        if not total:
            return "No job is queued now"
        return f"{total} job{' is' if total == 1 else 's are'} queued now: {parts}"


PURGED_STATUSES = (arcgis_client.NEW, arcgis_client.SUBMITTED, arcgis_client.WAITING)


def queued_counts(user, target: ServiceTarget) -> QueuedCounts | ReadError:
    """What a purge of the service would cancel, counted before anyone confirms it: one query per queued status,
    each asking for a single job for ArcGIS's total, concurrently."""
    reader = SiteReader(user, target.site)

    def count(status: str) -> int:
        return reader.call(lambda client: client.query_jobs(target.service, status=status, number=1).total)

    try:
        with site_slot(target.site):
            totals = arcgis_client.run_concurrently(count, PURGED_STATUSES, len(PURGED_STATUSES))
    except stored_tokens.READ_ERRORS as exc:
        return exc
    finally:
        reader.settle()
    by_status: dict[str, int] = {}
    for status, total in zip(PURGED_STATUSES, totals, strict=True):
        if isinstance(total, arcgis_client.ArcGISError):
            return total
        by_status[status] = total
    return QueuedCounts(by_status)


def service_baseline(user, target: ServiceTarget) -> running_long.Baseline | ReadError:
    """What the service usually takes: from the job index when it holds enough jobs (no token needed), else read
    from ArcGIS at most every ten minutes, shared."""
    indexed = running_long.index_baselines([target.site])
    if (known := running_long.indexed_baseline(indexed, target.site, target.service)) is not None:
        return known
    reader = SiteReader(user, target.site)
    try:
        with site_slot(target.site):
            result = reader.call(lambda client: running_long.baseline(target.site, client, target.service, indexed))
    except stored_tokens.READ_ERRORS as exc:
        result = exc
    reader.settle()
    return result
