"""How often each service's jobs failed over the last hour, from the job index (the failure-rate alert: policies'
watch). One query over the jobs that ended in the hour, grouped by service (its lower-case key: ArcGIS's own
matching), read from an index on (ended, site, service_key, status) alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q

import arcgis_client
from history.models import IndexedJob

WINDOW = timedelta(hours=1)
FAILURES = (arcgis_client.FAILED, arcgis_client.TIMED_OUT)  # a job the service did not finish


@dataclass(frozen=True)
class ServiceRate:
    """A service's jobs that ended in the window, and how many of them failed."""

    site_pk: int
    service_key: str
    ended: int
    failed: int

    def over(self, percent: int, minimum: int) -> bool:
        """Strictly above `percent`, counted once it has at least `minimum` jobs."""
        return self.ended >= minimum and self.failed * 100 > percent * self.ended

    @property
    def percent(self) -> int:
        return round(100 * self.failed / self.ended) if self.ended else 0


def failing_services(now: datetime) -> dict[tuple[int, str], ServiceRate]:
    """Each service with at least one job that failed among those that ended in the hour up to `now`."""
    rows = (
        IndexedJob.objects.filter(ended__gt=now - WINDOW, ended__lte=now)
        .values("site_id", "service_key")
        # counting a column of the index, not the id: the index alone answers
        .annotate(ended_jobs=Count("status"), failed=Count("status", filter=Q(status__in=FAILURES)))
        .filter(failed__gt=0)
        .values_list("site_id", "service_key", "ended_jobs", "failed")
    )
    return {(site_pk, key): ServiceRate(site_pk, key, ended, failed) for site_pk, key, ended, failed in rows}


def spelled(site_pk: int, service_key: str) -> arcgis_client.ServiceRef:
    """The service as ArcGIS spells it, from its newest indexed job (the key is in lower case)."""
    found = (
        IndexedJob.objects.filter(site_id=site_pk, service_key=service_key)
        .order_by("-submitted")
        .values_list("folder", "service")
        .first()
    )
    return arcgis_client.ServiceRef(*found) if found else arcgis_client.ServiceRef.parse(service_key)
