"""The history pages: every indexed job the filters match (also those ArcGIS forgot), a page at a time."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import viewer_required
from history import activity, charts, exports
from history.forms import HistoryFilterForm
from history.queries import HistoryQuery, retention
from history.rows import HistoryRow
from jobs.models import Site
from jobs.targets import ServiceTarget
from jobs.views.common import HtmxHttpRequest, refused_export, without_empty_filters


def _form(request: HtmxHttpRequest) -> tuple[HistoryFilterForm, list[Site]]:
    sites = list(Site.objects.visible_to(request.user))
    return HistoryFilterForm(request.GET, sites=sites), sites


def _link(name: str, request: HtmxHttpRequest, *dropped: str, **added: str) -> str:
    """A history URL with the page's query string, less `dropped` and plus `added`."""
    query = request.GET.copy()
    for key in dropped:
        query.pop(key, None)
    for key, value in added.items():
        query[key] = value
    url = reverse(name)
    return f"{url}?{query.urlencode()}" if query else url


@require_GET
@viewer_required
def history(request: HtmxHttpRequest) -> HttpResponse:
    """Every indexed job the filters match on the sites the user may see, newest first, a page at a time."""
    if clean := without_empty_filters(request):
        return clean
    form, sites = _form(request)
    context: dict = {
        "form": form,
        "inline": request.GET.get("inline") == "1",
        "retention_days": retention().days,
        "several_sites": len(sites) > 1,
        "export_url": _link("history:export", request, "before", "inline", "per_page"),
        "activity_url": _link("history:activity", request, "before", "inline", "per_page"),
    }
    if form.is_valid():
        page = form.query().page(sites)
        context |= {
            "rows": [HistoryRow(row) for row in page.rows],
            "first_page": _link("history:jobs", request, "before", "inline"),
            "next_page": _link("history:jobs", request, "before", "inline", before=page.next_cursor)
            if page.next_cursor
            else "",
            "whole_values_note": form.whole_values_note(),
        }
        if context["inline"]:
            context |= _activity_context(request, form, sites)
    return render(request, "history/history.html", context)


# The spans the charts offer in one click (any other comes from the filters' own span, or from and to).
RANGES = (("24h", "24 h"), ("7d", "7 d"), ("30d", "30 d"), ("90d", "90 d"))


def _activity_context(request: HtmxHttpRequest, form: HistoryFilterForm, sites: list[Site]) -> dict:
    """The charts of the list's jobs (the filters' span, cut into hours or days); the page's, or its fragment's."""
    query = form.query()
    span = activity.span_of(*query.span())
    counted = activity.Activity(query.jobs(sites), span, query.sites_of(sites))
    custom = bool(form.cleaned_data["since"] or form.cleaned_data["until"])
    within = form.cleaned_data["within"]
    ranges = [
        {
            "label": label,
            "url": _link("history:jobs", request, "before", "inline", "since", "until", "within", within=value),
            "current": not custom and within == value,
        }
        for value, label in RANGES
    ]
    return {"figures": [charts.figure(table) for table in counted.tables()], "span": span, "ranges": ranges}


@require_GET
@viewer_required
def history_activity(request: HtmxHttpRequest) -> HttpResponse:
    """The activity charts of the history's list, as a fragment the page loads after its rows."""
    form, sites = _form(request)
    context = {"form": form}
    if form.is_valid():
        context |= _activity_context(request, form, sites)
    return render(request, "history/partials/activity.html", context)


@require_GET
@viewer_required
def history_export(request: HtmxHttpRequest) -> HttpResponseBase:
    """Every job the filters match, on all the list's pages, as CSV, streamed from the database."""
    form, sites = _form(request)
    if not form.is_valid():
        return refused_export(form)
    query = form.query()
    return exports.export(query, sites)


PANEL_SECONDS = 60
SERVICE_DAYS = 7


def service_activity_panel(request: HttpRequest, target: ServiceTarget) -> str:
    """A service's page's own small charts (jobs.hooks.service_panels): its last 7 days in a line and two charts,
    or nothing when the history holds none of its jobs (its site is not collected, say). The same for everyone who
    may see the site (the page checked that) in one time zone: kept a minute, as a week's figures barely move in
    one, instead of two queries over the index on every load of the page."""
    key = f"history:panel:{target.site.pk}:{target.service.match_key}:{timezone.get_current_timezone_name()}"
    return cache.get_or_set(key, lambda: _service_activity_panel(request, target), PANEL_SECONDS) or ""


def _service_activity_panel(request: HttpRequest, target: ServiceTarget) -> str:
    until = timezone.now()
    since = until - timedelta(days=SERVICE_DAYS)
    query = HistoryQuery(site=target.site.slug, folder=target.service.folder, service=target.service.name, since=since)
    # its own key: a root-folder service's name alone would also match its namesakes in other folders
    jobs = query.jobs([target.site]).filter(service_key=target.service.key.lower())
    recent = activity.summary(jobs, SERVICE_DAYS)
    if not recent.jobs:
        return ""
    counted = activity.Activity(jobs, activity.span_of(since, until), [target.site])
    figures = [charts.figure(table, small=True) for table in (counted.jobs_per_period, counted.duration_percentiles)]
    asked = {"site": target.site.slug, "folder": target.service.folder, "service": target.service.name}
    link = f"{reverse('history:jobs')}?{urlencode({key: value for key, value in asked.items() if value})}"
    context = {"summary": recent, "figures": figures, "history_url": link}
    return render_to_string("history/partials/service_activity.html", context, request)
