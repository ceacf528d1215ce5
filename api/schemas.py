"""What the JSON API answers: the portal's read and action results as JSON, built from jobs.reads and
jobs.operations results (never from ArcGIS's own JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast

from ninja import Schema

import arcgis_client
from history.activity import Table
from history.models import IndexedJob
from history.rows import HistoryRow
from jobs import operations
from jobs.models import AuditEvent, Site
from jobs.targets import JobEntry, ServiceTarget


class ErrorDetail(Schema):
    code: str
    message: str


class ErrorOut(Schema):
    """Every error of the API: `{"error": {"code": "not_found", "message": "…"}}`."""

    error: ErrorDetail


class SiteOut(Schema):
    slug: str
    name: str
    connected: bool  # the user holds a usable ArcGIS token for the site
    token_expires: datetime | None
    services_url: str


class ServiceOut(Schema):
    folder: str
    name: str
    key: str  # folder/name, or name in the root folder
    jobs_url: str


class ServicesOut(Schema):
    site: str
    services: list[ServiceOut]


class LastActionOut(Schema):
    action: str
    outcome: str
    message: str
    by: str
    via: str
    at: datetime


class JobOut(Schema):
    job_id: str
    status: str  # ArcGIS's status, e.g. esriJobExecuting; "" when not known right now
    status_label: str
    submitted: datetime | None = None
    ended: datetime | None = None
    duration_seconds: float | None = None
    user: str | None = None
    machine: str | None = None
    arcgis_url: str | None = None  # the job's page in ArcGIS's Services Directory
    portal_url: str
    last_action: LastActionOut | None = None


class JobPageOut(Schema):
    site: str
    service: str
    jobs: list[JobOut]
    total: int
    page: int
    per_page: int
    page_count: int


class MessageOut(Schema):
    type: str  # e.g. esriJobMessageTypeError
    description: str


class ParameterOut(Schema):
    kind: Literal["inputs", "results"]
    name: str
    data_type: str | None = None  # e.g. GPLinearUnit
    value: Any = None
    error: str | None = None  # why the value could not be read


class JobDetailOut(Schema):
    """One job, as its page in the portal shows it: with the messages, inputs and results of its page in
    ArcGIS's Services Directory (read only on the site's own address; `page_error` says why not)."""

    site: str
    service: str
    job: JobOut
    services_directory_url: str | None = None
    messages: list[MessageOut] = []
    message_count: int = 0  # how many the job logged in all
    messages_omitted: int = 0  # left out of a very long list, after its beginning
    progress: str | None = None
    inputs: list[ParameterOut] = []
    results: list[ParameterOut] = []
    page_error: str | None = None


class FleetFilters(Schema):
    """The fleet view's filters (jobs.forms.FleetFilterForm checks them). No status: the active ones."""

    status: list[str] = []
    site: str | None = None
    folder: str | None = None
    service: str | None = None
    user: str | None = None
    machine: str | None = None
    within: Literal["1h", "6h", "24h", "7d"] | None = None
    since: str | None = None
    until: str | None = None
    running_long: bool = False
    order: Literal["newest", "longest"] | None = None
    before: str | None = None  # the previous answer's next_cursor


class FleetJobOut(JobOut):
    site: str
    service: str
    flag: str | None = None  # running-long, queued-long or cancel-stuck
    flag_text: str | None = None


class FailureOut(Schema):
    service: str  # "Site · Folder/Name", or the site's name when the whole site failed
    message: str


class FleetOut(Schema):
    jobs: list[FleetJobOut]
    failures: list[FailureOut]
    next_cursor: str | None = None  # pass as `before` for the next page


ActionOutcome = Literal["success", "refused", "failed"]


class ActionOut(Schema):
    outcome: ActionOutcome
    message: str  # ArcGIS's words verbatim, or the portal's explanation
    job_id: str  # "" for a purge
    found: str  # what re-reading the job showed after a refusal, e.g. "it is already Cancelled"
    job: JobOut | None  # the job as best known after the action; null when it is gone or unknown


