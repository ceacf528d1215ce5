"""Live updates: a jobs page's one poll (the rows that changed, newer jobs) and a running job's new messages.
One request per page per interval, slower when ArcGIS is slow or failing, stopping when nothing can change."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

import arcgis_client
from accounts.access import viewer_required
from accounts.roles import can_operate
from jobs import reads, site_directory
from jobs.access import target_of
from jobs.forms import (
    JobFilterForm,
)
from jobs.job_page import count_text, message_poll, new_lines
from jobs.rows import render_rows
from jobs.targets import JobEntry, ServiceTarget
from jobs.views.common import HtmxHttpRequest, page_path, query_without, small_int

NEW_JOBS_SECONDS = 10  # the first page looks for newer jobs this often, when no row is active


@dataclass(frozen=True)
class Poll:
    """The page's one poller: where it asks, what it carries, how often."""

    url: str = ""
    vals: str = ""
    seconds: int = 1


def watched_rows(rows: list[JobEntry]) -> dict[str, str]:
    """The rows a page's poll asks about: the active ones, each with what it shows now (JobEntry.state)."""
    return {row.job_id: row.state for row in rows if row.active}


def poll_for(
    target: ServiceTarget, query_string: str, watched: dict[str, str], newest_ms, failures: int, elapsed: float
) -> Poll:
    if not watched and newest_ms is None:
        return Poll()
    if failures:
        seconds = poll_interval(elapsed, failures)
    elif watched:
        seconds = poll_interval(elapsed)
    else:
        seconds = NEW_JOBS_SECONDS
    # The poller carries its own interval too, so an answer can tell when the interval should change.
    rows_state = ",".join(f"{job_id}:{state}" for job_id, state in watched.items())
    vals = {"rows": rows_state, "failures": failures, "every": seconds}
    if newest_ms is not None:
        vals["newest"] = newest_ms
    url = f"{target.url('job_updates')}?{query_string}" if query_string else target.url("job_updates")
    return Poll(url, json.dumps(vals, separators=(",", ":")), seconds)


def newest_shown_ms(form: JobFilterForm, rows: list[JobEntry]) -> int | None:
    """On the first page of a newest-first list, the newest job shown: newer ones are announced."""
    if not form.looks_for_newer:
        return None
    submitted = [row.job.submitted for row in rows if row.job and row.job.submitted]
    return int(max(submitted).timestamp() * 1000) if submitted else 0


def filters_query(request: HtmxHttpRequest) -> str:
    return query_without(request, "inline", "rows", "newest", "failures", "every")


def _watched(request: HtmxHttpRequest) -> dict[str, str]:
    """The poller's rows, "jobId:status[:stamp],…" → {jobId: "status[:stamp]"}."""
    return {job_id: state for (job_id,), state in parse_rows(request.GET.get("rows", "")).items()}


def _state_of(poll: Poll) -> dict[str, str]:
    vals = json.loads(poll.vals)
    return {name: str(vals[name]) for name in ("rows", "failures", "every")}


@require_GET
@viewer_required
def job_updates(request: HtmxHttpRequest, slug: str, name: str, folder: str = "") -> HttpResponse:
    """The page's one poll: the rows that changed (out of band), newer jobs, and the next poll."""
    target = target_of(request, slug, name, folder)
    form = JobFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponseStopPolling()
    watched = _watched(request)
    newest = small_int(request.GET.get("newest"), 2**53) if form.looks_for_newer else None
    failures = small_int(request.GET.get("failures"), 10) or 0
    changes = reads.changes(request.user, target, form.query(), watched, newest)
    failures = failures + 1 if changes.error else 0
    if changes.error and changes.error.reconnect:
        poll = Poll()  # nothing will work until the operator reconnects
    else:
        poll = poll_for(target, filters_query(request), changes.still_active, newest, failures, changes.seconds)
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
        "table_url": target.url("job_list") + (f"?{filters_query(request)}" if filters_query(request) else ""),
    }
    response = render(request, "jobs/partials/job_updates.html", context)
    if not poll.url:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@require_GET
@viewer_required
def job_messages(request: HtmxHttpRequest, slug: str, name: str, job_id: str, folder: str = "") -> HttpResponse:
    """A running job's page asks for the messages after those it shows (?after=N); it stops (286) once the
    job has ended, answering with its row read again."""
    target = target_of(request, slug, name, folder)
    if not request.htmx:
        return redirect(target.job_url(job_id))
    after = small_int(request.GET.get("after"), 2**31) or 0
    previous_failures = small_int(request.GET.get("failures"), 10) or 0
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


def poll_interval(elapsed: float, failures: int = 0) -> int:
    """Seconds until the page asks again: once a second, slower when ArcGIS is slow or failing."""
    if failures:
        return min(2**failures, 60)
    return min(max(1, round(elapsed * 5)), 30)


_STAMP = re.compile(r"\A[0-9a-f]{8}\Z")
MAX_WATCHED = 200  # rows a poll may carry


def parse_rows(text: str, leading: int = 0) -> dict[tuple[str, ...], str]:
    """The rows a poll carries, "[…:]jobId:status[:stamp],…" with `leading` parts before the job ID (the fleet's
    site and service), as {(…, jobId): "status[:stamp]"} (see JobEntry.state); anything malformed is left out."""
    found = {}
    for item in text.split(",")[:MAX_WATCHED]:
        parts = item.split(":")
        if len(parts) == leading + 2:
            parts.append("")
        if len(parts) != leading + 3:
            continue
        *where, job_id, status, stamp = parts
        if arcgis_client.is_job_id(job_id) and status in arcgis_client.STATUSES and (not stamp or _STAMP.match(stamp)):
            found[(*where, job_id)] = f"{status}:{stamp}" if stamp else status
    return found


@require_GET
@viewer_required
def fleet_updates(request: HtmxHttpRequest) -> HttpResponse:
    """The fleet view's rows in motion (a job just cancelled), as the page sends them from what it shows:
    "site:Folder/Name:jobId:status[:stamp]", a few at most. Answers the rows that changed, out of band;
    the page asks again while any row is in motion (static/js/portal.js)."""
    sites = {site.slug: site for site in site_directory.visible_sites(request.user)}
    wanted: dict[tuple[ServiceTarget, str], str] = {}
    for (slug, service, job_id), state in parse_rows(request.GET.get("rows", ""), leading=2).items():
        try:
            ref = arcgis_client.ServiceRef.parse(service)
        except arcgis_client.InvalidName:
            continue
        if slug in sites:
            wanted[(ServiceTarget(sites[slug], ref), job_id)] = state
    rows = reads.rows_now(request.user, list(wanted))
    changed = [row for row in rows if row.state != wanted[(row.target, row.job_id)]]
    html = render_rows(
        request,
        changed,
        can_operate=can_operate(request.user),
        back_url=page_path(request),
        fleet=True,
        refresh=True,
        oob=True,
        wrap=True,
    )
    return HttpResponse(html)
