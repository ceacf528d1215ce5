"""Bulk actions: cancel or delete the jobs ticked on a page, or every job its filters match (on every page).

A bulk first asks, saying how many jobs of which services (and how many of them have already finished), then
acts through the audited operations, one bulk per site. With JavaScript its answer streams (server-sent events
of a POST): progress ("212 of 500 done") and each shown row's outcome as it comes, then the summary; htmx
without the stream gets it all at once, and a plain form goes back to its page with messages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBase, QueryDict
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

import arcgis_client
from accounts.access import operator_required, viewer_required
from jobs import fleet, operations, reads, site_directory, stored_tokens
from jobs.access import target_of
from jobs.forms import MAX_BULK, BulkForm, FleetBulkForm, FleetFilterForm, JobFilterForm
from jobs.models import Site
from jobs.queries import ActionTarget
from jobs.rows import JobRow, render_rows
from jobs.targets import JobEntry, ServiceTarget, remember_entries
from jobs.views.common import HtmxHttpRequest, event_stream, flash, page_path, redirect_back, stash_outcomes

DOING = {"cancel": "Cancelling", "delete": "Deleting"}


@dataclass
class Selection:
    """What a bulk acts on: jobs by site, what is known of them, and which of them the page shows."""

    action: str
    by_site: dict[Site, list[ActionTarget]]
    shown: set[str]  # job IDs whose rows are on the page: their rows are answered
    known: dict[str, arcgis_client.Job]
    fleet: bool  # of the fleet view: its values name the site and service of each job

    @property
    def count(self) -> int:
        return sum(len(targets) for targets in self.by_site.values())

    @property
    def is_cancel(self) -> bool:
        return self.action == operations.Action.CANCEL

    @property
    def services(self) -> list[tuple[str, str, int]]:
        """(service, site, how many of its jobs), by service."""
        counts = Counter((t.service.key, site.name) for site, targets in self.by_site.items() for t in targets)
        return sorted((service, site, n) for (service, site), n in counts.items())

    @property
    def one_site(self) -> str:
        """The name of the one site the jobs are on, or "" when they are on several."""
        names = {site.name for site, targets in self.by_site.items() if targets}
        return names.pop() if len(names) == 1 else ""

    @property
    def finished(self) -> int:
        """How many the portal last saw finished: a cancel skips them."""
        if not self.is_cancel:
            return 0
        return sum(1 for job in self.known_of_selection() if job.is_terminal)

    def known_of_selection(self) -> list[arcgis_client.Job]:
        return [job for targets in self.by_site.values() for t in targets if (job := self.known.get(t.job_id))]

    @property
    def values(self) -> list[str]:
        """The job_ids a confirmation posts back: exactly these jobs."""
        if not self.fleet:
            return [t.job_id for targets in self.by_site.values() for t in targets]
        return [f"{site.slug}:{t.service.key}:{t.job_id}" for site, targets in self.by_site.items() for t in targets]


def _recall(by_site: dict[Site, list[ActionTarget]]) -> dict[str, arcgis_client.Job]:
    """What the pages last read of these jobs (the row cache): finished ones are not sent a cancel, and an
    answered row shows everything it showed."""
    known: dict[str, arcgis_client.Job] = {}
    for site, targets in by_site.items():
        for service in {t.service for t in targets}:
            known |= ServiceTarget(site, service).recall([t.job_id for t in targets if t.service == service])
    return known


# --- the views -----------------------------------------------------------------------------------------


@require_POST
@operator_required
def bulk_action(request: HtmxHttpRequest, slug: str, name: str, folder: str = "") -> HttpResponseBase:
    """The jobs ticked on a service's page, or all its filters match."""
    target = target_of(request, slug, name, folder)
    back = target.url("job_list")
    form = BulkForm(request.POST)
    if not form.is_valid():
        return _refused(request, _errors(form), back)
    by_site = {target.site: [ActionTarget(target.service, job_id) for job_id in form.cleaned_data["job_ids"]]}
    if _asking(request, form):
        found = _service_matching(request, target, form.cleaned_data["filters"])
        if isinstance(found, str):
            return _refused(request, [found], back)
        by_site = {target.site: [ActionTarget(target.service, entry.job_id) for entry in found]}
    return _ask_or_act(request, form, by_site, fleet=False, bulk_url=target.url("bulk"), back=back)


