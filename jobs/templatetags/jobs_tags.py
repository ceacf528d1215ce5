from django import template
from django.template import engines
from django.utils.safestring import mark_safe

import arcgis_client
from jobs import saved_views
from jobs.rows import TONES, duration, render_rows, timestamp
from jobs.targets import ServiceTarget

register = template.Library()


@register.simple_tag
def service_url(target, name, job_id=None, **query):
    return target.url(name, job_id, **query)


@register.filter
def status_label(status: str) -> str:
    return arcgis_client.status_label(status)


@register.filter
def status_tone(status: str) -> str:
    return TONES.get(status, "unknown")


register.filter("timestamp", timestamp)
register.filter("duration", duration)


@register.filter
def took(milliseconds: int | None) -> str:
    """How long an audited call to ArcGIS took; nothing for an action that made no call."""
    if not milliseconds:
        return ""
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    seconds = milliseconds / 1000
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


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
        service = arcgis_client.ServiceRef.parse(event.service)
    except arcgis_client.InvalidName:
        return ""
    return ServiceTarget(event.site, service).job_url(event.job_id)


@register.simple_tag(takes_context=True)
def jinja(context, name, more=None, **extra):
    """A partial of the Jinja2 engine (jinja2/, e.g. the job table) in this page, given the page's context and
    `more` of it: a dict, or a function the template calls as it gets here (what the partial alone needs, e.g. a
    table whose upstream read goes on while the page above it renders)."""
    template = engines["jinja2"].get_template(name)
    return mark_safe(template.render(context.flatten() | (more or {}) | extra, context.get("request")))  # noqa: S308


@register.simple_tag(takes_context=True)
def job_rows(context, rows, **flags):
    """The rows, through jobs.rows.render_rows; the page's flags (can_operate, back_url, fleet…) come
    from the context unless given here."""
    names = ("can_operate", "back_url", "fleet", "refresh", "oob", "single", "wrap")
    return render_rows(context.get("request"), rows, **({name: context.get(name) for name in names} | flags))


@register.inclusion_tag("jobs/partials/views_menu.html", takes_context=True)
def saved_views_menu(context):
    """The top bar's Views menu: one small query, on full pages only."""
    request = context["request"]
    return {
        "views": saved_views.menu(request.user),
        "user": request.user,
        "here": request.resolver_match.url_name if request.resolver_match else "",
    }
