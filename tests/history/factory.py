"""Indexed jobs written straight into the job index, as the collector would leave them: for the history pages,
charts and API, without a collector pass."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from django.utils import timezone

import arcgis_client
from history.models import IndexedJob, ServiceCollection
from jobs.models import Site

_numbers = itertools.count(1)


def indexed(
    site: Site,
    service: str = "Hydrology/Watershed",
    status: str = arcgis_client.SUCCEEDED,
    *,
    submitted: datetime | None = None,
    seconds: float | None = 60,
    user: str = "analyst1",
    machine: str = "GIS01",
    job_id: str | None = None,
    gone_while: str = "",
) -> IndexedJob:
    """One job of `service` ("Folder/Name" or "Name", in ArcGIS's spelling), submitted at `submitted` (default:
    an hour ago); a finished one ended `seconds` later."""
    folder, _, name = service.rpartition("/")
    submitted = submitted or timezone.now() - timedelta(hours=1)
    finished = status in arcgis_client.TERMINAL_STATUSES and seconds is not None
    ended = submitted + timedelta(seconds=seconds) if finished and seconds is not None else None
    return IndexedJob.objects.create(
        site=site,
        folder=folder,
        service=name,
        service_key=service.lower(),
        job_id=job_id or f"j{next(_numbers):06d}",
        status=status,
        submitted=submitted,
        ended=ended,
        duration_ms=int(seconds * 1000) if ended is not None and seconds is not None else None,
        username=user,
        machine=machine,
        first_seen=submitted,
        last_seen=ended or submitted,
        gone_while=gone_while,
    )


def collected(site: Site, service: str, seconds_ago: float | None = 1) -> ServiceCollection:
    """The service ("Folder/Name" or "Name") as the collector left it, its last pass `seconds_ago` (None: never)."""
    folder, _, name = service.rpartition("/")
    last = timezone.now() - timedelta(seconds=seconds_ago) if seconds_ago is not None else None
    found, _ = ServiceCollection.objects.update_or_create(
        site=site, service_key=service.lower(), defaults={"folder": folder, "service": name, "last_pass": last}
    )
    return found