class BulkIn(Schema):
    action: Literal["cancel", "delete"]
    job_ids: list[str]


class BulkOut(Schema):
    action: str
    summary: str  # e.g. "3 cancellations requested, 1 refused, 2 skipped (already finished)"
    results: list[ActionOut]
    skipped: list[str]  # job IDs not sent: the portal last saw them finished


class JobFilters(Schema):
    """The jobs page's filters and paging (jobs.forms.JobFilterForm checks them)."""

    status: str | None = None
    user: str | None = None
    machine: str | None = None
    job: str | None = None  # one job by its ID
    within: Literal["1h", "6h", "24h", "7d"] | None = None
    since: str | None = None  # e.g. 2026-11-02T09:00:00Z; without an offset: UTC
    until: str | None = None
    sort: str | None = (
        None  # -submitted (default), submitted (oldest first), or a column within the page: status, -user…
    )
    page: int | None = None
    per_page: int | None = None  # 25, 50 (default), 100 or 200


# --- building them ------------------------------------------------------------------------


def site_out(site: Site, token) -> SiteOut:
    return SiteOut(
        slug=site.slug,
        name=site.name,
        connected=token is not None and token.is_usable,
        token_expires=token.expires if token else None,
        services_url=f"/api/v1/sites/{site.slug}/services/",
    )


def api_path(target: ServiceTarget) -> str:
    return f"/api/v1/sites/{target.site.slug}/services/{target.service.key}/jobs/"


def job_out(row: JobEntry) -> JobOut:
    job: arcgis_client.Job | None = row.job
    duration = job.duration if job else None
    event: AuditEvent | None = row.last_event
    return JobOut(
        job_id=row.job_id,
        status=row.status,
        status_label=row.label if row.status else "Unknown",
        submitted=job.submitted if job else None,
        ended=job.ended if job else None,
        duration_seconds=duration.total_seconds() if duration is not None else None,
        user=job.username if job else None,
        machine=job.machine if job else None,
        arcgis_url=job.url if job else None,
        portal_url=row.url,
        last_action=LastActionOut(
            action=event.action,
            outcome=event.outcome,
            message=event.message,
            by=event.username,
            via=event.via,
            at=event.finished or event.created,
        )
        if event
        else None,
    )


def action_out(target: ServiceTarget, result: operations.ActionResult, known: arcgis_client.Job | None) -> ActionOut:
    job = None
    if result.job_id and not result.gone:
        found = result.job or known
        job = job_out(JobEntry(target, result.job_id, found)) if found else None
    # An action's outcome is never "pending": one of these three (pydantic checks it).
    outcome = cast(ActionOutcome, result.outcome)
    return ActionOut(outcome=outcome, message=result.message, job_id=result.job_id, found=result.found, job=job)


def job_detail_out(target: ServiceTarget, detail) -> JobDetailOut:
    """From a jobs.reads.JobDetail."""
    page = detail.page

    def parameters(reads_) -> list[ParameterOut]:
        return [
            ParameterOut(
                kind=read.kind,
                name=read.name,
                data_type=read.parameter.data_type if read.parameter else None,
                value=read.parameter.value if read.parameter else None,
                error=read.error.message if read.error else None,
            )
            for read in reads_
        ]

    return JobDetailOut(
        site=target.site.slug,
        service=target.service.key,
        job=job_out(detail.row),
        services_directory_url=page.url if page else None,
        messages=[MessageOut(type=m.type, description=m.description) for m in page.messages] if page else [],
        message_count=page.message_count if page else 0,
        messages_omitted=page.messages_omitted if page else 0,
        progress=page.progress.message if page and page.progress else None,
        inputs=parameters(detail.inputs),
        results=parameters(detail.results),
        page_error=detail.page_error.message if detail.page_error else None,
    )


