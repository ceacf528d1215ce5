"""The history pages: every indexed job the filters match (also those ArcGIS forgot), a page at a time."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.access import viewer_required
from history import exports
from history.forms import HistoryFilterForm
from history.queries import retention
from history.rows import HistoryRow
from jobs.models import Site
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
    return render(request, "history/history.html", context)


@require_GET
@viewer_required
def history_export(request: HtmxHttpRequest) -> HttpResponseBase:
    """Every job the filters match, on all the list's pages, as CSV, streamed from the database."""
    form, sites = _form(request)
    if not form.is_valid():
        return refused_export(form)
    query = form.query()
    return exports.export(query, sites)
