"""Runaway baselines from the job index: the 95th percentile of the last 30 days' succeeded durations of each
service that has at least 20 of them, so "usually ≤ 12 min" survives ArcGIS's cleaning of its jobs directory.

jobs.running_long asks through the source this module registers (history's app, when it is ready): one query per
batch of sites not in the cache, every service of them at once, each site's answer shared for a couple of minutes.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.db.models import Count
from django.utils import timezone

import arcgis_client
from history.activity import PercentileCont, percentile
from history.models import IndexedJob
from jobs.models import Site
from jobs.running_long import Baseline, IndexedBaselines
from jobs.shared_cache import cache

DAYS = 30
MINIMUM = 20  # fewer succeeded jobs in the index: the baseline comes from ArcGIS's own, as without an index
CACHE_SECONDS = 120  # a site's baselines are shared this long between requests and workers


def _key(site_pk: int) -> str:
    return f"history:baselines:{site_pk}"


def index_baselines(sites: list[Site]) -> IndexedBaselines:
    """The baselines of every service of these sites with enough succeeded jobs in the index."""
    keys = {site.pk: _key(site.pk) for site in sites}
    found = cache.get_many(list(keys.values()))
    missing = [pk for pk, key in keys.items() if key not in found]
    if missing:
        computed = _compute(missing)
        fresh = {keys[pk]: computed.get(pk, {}) for pk in missing}
        cache.set_many(fresh, CACHE_SECONDS)
        found |= fresh
    return {
        (pk, service): Baseline(samples, timedelta(milliseconds=p95), days=DAYS)
        for pk, key in keys.items()
        for service, (samples, p95) in found.get(key, {}).items()
    }


def _succeeded(site_pks: list[int]):
    """The recent succeeded jobs of these sites that have a duration (a partial index holds just these)."""
    return IndexedJob.objects.filter(
        site_id__in=site_pks,
        status=arcgis_client.SUCCEEDED,
        submitted__gte=timezone.now() - timedelta(days=DAYS),
        duration_ms__gte=0,
    )


def _compute(site_pks: list[int]) -> dict[int, dict[str, tuple[int, float]]]:
    """{site pk: {service key: (samples, p95 in ms)}} for the services with at least MINIMUM samples."""
    found: dict[int, dict[str, tuple[int, float]]] = {}
    if connection.vendor == "postgresql":
        rows = (
            _succeeded(site_pks)
            .values("site_id", "service_key")
            .annotate(samples=Count("duration_ms"), p95=PercentileCont(0.95, "duration_ms"))  # the partial index alone
            .filter(samples__gte=MINIMUM)
            .values_list("site_id", "service_key", "samples", "p95")
        )
        for site_pk, service, samples, p95 in rows:
            found.setdefault(site_pk, {})[service] = (samples, p95)
        return found
    # Elsewhere (SQLite: the demo), the same percentile in Python.
    durations: dict[tuple[int, str], list[int]] = {}
    for site_pk, service, duration in _succeeded(site_pks).values_list("site_id", "service_key", "duration_ms"):
        durations.setdefault((site_pk, service), []).append(duration)
    for (site_pk, service), values in durations.items():
        if len(values) >= MINIMUM:
            found.setdefault(site_pk, {})[service] = (len(values), percentile(sorted(values), 0.95))
    return found
