"""What the history pages, the CSV and the API ask of the job index: the fleet view's filters (plus one job by
its ID) over IndexedJob, only on the sites the user may see, a page at a time by a cursor over (submitted, id),
newest first: a keyset, so the thousandth page costs what the first one does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from history.models import IndexedJob
from history.rows import remembered
from jobs.hooks import RememberedJob
from jobs.models import Site
from jobs.targets import ServiceTarget

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def retention() -> timedelta:
    """How far back the index reaches: what "any time" means."""
    return timedelta(days=getattr(settings, "HISTORY_RETENTION_DAYS", 90))


def encode_cursor(job: IndexedJob) -> str:
    """The place after this row: its submitted time in epoch microseconds and its id ("1764930000123456:812")."""
    assert job.submitted is not None  # the list holds only jobs with a submitted time
    delta = job.submitted - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{micros}:{job.pk}"


def decode_cursor(value: str) -> tuple[datetime, int]:
    """The inverse of encode_cursor (the form checked its shape)."""
    micros, pk = value.split(":")
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros)), int(pk)


def matching(
    jobs: QuerySet[IndexedJob],
    statuses: tuple[str, ...],
    username: str | None,
    machine: str | None,
    since: datetime | None,
    until: datetime | None,
) -> QuerySet[IndexedJob]:
    """The filters the history and the fleet view from the index share: user and machine in any case, as ArcGIS
    matches them; no statuses is every status."""
    if statuses:
        jobs = jobs.filter(status__in=statuses)
    if username:
        jobs = jobs.filter(username__iexact=username)
    if machine:
        jobs = jobs.filter(machine__iexact=machine)
    if since:
        jobs = jobs.filter(submitted__gte=since)
    if until:
        jobs = jobs.filter(submitted__lte=until)
    return jobs


@dataclass(frozen=True)
class HistoryQuery:
    """The history's filters; empty values filter nothing. `statuses` () is every status."""

    statuses: tuple[str, ...] = ()
    site: str = ""  # a slug; "" is every site the user may see
    folder: str = ""
    service: str = ""
    username: str = ""
    machine: str = ""
    job_id: str = ""
    since: datetime | None = None
    until: datetime | None = None
    cursor: tuple[datetime, int] | None = None  # (submitted, id) of the previous page's last row
    page_size: int = PAGE_SIZE

    def sites_of(self, visible: list[Site]) -> list[Site]:
        """Of the sites the user may see, those asked for."""
        return [site for site in visible if not self.site or site.slug == self.site]

    def service_filter(self) -> Q:
        """Folder and name matched as ArcGIS matches them, upper or lower case alike: on the lower-case key."""
        folder, name = self.folder.lower(), self.service.lower()
        if folder and name:
            return Q(service_key=f"{folder}/{name}")
        if folder:
            return Q(service_key__startswith=f"{folder}/")
        if name:
            return Q(service_key=name) | Q(service_key__endswith=f"/{name}")
        return Q()

    def jobs(self, visible: list[Site]) -> QuerySet[IndexedJob]:
        """Every indexed job the filters match on these sites (those the user may see), in no order."""
        found = IndexedJob.objects.filter(
            site_id__in=[site.pk for site in self.sites_of(visible)], submitted__isnull=False
        ).filter(self.service_filter())
        found = matching(found, self.statuses, self.username, self.machine, self.since, self.until)
        if self.job_id:
            found = found.filter(job_id=self.job_id)
        return found

    def newest_first(self, visible: list[Site]) -> QuerySet[IndexedJob]:
        """The list in its order, from the cursor on (the CSV takes it whole, a page its first rows)."""
        found = self.jobs(visible)
        if self.cursor is not None:
            at, pk = self.cursor
            found = found.filter(Q(submitted__lt=at) | Q(submitted=at, pk__lt=pk))
        return found.order_by("-submitted", "-pk")

    def page(self, visible: list[Site]) -> HistoryPage:
        """One page: the rows, and the cursor of the next one ("" on the last page). One query."""
        rows = list(self.newest_first(visible)[: self.page_size + 1])
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        sites = {site.pk: site for site in visible}
        for row in rows:
            row.site = sites[row.site_id]  # no join: the sites are known already
        return HistoryPage(rows, encode_cursor(rows[-1]) if more else "")

    def span(self) -> tuple[datetime, datetime]:
        """The time the list covers, for the activity charts: from `since` (or as far back as the index keeps
        jobs) to `until` (or now); never further back than the index keeps jobs (no decades of empty days)."""
        now = timezone.now()
        until = min(self.until, now) if self.until else now
        since = max(self.since or now - retention(), now - retention())
        return min(since, until), until


@dataclass(frozen=True)
class HistoryPage:
    rows: list[IndexedJob]
    next_cursor: str  # "" on the last page


def remembered_job(target: ServiceTarget, job_id: str) -> RememberedJob | None:
    """The job as the index last saw it, for its page once ArcGIS has forgotten it (jobs.hooks)."""
    found = IndexedJob.objects.filter(site=target.site, service_key=target.service.key.lower(), job_id=job_id).first()
    return remembered(found) if found is not None else None
