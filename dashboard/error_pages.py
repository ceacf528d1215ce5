"""Error pages that keep the portal's layout (htmx requests get a short fragment)."""

from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template.loader import render_to_string

from accounts.roles import FORBIDDEN


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
    # No context processors or database access: whatever failed may fail again.
    return HttpResponseServerError(render_to_string("500.html"))
