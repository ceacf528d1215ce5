"""What the Administrator API answers, as typed values: services, jobs, a page of a jobs query, statistics, tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from arcgis_client._json import datetime_from_ms
from arcgis_client.errors import MalformedResponse
from arcgis_client.names import ServiceRef
from arcgis_client.statuses import CANCELLABLE_STATUSES, TERMINAL_STATUSES, status_label


@dataclass(frozen=True)
class Service:
    folder: str
    name: str
    type: str
    description: str = ""

    @property
    def is_gp(self) -> bool:
        return self.type == "GPServer"

    @property
    def ref(self) -> ServiceRef:
        return ServiceRef(self.folder, self.name)


@dataclass(frozen=True)
class Job:
    job_id: str
    status: str
    submitted: datetime | None = None
    ended: datetime | None = None
    username: str | None = None
    machine: str | None = None
    url: str | None = None

    @classmethod
    def from_json(cls, data: dict, job_id: str | None = None) -> Job:
        if not isinstance(data, dict):
            raise MalformedResponse("A job in the server's answer is not an object.")
        found_id = str(data.get("jobId") or job_id or "")
        if not found_id:
            raise MalformedResponse("A job in the server's answer has no jobId.")
        return cls(
            job_id=found_id,
            status=str(data.get("status") or data.get("jobStatus") or "unknown"),
            submitted=datetime_from_ms(data.get("submittedTime")),
            ended=datetime_from_ms(data.get("endTime")),
            username=data.get("username") or None,
            machine=data.get("machinename") or data.get("machineName") or None,
            url=data.get("url") or None,
        )

    def __reduce__(self) -> tuple:
        # Pages of jobs are kept in the shared cache, and so is each job of a page shown: their times as POSIX
        # timestamps pickle three times faster than datetimes do, and come back the same.
        return _job, (self.job_id, self.status, _stamp(self.submitted), _stamp(self.ended), *self._rest)

    @property
    def _rest(self) -> tuple[str | None, str | None, str | None]:
        return self.username, self.machine, self.url

    @property
    def label(self) -> str:
        return status_label(self.status)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def can_cancel(self) -> bool:
        return self.status in CANCELLABLE_STATUSES

    @property
    def duration(self) -> timedelta | None:
        if self.submitted is None:
            return None
        end = self.ended or (None if self.is_terminal else datetime.now(UTC))
        return None if end is None else max(end - self.submitted, timedelta(0))


def _stamp(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _job(job_id: str, status: str, submitted: float | None, ended: float | None, *rest: str | None) -> Job:
    """A Job from its pickle (Job.__reduce__)."""
    times = [None if t is None else datetime.fromtimestamp(t, UTC) for t in (submitted, ended)]
    return Job(job_id, status, times[0], times[1], *rest)  # username, machine, url


@dataclass(frozen=True)
class QueryPage:
    jobs: list[Job]
    total: int
    start: int
    number: int
    next_start: int | None  # None on the last page


@dataclass(frozen=True)
class JobStatistics:
    total: int
    succeeded: int
    failed: int
    cancelled: int

    @property
    def other(self) -> int:
        """Jobs still queued or running (and any status the statistics do not count)."""
        return max(self.total - self.succeeded - self.failed - self.cancelled, 0)


@dataclass(frozen=True)
class Token:
    token: str = field(repr=False)
    expires: datetime | None
