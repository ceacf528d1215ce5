"""The JSON API, /api/v1/: the pages' paths and rules, for scripts.

Thin, like the views: access is checked here with the same permissions and site visibility as the
pages (jobs.views' helpers), jobs.reads or jobs.operations does the work, and the answer becomes
JSON. Every action goes through the audited operations with via "api" and the token's name.

Authentication is a personal API token only (`Authorization: Bearer gpj_…`): a session cookie alone
is not accepted, so no request is ever acted on because a browser sent a cookie (the views are exempt
from CSRF only because of that). Errors have one shape, `{"error": {"code": …, "message": …}}`:
400 bad_request, 401 unauthorized, 403 forbidden, 404 not_found, 429 rate_limited; a read that ArcGIS
fails is 502 upstream_failed with ArcGIS's words (409 not_connected when the user must first connect
to the site with their ArcGIS account); an action that ArcGIS refuses or fails is not an HTTP error:
200 with its outcome.
"""

from __future__ import annotations

import functools
import inspect
import math

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict
from ninja import NinjaAPI, Query
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.docs import Swagger
from ninja.security import HttpBearer

import arcgis_client
import jobs.urls  # noqa: F401  (registers the arcgisname and jobid path converters used below)
from accounts import roles, sso
from accounts.access import AuthenticatedHttpRequest, require
from accounts.permission_cache import uncached
from api import personal_tokens, schemas
from api.models import ApiToken
from api.schemas import ActionOut, BulkIn, BulkOut, ErrorOut, JobDetailOut, JobFilters, JobPageOut
from history import activity
from history.forms import HistoryFilterForm
from jobs import fleet, operations, reads, sorting
from jobs.access import target_of, visible_site
from jobs.forms import BulkForm, FleetFilterForm, JobFilterForm, problems_in_words
from jobs.models import AuditEvent, Site, StoredToken
from jobs.queries import ActionTarget
from jobs.targets import ServiceTarget

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "not_connected",
    429: "rate_limited",
    502: "upstream_failed",
}
ERRORS = {status: ErrorOut for status in (400, 401, 403, 404, 409, 429, 502)}
ACTION_ERRORS = {status: ErrorOut for status in (400, 401, 403, 404, 429)}


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        self.status, self.message, self.code = status, message, code or CODES[status]
        super().__init__(message)


class ApiRequest(AuthenticatedHttpRequest):
    """A request its token let in: BearerToken makes the token's owner its user, and ninja keeps the token's
    row as `auth`."""

    auth: ApiToken


class BearerToken(HttpBearer):
    """A personal API token: the request acts as its owner, with their role, never more."""

    def authenticate(self, request: HttpRequest, token: str):
        row = personal_tokens.authenticate(token)  # raises personal_tokens.Refused
        personal_tokens.check_rate(row)  # raises personal_tokens.RateLimited
        # Its owner's roles as they are now: from the database, whichever process changed them, and confirmed with
        # the identity provider when theirs is due (a provider that removed them leaves the role gone: 403).
        request.user = uncached(row.user)
        try:
            sso.renew(request.user)
        except sso.AccessUnconfirmed as exc:
            raise personal_tokens.Refused(str(exc)) from None
        return row


def _docs_for_people_signed_in(view):
    """The schema and the interactive docs: for people signed in to the portal, unless API_DOCS_PUBLIC opens them
    (they name every path and parameter the portal takes)."""

    @functools.wraps(view)
    def docs(request: HttpRequest, *args, **kwargs):
        if not settings.API_DOCS_PUBLIC and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return docs


api = NinjaAPI(
    title="GP Jobs Portal API",
    version="1",
    description=(
        "See and stop the GP jobs of the portal's ArcGIS Server sites with a personal API token "
        "(create one under *API tokens* in the portal), sent as `Authorization: Bearer <token>`. "
        "A token acts with its owner's role and their own stored ArcGIS token; every action is audited."
    ),
    urls_namespace="api-v1",
    auth=BearerToken(),
    docs=Swagger(settings={"persistAuthorization": False}),
    docs_decorator=_docs_for_people_signed_in,
)


# --- errors: one shape ----------------------------------------------------------------------------


def error_response(request: HttpRequest, status: int, message: str, code: str | None = None):
    return api.create_response(request, {"error": {"code": code or CODES[status], "message": message}}, status=status)


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    return error_response(request, exc.status, exc.message, exc.code)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    response = error_response(request, 401, "Send a personal API token: Authorization: Bearer <token>.")
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(personal_tokens.Refused)
def _refused(request, exc: personal_tokens.Refused):
    response = error_response(request, 401, exc.message)
    response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


