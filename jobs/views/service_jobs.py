"""The jobs of a service (its table loads on its own after the page), one job's page, and a row's details."""

from __future__ import annotations

import math

from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from accounts.access import viewer_required
from accounts.roles import can_operate
from jobs import audit, exports, hooks, reads, sorting, stored_tokens
from jobs.access import target_of
from jobs.forms import (
    MAX_BULK,
    JobFilterForm,
)
from jobs.job_page import JobPage
from jobs.rows import JobRow
from jobs.targets import ServiceTarget
from jobs.views.common import (
    HtmxHttpRequest,
    export_url,
    list_filters,
    page_path,
    pop_outcomes,
    refused_export,
    sort_context,
    without_empty_filters,
    without_inline,
)
from jobs.views.polling import filters_query, newest_shown_ms, poll_for, watched_rows


def _table_context(request: HtmxHttpRequest, target: ServiceTarget, form: JobFilterForm) -> dict:
    if not form.is_valid():
        return {}
    table = reads.job_table(request.user, target, form.query(), job_id=form.cleaned_data["job"], last_events=False)
    page = table.page
    if page is None:  # not read: the table shows table.error
        return {"table": table}
    outcomes = pop_outcomes(request)
    table.rows = [
        JobRow.of(entry, outcomes.get(entry.job_id)) for entry in sorting.sort_entries(table.rows, form.ordering)
    ]
    newest = newest_shown_ms(form, table.rows)
    return {
        "table": table,
        "page_number": form.page_number,
        "last_shown": page.start + len(table.rows) - 1,
        "page_count": max(math.ceil(page.total / form.page_size), 1),
        "poll": poll_for(target, filters_query(request), watched_rows(table.rows), newest, 0, table.seconds),
        "sort_target": "#job-table",
        "list_filters": list_filters(request),
        "max_bulk": MAX_BULK,
        "export_url": export_url(request, target.url("job_export")),
        **sort_context(request, sorting.SERVICE_COLUMNS, form.ordering),
    }


def _reads_ahead(form: JobFilterForm) -> bool:
    """Whether the shell can read its table's page ahead: the same query as the table's a moment later (not one job
    by ID, nor a span that ends now)."""
    return form.is_valid() and not form.cleaned_data["job"] and not form.cleaned_data["within"]


@require_GET
@viewer_required
@vary_on_headers("HX-Request", "HX-Target")  # the page's shell, or just its table, from one URL
def job_list(request: HtmxHttpRequest, slug: str, name: str, folder: str = "") -> HttpResponse:
    target = target_of(request, slug, name, folder)
    table_only = bool(request.htmx) and request.htmx.target == "job-table"
    if not request.htmx and (clean := without_empty_filters(request)):
        return clean
    form = JobFilterForm(request.GET)
    inline = request.GET.get("inline") == "1"
    if not table_only and _reads_ahead(form):
        # The shell's table asks for this page next; a page with its rows renders everything above them meanwhile.
        reads.read_ahead(request.user, target, form.query())
    context = {
        "target": target,
        "form": form,
        "inline": inline,
        "token": None if table_only else stored_tokens.stored_token(request.user, target.site),
        "can_operate": can_operate(request.user),
        "page_url": page_path(request),
        "back_url": page_path(request),
        "table_url": without_inline(request),
    }
    if table_only:
        context |= _table_context(request, target, form)
        return render(request, "jobs/partials/job_table.html", context)
    context["service_panels"] = hooks.service_panel_html(request, target)
    if inline:
        context["table_context"] = lambda: _table_context(request, target, form)  # called where the rows go
    return render(request, "jobs/job_list.html", context)


@require_GET
@viewer_required
def job_detail(request: HtmxHttpRequest, slug: str, name: str, job_id: str, folder: str = "") -> HttpResponse:
    """One job: its row, and from its Services Directory page its messages, inputs and results."""
    target = target_of(request, slug, name, folder)
    detail = reads.job_detail(request.user, target, job_id)
    page = JobPage(detail, show_all=request.GET.get("messages") == "all")
    row = JobRow.of(detail.row)  # with its display values: its facts show its times too
    # ArcGIS no longer holds it, or cannot be asked: the job as last seen, if an app above remembers it
    remembered = hooks.remembered_job(target, job_id) if row.gone or row.job is None else None
    if remembered is not None:
        row = JobRow(target, job_id, remembered.job, gone=not remembered.job.is_terminal, last_event=row.last_event)
    context = {"target": target, "detail": detail, "page": page, "row": row, "token": detail.token}
    context["remembered"] = remembered
    context["row_list"] = [row]
    context["can_operate"] = can_operate(request.user) and remembered is None
    context["back_url"] = request.get_full_path()
    return render(request, "jobs/job_detail.html", context)


@require_GET
@viewer_required
def job_facts(request: HtmxHttpRequest, slug: str, name: str, job_id: str, folder: str = "") -> HttpResponse:
    """What a row's details show when opened: its fields as last read, the last portal action, and for a failed
    job its last error message (the one upstream read here, made only when the operator opens the details)."""
    target = target_of(request, slug, name, folder)
    job = target.recall([job_id]).get(job_id)
    latest = audit.latest_events(target.site, target.service.key, [job_id]).get(job_id)
    row = JobRow(target, job_id, job, last_event=latest)
    last_error = reads.last_error(request.user, target, job) if job else None
    return render(request, "jobs/partials/job_facts.html", {"row": row, "last_error": last_error})


@require_GET
@viewer_required
def job_export(request: HtmxHttpRequest, slug: str, name: str, folder: str = "") -> HttpResponseBase:
    """Every job the filters match, on every page (in ArcGIS's order, or oldest first), as CSV, streamed."""
    target = target_of(request, slug, name, folder)
    form = JobFilterForm(request.GET)
    if not form.is_valid():
        return refused_export(form)
    entries = reads.each_job(
        request.user, target, form.query(), limit=exports.EXPORT_MAX, job_id=form.cleaned_data["job"]
    )
    return exports.export(entries, f"gp-jobs-{target.site.slug}-{target.service.key.replace('/', '-')}.csv")