def fleet_job_out(row: JobEntry) -> FleetJobOut:
    return FleetJobOut(
        **job_out(row).dict(),
        site=row.target.site.slug,
        service=row.target.service.key,
        flag=row.flag.kind if row.flag else None,
        flag_text=row.flag.text if row.flag else None,
    )


# --- the job history ----------------------------------------------------------------------------------------


class HistoryFilters(Schema):
    """The history's filters (history.forms.HistoryFilterForm checks them): the fleet view's, with every status when
    none is given, one job by its ID, and a span of the last 7 days unless asked otherwise ("all": all it keeps)."""

    status: list[str] = []
    site: str | None = None
    folder: str | None = None  # folder and service match in any case, as ArcGIS's names do
    service: str | None = None
    user: str | None = None
    machine: str | None = None
    job: str | None = None
    within: Literal["1h", "6h", "24h", "7d", "30d", "90d", "all"] | None = None
    since: str | None = None  # e.g. 2026-11-02T09:00:00Z; without an offset: UTC
    until: str | None = None
    before: str | None = None  # the previous answer's next_cursor
    per_page: int | None = None  # 50 unless asked; at most 200


class HistoryJobOut(Schema):
    site: str
    service: str  # folder/name, or name in the root folder, as ArcGIS spells it
    job_id: str
    status: str  # ArcGIS's status as last seen, e.g. esriJobSucceeded
    status_label: str  # e.g. "Succeeded", or "Gone while Executing"
    gone_while: str | None = None  # the status it had when it vanished from ArcGIS while active
    submitted: datetime | None = None
    ended: datetime | None = None
    duration_seconds: float | None = None
    user: str | None = None
    machine: str | None = None
    first_seen: datetime
    last_seen: datetime
    portal_url: str


class HistoryJobsOut(Schema):
    jobs: list[HistoryJobOut]
    next_cursor: str | None = None  # pass as `before` for the next page; null on the last one


class ChartRowOut(Schema):
    label: str  # the first column: a period ("2026-11-02", "2026-11-02 14:00"), a service, a machine or a user
    at: datetime | None = None  # a period's start
    key: str | None = None  # a category's own name: "site:folder/name" (lower case) for a service
    values: list[float | None]  # one per series; null where there is no number


class ChartOut(Schema):
    name: str  # as the page's <figure data-chart="…">
    title: str
    first: str  # what the first column is: Hour, Day, Service, Machine or User
    series: list[str]  # the other columns, named as the page names them (Succeeded, Failed, p95…)
    unit: str  # jobs, seconds or hours (a "Jobs" series always counts jobs)
    rows: list[ChartRowOut]
    note: str = ""


class ActivityOut(Schema):
    since: datetime
    until: datetime
    period: Literal["hour", "day"]
    timezone: str
    charts: list[ChartOut]


def history_job_out(indexed: IndexedJob) -> HistoryJobOut:
    """An indexed job (its site set)."""
    row = HistoryRow(indexed)
    return HistoryJobOut(
        site=indexed.site.slug,
        service=row.service_key,
        job_id=indexed.job_id,
        status=indexed.status,
        status_label=row.label,
        gone_while=indexed.gone_while or None,
        submitted=indexed.submitted,
        ended=indexed.ended,
        duration_seconds=indexed.duration_ms / 1000 if indexed.duration_ms is not None else None,
        user=indexed.username or None,
        machine=indexed.machine or None,
        first_seen=indexed.first_seen,
        last_seen=indexed.last_seen,
        portal_url=row.url,
    )


def chart_out(table: Table) -> ChartOut:
    """A chart's numbers, as the page's table lists them."""
    return ChartOut(
        name=table.name,
        title=table.title,
        first=table.first,
        series=table.series,
        unit=table.unit,
        rows=[ChartRowOut(label=row.label, at=row.at, key=row.key or None, values=row.values) for row in table.rows],
        note=table.note,
    )
