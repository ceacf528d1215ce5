"""What the portal asks of ArcGIS, as values: a jobs page's query, the fleet view's query across services, and
an action's target. Forms build them; the read side, the fleet view and the operations take them."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import arcgis_client


@dataclass(frozen=True)
class JobQuery:
    """The jobs page's filters, as ArcGIS's jobs/query takes them."""

    status: str | None = None
    username: str | None = None
    machine: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    start: int = 1
    number: int = 50
    oldest_first: bool = False  # ArcGIS lists newest first: its last page comes first, read backwards

    def key(self) -> tuple:
        since = self.since.timestamp() if self.since else None
        until = self.until.timestamp() if self.until else None
        return (self.status, self.username, self.machine, since, until, self.start, self.number, self.oldest_first)

    def run(self, client: arcgis_client.AdminClient, service: arcgis_client.ServiceRef) -> arcgis_client.QueryPage:
        """This page of the jobs; oldest first costs a second read (the first one learns how many there are)."""

        def ask(start: int, number: int) -> arcgis_client.QueryPage:
            return client.query_jobs(
                service,
                status=self.status,
                username=self.username,
                machine=self.machine,
                start_time=self.since,
                end_time=self.until,
                start=start,
                number=number,
            )

        if not self.oldest_first:
            return ask(self.start, self.number)
        total = ask(1, 1).total
        last = total - self.start + 1  # where this page's oldest job is, newest first
        if last < 1:
            return arcgis_client.QueryPage(jobs=[], total=total, start=self.start, number=self.number, next_start=None)
        first = max(last - self.number + 1, 1)
        page = ask(first, last - first + 1)
        shown = self.start + len(page.jobs)
        more = first > 1 and shown <= page.total
        return replace(page, jobs=page.jobs[::-1], start=self.start, next_start=shown if more else None)


@dataclass(frozen=True)
class FleetQuery:
    statuses: tuple[str, ...] = arcgis_client.ACTIVE_STATUSES  # () means any
    sites: tuple[str, ...] = ()  # slugs; () means all the user may see
    folder: str = ""
    service: str = ""
    services: tuple[str, ...] = ()  # Folder/Name glob patterns, any of which may match ("Hydrology/*"); () means all
    username: str | None = None
    machine: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    running_long_only: bool = False
    longest_first: bool = False
    cursor: tuple[int, str] | None = None  # (submitted ms, job ID) of the last row of the previous page
    page_size: int = 50

    def wants(self, service: arcgis_client.ServiceRef) -> bool:
        """Folder and service are whole names, matched as ArcGIS matches them: upper or lower case alike."""
        return (
            (not self.folder or service.folder.lower() == self.folder.lower())
            and (not self.service or service.name.lower() == self.service.lower())
            and (not self.services or any(matches_pattern(service, pattern) for pattern in self.services))
        )

    @property
    def asked_statuses(self) -> tuple[str | None, ...]:
        if self.running_long_only:
            return (arcgis_client.EXECUTING,)
        return self.statuses or (None,)

    def window(self) -> tuple[datetime | None, datetime | None]:
        """startTime/endTime for ArcGIS: the filters, narrowed by the cursor (inclusive: ties are sorted out here)."""
        since, until = self.since, self.until
        if self.cursor is not None:
            at = datetime.fromtimestamp(self.cursor[0] / 1000, tz=UTC)
            if self.longest_first:
                since = max(since, at) if since else at
            else:
                until = min(until, at) if until else at
        return since, until

    def order_key(self, submitted_ms: int, job_id: str) -> tuple:
        """Sort key: newest first, or (longest first) oldest first; the job ID breaks ties."""
        return (submitted_ms, job_id) if self.longest_first else (-submitted_ms, _reverse(job_id))

    def beyond_cursor(self, submitted_ms: int, job_id: str) -> bool:
        """Not shown yet: past the previous page's last row in this page's order."""
        if self.cursor is None:
            return True
        if self.longest_first:
            return (submitted_ms, job_id) > self.cursor
        return (submitted_ms, job_id) < self.cursor

    def not_shown(self, jobs: list[arcgis_client.Job]) -> list[arcgis_client.Job]:
        """Of jobs with a submitted time, those not shown yet."""
        return [job for job in jobs if self.beyond_cursor(submitted_ms(job), job.job_id)]


def submitted_ms(job: arcgis_client.Job) -> int:
    """Only for a job with a submitted time: those without one are left out before jobs are ordered."""
    assert job.submitted is not None
    return int(job.submitted.timestamp() * 1000)


def matches_pattern(service: arcgis_client.ServiceRef, pattern: str) -> bool:
    """A Folder/Name glob, case-insensitive as ArcGIS's names are: "Hydrology/*" is every service of that folder,
    "*/FloodModel" FloodModel in any folder, "Buffer" the service Buffer in the root folder, "*" every service.
    Otherwise a wildcard stays within the folder or the name: "*Model" is a root-folder service."""
    if pattern == "*":
        return True
    names, patterns = service.key.lower().split("/"), pattern.lower().split("/")
    return len(names) == len(patterns) and all(map(fnmatch.fnmatchcase, names, patterns))


def _reverse(text: str) -> tuple:
    return tuple(-ord(c) for c in text)


@dataclass(frozen=True)
class ActionTarget:
    """What an action is aimed at: a job of a service (job_id "" for the service itself)."""

    service: arcgis_client.ServiceRef
    job_id: str = ""