@api.exception_handler(personal_tokens.RateLimited)
def _rate_limited(request, exc: personal_tokens.RateLimited):
    response = error_response(request, 429, f"Too many requests with this token; try again in {exc.retry_after} s.")
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc: PermissionDenied):
    return error_response(request, 403, str(exc) or roles.FORBIDDEN)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error_response(request, 404, "There is nothing here, or you may not see it.")


@api.exception_handler(ValidationError)
def _invalid(request, exc: ValidationError):
    problems = []
    for error in exc.errors:
        where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "request"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return error_response(request, 400, "; ".join(problems) or "The request could not be understood.")


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    return error_response(request, exc.status_code, str(exc), CODES.get(exc.status_code, "error"))


def only_known_parameters(request: HttpRequest, schema) -> None:
    """A misspelt filter must not silently widen what a script reads, and then acts on."""
    if unknown := sorted(set(request.GET) - set(schema.model_fields)):
        raise ApiError(400, f"Unknown parameter: {', '.join(unknown)}. Known: {', '.join(schema.model_fields)}.")


def read_failed(error: reads.ReadError) -> ApiError:
    """A read that did not work, in ArcGIS's words (or the portal's, when the user has no usable token)."""
    if error.reconnect:
        return ApiError(409, error.message)
    if isinstance(error, arcgis_client.NotFound):
        return ApiError(404, error.message)
    return ApiError(502, error.message)


def as_form_data(filters) -> QueryDict:
    """A filters schema as the page's form takes its query string: lists as repeated values, a box ticked as "on",
    what was not sent left out."""
    data = QueryDict(mutable=True)
    for key, value in filters.dict().items():
        if isinstance(value, list):
            data.setlist(key, value)
        elif isinstance(value, bool):
            data[key] = "on" if value else ""
        elif value is not None:
            data[key] = str(value)
    return data


# --- access: the pages' rules ----------------------------------------------------------------------


def via_detail(request: ApiRequest) -> str:
    return request.auth.label


# --- routes: a service's paths exist in its folder and in the root folder -----------------------------


def service_route(method: str, suffix: str, **options):
    """Registers `func` at /sites/{slug}/services/{folder}/{name}<suffix> and, without `folder`, at
    /sites/{slug}/services/{name}<suffix> (the names are the page URLs' converters). The folder form comes
    first: /services/X/jobs/jobs/ is the jobs of service "jobs" in folder X, never a job called "jobs"."""

    def register(func):
        folder_path = f"/sites/{{slug}}/services/{{arcgisname:folder}}/{{arcgisname:name}}{suffix}"
        root_path = f"/sites/{{slug}}/services/{{arcgisname:name}}{suffix}"
        api.api_operation([method], folder_path, operation_id=func.__name__, **options)(func)
        api.api_operation([method], root_path, operation_id=f"{func.__name__}_in_root_folder", **options)(
            _in_root_folder(func)
        )
        return func

    return register


def _in_root_folder(func):
    signature = inspect.signature(func)

    @functools.wraps(func)
    def in_root(request, **kwargs):
        return func(request, folder="", **kwargs)

    in_root.__signature__ = signature.replace(
        parameters=[p for p in signature.parameters.values() if p.name != "folder"]
    )
    return in_root


# --- reads -----------------------------------------------------------------------------------------


@api.get("/sites/", response={200: list[schemas.SiteOut], **ERRORS}, summary="The sites you may see")
def list_sites(request: ApiRequest):
    require(request.user, roles.VIEW_JOBS)
    sites = list(Site.objects.visible_to(request.user))
    tokens_by_site = {t.site_id: t for t in StoredToken.objects.filter(user=request.user, site__in=sites)}
    return [schemas.site_out(site, tokens_by_site.get(site.pk)) for site in sites]


@api.get("/sites/{slug}/services/", response={200: schemas.ServicesOut, **ERRORS}, summary="A site's GP services")
def list_services(request: ApiRequest, slug: str):
    require(request.user, roles.VIEW_JOBS)
    section = reads.site_section(request.user, visible_site(request, slug))
    if section.error:
        raise read_failed(section.error)
    services = [
        schemas.ServiceOut(
            folder=target.service.folder,
            name=target.service.name,
            key=target.service.key,
            jobs_url=schemas.api_path(target),
        )
        for target in section.targets
    ]
    return schemas.ServicesOut(site=slug, services=services)


