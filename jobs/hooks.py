"""What apps above jobs add to its pages. jobs may not import them (the layers): an app's AppConfig.ready() adds its
functions here, and jobs' views ask them. With nothing registered, the pages show what ArcGIS says, as before.

- `forgotten_job_lookups`: what a job was when last seen, for the job's page when ArcGIS no longer holds it (or
  cannot be asked right now); the history app answers from its job index.
- `service_panels`: HTML shown near the top of a service's jobs page (the history app: its recent activity).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe

import arcgis_client
from jobs.targets import ServiceTarget


@dataclass(frozen=True)
class RememberedJob:
    """A job as it was last seen, from somewhere other than ArcGIS."""

    job: arcgis_client.Job
    last_seen: datetime
    gone_while: str = ""  # the status it had when it vanished from ArcGIS while still active, if it did

    @property
    def gone_while_label(self) -> str:
        return arcgis_client.status_label(self.gone_while) if self.gone_while else ""


ForgottenJobLookup = Callable[[ServiceTarget, str], RememberedJob | None]
ServicePanel = Callable[[HttpRequest, ServiceTarget], str]

forgotten_job_lookups: list[ForgottenJobLookup] = []
service_panels: list[ServicePanel] = []


def register(registry: list, function: Callable) -> None:
    """Adds a function once, however often an app's ready() runs."""
    if function not in registry:
        registry.append(function)


def remembered_job(target: ServiceTarget, job_id: str) -> RememberedJob | None:
    """The job as last seen (the target's site was checked visible to the user), or None."""
    for lookup in forgotten_job_lookups:
        if (found := lookup(target, job_id)) is not None:
            return found
    return None


def service_panel_html(request: HttpRequest, target: ServiceTarget) -> SafeString:
    """Every registered panel for this service's page, in order (each is rendered, escaped HTML)."""
    return mark_safe("".join(panel(request, target) for panel in service_panels))  # noqa: S308 - rendered templates
