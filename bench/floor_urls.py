"""Views that do only what no jobs page or cancel can do without, through the portal's whole middleware stack: the
request signed in (session, user), CSRF checked on a POST, and one call to ArcGIS with the portal's own client
(arcgis_client, its pooled keep-alive connection). No token decrypted, no permission checked, no audit row, no row
rendered, nothing shared or remembered: whatever the portal's requests cost beyond these is the portal's own work.

The site, the service and the token come from the bench's environment (FLOOR_ADMIN_URL, FLOOR_REFERER, FLOOR_TOKEN,
FLOOR_SERVICE); a job ID must look like one, as in the portal, before it reaches an ArcGIS URL."""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.http import require_GET, require_POST

import arcgis_client
from arcgis_client import AdminClient, ServiceRef, SiteConnection

_client = AdminClient(
    SiteConnection(os.environ["FLOOR_ADMIN_URL"], referer=os.environ["FLOOR_REFERER"], verify=False),
    os.environ["FLOOR_TOKEN"],
)
_service = ServiceRef("", os.environ["FLOOR_SERVICE"])


@require_GET
def nothing(request: HttpRequest) -> HttpResponse:
    """A signed-in page that calls no one: the least a jobs page's shell costs."""
    return HttpResponse(f"Signed in as {request.user.get_username()}.\n", content_type="text/plain")


@require_GET
def query(request: HttpRequest, start: int) -> HttpResponse:
    """One page of 50 jobs, read and parsed: the least a jobs table costs."""
    page = _client.query_jobs(_service, start=start, number=50)
    return HttpResponse(f"{len(page.jobs)} of {page.total} jobs\n", content_type="text/plain")


@require_POST
def cancel(request: HttpRequest, job_id: str) -> HttpResponse:
    """One cancel, as ArcGIS answered it: the least the cancel proxy costs."""
    _client.cancel_job(_service, arcgis_client.validate_job_id(job_id))
    return JsonResponse({"status": "success"})


urlpatterns = [
    path("nothing/", nothing),
    path("query/<int:start>/", query),
    path("jobs/<str:job_id>/cancel/", cancel),
    path("", include("dashboard.urls")),  # the rest as the portal has it: /healthz, the login page that sets CSRF
]
