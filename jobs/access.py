"""Which site or service a request may reach: the pages and the API ask the same way. A site the user may not
see is a 404, exactly as one that does not exist."""

from __future__ import annotations

from django.http import Http404, HttpRequest

import arcgis_client
from jobs import site_directory
from jobs.models import Site
from jobs.targets import ServiceTarget


def visible_site(request: HttpRequest, slug: str) -> Site:
    """The site, if this user may see it; a restricted site is a 404 to everyone else."""
    site = site_directory.visible_site(request.user, slug)
    if site is None:
        raise Http404("No such site.")
    return site


def target_of(request: HttpRequest, slug: str, name: str, folder: str = "") -> ServiceTarget:
    """A GP service of a site the user may see, as the URL names it (the converters checked the names)."""
    return ServiceTarget(visible_site(request, slug), arcgis_client.ServiceRef(folder, name))
