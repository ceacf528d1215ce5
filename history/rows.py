"""An indexed job as the history shows it: a row with the fleet view's hooks and cells (jobs.rows' display values),
without the actions (a row of the history is a record: its job's page has the buttons while ArcGIS holds it), and a
job as the job's own page shows it once ArcGIS has forgotten it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

import arcgis_client
from history.models import IndexedJob
from jobs import rows
from jobs.hooks import RememberedJob
from jobs.targets import ServiceTarget


def as_job(indexed: IndexedJob) -> arcgis_client.Job:
    """What ArcGIS last said of the job, as the client would have read it."""
    return arcgis_client.Job(
        job_id=indexed.job_id,
        status=indexed.status,
        submitted=indexed.submitted,
        ended=indexed.ended,
        username=indexed.username or None,
        machine=indexed.machine or None,
    )


def target_of(indexed: IndexedJob) -> ServiceTarget | None:
    """Its service, as the portal's URLs name it (None for a name no URL could hold)."""
    try:
        return ServiceTarget(indexed.site, arcgis_client.ServiceRef(indexed.folder, indexed.service))
    except arcgis_client.InvalidName:
        return None


def label(indexed: IndexedJob) -> str:
    """Its status in the portal's words; a job that vanished while active says so ("Gone while Executing")."""
    if indexed.gone_while:
        return f"Gone while {arcgis_client.status_label(indexed.gone_while)}"
    return arcgis_client.status_label(indexed.status)


def duration(indexed: IndexedJob) -> timedelta | None:
    """From its submission to its end; for a job still active, so far; for one gone, not known."""
    if indexed.duration_ms is not None:
        return timedelta(milliseconds=indexed.duration_ms)
    if indexed.gone_while or indexed.status in arcgis_client.TERMINAL_STATUSES:
        return None
    return as_job(indexed).duration


def remembered(indexed: IndexedJob) -> RememberedJob:
    return RememberedJob(as_job(indexed), indexed.last_seen, indexed.gone_while)


@dataclass(frozen=True)
class HistoryRow:
    """Display values, computed once (templates only place them)."""

    indexed: IndexedJob

    @property
    def job_id(self) -> str:
        return self.indexed.job_id

    @property
    def status(self) -> str:
        return self.indexed.status

    @property
    def gone_while(self) -> str:
        return self.indexed.gone_while

    @cached_property
    def target(self) -> ServiceTarget | None:
        return target_of(self.indexed)

    @cached_property
    def url(self) -> str:
        return self.target.job_url(self.job_id) if self.target else ""

    @property
    def site(self):
        return self.indexed.site

    @property
    def service_key(self) -> str:
        """ "[<folder>/]<name>" in ArcGIS's spelling: the fleet view's data-service."""
        folder = self.indexed.folder
        return f"{folder}/{self.indexed.service}" if folder else self.indexed.service

    @cached_property
    def label(self) -> str:
        return label(self.indexed)

    @cached_property
    def tone(self) -> str:
        return "stopped" if self.gone_while else rows.TONES.get(self.status, "unknown")

    @cached_property
    def submitted(self) -> str:
        return rows.timestamp(self.indexed.submitted)

    @cached_property
    def ended(self) -> str:
        return rows.timestamp(self.indexed.ended)

    @cached_property
    def duration(self) -> str:
        return rows.duration(duration(self.indexed))

    @cached_property
    def user(self) -> str:
        return rows.whole_name(self.indexed.username)

    @cached_property
    def machine(self) -> str:
        return rows.host_name(self.indexed.machine)

    @cached_property
    def last_seen(self) -> str:
        return rows.timestamp(self.indexed.last_seen)
