"""Thin views: check access, call jobs.operations or read through the client, render.

Every action works as a plain form post that redirects back with a message; with
htmx it answers with the re-rendered row instead. Upstream failures are shown in
place (HTTP 200, so htmx swaps them); real 4xx stay for the portal's own refusals.
"""

from __future__ import annotations

import math
import time
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from jobs import arcgis, operations
from jobs.audit import AuditFilterForm, csv_lines
from jobs.forms import SORTS, BulkForm, ConnectForm, JobFilterForm, PasteTokenForm
from jobs.middleware import TIMEZONE_COOKIE, valid_timezone
from jobs.models import AuditEvent, Site
from jobs.rows import JobRow, ServiceTarget, poll_interval, rows_for

viewer_required = permission_required("jobs.view_jobs", raise_exception=True)
operator_required = permission_required("jobs.operate_jobs", raise_exception=True)

# htmx stops polling an element that answers 286.
STOP_POLLING = 286


# --- access helpers -------------------------------------------------------------------


def visible_site(request: HttpRequest, slug: str) -> Site:
    """The site, if this user may see it; a restricted site is a 404 to everyone else."""
    return get_object_or_404(Site.objects.visible_to(request.user), slug=slug)


def service_target(request: HttpRequest, slug: str, name: str, folder: str = "") -> ServiceTarget:
    return ServiceTarget(visible_site(request, slug), arcgis.ServiceRef(folder, name))


def redirect_back(request: HttpRequest, default: str) -> HttpResponse:
    """Back to the page the form was on, never to another host."""
    target = request.POST.get("next") or request.GET.get("next")
    if not target or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = default
    return redirect(target)


def flash(request: HttpRequest, outcome: operations.Outcome) -> None:
    level = messages.SUCCESS if outcome.ok else messages.ERROR
    subject = f"Job {outcome.job_id}: " if outcome.job_id else ""
    messages.add_message(request, level, f"{subject}{outcome.message}")


# --- overview and sites -------------------------------------------------------------


@dataclass
class SiteSection:
    site: Site
    token: object = None  # StoredToken or None
    folders: dict[str, list[arcgis.Service]] = field(default_factory=dict)
    error: str = ""
    reconnect: bool = False


def site_sections(user, sites: list[Site], limit: int = 16) -> list[SiteSection]:
    """Each site's GP services by folder; sites are read concurrently and fail on their own."""
    sections, clients = [], {}
    started = timezone.now()
    for site in sites:
        section = SiteSection(site, token=operations.stored_token(user, site))
        try:
            clients[site.pk] = operations.client_with(site, section.token)
        except operations.NotConnected as exc:
            section.error, section.reconnect = str(exc), True
        sections.append(section)
    connected = [s for s in sections if s.site.pk in clients]
    results = arcgis.run_concurrently(lambda s: clients[s.site.pk].list_gp_services(limit), connected, limit)
    for section, result in zip(connected, results, strict=True):
        if isinstance(result, arcgis.ArcGISError):
            section.error = result.message
            if isinstance(result, arcgis.TokenRejected):
                operations.mark_token_rejected(user, section.site, started)
                section.reconnect = True
            continue
        for service in sorted(result, key=lambda s: (s.folder.lower(), s.name.lower())):
            section.folders.setdefault(service.folder, []).append(service)
    return sections


@require_GET
@viewer_required
def overview(request: HttpRequest) -> HttpResponse:
    sites = list(Site.objects.visible_to(request.user))
    return render(request, "jobs/overview.html", {"sections": site_sections(request.user, sites)})


@require_GET
@viewer_required
def site_detail(request: HttpRequest, slug: str) -> HttpResponse:
    [section] = site_sections(request.user, [visible_site(request, slug)])
    return render(request, "jobs/site.html", {"section": section, "site": section.site})


@require_GET
@viewer_required
def service_counts(request: HttpRequest, slug: str, name: str, folder: str = "") -> HttpResponse:
    """One service's job counts, loaded on its own by the overview (hx-trigger=load)."""
    target = service_target(request, slug, name, folder)
    context = {"target": target}
    try:
        context["stats"] = operations.read(request.user, target.site, lambda c: c.job_statistics(target.service))
    except (operations.NotConnected, arcgis.ArcGISError) as exc:
        context["error"] = getattr(exc, "message", str(exc))
    return render(request, "jobs/partials/service_counts.html", context)


