"""What every view section shares: going back to the page a form was on, messages and row outcomes without
JavaScript, and server-sent event streams."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.middleware import HtmxDetails

from accounts.access import AuthenticatedHttpRequest
from jobs import operations, sorting
from jobs.rows import RowOutcome


class HtmxHttpRequest(AuthenticatedHttpRequest):
    """A page's request: signed in, and with `htmx`, which django-htmx's middleware adds to every request."""

    htmx: HtmxDetails


def redirect_back(request: HttpRequest, default: str) -> HttpResponse:
    """Back to the page the form was on, never to another host."""
    target = request.POST.get("next") or request.GET.get("next")
    if not target or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = default
    return redirect(target)


def page_path(request: HtmxHttpRequest) -> str:
    """The path and query of the page the operator is on (for a fragment: the page that loaded it)."""
    if request.htmx and request.htmx.current_url_abs_path:
        return request.htmx.current_url_abs_path
    return request.get_full_path()


def without_empty_filters(request: HttpRequest) -> HttpResponse | None:
    """A filter form sent without JavaScript carries every field, empty or not; the address says only what was asked
    for ("?user=svc_batch"), so the page redirects to that one once. None when there is nothing to leave out."""
    if request.method != "GET" or not any(value == "" for value in request.GET.values()):
        return None
    query = request.GET.copy()
    for name in list(query):
        values = [value for value in query.getlist(name) if value != ""]
        if values:
            query.setlist(name, values)
        else:
            del query[name]
    return redirect(f"{request.path}?{query.urlencode()}" if query else request.path)


def kept_parameters(request: HttpRequest, *dropped: str) -> list[tuple[str, str]]:
    """The page's query parameters but these, as (name, value) pairs: a form's hidden inputs that keep them."""
    return [(name, value) for name, values in request.GET.lists() if name not in dropped for value in values]


def query_without(request: HttpRequest, *dropped: str) -> str:
    """The page's query string but these parameters, as QueryDict.urlencode() writes it (request.GET.copy() would
    deep-copy every value first, and a page builds several of these)."""
    return urlencode(kept_parameters(request, *dropped))


def with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


def without_inline(request: HttpRequest) -> str:
    return with_query(request.path, query_without(request, "inline"))


def list_filters(request: HttpRequest) -> str:
    """The filters of the list the page shows, as a query string (not its page, order or a poll's state): what
    "all matching" means, and what an export exports."""
    return query_without(request, "page", "before", "sort", "inline", "rows", "newest", "failures", "every")


def export_url(request: HttpRequest, url: str) -> str:
    """Where the list the page shows is exported: its filters and its order (ArcGIS's: by submission)."""
    return with_query(url, query_without(request, "page", "before", "inline", "rows", "newest", "failures", "every"))


def refused_export(form) -> HttpResponse:
    """An export of nothing would look like an empty list: bad filters are said in words instead."""
    return HttpResponse(
        f"The filters need a correction. {form.problems()}\n", status=400, content_type="text/plain; charset=utf-8"
    )


def sort_context(request: HttpRequest, keys, ordering: str) -> dict:
    """What a job table's sorting shows: its headers, the order in words (and whether it is the page's own),
    and the sort menu."""
    return {
        "sort": ordering,
        "columns": sorting.header(keys, ordering),
        "sort_words": sorting.describe(ordering),
        "sorted_within_page": not sorting.across_pages(ordering),
        "sort_choices": sorting.menu(keys),
        "sort_keep": kept_parameters(request, "sort", "page", "before", "inline"),
    }


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


def event_stream(fragments: Iterable[str]) -> StreamingHttpResponse:
    """Server-sent events for htmx's sse extension: each fragment as it is ready, then "done"."""

    def stream() -> Iterator[str]:
        for html in fragments:
            yield "event: fragment\n" + "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"
        yield "event: done\ndata: done\n\n"

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx must pass each event on at once
    return response


def small_int(value, maximum: int) -> int | None:
    try:
        return min(max(int(value), 0), maximum)
    except (TypeError, ValueError):
        return None
