"""The fleet view: the jobs of every GP service of every site the user may see, filling in as services answer (or
from the job index at once, when it is fresh: jobs.fleet.served)."""

from __future__ import annotations

from collections.abc import Iterator

from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from accounts.access import viewer_required
from accounts.roles import can_operate
from jobs import exports, fleet, site_directory, sorting
from jobs.forms import (
    MAX_BULK,
    FleetFilterForm,
)
from jobs.models import Site
from jobs.views.common import (
    HtmxHttpRequest,
    event_stream,
    export_url,
    list_filters,
    page_path,
    query_without,
    refused_export,
    sort_context,
    without_empty_filters,
)

REFRESH_SECONDS = 30  # the whole table is read again this often
EXPORT_PAGE = 500  # jobs of the fleet read at a time for an export (each page asks every service again)


def _fleet_form(request: HtmxHttpRequest) -> tuple[FleetFilterForm, list[Site]]:
    sites = site_directory.visible_sites(request.user)
    return FleetFilterForm(request.GET, sites=sites), sites


def _ordering(form: FleetFilterForm) -> str:
    return form.ordering if form.is_valid() else sorting.DEFAULT


def _fleet_context(request: HtmxHttpRequest, state, form: FleetFilterForm) -> dict:
    query = query_without(request, "before", "inline")
    ordering = _ordering(form)
    return {
        "fleet": state,
        "rows": sorting.sort_entries([item.row for item in state.rows], ordering),
        "sort_words": sorting.describe(ordering),
        "sorted_within_page": not sorting.across_pages(ordering),
        "can_operate": can_operate(request.user),
        "back_url": page_path(request),
        "first_page": f"{reverse('jobs:fleet')}?{query}",
        "next_page": f"{reverse('jobs:fleet')}?{query}&before={state.next_cursor}" if state.more else "",
        "refresh_url": f"{reverse('jobs:fleet_refresh')}?{request.GET.urlencode()}",
        "whole_values_note": form.whole_values_note(),
        "refresh_seconds": REFRESH_SECONDS,
    }


@require_GET
@viewer_required
def fleet_view(request: HtmxHttpRequest) -> HttpResponse:
    """The jobs of every GP service of every site the user may see; the table fills in as services answer."""
    if clean := without_empty_filters(request):
        return clean
    form, sites = _fleet_form(request)
    inline = request.GET.get("inline") == "1"
    context = {
        "form": form,
        "inline": inline,
        "stream_url": f"{reverse('jobs:fleet_stream')}?{query_without(request, 'inline')}",
        "can_operate": can_operate(request.user),
        "list_filters": list_filters(request),
        "matching_url": f"{reverse('jobs:fleet_matching')}?{list_filters(request)}",
        "export_url": export_url(request, reverse("jobs:fleet_export")),
        "max_bulk": MAX_BULK,
        **sort_context(request, sorting.FLEET_COLUMNS, _ordering(form)),
    }
    if inline and form.is_valid():
        *_, state = fleet.served(request.user, form.sites_asked(sites), form.query())
        context |= _fleet_context(request, state, form)
    return render(request, "jobs/fleet.html", context)


@require_GET
@viewer_required
def fleet_stream(request: HtmxHttpRequest) -> StreamingHttpResponse:
    form, sites = _fleet_form(request)
    if not form.is_valid():
        return event_stream([])

    def fragments() -> Iterator[str]:
        for state in fleet.served(request.user, form.sites_asked(sites), form.query()):
            context = _fleet_context(request, state, form)
            yield render_to_string("jobs/partials/fleet_update.html", context, request)

    return event_stream(fragments())


@require_GET
@viewer_required
def fleet_refresh(request: HtmxHttpRequest) -> HttpResponse:
    """The whole fleet table again, in one answer (the page refreshes itself every 30 s)."""
    form, sites = _fleet_form(request)
    if not form.is_valid():
        return HttpResponseStopPolling()
    *_, state = fleet.served(request.user, form.sites_asked(sites), form.query())
    return render(request, "jobs/partials/fleet_update.html", _fleet_context(request, state, form))


@require_GET
@viewer_required
def fleet_export(request: HtmxHttpRequest) -> HttpResponseBase:
    """Every job the fleet view's filters match, on all its pages, as CSV, streamed page by page; the services
    that did not answer are named in its last lines."""
    form, sites = _fleet_form(request)
    if not form.is_valid():
        return refused_export(form)
    listing = fleet.EveryJob(
        request.user,
        form.sites_asked(sites),
        form.query(),
        limit=exports.EXPORT_MAX,
        page_size=EXPORT_PAGE,
        read=fleet.served,
    )

    def problems() -> list[str]:
        return [f"{name} did not answer: {why}" for name, why in listing.failures.items()]

    return exports.export(listing, "gp-jobs-every-site.csv", problems)
