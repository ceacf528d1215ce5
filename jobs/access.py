"""Which site or service a request may reach: the pages and the API ask the same way. A site the user may not
see is a 404, exactly as one that does not exist."""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

import arcgis_client
from jobs.models import Site
from jobs.targets import ServiceTarget


def visible_site(request: HttpRequest, slug: str) -> Site:
    """The site, if this user may see it; a restricted site is a 404 to everyone else."""
    return get_object_or_404(Site.objects.visible_to(request.user), slug=slug)


def target_of(request: HttpRequest, slug: str, name: str, folder: str = "") -> ServiceTarget:
    """A GP service of a site the user may see, as the URL names it (the converters checked the names)."""
    return ServiceTarget(visible_site(request, slug), arcgis_client.ServiceRef(folder, name))
