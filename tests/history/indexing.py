"""Rows of the job index as the collector writes them, for tests that read the index."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from django.utils import timezone

import arcgis_client
from history.models import IndexedJob, ServiceCollection
from jobs.models import Site

_numbers = itertools.count(1)


def index_job(
    site: Site,
    key: str,
    status: str = arcgis_client.SUCCEEDED,
    *,
    submitted: datetime | None = None,
    minutes: float | None = None,
    job_id: str | None = None,
    username: str = "analyst1",
    machine: str = "GIS01.EXAMPLE.COM",
) -> IndexedJob:
    """A job of service `key` ("Folder/Name", any case) as the index holds it; `minutes`: how long it took (ended)."""
    ref = arcgis_client.ServiceRef.parse(key)
    submitted = submitted or timezone.now() - timedelta(minutes=5)
    ended = submitted + timedelta(minutes=minutes) if minutes is not None else None
    return IndexedJob.objects.create(
        site=site,
        folder=ref.folder,
        service=ref.name,
        service_key=ref.key.lower(),
        job_id=job_id or f"jidx{next(_numbers):06d}",
        status=status,
        submitted=submitted,
        ended=ended,
        duration_ms=int((ended - submitted).total_seconds() * 1000) if ended else None,
        username=username,
        machine=machine,
        first_seen=submitted,
        last_seen=timezone.now(),
    )


def collected(site: Site, key: str, seconds_ago: float | None = 1) -> ServiceCollection:
    """The service as collected `seconds_ago` (None: never yet)."""
    ref = arcgis_client.ServiceRef.parse(key)
    last = timezone.now() - timedelta(seconds=seconds_ago) if seconds_ago is not None else None
    found, _ = ServiceCollection.objects.update_or_create(
        site=site,
        service_key=ref.key.lower(),
        defaults={"folder": ref.folder, "service": ref.name, "last_pass": last},
    )
    return found