@require_POST
@operator_required
def fleet_bulk(request: HtmxHttpRequest) -> HttpResponseBase:
    """Jobs of several services and sites: ticked in the fleet view, or all its filters match."""
    sites = site_directory.visible_sites(request.user)
    back = reverse("jobs:fleet")
    form = FleetBulkForm(request.POST, sites=sites)
    if not form.is_valid():
        return _refused(request, _errors(form), back)
    by_site = form.cleaned_data["by_site"]
    if _asking(request, form):
        found = _fleet_matching(request, sites, form.cleaned_data["filters"])
        if isinstance(found, str):
            return _refused(request, [found], back)
        by_site = {}
        for entry in found:
            by_site.setdefault(entry.target.site, []).append(ActionTarget(entry.target.service, entry.job_id))
    return _ask_or_act(request, form, by_site, fleet=True, bulk_url=reverse("jobs:fleet_bulk"), back=back)


@require_GET
@viewer_required
def fleet_matching(request: HtmxHttpRequest) -> HttpResponse:
    """How many jobs the fleet view's filters match on all its pages (read when the operator may want them all):
    the "select all N matching" button, or why there is none."""
    sites = site_directory.visible_sites(request.user)
    form = FleetFilterForm(request.GET, sites=sites)
    if not form.is_valid():
        return HttpResponse("")
    listing = fleet.EveryJob(request.user, form.sites_asked(sites), form.query(), limit=MAX_BULK + 1)
    count = sum(1 for _ in listing)
    return render(request, "jobs/partials/select_matching.html", {"matching": count, "max_bulk": MAX_BULK})


# --- what a bulk acts on -------------------------------------------------------------------------------------


def _asking(request: HtmxHttpRequest, form: BulkForm) -> bool:
    """All matching, not yet confirmed: the filters are read for the jobs (the confirmation then posts them)."""
    return form.cleaned_data["all_matching"] and request.POST.get("confirmed") != "yes"


def _errors(form) -> list[str]:
    return [str(error) for errors in form.errors.values() for error in errors]


def _service_matching(request: HtmxHttpRequest, target: ServiceTarget, filters: str) -> list[JobEntry] | str:
    """Every job of the service the filters match, or why they cannot be read (or are too many)."""
    form = JobFilterForm(QueryDict(filters))
    if not form.is_valid():
        return f"The filters need a correction: {form.problems()}"
    try:
        found = list(
            reads.each_job(request.user, target, form.query(), limit=MAX_BULK + 1, job_id=form.cleaned_data["job"])
        )
    except stored_tokens.READ_ERRORS as exc:
        return exc.message
    return _at_most_a_bulk(found)


def _fleet_matching(request: HtmxHttpRequest, sites: list[Site], filters: str) -> list[JobEntry] | str:
    form = FleetFilterForm(QueryDict(filters), sites=sites)
    if not form.is_valid():
        return f"The filters need a correction: {form.problems()}"
    listing = fleet.EveryJob(request.user, form.sites_asked(sites), form.query(), limit=MAX_BULK + 1)
    found = list(listing)
    if listing.failures:
        names = "; ".join(f"{name}: {why}" for name, why in listing.failures.items())
        return f"Not every service answered, so which jobs match is not known ({names}). Try again."
    return _at_most_a_bulk(found)


def _at_most_a_bulk(found: list[JobEntry]) -> list[JobEntry] | str:
    if len(found) > MAX_BULK:
        return (
            f"More than {MAX_BULK} jobs match, and a bulk acts on at most {MAX_BULK} at once: "
            "narrow the filters (a service, a user, a time range), then select all again."
        )
    if not found:
        return "No jobs match the filters any more."
    remember_entries(found)  # what was just read: finished jobs are not sent a cancel
    return found


# --- asking, then acting -------------------------------------------------------------------------------------


