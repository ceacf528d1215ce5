"""Thin views: check access, call jobs.reads or jobs.operations, render.

Pages render their shell at once; what needs ArcGIS loads on its own (the jobs table as a
fragment, the overview as a stream), so a slow site never holds a page. Without JavaScript
a page redirects itself to its `?inline=1` form, which renders everything in one go.
Every action works as a plain form post that redirects back with a message; with htmx it
answers with the re-rendered row instead. Upstream failures are shown in place (HTTP 200,
so htmx swaps them); real 4xx stay for the portal's own refusals.
"""

from __future__ import annotations

import json
import math
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling, trigger_client_event

import arcgis_client
from accounts.access import audit_viewer_required, operator_required, viewer_required
from accounts.roles import can_operate
from jobs import audit, fleet, operations, reads
from jobs.forms import BulkForm, ConnectForm, FleetBulkForm, FleetFilterForm, JobFilterForm, PasteTokenForm
from jobs.job_page import JobPage, count_text, message_poll, new_lines
from jobs.middleware import TIMEZONE_COOKIE, valid_timezone
from jobs.models import Site, StoredToken
from jobs.rows import JobRow, RowOutcome, ServiceTarget, poll_interval, render_rows, sort_rows

NEW_JOBS_SECONDS = 10  # the first page looks for newer jobs this often, when no row is active


# --- access and navigation helpers -----------------------------------------------------


def visible_site(request: HttpRequest, slug: str) -> Site:
    """The site, if this user may see it; a restricted site is a 404 to everyone else."""
    return get_object_or_404(Site.objects.visible_to(request.user), slug=slug)


def target_of(request: HttpRequest, slug: str, name: str, folder: str = "") -> ServiceTarget:
    return ServiceTarget(visible_site(request, slug), arcgis_client.ServiceRef(folder, name))


def redirect_back(request: HttpRequest, default: str) -> HttpResponse:
    """Back to the page the form was on, never to another host."""
    target = request.POST.get("next") or request.GET.get("next")
    if not target or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = default
    return redirect(target)


def page_path(request: HttpRequest) -> str:
    """The path and query of the page the operator is on (for a fragment: the page that loaded it)."""
    if request.htmx and request.htmx.current_url_abs_path:
        return request.htmx.current_url_abs_path
    return request.get_full_path()


