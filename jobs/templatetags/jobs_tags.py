from datetime import UTC, datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.html import format_html

from jobs import arcgis
from jobs.rows import ServiceTarget

register = template.Library()

# What operators read for each status; CANCELLING is the portal's "cancel requested".
LABELS = {arcgis.CANCELLING: "Cancel requested"}
TONES = {
    arcgis.NEW: "queued",
    arcgis.SUBMITTED: "queued",
    arcgis.WAITING: "queued",
    arcgis.EXECUTING: "running",
    arcgis.SUCCEEDED: "ok",
    arcgis.FAILED: "bad",
    arcgis.TIMED_OUT: "bad",
    arcgis.CANCELLING: "stopping",
    arcgis.CANCELLED: "stopped",
    arcgis.DELETING: "stopping",
    arcgis.DELETED: "stopped",
}


@register.simple_tag
def service_url(target, name, job_id=None, **query):
    return target.url(name, job_id, **query)


@register.filter
def status_label(status: str) -> str:
    if not status:
        return "Unknown"
    return LABELS.get(status) or arcgis.status_label(status)


@register.filter
def status_tone(status: str) -> str:
    return TONES.get(status, "unknown")


@register.filter
def timestamp(value: datetime | None):
    """Local time for reading, UTC on hover and for machines."""
    if not isinstance(value, datetime):  # None, or "" for a job not known right now
        return "—"
    utc = value.astimezone(UTC)
    return format_html(
        '<time datetime="{}" title="{} UTC">{}</time>',
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S"),
    )


@register.filter
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


@register.filter
def service_target(section, service) -> ServiceTarget:
    """The target of a service listed in a site section (overview and site pages)."""
    return ServiceTarget(section.site, service.ref)
