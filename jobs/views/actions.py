"""The proxy: cancel, delete, purge and bulk actions, through the audited operations with the operator's own
token. htmx gets the re-rendered row (HTTP 200 whatever ArcGIS answered); a plain form goes back to its page
with a message. Destructive actions ask first when there is no JavaScript to confirm them."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

import arcgis_client
from accounts.access import operator_required
from jobs import operations, reads
from jobs.access import target_of
from jobs.forms import BulkForm, FleetBulkForm
from jobs.models import Site
from jobs.queries import ActionTarget
from jobs.rows import JobRow, render_rows
from jobs.targets import ServiceTarget
from jobs.views.common import HtmxHttpRequest, flash, page_path, redirect_back, stash_outcomes


def _answer_job_action(
    request: HtmxHttpRequest, target: ServiceTarget, result: operations.ActionResult, known
) -> HttpResponse:
    """htmx gets the row with the server's answer in its status element; a plain form goes back
    to its page with the answer as a message (and in its row, once)."""
    if not request.htmx:
        flash(request, result)
        stash_outcomes(request, [result])
        return redirect_back(request, target.url("job_list"))
    row = JobRow.after(target, result, known)
    # The row keeps the layout of the page it is on: the fleet view's service column, a job page's lone row.
    layout = {"fleet": request.POST.get("fleet") == "1", "single": request.POST.get("single") == "1"}
    return HttpResponse(render_rows(request, [row], can_operate=True, back_url=page_path(request), **layout))


def _needs_confirmation(
    request: HtmxHttpRequest, target: ServiceTarget, action: str, job_ids: list[str]
) -> HttpResponse | None:
    """Without JavaScript, destructive actions first show a page that says what will happen."""
    if request.POST.get("confirmed") == "yes":
        return None
    context = {"target": target, "action": action, "job_ids": job_ids, "next": request.POST.get("next", "")}
    return render(request, "jobs/confirm.html", context)


@require_POST
@operator_required
def cancel_job(request: HtmxHttpRequest, slug: str, name: str, job_id: str, folder: str = "") -> HttpResponse:
    target = target_of(request, slug, name, folder)
    known = target.recall([job_id]).get(job_id)
    result = operations.cancel_job(request.user, target.site, target.service, job_id, known=known)
    return _answer_job_action(request, target, result, known)


@require_POST
@operator_required
def delete_job(request: HtmxHttpRequest, slug: str, name: str, job_id: str, folder: str = "") -> HttpResponse:
    target = target_of(request, slug, name, folder)
    if confirmation := _needs_confirmation(request, target, "delete", [job_id]):
        return confirmation
    known = target.recall([job_id]).get(job_id)
    result = operations.delete_job(request.user, target.site, target.service, job_id)
    return _answer_job_action(request, target, result, known)


@require_POST
@operator_required
def purge_queue(request: HtmxHttpRequest, slug: str, name: str, folder: str = "") -> HttpResponse:
    target = target_of(request, slug, name, folder)
    if request.POST.get("confirmed") != "yes":
        # With or without JavaScript, a purge first says how many jobs it would cancel, counted now.
        queued = reads.queued_counts(request.user, target)
        context = {"target": target, "queued": queued, "next": request.POST.get("next", "")}
        if request.htmx:
            return render(request, "jobs/partials/purge_confirm.html", context)
        return render(request, "jobs/confirm.html", context | {"action": "purge", "job_ids": []})
    result = operations.purge_queue(request.user, target.site, target.service)
    if request.htmx:
        response = render(request, "jobs/partials/action_result.html", {"results": [result], "target": target})
        return trigger_client_event(response, "jobs-changed")  # the table reloads itself
    flash(request, result)
    return redirect_back(request, target.url("job_list"))


@require_POST
@operator_required
def bulk_action(request: HtmxHttpRequest, slug: str, name: str, folder: str = "") -> HttpResponse:
    target = target_of(request, slug, name, folder)
    form = BulkForm(request.POST)
    if not form.is_valid():
        return _refused_bulk(request, form, target.url("job_list"))
    action, job_ids = form.cleaned_data["action"], form.cleaned_data["job_ids"]
    if action == "delete" and (confirmation := _needs_confirmation(request, target, "delete", job_ids)):
        return confirmation
    return _bulk(request, action, {target.site: [ActionTarget(target.service, j) for j in job_ids]}, target)


def _refused_bulk(request: HtmxHttpRequest, form, back: str) -> HttpResponse:
    errors = [str(error) for errors in form.errors.values() for error in errors]
    if request.htmx:
        return render(request, "jobs/partials/action_result.html", {"errors": errors})
    for error in errors:
        messages.error(request, error)
    return redirect_back(request, back)


def _bulk(
    request: HtmxHttpRequest, action: str, by_site: dict[Site, list[ActionTarget]], page: ServiceTarget | None
) -> HttpResponse:
    """One audited bulk per site; a row each for htmx (with the fleet's columns when not on a service's
    page), the summary and the refusals as messages without JavaScript."""
    reports, rows = [], []
    for site, targets in by_site.items():
        services = {ServiceTarget(site, t.service) for t in targets}
        known: dict[str, arcgis_client.Job] = {}
        for service in services:
            known |= service.recall([t.job_id for t in targets if t.service == service.service])
        report = operations.bulk(request.user, site, action, targets, known=known)
        reports.append(report)
        for result in report.results:
            assert result.target is not None  # each result of a bulk is of one of its jobs
            rows.append(JobRow.after(ServiceTarget(site, result.target.service), result, known.get(result.job_id)))
    report = operations.BulkReport.combined(action, reports)
    if request.htmx:
        context = {"report": report, "rows": rows, "can_operate": True, "back_url": page_path(request)}
        return render(request, "jobs/partials/bulk_result.html", context | {"fleet": page is None})
    messages.add_message(request, messages.SUCCESS if report.all_ok else messages.WARNING, report.summary)
    for result in report.results:
        if not result.ok:
            flash(request, result)
    stash_outcomes(request, report.results)
    return redirect_back(request, page.url("job_list") if page else reverse("jobs:fleet"))


@require_POST
@operator_required
def fleet_bulk(request: HtmxHttpRequest) -> HttpResponse:
    """Cancel or delete jobs of several services and sites: one audited bulk per site, a row each."""
    form = FleetBulkForm(request.POST, sites=Site.objects.visible_to(request.user))
    if not form.is_valid():
        return _refused_bulk(request, form, reverse("jobs:fleet"))
    return _bulk(request, form.cleaned_data["action"], form.cleaned_data["by_site"], None)
