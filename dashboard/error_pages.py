"""Error pages that keep the portal's layout (htmx requests get a short fragment), and the page for a database that
does not answer: a 503 that says so in words, never a traceback, logged once per outage."""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.html import format_html

from accounts.roles import FORBIDDEN
from dashboard.outages import Outage
from jobs.audit import CompletionLost

DATABASE = Outage(
    "The database",
    "pages and actions answer 503 (nothing is sent to ArcGIS) until it does",
    counted=("request was answered", "requests were answered"),
)
NOT_ANSWERING = "The portal's database is not answering; nothing was sent to ArcGIS. Try again in a moment."
RETRY_AFTER_SECONDS = 5


def _error(request, status: int, title: str, text: str):
    template = "partials/error_fragment.html" if getattr(request, "htmx", False) else "error.html"
    return render(request, template, {"status": status, "title": title, "text": text}, status=status)


def bad_request(request, exception=None):
    return _error(request, 400, "Bad request", "The request could not be understood.")


def permission_denied(request, exception=None):
    return _error(request, 403, "Not allowed", FORBIDDEN)


def page_not_found(request, exception=None):
    return _error(request, 404, "Not found", "There is nothing here, or you may not see it.")


def server_error(request):
    if (text := database_not_answering(sys.exc_info()[1])) is not None:
        return database_unavailable(request, text)
    # No context processors or database access: whatever failed may fail again.
    return HttpResponseServerError(render_to_string("500.html"))


# --- the database not answering -------------------------------------------------------------------


def database_not_answering(exc: BaseException | None) -> str | None:
    """What to tell the person whose request failed because the database did not answer; None for any other
    error (a bug stays a 500). Also logs the outage, once, and counts the request."""
    seen = set()
    while exc is not None and id(exc) not in seen:  # the database's error may be the cause of another
        seen.add(id(exc))
        if isinstance(exc, CompletionLost):
            DATABASE.failed(exc.__cause__ or exc)
            DATABASE.went_without()
            return (
                f"The portal's database stopped answering after ArcGIS was asked: the {exc.action} may have been "
                "carried out, and its audit row stays pending. Look at the job again in a moment."
            )
        if isinstance(exc, OperationalError | InterfaceError):
            DATABASE.failed(exc)
            DATABASE.went_without()
            return NOT_ANSWERING
        exc = exc.__cause__ or exc.__context__
    return None


def database_unavailable(request: HttpRequest, text: str) -> HttpResponse:
    """503 with the explanation: a page of its own (no layout: that needs the database), or the fragment htmx and
    portal.js show in place. Nothing here touches the database."""
    if request.headers.get("HX-Request"):
        body = format_html('<p class="message message-error" role="alert">{}</p>', text)
    else:
        body = render_to_string("503.html", {"title": "The database is not answering", "text": text})
    response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response._has_been_logged = True  # type: ignore[attr-defined]  # logged once per outage (DATABASE), not per request
    return response


def database_answers(**_signal) -> None:
    """A new database connection: if there was an outage, it is over (connected to connection_created)."""
    if DATABASE.ongoing:
        DATABASE.recovered()