# --- jobs of a service ----------------------------------------------------------------


@require_GET
@viewer_required
@vary_on_headers("HX-Request", "HX-Target")  # a full page or just the table, from one URL
def job_list(request: HttpRequest, slug: str, name: str, folder: str = "") -> HttpResponse:
    target = service_target(request, slug, name, folder)
    form = JobFilterForm({"per_page": 50, "sort": "-submitted", **request.GET.dict()})
    token = operations.stored_token(request.user, target.site)
    context = {"target": target, "form": form, "token": token, "back_url": request.get_full_path()}
    if form.is_valid():
        context |= _job_page(request, target, token, form.cleaned_data)
    partial = request.htmx and request.htmx.target == "job-table"
    template = "jobs/partials/job_table.html" if partial else "jobs/job_list.html"
    return render(request, template, context)


def _job_page(request: HttpRequest, target: ServiceTarget, token, filters: dict) -> dict:
    per_page = filters["per_page"] or 50
    page_number = filters["page"] or 1
    started = time.monotonic()
    try:
        client = operations.client_with(target.site, token)
        if filters["job"]:
            page = _single_job_page(request, target, client, filters["job"])
        else:
            page = operations.read(
                request.user,
                target.site,
                lambda client: client.query_jobs(
                    target.service,
                    status=filters["status"] or None,
                    username=filters["user"] or None,
                    machine=filters["machine"] or None,
                    start_time=filters["since"],
                    end_time=filters["until"],
                    start=(page_number - 1) * per_page + 1,
                    number=per_page,
                ),
                client,
            )
    except operations.NotConnected as exc:
        return {"error": str(exc), "reconnect": True}
    except arcgis.ArcGISError as exc:
        return {"error": exc.message, "reconnect": isinstance(exc, arcgis.TokenRejected)}
    target.remember(page.jobs)
    jobs = _sorted(page.jobs, filters["sort"] or "-submitted")
    return {
        "rows": rows_for(target, jobs, request.user),
        "page": page,
        "page_number": page_number,
        "last_shown": page.start + len(jobs) - 1,
        "page_count": max(math.ceil(page.total / per_page), 1),
        "poll_seconds": poll_interval(time.monotonic() - started),
        "sort_label": SORTS.get(filters["sort"] or "-submitted"),
    }


def _single_job_page(request, target: ServiceTarget, client, job_id: str) -> arcgis.JobPage:
    try:
        job = operations.read(request.user, target.site, lambda c: c.get_job(target.service, job_id), client)
    except arcgis.NotFound:
        return arcgis.JobPage(jobs=[], total=0, start=1, number=1, next_start=None)
    return arcgis.JobPage(jobs=[job], total=1, start=1, number=1, next_start=None)


def _sorted(jobs: list[arcgis.Job], sort: str) -> list[arcgis.Job]:
    """Orders the page the server returned (ArcGIS itself only lists newest first)."""
    key = sort.lstrip("-")
    keys = {
        "submitted": lambda j: j.submitted.timestamp() if j.submitted else 0,
        "status": lambda j: j.label,
        "user": lambda j: (j.username or "").lower(),
        "machine": lambda j: (j.machine or "").lower(),
        "duration": lambda j: j.duration.total_seconds() if j.duration else 0,
    }
    return sorted(jobs, key=keys[key], reverse=sort.startswith("-"))


@require_GET
@viewer_required
@vary_on_headers("HX-Request")  # the job's page, or its row
def job_detail(request: HttpRequest, slug: str, name: str, job_id: str, folder: str = "") -> HttpResponse:
    """The job's page, or (htmx) its row: what a non-terminal row polls."""
    target = service_target(request, slug, name, folder)
    failures = _int(request.GET.get("failures"), 0, 10)
    token = operations.stored_token(request.user, target.site)
    started = time.monotonic()
    try:
        client = operations.client_with(target.site, token)
        job = operations.read(request.user, target.site, lambda c: c.get_job(target.service, job_id), client)
        [row] = rows_for(target, [job], request.user)
        target.remember([job])
    except arcgis.NotFound:
        row = JobRow(job_id, None, message="This job no longer exists on the server.", kind="failed", gone=True)
    except (operations.NotConnected, arcgis.ArcGISError) as exc:
        known = target.recall([job_id]).get(job_id)
        reconnect = isinstance(exc, operations.NotConnected | arcgis.TokenRejected)
        message = getattr(exc, "message", str(exc))
        row = JobRow(
            job_id,
            known,
            message=f"Could not refresh: {message}",
            kind="failed",
            reconnect=reconnect,
            failures=failures + 1,
        )
    context = {"target": target, "row": row, "poll_seconds": poll_interval(time.monotonic() - started, row.failures)}
    if not request.htmx:
        context["token"] = token
        return render(request, "jobs/job_detail.html", context)
    response = render(request, "jobs/partials/job_row.html", context)
    if not row.polls:
        response.status_code = STOP_POLLING
    return response