@service_route("GET", "/jobs/", response={200: JobPageOut, **ERRORS}, summary="A page of a service's jobs")
def list_jobs(request: ApiRequest, slug: str, folder: str, name: str, filters: Query[JobFilters]):
    """Newest first, 50 a page, with the jobs page's filters (all optional)."""
    require(request.user, roles.VIEW_JOBS)
    only_known_parameters(request, JobFilters)
    target = target_of(request, slug, name, folder)
    form = JobFilterForm({key: value for key, value in filters.dict().items() if value is not None})
    if not form.is_valid():
        raise ApiError(400, problems_in_words(form, by_name=True))
    table = reads.job_table(request.user, target, form.query(), job_id=form.cleaned_data["job"])
    if table.error:
        raise read_failed(table.error)
    assert table.page is not None  # no error: the page was read
    return JobPageOut(
        site=slug,
        service=target.service.key,
        jobs=[schemas.job_out(row) for row in sorting.sort_entries(table.rows, form.ordering)],
        total=table.page.total,
        page=form.page_number,
        per_page=form.page_size,
        page_count=max(math.ceil(table.page.total / form.page_size), 1),
    )


@service_route("GET", "/jobs/{jobid:job_id}/", response={200: JobDetailOut, **ERRORS}, summary="One job")
def job_detail(request: ApiRequest, slug: str, folder: str, name: str, job_id: str):
    require(request.user, roles.VIEW_JOBS)
    target = target_of(request, slug, name, folder)
    detail = reads.job_detail(request.user, target, job_id)
    if detail.error:
        raise read_failed(detail.error)
    if detail.row.gone:
        raise ApiError(404, f"{target.service.key} has no job {job_id} on {target.site.name}.")
    return schemas.job_detail_out(target, detail)


@api.get("/jobs/", response={200: schemas.FleetOut, **ERRORS}, summary="Jobs of every service of every site")
def fleet_jobs(request: ApiRequest, filters: Query[schemas.FleetFilters]):
    """The fleet view's query: every GP service of every site you may see, merged newest (or longest running)
    first, 50 at a time; `next_cursor` moves to the next page. Services that did not answer are in `failures`."""
    require(request.user, roles.VIEW_JOBS)
    only_known_parameters(request, schemas.FleetFilters)
    sites = list(Site.objects.visible_to(request.user))
    form = FleetFilterForm(as_form_data(filters), sites=sites)
    if not form.is_valid():
        raise ApiError(400, problems_in_words(form, by_name=True))
    slug = form.cleaned_data["site"]
    *_, state = fleet.fleet(request.user, [s for s in sites if not slug or s.slug == slug], form.query())
    return schemas.FleetOut(
        jobs=[schemas.fleet_job_out(item.row) for item in state.rows],
        failures=[schemas.FailureOut(service=name, message=why) for name, why in state.failures.items()],
        next_cursor=state.next_cursor or None,
    )


# --- the job history: the index's jobs and activity, on the sites the user may see -----------------------------


def _history_form(request: ApiRequest, filters: schemas.HistoryFilters) -> tuple[HistoryFilterForm, list[Site]]:
    require(request.user, roles.VIEW_JOBS)
    only_known_parameters(request, schemas.HistoryFilters)
    sites = list(Site.objects.visible_to(request.user))
    form = HistoryFilterForm(as_form_data(filters), sites=sites)
    if not form.is_valid():
        raise ApiError(400, problems_in_words(form, by_name=True))
    return form, sites


@api.get(
    "/history/jobs/", response={200: schemas.HistoryJobsOut, **ERRORS}, summary="Indexed jobs, also forgotten ones"
)
def history_jobs(request: ApiRequest, filters: Query[schemas.HistoryFilters]):
    """Every job the portal's collector indexed on the sites you may see (also those ArcGIS has forgotten), newest
    first, 50 a page (`per_page` up to 200); `next_cursor` moves to the next page. No ArcGIS connection needed."""
    form, sites = _history_form(request, filters)
    page = form.query().page(sites)
    return schemas.HistoryJobsOut(
        jobs=[schemas.history_job_out(row) for row in page.rows], next_cursor=page.next_cursor or None
    )