def _ask_or_act(
    request: HtmxHttpRequest, form: BulkForm, by_site, *, fleet: bool, bulk_url: str, back: str
) -> HttpResponseBase:
    selection = Selection(form.cleaned_data["action"], by_site, form.shown, _recall(by_site), fleet)
    if request.POST.get("confirmed") != "yes":
        return _confirmation(request, selection, bulk_url, back)
    if "text/event-stream" in request.headers.get("Accept", ""):
        return event_stream(_progress(request, selection))
    return _all_at_once(request, selection, back)


def _confirmation(request: HtmxHttpRequest, selection: Selection, bulk_url: str, back: str) -> HttpResponse:
    """What will happen, to how many jobs of which services; a button that does exactly that."""
    context = {
        "selection": selection,
        "bulk_url": bulk_url,
        "next": request.POST.get("next", "") or back,
        "shown": sorted(selection.shown),
    }
    template = "jobs/partials/bulk_confirm.html" if request.htmx else "jobs/bulk_confirm.html"
    return render(request, template, context)


def _refused(request: HtmxHttpRequest, errors: list[str], back: str) -> HttpResponse:
    if request.htmx:
        return render(request, "jobs/partials/action_result.html", {"errors": errors})
    for error in errors:
        messages.error(request, error)
    return redirect_back(request, back)


def _rows(request: HtmxHttpRequest, selection: Selection, site: Site, results) -> list[JobEntry]:
    # One target per service: a row's links come from its target's address, found once (jobs.targets).
    targets: dict[arcgis_client.ServiceRef, ServiceTarget] = {}
    return [
        JobRow.after(
            targets.setdefault(result.target.service, ServiceTarget(site, result.target.service)),
            result,
            selection.known.get(result.job_id),
        )
        for result in results
        if result.target is not None and result.job_id in selection.shown
    ]


def _all_at_once(request: HtmxHttpRequest, selection: Selection, back: str) -> HttpResponse:
    """One audited bulk per site; a row each for htmx, the summary and the refusals as messages without it."""
    reports, rows = [], []
    for site, targets in selection.by_site.items():
        report = operations.bulk(request.user, site, selection.action, targets, known=selection.known)
        reports.append(report)
        rows += _rows(request, selection, site, report.results)
    report = operations.BulkReport.combined(selection.action, reports)
    if request.htmx:
        context = {"report": report, "rows": rows, "can_operate": True, "back_url": page_path(request)}
        return render(request, "jobs/partials/bulk_result.html", context | {"fleet": selection.fleet})
    messages.add_message(request, messages.SUCCESS if report.all_ok else messages.WARNING, report.summary)
    for result in report.results:
        if not result.ok:
            flash(request, result)
    stash_outcomes(request, report.results)
    return redirect_back(request, back)


def _progress(request: HtmxHttpRequest, selection: Selection) -> Iterator[str]:
    """The bulk as it goes: the progress first, then each batch of results (the shown rows' outcomes), then the
    summary. Each site's calls run concurrently; its audit rows are written before and completed as they end."""
    total = selection.count
    results: list[operations.ActionResult] = []
    skipped: list[str] = []
    context = {"action": selection.action, "doing": DOING[selection.action], "total": total}

    def fragment(rows: list[JobEntry], **more) -> str:
        report = operations.BulkReport(selection.action, results, skipped)
        html = render_to_string(
            "jobs/partials/bulk_progress.html",
            context | {"report": report, "ended": len(results) + len(skipped)} | more,
            request,
        )
        return html + render_rows(
            request, rows, can_operate=True, back_url=page_path(request), fleet=selection.fleet, oob=True, wrap=True
        )

    yield fragment([], start=True)
    for site, targets in selection.by_site.items():
        send, skip = operations.plan_bulk(selection.action, targets, selection.known)
        skipped += skip
        if skip:
            yield fragment([])
        for batch in operations.act_in_batches(
            request.user, site, selection.action, send, via=operations.Via.BULK, known=selection.known
        ):
            results += batch
            yield fragment(_rows(request, selection, site, batch))
    yield fragment([], finished=True)