def without_inline(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("inline", None)
    return f"{request.path}?{query.urlencode()}" if query else request.path


def flash(request: HttpRequest, result: operations.ActionResult) -> None:
    level = messages.SUCCESS if result.ok else messages.ERROR
    subject = f"Job {result.job_id}: " if result.job_id else ""
    found = f" — {result.found}." if result.found else ""
    messages.add_message(request, level, f"{subject}{result.message}{found}")


# Without JavaScript the outcome of an action reaches its row once, on the page it redirects back to.
_STASH = "row_outcomes"


def stash_outcomes(request: HttpRequest, results: Iterable[operations.ActionResult]) -> None:
    stash = request.session.get(_STASH, {})
    for result in results:
        if result.job_id:
            outcome = RowOutcome.of(result)
            stash[result.job_id] = [outcome.kind, outcome.message, outcome.found, outcome.reconnect]
    request.session[_STASH] = stash


def pop_outcomes(request: HttpRequest) -> dict[str, RowOutcome]:
    if _STASH not in request.session:
        return {}
    return {job_id: RowOutcome(*values) for job_id, values in request.session.pop(_STASH).items()}


# --- overview and sites ---------------------------------------------------------------


def _shell_sections(request: HttpRequest, sites: list[Site]) -> list[reads.SiteSection]:
    tokens = {t.site_id: t for t in StoredToken.objects.filter(user=request.user, site__in=sites)}
    return [reads.SiteSection(site, tokens.get(site.pk)) for site in sites]


def _sites_page(request: HttpRequest, template: str, sites: list[Site], stream_url: str, extra: dict) -> HttpResponse:
    inline = request.GET.get("inline") == "1"
    context = {"inline": inline, "stream_url": stream_url, **extra}
    if inline:
        sections, counts = _assembled(request, sites)
        context |= {"sections": sections, "counts": counts}
    else:
        context |= {"sections": _shell_sections(request, sites), "loading": True}
    return render(request, template, context)


def _assembled(
    request: HttpRequest, sites: list[Site]
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
def overview(request: HttpRequest) -> HttpResponse:
    sites = list(Site.objects.visible_to(request.user))
    return _sites_page(request, "jobs/overview.html", sites, reverse("jobs:overview_stream"), {})


@require_GET
@viewer_required
def site_detail(request: HttpRequest, slug: str) -> HttpResponse:
    site = visible_site(request, slug)
    return _sites_page(request, "jobs/site.html", [site], reverse("jobs:site_stream", args=[slug]), {"site": site})


def _site_events(request: HttpRequest, events: Iterable) -> Iterator[str]:
    """Each event of reads.overview as an out-of-band fragment."""
    operates = can_operate(request.user)
    for event in events:
        if isinstance(event, reads.SiteSection):
            context = {"section": event, "oob": True, "can_operate": operates}
            yield render_to_string("jobs/partials/site_section.html", context, request)
        else:
            context = {"counts": event, "oob": True}
            yield render_to_string("jobs/partials/service_counts.html", context, request)


def _event_stream(fragments: Iterable[str]) -> StreamingHttpResponse:
    """Server-sent events for htmx's sse extension: each fragment as it is ready, then "done"."""

    def stream() -> Iterator[str]:
        for html in fragments:
            yield "event: fragment\n" + "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"
        yield "event: done\ndata: done\n\n"

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx must pass each event on at once
    return response


@require_GET
@viewer_required
def sites_stream(request: HttpRequest, slug: str | None = None) -> StreamingHttpResponse:
    """The overview (or one site's page) filling in: sections, then counts, as ArcGIS answers."""
    sites = [visible_site(request, slug)] if slug else list(Site.objects.visible_to(request.user))
    return _event_stream(_site_events(request, reads.overview(request.user, sites)))


@require_GET
@viewer_required
def overview_refresh(request: HttpRequest) -> HttpResponse:
    """Every site's section and counts again, in one answer (the overview refreshes every 30 s)."""
    sites = list(Site.objects.visible_to(request.user))
    slug = request.GET.get("site")
    if slug:
        sites = [site for site in sites if site.slug == slug]
    return HttpResponse("".join(_site_events(request, reads.overview(request.user, sites))))


@require_GET
@viewer_required
def service_counts(request: HttpRequest, slug: str, name: str, folder: str = "") -> HttpResponse:
    """One service's job counts (the cell's Retry)."""
    counts = reads.service_counts(request.user, target_of(request, slug, name, folder))
    return render(request, "jobs/partials/service_counts.html", {"counts": counts})


@require_GET
@viewer_required
def service_baseline(request: HttpRequest, slug: str, name: str, folder: str = "") -> HttpResponse:
    """What the service usually takes: how the portal tells a job that runs long."""
    baseline = reads.service_baseline(request.user, target_of(request, slug, name, folder))
    return render(request, "jobs/partials/service_baseline.html", {"baseline": baseline})


# --- jobs of a service ----------------------------------------------------------------


@dataclass(frozen=True)
class Poll:
    """The page's one poller: where it asks, what it carries, how often."""

    url: str = ""
    vals: str = ""
    seconds: int = 1


def _poll(
    target: ServiceTarget, query_string: str, rows: list[JobRow], newest_ms, failures: int, elapsed: float
) -> Poll:
    watched = {row.job_id: row.status for row in rows if row.active}
    if not watched and newest_ms is None:
        return Poll()
    if failures:
        seconds = poll_interval(elapsed, failures)
    elif watched:
        seconds = poll_interval(elapsed)
    else:
        seconds = NEW_JOBS_SECONDS
    # The poller carries its own interval too, so an answer can tell when the interval should change.
    rows_state = ",".join(f"{job_id}:{status}" for job_id, status in watched.items())
    vals = {"rows": rows_state, "failures": failures, "every": seconds}
    if newest_ms is not None:
        vals["newest"] = newest_ms
    url = f"{target.url('job_updates')}?{query_string}" if query_string else target.url("job_updates")
    return Poll(url, json.dumps(vals, separators=(",", ":")), seconds)


def _newest_ms(form: JobFilterForm, rows: list[JobRow]) -> int | None:
    """On the first page of a newest-first list, the newest job shown: newer ones are announced."""
    if not form.looks_for_newer:
        return None
    submitted = [row.job.submitted for row in rows if row.job and row.job.submitted]
    return int(max(submitted).timestamp() * 1000) if submitted else 0


def _filters_query(request: HttpRequest) -> str:
    query = request.GET.copy()
    for name in ("inline", "rows", "newest", "failures", "every"):
        query.pop(name, None)
    return query.urlencode()


def _table_context(request: HttpRequest, target: ServiceTarget, form: JobFilterForm) -> dict:
    if not form.is_valid():
        return {}
    table = reads.job_table(request.user, target, form.query(), job_id=form.cleaned_data["job"])
    if table.error:
        return {"table": table}
    outcomes = pop_outcomes(request)
    table.rows = [
        replace(row, outcome=outcomes[row.job_id]) if row.job_id in outcomes else row
        for row in sort_rows(table.rows, form.ordering)
    ]
    page = table.page
    return {
        "table": table,
        "page_number": form.page_number,
        "last_shown": page.start + len(table.rows) - 1,
        "page_count": max(math.ceil(page.total / form.page_size), 1),
        "sort": form.ordering,
        "sort_label": form.sort_label,
        "poll": _poll(target, _filters_query(request), table.rows, _newest_ms(form, table.rows), 0, table.seconds),
    }


@require_GET
@viewer_required
@vary_on_headers("HX-Request", "HX-Target")  # the page's shell, or just its table, from one URL
def job_list(request: HttpRequest, slug: str, name: str, folder: str = "") -> HttpResponse:
    target = target_of(request, slug, name, folder)
    form = JobFilterForm(request.GET)
    table_only = bool(request.htmx) and request.htmx.target == "job-table"
    inline = request.GET.get("inline") == "1"
    context = {
        "target": target,
        "form": form,
        "inline": inline,
        "token": None if table_only else StoredToken.objects.filter(user=request.user, site=target.site).first(),
        "can_operate": can_operate(request.user),
        "page_url": page_path(request),
        "back_url": page_path(request),
        "table_url": without_inline(request),
    }
    if table_only or inline:
        context |= _table_context(request, target, form)
    if table_only:
        return render(request, "jobs/partials/job_table.html", context)
    return render(request, "jobs/job_list.html", context)


def _watched(request: HttpRequest) -> dict[str, str]:
    """The poller's rows, "jobId:status,…": anything malformed is left out."""
    watched = {}
    for item in request.GET.get("rows", "").split(",")[:200]:
        job_id, _, status = item.partition(":")
        if arcgis_client.is_job_id(job_id) and status in arcgis_client.STATUSES:
            watched[job_id] = status
    return watched


def _small_int(value, maximum: int) -> int | None:
    try:
        return min(max(int(value), 0), maximum)
    except (TypeError, ValueError):
        return None


def _state_of(poll: Poll) -> dict[str, str]:
    vals = json.loads(poll.vals)
    return {name: str(vals[name]) for name in ("rows", "failures", "every")}


@require_GET
@viewer_required
def job_updates(request: HttpRequest, slug: str, name: str, folder: str = "") -> HttpResponse:
    """The page's one poll: the rows that changed (out of band), newer jobs, and the next poll."""
    target = target_of(request, slug, name, folder)
    form = JobFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponseStopPolling()
    watched = _watched(request)
    newest = _small_int(request.GET.get("newest"), 2**53) if form.looks_for_newer else None
    failures = _small_int(request.GET.get("failures"), 10) or 0
    changes = reads.changes(request.user, target, form.query(), watched, newest)
    failures = failures + 1 if changes.error else 0
    if changes.error and changes.error.reconnect:
        poll = Poll()  # nothing will work until the operator reconnects
    else:
        still = [
            JobRow(target, job_id, arcgis_client.Job(job_id, status)) for job_id, status in changes.still_active.items()
        ]
        poll = _poll(target, _filters_query(request), still, newest, failures, changes.seconds)
    sent = {name: request.GET.get(name, "") for name in ("rows", "failures", "every")}
    context = {
        "target": target,
        "changes": changes,
        "poll": poll,
        "poll_changed": not poll.url or _state_of(poll) != sent,
        "show_newer": newest is not None,
        "can_operate": can_operate(request.user),
        "back_url": page_path(request),
        "page_url": page_path(request),
        "table_url": target.url("job_list") + (f"?{_filters_query(request)}" if _filters_query(request) else ""),
    }
    response = render(request, "jobs/partials/job_updates.html", context)
    if not poll.url:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@require_GET
@viewer_required
def job_detail(request: HttpRequest, slug: str, name: str, job_id: str, folder: str = "") -> HttpResponse:
    """One job: its row, and from its Services Directory page its messages, inputs and results."""
    target = target_of(request, slug, name, folder)
    detail = reads.job_detail(request.user, target, job_id)
    page = JobPage(detail, show_all=request.GET.get("messages") == "all")
    context = {"target": target, "detail": detail, "page": page, "row": detail.row, "token": detail.token}
    context["row_list"] = [detail.row]
    context["can_operate"] = can_operate(request.user)
    context["back_url"] = request.get_full_path()
    return render(request, "jobs/job_detail.html", context)


@require_GET
@viewer_required
def job_messages(request: HttpRequest, slug: str, name: str, job_id: str, folder: str = "") -> HttpResponse:
    """A running job's page asks for the messages after those it shows (?after=N); it stops (286) once the
    job has ended, answering with its row read again."""
    target = target_of(request, slug, name, folder)
    if not request.htmx:
        return redirect(target.job_url(job_id))
    after = _small_int(request.GET.get("after"), 2**31) or 0
    previous_failures = _small_int(request.GET.get("failures"), 10) or 0
    update = reads.new_messages(request.user, target, job_id, after)
    failures = previous_failures + 1 if update.error else 0
    poll = None if update.finished else message_poll(target, job_id, update.count, failures)
    context = {
        "target": target,
        "update": update,
        "lines": new_lines(update.messages),
        "count_text": count_text(update.count),
        "poll": poll,
        "poll_changed": poll is None or (update.count, failures) != (after, previous_failures),
        "row": update.row,
        "row_list": [update.row] if update.row else [],
        "can_operate": can_operate(request.user),
        "back_url": target.job_url(job_id),
    }
    response = render(request, "jobs/partials/job_messages_update.html", context)
    if update.finished:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@require_GET
@viewer_required
def job_facts(request: HttpRequest, slug: str, name: str, job_id: str, folder: str = "") -> HttpResponse:
    """What a row's details show when opened: its fields as last read, the last portal action, and for a failed
    job its last error message (the one upstream read here, made only when the operator opens the details)."""
    target = target_of(request, slug, name, folder)
    job = target.recall([job_id]).get(job_id)
    latest = audit.latest_events(target.site, target.service.key, [job_id]).get(job_id)
    row = JobRow(target, job_id, job, last_event=latest)
    last_error = reads.last_error(request.user, target, job) if job else None
    return render(request, "jobs/partials/job_facts.html", {"row": row, "last_error": last_error})


# --- the proxy: actions on jobs -----------------------------------------------------


def _answer_job_action(request, target: ServiceTarget, result: operations.ActionResult, known) -> HttpResponse:
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


def _needs_confirmation(request, target: ServiceTarget, action: str, job_ids: list[str]) -> HttpResponse | None:
    """Without JavaScript, destructive actions first show a page that says what will happen."""
    if request.POST.get("confirmed") == "yes":
        return None
    context = {"target": target, "action": action, "job_ids": job_ids, "next": request.POST.get("next", "")}
    return render(request, "jobs/confirm.html", context)


@require_POST
@operator_required
def cancel_job(request: HttpRequest, slug: str, name: str, job_id: str, folder: str = "") -> HttpResponse:
    target = target_of(request, slug, name, folder)
    known = target.recall([job_id]).get(job_id)
    result = operations.cancel_job(request.user, target.site, target.service, job_id, known=known)
    return _answer_job_action(request, target, result, known)


@require_POST
@operator_required
def delete_job(request: HttpRequest, slug: str, name: str, job_id: str, folder: str = "") -> HttpResponse:
    target = target_of(request, slug, name, folder)
    if confirmation := _needs_confirmation(request, target, "delete", [job_id]):
        return confirmation
    known = target.recall([job_id]).get(job_id)
    result = operations.delete_job(request.user, target.site, target.service, job_id)
    return _answer_job_action(request, target, result, known)


@require_POST
@operator_required
def purge_queue(request: HttpRequest, slug: str, name: str, folder: str = "") -> HttpResponse:
    target = target_of(request, slug, name, folder)
    if confirmation := _needs_confirmation(request, target, "purge", []):
        return confirmation
    result = operations.purge_queue(request.user, target.site, target.service)
    if request.htmx:
        response = render(request, "jobs/partials/action_result.html", {"results": [result], "target": target})
        return trigger_client_event(response, "jobs-changed")  # the table reloads itself
    flash(request, result)
    return redirect_back(request, target.url("job_list"))


@require_POST
@operator_required
def bulk_action(request: HttpRequest, slug: str, name: str, folder: str = "") -> HttpResponse:
    target = target_of(request, slug, name, folder)
    form = BulkForm(request.POST)
    if not form.is_valid():
        return _refused_bulk(request, form, target.url("job_list"))
    action, job_ids = form.cleaned_data["action"], form.cleaned_data["job_ids"]
    if action == "delete" and (confirmation := _needs_confirmation(request, target, "delete", job_ids)):
        return confirmation
    return _bulk(request, action, {target.site: [operations.Target(target.service, j) for j in job_ids]}, target)


def _refused_bulk(request: HttpRequest, form, back: str) -> HttpResponse:
    errors = [str(error) for errors in form.errors.values() for error in errors]
    if request.htmx:
        return render(request, "jobs/partials/action_result.html", {"errors": errors})
    for error in errors:
        messages.error(request, error)
    return redirect_back(request, back)


def _bulk(request: HttpRequest, action: str, by_site: dict, page: ServiceTarget | None) -> HttpResponse:
    """One audited bulk per site; a row each for htmx (with the fleet's columns when not on a service's
    page), the summary and the refusals as messages without JavaScript."""
    reports, rows = [], []
    for site, targets in by_site.items():
        services = {ServiceTarget(site, t.service) for t in targets}
        known = {}
        for service in services:
            known |= service.recall([t.job_id for t in targets if t.service == service.service])
        report = operations.bulk(request.user, site, action, targets, known=known)
        reports.append(report)
        rows += [JobRow.after(ServiceTarget(site, r.target.service), r, known.get(r.job_id)) for r in report.results]
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
        result = None
        shown_for = request.POST.get("address", site.address_fingerprint)
        if intent in ("connect", "paste") and shown_for != site.address_fingerprint:
            # The form was shown for the site's previous address: send nothing before the operator sees the new one.
            messages.error(request, "This site's address changed since this page was shown: check it, then connect.")
        elif intent == "connect":
            connect_form = ConnectForm(request.POST)
            if connect_form.is_valid():
                data = connect_form.cleaned_data
                result = operations.connect(
                    request.user,
                    site,
                    username=data["username"],
                    password=data["password"],
                    expiration_minutes=data["expiration"],
                )
        elif intent == "paste":
            paste_form = PasteTokenForm(request.POST)
            if paste_form.is_valid():
                result = operations.connect_with_token(request.user, site, paste_form.cleaned_data["token"])
        elif intent == "disconnect":
            result = operations.disconnect(request.user, site)
        else:
            return HttpResponse("Unknown intent.", status=400)
        if result is not None:
            flash(request, result)
            if result.ok:
                return redirect_back(request, reverse("jobs:token", args=[site.slug]))
    context = {
        "site": site,
        "token": StoredToken.objects.filter(user=request.user, site=site).first(),
        "connect_form": connect_form,
        "paste_form": paste_form,
        "next": request.GET.get("next") or request.POST.get("next", ""),
    }
    return render(request, "jobs/token.html", context)


# --- audit trail ------------------------------------------------------------------------


@require_GET
@audit_viewer_required
def audit_trail(request: HttpRequest) -> HttpResponse:
    form = audit.AuditFilterForm(request.GET)
    page = Paginator(form.events(request.user).select_related("site"), 50).get_page(request.GET.get("page"))
    return render(request, "jobs/audit.html", {"form": form, "page": page})


@require_GET
@audit_viewer_required
def audit_csv(request: HttpRequest) -> HttpResponse:
    form = audit.AuditFilterForm(request.GET)
    events = form.events(request.user)
    if not form.is_valid():  # an export of nothing would look like an empty trail
        return HttpResponse(
            f"The filters need a correction. {form.problems()}\n", status=400, content_type="text/plain; charset=utf-8"
        )
    response = StreamingHttpResponse(audit.csv_lines(events), content_type="text/csv; charset=utf-8")
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


# --- the fleet view: every job of every service of every site ----------------------------------


def _fleet_form(request: HttpRequest) -> tuple[FleetFilterForm, list[Site]]:
    sites = list(Site.objects.visible_to(request.user))
    return FleetFilterForm(request.GET, sites=sites), sites


def _fleet_sites(form: FleetFilterForm, sites: list[Site]) -> list[Site]:
    """Only the sites asked for; a restricted site the user may not see is never even asked."""
    slug = form.cleaned_data["site"]
    return [site for site in sites if site.slug == slug] if slug else sites


def _fleet_context(request: HttpRequest, state, form: FleetFilterForm) -> dict:
    query = request.GET.copy()
    query.pop("before", None)
    query.pop("inline", None)
    return {
        "fleet": state,
        "rows": [item.row for item in state.rows],
        "can_operate": can_operate(request.user),
        "back_url": page_path(request),
        "first_page": f"{reverse('jobs:fleet')}?{query.urlencode()}",
        "next_page": f"{reverse('jobs:fleet')}?{query.urlencode()}&before={state.next_cursor}" if state.more else "",
        "refresh_url": f"{reverse('jobs:fleet_refresh')}?{request.GET.urlencode()}",
    }


@require_GET
@viewer_required
def fleet_view(request: HttpRequest) -> HttpResponse:
    """The jobs of every GP service of every site the user may see; the table fills in as services answer."""
    form, sites = _fleet_form(request)
    inline = request.GET.get("inline") == "1"
    query = request.GET.copy()
    query.pop("inline", None)
    context = {
        "form": form,
        "inline": inline,
        "stream_url": f"{reverse('jobs:fleet_stream')}?{query.urlencode()}",
        "can_operate": can_operate(request.user),
    }
    if inline and form.is_valid():
        *_, state = fleet.fleet(request.user, _fleet_sites(form, sites), form.query())
        context |= _fleet_context(request, state, form)
    return render(request, "jobs/fleet.html", context)


@require_GET
@viewer_required
def fleet_stream(request: HttpRequest) -> StreamingHttpResponse:
    form, sites = _fleet_form(request)
    if not form.is_valid():
        return _event_stream([])

    def fragments() -> Iterator[str]:
        for state in fleet.fleet(request.user, _fleet_sites(form, sites), form.query()):
            context = _fleet_context(request, state, form)
            yield render_to_string("jobs/partials/fleet_update.html", context, request)

    return _event_stream(fragments())


@require_GET
@viewer_required
def fleet_refresh(request: HttpRequest) -> HttpResponse:
    """The whole fleet table again, in one answer (the page refreshes itself every 30 s)."""
    form, sites = _fleet_form(request)
    if not form.is_valid():
        return HttpResponseStopPolling()
    *_, state = fleet.fleet(request.user, _fleet_sites(form, sites), form.query())
    return render(request, "jobs/partials/fleet_update.html", _fleet_context(request, state, form))


@require_POST
@operator_required
def fleet_bulk(request: HttpRequest) -> HttpResponse:
    """Cancel or delete jobs of several services and sites: one audited bulk per site, a row each."""
    form = FleetBulkForm(request.POST, sites=Site.objects.visible_to(request.user))
    if not form.is_valid():
        return _refused_bulk(request, form, reverse("jobs:fleet"))
    return _bulk(request, form.cleaned_data["action"], form.cleaned_data["by_site"], None)