@api.get("/history/activity/", response={200: schemas.ActivityOut, **ERRORS}, summary="The activity charts' numbers")
def history_activity(request: ApiRequest, filters: Query[schemas.HistoryFilters]):
    """The numbers of the history page's charts for the same filters: jobs per hour (a span of up to two days) or
    day by outcome, duration percentiles of the succeeded jobs (seconds), the services with the most failures and
    the most running time (hours), and jobs per machine and per user. Periods are in UTC."""
    form, sites = _history_form(request, filters)
    query = form.query()
    span = activity.span_of(*query.span())
    counted = activity.Activity(query.jobs(sites), span, query.sites_of(sites))
    return schemas.ActivityOut(
        since=span.since,
        until=span.until,
        period=span.step,
        timezone=str(span.zone),
        charts=[schemas.chart_out(table) for table in counted.tables()],
    )


# --- actions: the audited operations, via api ------------------------------------------------------


def _job_action(request: ApiRequest, target: ServiceTarget, job_id: str, action: str) -> ActionOut:
    known = target.recall([job_id]).get(job_id)
    detail = via_detail(request)
    if action == AuditEvent.Action.CANCEL:
        result = operations.cancel_job(
            request.user, target.site, target.service, job_id, via=AuditEvent.Via.API, via_detail=detail, known=known
        )
    else:
        result = operations.delete_job(
            request.user, target.site, target.service, job_id, via=AuditEvent.Via.API, via_detail=detail
        )
    return schemas.action_out(target, result, known)


@service_route("POST", "/jobs/{jobid:job_id}/cancel", response={200: ActionOut, **ACTION_ERRORS}, summary="Cancel")
def cancel_job(request: ApiRequest, slug: str, folder: str, name: str, job_id: str):
    """Asks ArcGIS to cancel the job: `success` (it is now cancelling), `refused` (ArcGIS's words), `failed`."""
    require(request.user, roles.OPERATE_JOBS)
    return _job_action(request, target_of(request, slug, name, folder), job_id, AuditEvent.Action.CANCEL)


@service_route("POST", "/jobs/{jobid:job_id}/delete", response={200: ActionOut, **ACTION_ERRORS}, summary="Delete")
def delete_job(request: ApiRequest, slug: str, folder: str, name: str, job_id: str):
    require(request.user, roles.OPERATE_JOBS)
    return _job_action(request, target_of(request, slug, name, folder), job_id, AuditEvent.Action.DELETE)


@service_route("POST", "/jobs/purge", response={200: ActionOut, **ACTION_ERRORS}, summary="Purge the queue")
def purge_queue(request: ApiRequest, slug: str, folder: str, name: str):
    """Cancels every new, submitted and waiting job of the service."""
    require(request.user, roles.OPERATE_JOBS)
    target = target_of(request, slug, name, folder)
    result = operations.purge_queue(
        request.user, target.site, target.service, via=AuditEvent.Via.API, via_detail=via_detail(request)
    )
    return schemas.action_out(target, result, None)


@service_route("POST", "/jobs/bulk", response={200: BulkOut, **ACTION_ERRORS}, summary="Cancel or delete many jobs")
def bulk_action(request: ApiRequest, slug: str, folder: str, name: str, body: BulkIn):
    """At most 500 jobs at once; a cancel is not sent for a job the portal last saw finished (`skipped`)."""
    require(request.user, roles.OPERATE_JOBS)
    target = target_of(request, slug, name, folder)
    form = BulkForm(MultiValueDict({"action": [body.action], "job_ids": body.job_ids}))
    if not form.is_valid():
        raise ApiError(400, problems_in_words(form, by_name=True))
    job_ids = form.cleaned_data["job_ids"]
    known = target.recall(job_ids)
    report = operations.bulk(
        request.user,
        target.site,
        form.cleaned_data["action"],
        [ActionTarget(target.service, job_id) for job_id in job_ids],
        known=known,
        via=AuditEvent.Via.API,
        via_detail=via_detail(request),
    )
    results = [schemas.action_out(target, result, known.get(result.job_id)) for result in report.results]
    return BulkOut(action=report.action, summary=report.summary, results=results, skipped=report.skipped)


def urls():
    """The API's URL patterns, each answering for itself: 401 in JSON, never a redirect to the login page, and
    a method a path does not take answered in the API's error shape too."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        pattern.callback = login_not_required(_json_not_allowed(pattern.callback))
    return patterns, app_name, namespace


def _json_not_allowed(view):
    @functools.wraps(view)
    def answer(request: HttpRequest, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 405:
            allowed = response["Allow"]
            response = error_response(request, 405, f"{request.method} is not taken here; use {allowed}.")
            response["Allow"] = allowed
        return response

    return answer
