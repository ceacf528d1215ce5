from django import template

from jobs import arcgis, rows

register = template.Library()


@register.simple_tag
def service_url(target, name, job_id=None, **query):
    return target.url(name, job_id, **query)


@register.filter
def status_label(status: str) -> str:
    return arcgis.status_label(status)


@register.filter
def status_tone(status: str) -> str:
    return rows.TONES.get(status, "unknown")


register.filter("timestamp", rows.timestamp)
register.filter("duration", rows.duration)


@register.filter
def get(mapping, key):
    """mapping[key], or None (also when there is no mapping)."""
    return mapping.get(key) if mapping else None


@register.simple_tag
def audit_job_url(event) -> str:
    """The job page an audit row is about, or "" (no job, or its site is gone)."""
    if not event.job_id or event.site_id is None or not event.service:
        return ""
    try:
        service = arcgis.ServiceRef.parse(event.service)
    except arcgis.InvalidName:
        return ""
    return rows.ServiceTarget(event.site, service).job_url(event.job_id)
