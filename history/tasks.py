"""The collector on the worker (`celery -A dashboard worker`): beat sends `collect` every HISTORY_COLLECT_SECONDS,
which queues one `collect_site` per site with a monitoring account, so sites are collected side by side on the
worker's processes and a slow one holds only its own task. Both are plain functions underneath
(history.collector), which tests and `manage.py collect_jobs` call."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from history import collector
from jobs.models import Site

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def collect() -> int:
    """A pass over every monitored site: one task each (a pass nobody took before the next one is dropped)."""
    sites = [site.pk for site in collector.monitored_sites()]
    for site_id in sites:
        collect_site.apply_async((site_id,), expires=settings.HISTORY_COLLECT_SECONDS)
    return len(sites)


@shared_task(ignore_result=True)
def collect_site(site_id: int) -> str:
    """One site's pass; its summary line (also logged)."""
    site = Site.objects.filter(pk=site_id).first()
    if site is None:  # deleted since the pass was queued
        return ""
    return collector.collect_site(site).summary
