"""What a job row shows: the job, the outcome of the action just taken on it, and its display values.

Shared by the jobs page, the fleet view, the refresh and the action proxy, which all render
templates/jinja2/jobs/rows.html from JobRows. Display values are computed once here, in Python,
so the template holds few tags per row: a page of rows is the portal's hottest render. (Hence
SafeString and html.escape here: Django's mark_safe and escape first look for lazy strings, which
costs more than the rest of a row's display value.)
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cached_property
from html import escape
from urllib.parse import urlencode

from django.core.cache import cache
from django.middleware.csrf import get_token
from django.template import engines
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

import arcgis_client
from jobs.models import AuditEvent, Site

ROW_CACHE_SECONDS = 600

TONES = {
    arcgis_client.NEW: "queued",
    arcgis_client.SUBMITTED: "queued",
    arcgis_client.WAITING: "queued",
    arcgis_client.EXECUTING: "running",
    arcgis_client.SUCCEEDED: "ok",
    arcgis_client.FAILED: "bad",
    arcgis_client.TIMED_OUT: "bad",
    arcgis_client.CANCELLING: "stopping",
    arcgis_client.CANCELLED: "stopped",
    arcgis_client.DELETING: "stopping",
    arcgis_client.DELETED: "stopped",
}


@dataclass(frozen=True)
class ServiceTarget:
    """A GP service of a site, as the portal's URLs name it."""

    site: Site
    service: arcgis_client.ServiceRef
    description: str = field(default="", compare=False)  # as the site's listing says

    def url(self, name: str, job_id: str | None = None, **query) -> str:
        kwargs = {"slug": self.site.slug, "name": self.service.name}
        if self.service.folder:
            kwargs["folder"] = self.service.folder
        if job_id:
            kwargs["job_id"] = job_id
        url = reverse(f"jobs:{name}", kwargs=kwargs)
        return f"{url}?{urlencode(query)}" if query else url

    @cached_property
    def dom_id(self) -> str:
        """An HTML id for things about this service (names hold no "-", so this is unambiguous)."""
        return f"svc-{self.site.pk}-{self.service.folder}-{self.service.name}"

    @cached_property
    def jobs_url(self) -> str:
        """…/jobs/: a job's own URLs are this plus its ID (reversing one per row costs more than the row)."""
        return self.url("job_list")

    @cached_property
    def token_url(self) -> str:
        return reverse("jobs:token", args=[self.site.slug])

    @cached_property
    def counts_url(self) -> str:
        return self.url("service_counts")

    def job_url(self, job_id: str) -> str:
        return f"{self.jobs_url}{job_id}/"

    def _cache_key(self, job_id: str) -> str:
        return f"job:{self.site.pk}:{self.service.key}:{job_id}"

    def remember(self, jobs: list[arcgis_client.Job]) -> None:
        """Keep the jobs just read, so an action's answer can show the whole row without reading again."""
        if jobs:
            cache.set_many({self._cache_key(job.job_id): job for job in jobs}, ROW_CACHE_SECONDS)

    def recall(self, job_ids: list[str]) -> dict[str, arcgis_client.Job]:
        found = cache.get_many([self._cache_key(job_id) for job_id in job_ids])
        return {job.job_id: job for job in found.values()}


@dataclass(frozen=True)
class RowOutcome:
    """The outcome of the action the operator just took on this row."""

    kind: str  # an AuditEvent.Outcome value: success / refused / failed
    message: str  # ArcGIS's words verbatim, or the portal's
    found: str = ""  # what re-reading the job showed, e.g. "it is already Cancelled"
    reconnect: bool = False

    @classmethod
    def of(cls, result) -> RowOutcome:
        """From an operations.ActionResult."""
        return cls(result.outcome, result.message, result.found, result.reconnect)


