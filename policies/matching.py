"""What a policy matches, and why, for one job: pure functions of the job, its flag and the time.

The jobs come from jobs.fleet (filters pushed down to ArcGIS) with their runaway flags from jobs.running_long;
this decides the rest. The edges are those of jobs.running_long: a job matches only once strictly past them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import arcgis_client
from jobs.running_long import Flag, minutes_text


@dataclass(frozen=True)
class Criteria:
    """What a policy asks of a job. The time conditions are alternatives: a job meets any one of those set
    (a job is either queued or executing); with none set, every job of the statuses, user and machine matches."""

    statuses: frozenset[str]
    username: str = ""
    machine: str = ""
    running_minutes: int | None = None
    running_long: bool = False
    queued_minutes: int | None = None

    @classmethod
    def of(cls, policy) -> Criteria:
        return cls(
            statuses=frozenset(policy.chosen_statuses),
            username=policy.username,
            machine=policy.machine,
            running_minutes=policy.running_minutes,
            running_long=policy.running_long,
            queued_minutes=policy.queued_minutes,
        )

    @property
    def timed(self) -> bool:
        return self.running_minutes is not None or self.running_long or self.queued_minutes is not None

    @property
    def asked_statuses(self) -> tuple[str, ...]:
        """The statuses worth asking ArcGIS for: with time conditions, only those they can apply to."""
        if not self.timed:
            return tuple(sorted(self.statuses))
        wanted = set()
        if self.running_minutes is not None or self.running_long:
            wanted.add(arcgis_client.EXECUTING)
        if self.queued_minutes is not None:
            wanted |= arcgis_client.QUEUED_STATUSES
        return tuple(sorted(self.statuses & wanted))

    def submitted_before(self, now: datetime) -> datetime | None:
        """Every match was submitted before this (ArcGIS's endTime), when only minute conditions are set."""
        if not self.timed or self.running_long:
            return None
        minutes = [m for m in (self.running_minutes, self.queued_minutes) if m is not None]
        return now - timedelta(minutes=min(minutes))


def why(criteria: Criteria, job: arcgis_client.Job, flag: Flag | None, now: datetime) -> str | None:
    """Why the job matches, in words ("Queued 42 min, over 30 min · user svc_batch"), or None."""
    if job.status not in criteria.statuses:
        return None
    if criteria.username and (job.username or "").casefold() != criteria.username.casefold():
        return None
    if criteria.machine and (job.machine or "").casefold() != criteria.machine.casefold():
        return None
    if criteria.timed:
        reason = _timed_reason(criteria, job, flag, now)
        if reason is None:
            return None
    else:
        reason = job.label
    details = [f"user {job.username}"] if criteria.username else []
    details += [f"machine {job.machine}"] if criteria.machine else []
    return " · ".join([reason, *details])


def _timed_reason(criteria: Criteria, job: arcgis_client.Job, flag: Flag | None, now: datetime) -> str | None:
    if job.submitted is None:
        return None
    age = now - job.submitted
    if job.status == arcgis_client.EXECUTING:
        if criteria.running_minutes is not None and age > timedelta(minutes=criteria.running_minutes):
            return f"Running {minutes_text(age)}, over {criteria.running_minutes} min"
        if criteria.running_long and flag is not None and flag.kind == "running-long":
            return flag.text
    queued = criteria.queued_minutes
    if job.status in arcgis_client.QUEUED_STATUSES and queued is not None and age > timedelta(minutes=queued):
        return f"Queued {minutes_text(age)}, over {queued} min"
    return None
