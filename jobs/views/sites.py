"""The overview and a site's page: each site's GP services by folder, and each service's job counts as they
come in (a stream), refreshed every 30 s."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.access import viewer_required
from accounts.roles import can_operate
from jobs import reads, site_directory
from jobs.access import target_of, visible_site
from jobs.models import Site, StoredToken
from jobs.views.common import HtmxHttpRequest, event_stream


def _shell_sections(request: HtmxHttpRequest, sites: list[Site]) -> list[reads.SiteSection]:
    tokens = {t.site_id: t for t in StoredToken.objects.filter(user=request.user, site__in=sites)}
    return [reads.SiteSection(site, tokens.get(site.pk)) for site in sites]


def _sites_page(
    request: HtmxHttpRequest, template: str, sites: list[Site], stream_url: str, extra: dict
) -> HttpResponse:
    inline = request.GET.get("inline") == "1"
    context = {"inline": inline, "stream_url": stream_url, **extra}
    if inline:
        sections, counts = _assembled(request, sites)
        context |= {"sections": sections, "counts": counts}
    else:
        context |= {"sections": _shell_sections(request, sites), "loading": True}
    return render(request, template, context)


def _assembled(
    request: HtmxHttpRequest, sites: list[Site]
) -> tuple[list[reads.SiteSection], dict[str, reads.ServiceCounts]]:
    sections, counts = {}, {}
    for event in reads.overview(request.user, sites):
        if isinstance(event, reads.SiteSection):
            sections[event.site.pk] = event
        else:
            counts[event.target.dom_id] = event
    return [sections[site.pk] for site in sites if site.pk in sections], counts


@require_GET
@viewer_required
def overview(request: HtmxHttpRequest) -> HttpResponse:
    sites = site_directory.visible_sites(request.user)
    return _sites_page(request, "jobs/overview.html", sites, reverse("jobs:overview_stream"), {})


@require_GET
@viewer_required
def site_detail(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    site = visible_site(request, slug)
    return _sites_page(request, "jobs/site.html", [site], reverse("jobs:site_stream", args=[slug]), {"site": site})


def _site_events(request: HtmxHttpRequest, events: Iterable) -> Iterator[str]:
    """Each event of reads.overview as an out-of-band fragment."""
    operates = can_operate(request.user)
    for event in events:
        if isinstance(event, reads.SiteSection):
            context = {"section": event, "oob": True, "can_operate": operates}
            yield render_to_string("jobs/partials/site_section.html", context, request)
        else:
            context = {"counts": event, "oob": True}
            yield render_to_string("jobs/partials/service_counts.html", context, request)


@require_GET
@viewer_required
def sites_stream(request: HtmxHttpRequest, slug: str | None = None) -> StreamingHttpResponse:
    """The overview (or one site's page) filling in: sections, then counts, as ArcGIS answers."""
    sites = [visible_site(request, slug)] if slug else site_directory.visible_sites(request.user)
    return event_stream(_site_events(request, reads.overview(request.user, sites)))


@require_GET
@viewer_required
def overview_refresh(request: HtmxHttpRequest) -> HttpResponse:
    """Every site's section and counts again, in one answer (the overview refreshes every 30 s)."""
    sites = site_directory.visible_sites(request.user)
    slug = request.GET.get("site")
    if slug:
        sites = [site for site in sites if site.slug == slug]
    return HttpResponse("".join(_site_events(request, reads.overview(request.user, sites))))


@require_GET
@viewer_required
def service_counts(request: HtmxHttpRequest, slug: str, name: str, folder: str = "") -> HttpResponse:
    """One service's job counts (the cell's Retry)."""
    counts = reads.service_counts(request.user, target_of(request, slug, name, folder))
    return render(request, "jobs/partials/service_counts.html", {"counts": counts})


@require_GET
@viewer_required
def service_baseline(request: HtmxHttpRequest, slug: str, name: str, folder: str = "") -> HttpResponse:
    """What the service usually takes: how the portal tells a job that runs long."""
    baseline = reads.service_baseline(request.user, target_of(request, slug, name, folder))
    return render(request, "jobs/partials/service_baseline.html", {"baseline": baseline})