def _int(value, default: int, maximum: int) -> int:
    try:
        return min(max(int(value), 0), maximum)
    except (TypeError, ValueError):
        return default


# --- the proxy: actions on jobs -----------------------------------------------------


def _answer_job_action(request, target: ServiceTarget, outcome: operations.Outcome, known) -> HttpResponse:
    """htmx gets the row with the server's answer in its status element; a plain form goes back
    to its page with the answer as a message."""
    if not request.htmx:
        flash(request, outcome)
        return redirect_back(request, target.url("job_list"))
    row = JobRow.after(outcome, known)
    return render(request, "jobs/partials/job_row.html", {"target": target, "row": row, "poll_seconds": 1})


def _needs_confirmation(request, target: ServiceTarget, action: str, job_ids: list[str]) -> HttpResponse | None:
    """Without JavaScript, destructive actions first show a page that says what will happen."""
    if request.POST.get("confirmed") == "yes":
        return None
    context = {"target": target, "action": action, "job_ids": job_ids, "next": request.POST.get("next", "")}
    return render(request, "jobs/confirm.html", context)


@require_POST
@operator_required
def cancel_job(request: HttpRequest, slug: str, name: str, job_id: str, folder: str = "") -> HttpResponse:
    target = service_target(request, slug, name, folder)
    known = target.recall([job_id]).get(job_id)
    outcome = operations.cancel_job(request.user, target.site, target.service, job_id, known=known)
    return _answer_job_action(request, target, outcome, known)


@require_POST
@operator_required
def delete_job(request: HttpRequest, slug: str, name: str, job_id: str, folder: str = "") -> HttpResponse:
    target = service_target(request, slug, name, folder)
    if confirmation := _needs_confirmation(request, target, "delete", [job_id]):
        return confirmation
    known = target.recall([job_id]).get(job_id)
    outcome = operations.delete_job(request.user, target.site, target.service, job_id)
    return _answer_job_action(request, target, outcome, known)


@require_POST
@operator_required
def purge_queue(request: HttpRequest, slug: str, name: str, folder: str = "") -> HttpResponse:
    target = service_target(request, slug, name, folder)
    if confirmation := _needs_confirmation(request, target, "purge", []):
        return confirmation
    outcome = operations.purge_queue(request.user, target.site, target.service)
    if request.htmx:
        response = render(request, "jobs/partials/action_result.html", {"outcomes": [outcome], "target": target})
        response["HX-Trigger"] = "jobs-changed"  # the table reloads itself
        return response
    flash(request, outcome)
    return redirect_back(request, target.url("job_list"))


@require_POST
@operator_required
def bulk_action(request: HttpRequest, slug: str, name: str, folder: str = "") -> HttpResponse:
    target = service_target(request, slug, name, folder)
    form = BulkForm(request.POST)
    if not form.is_valid():
        errors = [str(error) for errors in form.errors.values() for error in errors]
        if request.htmx:
            return render(request, "jobs/partials/action_result.html", {"errors": errors, "target": target})
        for error in errors:
            messages.error(request, error)
        return redirect_back(request, target.url("job_list"))
    action, job_ids = form.cleaned_data["action"], form.cleaned_data["job_ids"]
    if action == "delete" and (confirmation := _needs_confirmation(request, target, "delete", job_ids)):
        return confirmation
    known = target.recall(job_ids)
    outcomes = operations.bulk(request.user, target.site, target.service, action, job_ids, known=known)
    summary = bulk_summary(action, outcomes)
    if request.htmx:
        rows = [JobRow.after(outcome, known.get(outcome.job_id)) for outcome in outcomes]
        context = {"target": target, "summary": summary, "rows": rows, "poll_seconds": 1}
        return render(request, "jobs/partials/bulk_result.html", context)
    messages.add_message(request, messages.SUCCESS if all(o.ok for o in outcomes) else messages.WARNING, summary)
    for outcome in outcomes:
        if not outcome.ok:
            flash(request, outcome)
    return redirect_back(request, target.url("job_list"))


