"""What a job row shows: the job, the outcome of the action just taken on it, and its display values.

Shared by the jobs page, the fleet view, the refresh and the action proxy, which all render
jinja2/jobs/rows.html from JobRows. Display values are computed once here, in Python,
so the template holds few tags per row: a page of rows is the portal's hottest render. (Hence
SafeString and html.escape here: Django's mark_safe and escape first look for lazy strings, which
costs more than the rest of a row's display value.)
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cached_property
from html import escape

from django.middleware.csrf import get_token
from django.template import engines
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

import arcgis_client
from jobs.targets import JobEntry, ServiceTarget

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


# A new or waiting job is queued, yet ArcGIS cancels only submitted or executing ones: its row says what does work.
NOT_CANCELLABLE_QUEUED = frozenset({arcgis_client.NEW, arcgis_client.WAITING})
CANCEL_HINT = "ArcGIS cancels only submitted or executing jobs: delete it, or purge the queue."


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
class JobRow(JobEntry):
    """A job entry as a table row shows it: its display values, and the outcome of the action just taken on it."""

    outcome: RowOutcome | None = None

    @classmethod
    def of(cls, entry: JobEntry, outcome: RowOutcome | None = None) -> JobRow:
        if isinstance(entry, JobRow) and outcome is None:
            return entry
        return cls(entry.target, entry.job_id, entry.job, entry.gone, entry.last_event, entry.flag, outcome)

    @classmethod
    def after(cls, target: ServiceTarget, result, known: arcgis_client.Job | None) -> JobRow:
        """The row after an action (an operations.ActionResult): the server's answer in its status element."""
        job = None if result.gone else (result.job or known)
        return cls(target, result.job_id, job, gone=result.gone, outcome=RowOutcome.of(result))

    @cached_property
    def tone(self) -> str:
        return TONES.get(self.status, "unknown")

    @cached_property
    def cancel_refusal(self) -> str:
        """Why its Cancel is off (the button's title), or "" when it is on."""
        if self.can_cancel:
            return ""
        if self.status in NOT_CANCELLABLE_QUEUED:
            return CANCEL_HINT
        return "Only submitted or executing jobs can be cancelled."

    @cached_property
    def cancel_hint(self) -> str:
        """For a new or waiting job, which ArcGIS will not cancel, the ways out, in sight beside its buttons."""
        return CANCEL_HINT if self.status in NOT_CANCELLABLE_QUEUED and not self.gone else ""

    @cached_property
    def submitted(self) -> str:
        return timestamp(self.job.submitted if self.job else None)

    @cached_property
    def ended(self) -> str:
        return timestamp(self.job.ended if self.job else None)

    @cached_property
    def duration(self) -> str:
        """How long since it was submitted; while it has not ended, the browser keeps counting (data-since)."""
        job = self.job
        if job is None:
            return "—"
        text = duration(job.duration)
        if job.ended is None and job.submitted is not None and not job.is_terminal and not self.gone:
            seconds = int(job.duration.total_seconds()) if job.duration else 0
            return SafeString(f'<span data-elapsed="{seconds}">{text}</span>')
        return text

    @cached_property
    def user(self) -> str:
        """A name is never broken: one too long for its column ends in "…", whole on hover and in the details."""
        return whole_name(self.job.username if self.job else None)

    @cached_property
    def machine(self) -> str:
        return host_name(self.job.machine if self.job else None)


def host_name(name: str | None) -> str:
    """The host's own name (GIS02 of GIS02.EXAMPLE.COM), the whole name on hover and in the details."""
    if not name or "." not in name.strip("."):
        return whole_name(name)
    return SafeString(f'<span title="{escape(name)}">{escape(name.split(".", 1)[0])}</span>')


def whole_name(text: str | None) -> str:
    if not text:
        return "—"
    name = escape(text)
    return SafeString(f'<span title="{name}">{name}</span>')


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


def render_rows(request, entries: list[JobEntry], **flags) -> str:
    """Job entries as HTML rows (a JobRow keeps the outcome it carries), for any page, fragment or answer: flags
    are can_operate, back_url, fleet, refresh, oob, single and wrap (see jinja2/jobs/rows.html). Jinja2
    renders a page of rows several times faster than Django's engine, and this is the portal's hottest render."""
    rows = [JobRow.of(entry) for entry in entries]
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