@dataclass(frozen=True)
class JobRow:
    target: ServiceTarget
    job_id: str
    job: arcgis_client.Job | None  # None when the job's details are not known right now
    outcome: RowOutcome | None = None
    gone: bool = False  # the job no longer exists on the server
    last_event: AuditEvent | None = None  # the last portal action on this job, by anyone
    flag: object = None  # why the fleet view flags it (running long…), set by reads

    @classmethod
    def after(cls, target: ServiceTarget, result, known: arcgis_client.Job | None) -> JobRow:
        """The row after an action (an operations.ActionResult): the server's answer in its status element."""
        job = None if result.gone else (result.job or known)
        return cls(target, result.job_id, job, RowOutcome.of(result), result.gone)

    @property
    def active(self) -> bool:
        """Still changing: the page keeps asking about it until it reaches a terminal status."""
        return not self.gone and (self.job is None or not self.job.is_terminal)

    @cached_property
    def status(self) -> str:
        if self.gone:
            return arcgis_client.DELETED
        return self.job.status if self.job else ""

    @cached_property
    def label(self) -> str:
        return "Gone" if self.gone else arcgis_client.status_label(self.status)

    @cached_property
    def tone(self) -> str:
        return TONES.get(self.status, "unknown")

    @cached_property
    def url(self) -> str:
        return self.target.job_url(self.job_id)

    @cached_property
    def submitted(self) -> str:
        return timestamp(self.job.submitted if self.job else None)

    @cached_property
    def ended(self) -> str:
        return timestamp(self.job.ended if self.job else None)

    @cached_property
    def duration(self) -> str:
        return duration(self.job.duration if self.job else None)

    @cached_property
    def user(self) -> str:
        return breakable(self.job.username if self.job else None)

    @cached_property
    def machine(self) -> str:
        """The host's own name (GIS02 of GIS02.EXAMPLE.COM), the whole name on hover and in the details."""
        name = self.job.machine if self.job else None
        if not name or "." not in name.strip("."):
            return breakable(name)
        return SafeString(f'<span title="{escape(name)}">{escape(name.split(".", 1)[0])}</span>')

    @property
    def can_cancel(self) -> bool:
        return self.job is not None and self.job.can_cancel


_SORT_KEYS = {
    "submitted": lambda row: row.job.submitted.timestamp() if row.job and row.job.submitted else 0,
    "status": lambda row: row.label,
    "user": lambda row: ((row.job and row.job.username) or "").lower(),
    "machine": lambda row: ((row.job and row.job.machine) or "").lower(),
    "duration": lambda row: row.job.duration.total_seconds() if row.job and row.job.duration else 0,
}


def sort_rows(rows: list[JobRow], sort: str) -> list[JobRow]:
    """Orders the page the server returned (ArcGIS itself only lists newest first)."""
    return sorted(rows, key=_SORT_KEYS[sort.lstrip("-")], reverse=sort.startswith("-"))


_BREAK_AFTER = re.compile(r"([._@\\-])")


def breakable(text: str | None) -> str:
    """A long account or host name may wrap after its dots, underscores and dashes, not mid-word."""
    if not text:
        return "—"
    return SafeString(_BREAK_AFTER.sub(r"\1<wbr>", escape(text)))  # escaped first, then <wbr> added


_render_zone: ContextVar[tzinfo | None] = ContextVar("render_zone", default=None)


def timestamp(value: datetime | None) -> str:
    """Local time for reading, UTC on hover and for machines. (Digits only: nothing to escape.)"""
    if not isinstance(value, datetime):
        return "—"
    # isoformat: several times faster than strftime, twice per row.
    utc = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "seconds")
    local = value.astimezone(_render_zone.get() or timezone.get_current_timezone())
    local_text = local.replace(tzinfo=None).isoformat(" ", "seconds")
    return SafeString(f'<time datetime="{utc.replace(" ", "T")}Z" title="{utc} UTC">{local_text}</time>')


def duration(value: timedelta | None) -> str:
    if not isinstance(value, timedelta):
        return "—"
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


def render_rows(request, rows: list[JobRow], **flags) -> str:
    """Job rows as HTML, for any page, fragment or answer: flags are can_operate, back_url, fleet,
    refresh, oob, single and wrap (see templates/jinja2/jobs/rows.html). Jinja2 renders a page of rows
    several times faster than Django's engine, and this is the portal's hottest render."""
    template = engines["jinja2"].get_template("jobs/rows.html")
    # One CSRF field for all the rows (the engine's own would mask a new token for each row).
    csrf_input = format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request))
    context = {"rows": rows, "csrf_input": csrf_input, **flags}
    # The operator's time zone, looked up once: Django's lookup costs more than the rest of a timestamp.
    zone = _render_zone.set(timezone.get_current_timezone())
    try:
        return mark_safe(template.render(context))  # noqa: S308 - the template escapes what it is given
    finally:
        _render_zone.reset(zone)


def poll_interval(elapsed: float, failures: int = 0) -> int:
    """Seconds until the page asks again: once a second, slower when ArcGIS is slow or failing."""
    if failures:
        return min(2**failures, 60)
    return min(max(1, round(elapsed * 5)), 30)
