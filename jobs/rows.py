"""What a job row shows: the job, the outcome of the last action on it, and when it refreshes.

Shared by the jobs page, the row refresh and the action proxy, which all render
jobs/partials/job_row.html from a JobRow.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.core.cache import cache
from django.urls import reverse

from jobs import arcgis
from jobs.models import AuditEvent, Site

ROW_CACHE_SECONDS = 600


@dataclass(frozen=True)
class ServiceTarget:
    """A GP service of a site, as the portal's URLs name it."""

    site: Site
    service: arcgis.ServiceRef

    def url(self, name: str, job_id: str | None = None, **query) -> str:
        kwargs = {"slug": self.site.slug, "name": self.service.name}
        if self.service.folder:
            kwargs["folder"] = self.service.folder
        if job_id:
            kwargs["job_id"] = job_id
        url = reverse(f"jobs:{name}", kwargs=kwargs)
        return f"{url}?{urlencode(query)}" if query else url

    def _cache_key(self, job_id: str) -> str:
        return f"job:{self.site.pk}:{self.service.key}:{job_id}"

    def remember(self, jobs: list[arcgis.Job]) -> None:
        """Keep the jobs just read, so an action's answer can show the whole row without reading again."""
        if jobs:
            cache.set_many({self._cache_key(job.job_id): job for job in jobs}, ROW_CACHE_SECONDS)

    def recall(self, job_ids: list[str]) -> dict[str, arcgis.Job]:
        found = cache.get_many([self._cache_key(job_id) for job_id in job_ids])
        return {job.job_id: job for job in found.values()}


@dataclass(frozen=True)
class JobRow:
    job_id: str
    job: arcgis.Job | None  # None when the job's details are not known right now
    message: str = ""  # the outcome of the last action, or why the row could not refresh
    kind: str = ""  # success / refused / failed: colours the message
    reconnect: bool = False
    gone: bool = False
    last_event: AuditEvent | None = None  # the last portal action on this job, by anyone
    failures: int = 0  # consecutive failed refreshes, for backoff

    @classmethod
    def after(cls, outcome, known: arcgis.Job | None) -> JobRow:
        """The row after an action (an operations.Outcome): the server's answer in its status element."""
        job = None if outcome.gone else (outcome.job or known)
        return cls(outcome.job_id, job, outcome.message, outcome.result, outcome.reconnect, outcome.gone)

    @property
    def polls(self) -> bool:
        """Rows refresh themselves until their job reaches a terminal status."""
        if self.gone or self.reconnect:
            return False
        return self.job is None or not self.job.is_terminal

    @property
    def status(self) -> str:
        return self.job.status if self.job else ""


def poll_interval(elapsed: float, failures: int = 0) -> int:
    """Seconds until a row refreshes: once a second, slower when ArcGIS is slow or failing."""
    if failures:
        return min(2**failures, 60)
    return min(max(1, round(elapsed * 5)), 30)


def latest_events(target: ServiceTarget, job_ids: list[str], user) -> tuple[dict, dict]:
    """The last portal action on each job: by anyone, and by this user (whose outcome the row shows)."""
    events = AuditEvent.objects.filter(site=target.site, service=target.service.key, job_id__in=job_ids).exclude(
        outcome=AuditEvent.Outcome.PENDING
    )
    latest, mine = {}, {}
    for event in events.order_by("-created", "-id")[: len(job_ids) * 20]:
        latest.setdefault(event.job_id, event)
        if event.user_id == user.pk:
            mine.setdefault(event.job_id, event)
    return latest, mine


def rows_for(target: ServiceTarget, jobs: list[arcgis.Job], user) -> list[JobRow]:
    latest, mine = latest_events(target, [job.job_id for job in jobs], user)
    rows = []
    for job in jobs:
        own = mine.get(job.job_id)
        rows.append(
            JobRow(
                job.job_id,
                job,
                message=display_message(own) if own else "",
                kind=own.outcome if own else "",
                last_event=latest.get(job.job_id),
            )
        )
    return rows


def display_message(event: AuditEvent) -> str:
    return event.message or event.get_outcome_display()
