"""The proxy: cancel, delete and purge, through the audited operations with the operator's own token. htmx gets
the re-rendered row (HTTP 200 whatever ArcGIS answered); a plain form goes back to its page with a message.
Destructive actions ask first when there is no JavaScript to confirm them. (Bulk actions: jobs/views/bulk.py.)"""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from accounts.access import operator_required
from jobs import operations, reads
from jobs.access import target_of
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