def bulk_summary(action: str, outcomes: list[operations.Outcome]) -> str:
    """E.g. "12 cancelled, 3 refused, 1 failed"."""
    done = "cancelled" if action == "cancel" else "deleted"
    counts = Counter(o.result for o in outcomes)
    parts = [f"{counts[AuditEvent.Outcome.SUCCESS]} {done}"]
    parts += [f"{counts[r]} {r}" for r in (AuditEvent.Outcome.REFUSED, AuditEvent.Outcome.FAILED) if counts[r]]
    return ", ".join(parts)


# --- tokens ------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@viewer_required
@never_cache
def token(request: HttpRequest, slug: str) -> HttpResponse:
    """Connect with ArcGIS credentials (used once, never kept) or a pasted token; disconnect."""
    site = visible_site(request, slug)
    connect_form, paste_form = ConnectForm(), PasteTokenForm()
    if request.method == "POST":
        intent = request.POST.get("intent")
        outcome = None
        shown_for = request.POST.get("address", site.address_fingerprint)
        if intent in ("connect", "paste") and shown_for != site.address_fingerprint:
            # The form was shown for the site's previous address: send nothing before the operator sees the new one.
            messages.error(request, "This site's address changed since this page was shown: check it, then connect.")
        elif intent == "connect":
            connect_form = ConnectForm(request.POST)
            if connect_form.is_valid():
                data = connect_form.cleaned_data
                outcome = operations.connect(
                    request.user,
                    site,
                    username=data["username"],
                    password=data["password"],
                    expiration_minutes=data["expiration"],
                )
        elif intent == "paste":
            paste_form = PasteTokenForm(request.POST)
            if paste_form.is_valid():
                outcome = operations.connect_with_token(request.user, site, paste_form.cleaned_data["token"])
        elif intent == "disconnect":
            outcome = operations.disconnect(request.user, site)
        else:
            return HttpResponse("Unknown intent.", status=400)
        if outcome is not None:
            flash(request, outcome)
            if outcome.ok:
                return redirect_back(request, reverse("jobs:token", args=[site.slug]))
    context = {
        "site": site,
        "token": operations.stored_token(request.user, site),
        "connect_form": connect_form,
        "paste_form": paste_form,
        "next": request.GET.get("next") or request.POST.get("next", ""),
    }
    return render(request, "jobs/token.html", context)


# --- audit trail ------------------------------------------------------------------------


def _audit_events(request: HttpRequest):
    form = AuditFilterForm(request.GET)
    return form, form.events(request.user)


@require_GET
@permission_required("jobs.view_auditevent", raise_exception=True)
def audit(request: HttpRequest) -> HttpResponse:
    form, events = _audit_events(request)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "jobs/audit.html", {"form": form, "page": page})


@require_GET
@permission_required("jobs.view_auditevent", raise_exception=True)
def audit_csv(request: HttpRequest) -> HttpResponse:
    form, events = _audit_events(request)
    if not form.is_valid():  # an export of nothing would look like an empty trail
        return HttpResponse(
            f"The filters need a correction. {form.problems()}\n", status=400, content_type="text/plain; charset=utf-8"
        )
    response = StreamingHttpResponse(csv_lines(events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="gp-jobs-audit.csv"'
    return response


# --- small pages --------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def set_timezone(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        context = {"zones": sorted(zoneinfo.available_timezones()), "next": request.GET.get("next", "")}
        return render(request, "jobs/timezone.html", context)
    response = redirect_back(request, reverse("jobs:overview"))
    name = request.POST.get("timezone", "")
    if valid_timezone(name):
        response.set_cookie(TIMEZONE_COOKIE, name, max_age=365 * 86400, samesite="Lax", secure=request.is_secure())
    else:
        messages.error(request, "Unknown time zone.")
    return response


@login_not_required
@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and readiness: the process answers and the database is reachable."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any database failure means "not ready"
        return JsonResponse({"status": "error", "database": exc.__class__.__name__}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
