"""Services, GP jobs and their lifecycle.

Job progress is evaluated lazily: every access first applies the transitions that
the clock says are due (a heap of timed events), so no background thread is needed
and a manual clock makes everything deterministic.
"""

from __future__ import annotations

import heapq
import random
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import quote

from .clock import Clock, epoch_ms

# Job statuses, in lifecycle order, as the Administrator API names them (the REST API adds TimedOut). Spelt out here
# rather than shared with the portal's client: the simulator is the contract's other side, written on its own.
NEW, SUBMITTED, WAITING, EXECUTING, SUCCEEDED, FAILED, CANCELLING, CANCELLED, TIMED_OUT = (
    f"esriJob{name}"
    for name in (
        "New",
        "Submitted",
        "Waiting",
        "Executing",
        "Succeeded",
        "Failed",
        "Cancelling",
        "Cancelled",
        "TimedOut",
    )
)

ADMIN_STATUSES = (NEW, SUBMITTED, WAITING, EXECUTING, SUCCEEDED, FAILED, CANCELLING, CANCELLED)
STATUSES = (*ADMIN_STATUSES, TIMED_OUT)
QUEUED = frozenset({NEW, SUBMITTED, WAITING})
CANCELLABLE = frozenset({SUBMITTED, EXECUTING})
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED, TIMED_OUT})
REST_CANCELLABLE = frozenset({WAITING, EXECUTING})  # the REST API's own cancel accepts these
_RAN = frozenset({EXECUTING, CANCELLING, SUCCEEDED, FAILED, TIMED_OUT, CANCELLED})  # added in these, it has run
_TASK_NAME = re.compile(r"[A-Za-z0-9_]+")

_REMOVE = "remove"
DEFAULT_MAX_FILE_AGE = 6 * 3600.0  # seconds: ArcGIS's jobs directory keeps finished jobs this long by default


@dataclass(frozen=True)
class Service:
    name: str
    folder: str = ""
    type: str = "GPServer"
    description: str = ""
    tasks: tuple[str, ...] = ()  # a GP service's tasks; the first is the default

    @property
    def key(self) -> str:
        """How callers name a service: "Folder/Name", or "Name" at the root."""
        return f"{self.folder}/{self.name}" if self.folder else self.name

    def to_json(self) -> dict:
        return {
            "folderName": self.folder or "/",
            "serviceName": self.name,
            "type": self.type,
            "description": self.description,
        }


@dataclass(frozen=True)
class Lifecycle:
    """How long jobs queue and run (seconds, drawn uniformly), and how often they fail."""

    queue_seconds: tuple[float, float] = (5.0, 90.0)
    run_seconds: tuple[float, float] = (30.0, 600.0)
    failure_rate: float = 0.1


@dataclass
class Job:
    job_id: str
    service: Service
    task: str
    submitted: int  # epoch ms
    status: str
    username: str | None
    machinename: str
    seq: int  # insertion order, breaks ties between equal submitted times
    end: int | None = None  # epoch ms
    started: int | None = None  # epoch ms when it began executing; None while it never has
    generation: int = 0  # bumped whenever the planned transitions are replaced
    # What the job's REST page shows, when a test fixed it; None: generated (see gp.py).
    messages: list[dict] | None = None
    inputs: dict[str, dict] | None = None
    results: dict[str, dict] | None = None

    def rest_url(self, base_url: str) -> str:
        """The job's page in the Services Directory; `base_url` is scheme://host:port/site."""
        return f"{base_url}/rest/services/{quote(self.service.key)}/GPServer/{self.task}/jobs/{self.job_id}"

    def to_json(self, base_url: str) -> dict:
        return {
            "jobId": self.job_id,
            "submittedTime": self.submitted,
            "endTime": self.end,
            "status": self.status,
            "username": self.username,
            "machinename": self.machinename,
            "url": self.rest_url(base_url),
        }


@dataclass
class _Trickle:
    every_ms: int
    next_at: int
    usernames: tuple[str | None, ...]  # None: a job with no owner
    machines: tuple[str, ...]
    rng: random.Random


@dataclass(frozen=True)
class JobFilter:
    status: str | None = None
    username: str | None = None
    machinename: str | None = None
    start_ms: int | None = None  # inclusive bounds on submittedTime
    end_ms: int | None = None

    def matches(self, job: Job) -> bool:
        return (
            (self.status is None or job.status == self.status)
            and (self.username is None or (job.username or "").lower() == self.username.lower())
            and (self.machinename is None or job.machinename.lower() == self.machinename.lower())
            and (self.start_ms is None or job.submitted >= self.start_ms)
            and (self.end_ms is None or job.submitted <= self.end_ms)
        )


class SiteState:
    """Everything an ArcGIS Server site knows about its services and GP jobs. Thread-safe."""

    def __init__(
        self,
        clock: Clock,
        *,
        seed: int = 0,
        cancel_delay: float = 2.0,
        max_file_age: float = DEFAULT_MAX_FILE_AGE,
        lifecycle: Lifecycle | None = None,
    ) -> None:
        self.clock = clock
        self.base_url = ""  # scheme://host:port/site, set once the server knows its address; job URLs start with it
        self.cancel_delay_ms = int(cancel_delay * 1000)
        self.max_file_age_ms = int(max_file_age * 1000)
        self.lifecycle = lifecycle or Lifecycle()
        self._lock = threading.Lock()
        self._ids = random.Random(seed)
        self._outcomes = random.Random(seed + 1)
        self._folders: list[str] = []
        self._services: dict[tuple[str, str, str], Service] = {}
        self._jobs: dict[str, dict[str, Job]] = {}  # GP service key -> job ID -> job
        self._newest_first: dict[str, list[Job]] = {}  # cache, dropped when jobs come or go
        self._events: list[tuple[int, int, str, str, int, str]] = []  # (at, seq, service, job, generation, action)
        self._seq = 0
        self._trickle: _Trickle | None = None

    # -- services -------------------------------------------------------------------------------

    def add_folder(self, folder: str) -> None:
        with self._lock:
            self._add_folder(folder)

    def add_service(
        self,
        name: str,
        folder: str = "",
        type: str = "GPServer",
        description: str = "",
        tasks: Iterable[str] | None = None,
    ) -> Service:
        """Add a service. A GP service has one or more tasks (letters, digits, underscores): by default
        one named like the service."""
        service = Service(
            name=name, folder=folder.strip("/"), type=type, description=description, tasks=_tasks(name, type, tasks)
        )
        with self._lock:
            if service.folder:
                self._add_folder(service.folder)
            self._services[(service.folder, name, type)] = service
            if type == "GPServer":
                self._jobs.setdefault(service.key, {})
        return service

    def folders(self) -> list[str]:
        with self._lock:
            return list(self._folders)

    # ArcGIS matches folder and service names in any case (the type, GPServer, exactly).
    def has_folder(self, folder: str) -> bool:
        with self._lock:
            return folder.lower() in (f.lower() for f in self._folders)

    def services(self, folder: str = "") -> list[Service]:
        with self._lock:
            return [s for s in self._services.values() if s.folder.lower() == folder.lower()]

    def find_service(self, folder: str, name: str, type: str) -> Service | None:
        with self._lock:
            found = self._services.get((folder, name, type))
            if found is None:
                wanted = (folder.lower(), name.lower(), type)
                found = next(
                    (s for k, s in self._services.items() if (k[0].lower(), k[1].lower(), k[2]) == wanted), None
                )
            return found

    def gp_services(self) -> list[Service]:
        with self._lock:
            return [s for s in self._services.values() if s.type == "GPServer"]

    # -- jobs: reading ----------------------------------------------------------------------------

    def get_job(self, service: str, job_id: str, base_url: str | None = None) -> dict | None:
        with self._lock:
            job = self._catch_up()[self._gp_key(service)].get(job_id)
            return job.to_json(base_url or self.base_url) if job else None

    def job_record(self, service: str, job_id: str) -> tuple[Job, int] | None:
        """(a copy of the job as it stands now, now in epoch ms), or None: what its REST page is made of."""
        with self._lock:
            job = self._catch_up()[self._gp_key(service)].get(job_id)
            return (replace(job), self._now()) if job else None

    def jobs(self, service: str, base_url: str | None = None) -> list[dict]:
        """Every job of a GP service, newest first."""
        with self._lock:
            self._catch_up()
            return [job.to_json(base_url or self.base_url) for job in self._sorted(self._gp_key(service))]

    def query(
        self, service: str, where: JobFilter, start: int = 1, number: int = 10, base_url: str | None = None
    ) -> tuple[int, list[dict]]:
        """(total matching, the page of jobs starting at the 1-based position `start`), newest first."""
        with self._lock:
            self._catch_up()
            matching = [job for job in self._sorted(self._gp_key(service)) if where.matches(job)]
            page = matching[start - 1 : start - 1 + number]
            return len(matching), [job.to_json(base_url or self.base_url) for job in page]

    def statistics(self, service: str, where: JobFilter | None = None) -> dict[str, int]:
        where = where or JobFilter()
        with self._lock:
            jobs = [job for job in self._catch_up()[self._gp_key(service)].values() if where.matches(job)]
        counts = {"total": len(jobs), "cancelled": 0, "failed": 0, "succeeded": 0}
        for job in jobs:
            if job.status == CANCELLED:
                counts["cancelled"] += 1
            elif job.status == FAILED:
                counts["failed"] += 1
            elif job.status == SUCCEEDED:
                counts["succeeded"] += 1
        return counts

    def summary(self) -> dict[str, dict[str, int]]:
        """Job counts by status for every GP service."""
        with self._lock:
            out: dict[str, dict[str, int]] = {}
            for key, jobs in self._catch_up().items():
                counts: dict[str, int] = {}
                for job in jobs.values():
                    counts[job.status] = counts.get(job.status, 0) + 1
                out[key] = counts
            return out

    # -- jobs: writing ----------------------------------------------------------------------------

    def add_job(
        self,
        service: str,
        status: str = EXECUTING,
        username: str | None = "analyst1",
        machinename: str = "GIS01.EXAMPLE.COM",
        submitted: datetime | int | None = None,
        job_id: str | None = None,
        *,
        end_time: datetime | int | None = None,
        durations: tuple[float, float] | None = None,
        outcome: str | None = None,
        task: str | None = None,
        messages: Iterable[Mapping] | None = None,
        inputs: Mapping[str, Mapping] | None = None,
        results: Mapping[str, Mapping] | None = None,
    ) -> str:
        """Add a job. It keeps `status` until changed, unless `durations` is given: then it becomes
        EXECUTING `durations[0]` seconds after `submitted` and finishes (`outcome`, or drawn from the
        failure rate) `durations[1]` seconds later.

        `task` is the GP task that runs (default: the service's first). `messages` ([{"type", "description"}]),
        `inputs` and `results` ({name: {"dataType", "value"}}) replace what the job's REST page would
        otherwise generate; results are still shown only once the job has succeeded."""
        if status not in STATUSES:
            raise ValueError(f"unknown job status {status!r}")
        fixed_messages = None if messages is None else [_entry(m, ("type", "description")) for m in messages]
        fixed_inputs = None if inputs is None else _params(inputs)
        fixed_results = None if results is None else _params(results)
        with self._lock:
            now = self._now()
            key = self._gp_key(service)
            at = now if submitted is None else _ms(submitted)
            if job_id is None:
                job_id = "j" + format(self._ids.getrandbits(128), "032x")
            elif job_id in self._jobs[key]:
                raise ValueError(f"job {job_id} already exists")
            tasks = self._jobs_service(key).tasks
            if task is not None and task not in tasks:
                raise ValueError(f"{key} has no task {task!r}; its tasks are {', '.join(tasks)}")
            job = self._insert(key, job_id, at, status, username, machinename, task or tasks[0])
            job.messages, job.inputs, job.results = fixed_messages, fixed_inputs, fixed_results
            if status in _RAN:
                job.started = at  # no queue time is known: it ran from the moment it was submitted
            if status in TERMINAL:
                self._finish(job, max(now, at) if end_time is None else _ms(end_time))
            if durations is not None:
                self._plan(job, at + int(durations[0] * 1000), at + int((durations[0] + durations[1]) * 1000), outcome)
            return job_id

    def set_status(self, service: str, job_id: str, status: str) -> None:
        """Force a job's status; it then stays there (any planned transitions are dropped)."""
        if status not in STATUSES:
            raise ValueError(f"unknown job status {status!r}")
        with self._lock:
            job = self._job(service, job_id)
            job.generation += 1
            job.status = status
            job.end = None
            if status in QUEUED:
                job.started = None
            elif status != CANCELLED and job.started is None:
                job.started = self._now()
            if status in TERMINAL:
                self._finish(job, self._now())

    def cancel(self, service: str, job_id: str, allowed: Iterable[str] = CANCELLABLE) -> bool:
        """Cancel a job whose status is `allowed` (the Administrator API: SUBMITTED or EXECUTING):
        CANCELLING now, CANCELLED after the cancel delay."""
        with self._lock:
            job = self._catch_up()[self._gp_key(service)].get(job_id)
            if job is None or job.status not in allowed:
                return False
            job.generation += 1
            job.status = CANCELLING
            self._schedule(job, self._now() + self.cancel_delay_ms, CANCELLED)
            return True

    def delete(self, service: str, job_id: str) -> bool:
        """Remove every record of a job, whatever its status (a running job is cancelled first)."""
        with self._lock:
            key = self._gp_key(service)
            if self._catch_up()[key].pop(job_id, None) is None:
                return False
            self._newest_first.pop(key, None)
            return True

    def purge_queue(self, service: str) -> int:
        """Cancel every NEW, SUBMITTED or WAITING job (nothing runs yet, so they end at once)."""
        with self._lock:
            now = self._now()
            purged = [job for job in self._catch_up()[self._gp_key(service)].values() if job.status in QUEUED]
            for job in purged:
                job.generation += 1
                job.status = CANCELLED
                self._finish(job, now)
            return len(purged)

    def forget_finished(self, older_than_seconds: float) -> int:
        """Remove every finished job that ended at least `older_than_seconds` ago, as ArcGIS's cleanup of
        the jobs directory does once its maximum file age has passed; returns how many were removed."""
        if older_than_seconds < 0:
            raise ValueError("older_than_seconds cannot be negative")
        with self._lock:
            cutoff = self._now() - int(older_than_seconds * 1000)
            forgotten = 0
            for key, jobs in self._catch_up().items():
                old = [job_id for job_id, job in jobs.items() if _ended_by(job, cutoff)]
                for job_id in old:
                    del jobs[job_id]
                if old:
                    self._newest_first.pop(key, None)
                forgotten += len(old)
            return forgotten

    def start_trickle(
        self, every_seconds: float, since: datetime, usernames: Iterable[str | None], machines: Iterable[str], seed: int
    ) -> None:
        """Submit a new job to a random GP service every `every_seconds` (a millisecond or more), from `since`
        on, forever."""
        if every_seconds < 0.001:
            raise ValueError("a trickle submits at most one job a millisecond")
        with self._lock:
            self._trickle = _Trickle(
                every_ms=round(every_seconds * 1000),
                next_at=epoch_ms(since),
                usernames=tuple(usernames),
                machines=tuple(machines),
                rng=random.Random(seed),
            )

    # -- internals (called with the lock held) ------------------------------------------------------

    def _now(self) -> int:
        return epoch_ms(self.clock.now())

    def _add_folder(self, folder: str) -> None:
        if folder and folder not in self._folders:
            self._folders.append(folder)

    def _gp_key(self, service: str) -> str:
        key = service.strip("/")
        if key not in self._jobs:
            raise KeyError(f"no GP service {service!r}")
        return key

    def _jobs_service(self, key: str) -> Service:
        folder, _, name = key.rpartition("/")
        return self._services[(folder, name, "GPServer")]

    def _job(self, service: str, job_id: str) -> Job:
        job = self._catch_up()[self._gp_key(service)].get(job_id)
        if job is None:
            raise KeyError(f"no job {job_id!r} in {service!r}")
        return job

    def _sorted(self, key: str) -> list[Job]:
        cached = self._newest_first.get(key)
        if cached is None:
            cached = sorted(self._jobs[key].values(), key=lambda j: (j.submitted, j.seq), reverse=True)
            self._newest_first[key] = cached
        return cached

    def _insert(
        self, key: str, job_id: str, at: int, status: str, username: str | None, machine: str, task: str
    ) -> Job:
        self._seq += 1
        job = Job(job_id, self._jobs_service(key), task, at, status, username, machine, self._seq)
        self._jobs[key][job_id] = job
        self._newest_first.pop(key, None)
        return job

    def _schedule(self, job: Job, at: int, action: str) -> None:
        self._seq += 1
        heapq.heappush(self._events, (at, self._seq, job.service.key, job.job_id, job.generation, action))

    def _plan(self, job: Job, executes_at: int, ends_at: int, outcome: str | None) -> None:
        if outcome is None:
            outcome = FAILED if self._outcomes.random() < self.lifecycle.failure_rate else SUCCEEDED
        self._schedule(job, executes_at, EXECUTING)
        self._schedule(job, ends_at, outcome)

    def _finish(self, job: Job, at: int) -> None:
        job.end = at
        self._schedule(job, at + self.max_file_age_ms, _REMOVE)

    def _catch_up(self) -> dict[str, dict[str, Job]]:
        """Apply everything the clock says has happened by now; returns the jobs table."""
        now = self._now()
        if self._trickle is not None:
            self._submit_trickle(now)
        events = self._events
        while events and events[0][0] <= now:
            at, _, key, job_id, generation, action = heapq.heappop(events)
            job = self._jobs.get(key, {}).get(job_id)
            if job is None or job.generation != generation:
                continue  # deleted, or its plan was replaced
            if action == _REMOVE:
                del self._jobs[key][job_id]
                self._newest_first.pop(key, None)
            elif job.status not in TERMINAL:
                job.status = action
                if action == EXECUTING and job.started is None:
                    job.started = at
                if action in TERMINAL:
                    self._finish(job, at)
        return self._jobs

    def _submit_trickle(self, now: int) -> None:
        trickle = self._trickle
        assert trickle is not None
        services = [s for s in self._services.values() if s.type == "GPServer"]
        if not services:
            return
        # Jobs older than the file age plus the longest run would already be gone: skip them.
        longest_ms = int((self.lifecycle.queue_seconds[1] + self.lifecycle.run_seconds[1]) * 1000)
        oldest_useful = now - self.max_file_age_ms - longest_ms
        if trickle.next_at < oldest_useful:
            trickle.next_at += (oldest_useful - trickle.next_at) // trickle.every_ms * trickle.every_ms
        rng = trickle.rng
        while trickle.next_at <= now:
            at = trickle.next_at
            service = rng.choice(services)
            job_id = "j" + format(self._ids.getrandbits(128), "032x")
            # Its own draw, so the trickle's sequence stays as it was; none is needed for one task (a fleet's).
            task = service.tasks[0] if len(service.tasks) == 1 else random.Random(job_id).choice(service.tasks)
            job = self._insert(
                service.key, job_id, at, SUBMITTED, rng.choice(trickle.usernames), rng.choice(trickle.machines), task
            )
            executes_at = at + int(rng.uniform(*self.lifecycle.queue_seconds) * 1000)
            ends_at = executes_at + int(rng.uniform(*self.lifecycle.run_seconds) * 1000)
            self._plan(job, executes_at, ends_at, FAILED if rng.random() < self.lifecycle.failure_rate else SUCCEEDED)
            trickle.next_at += trickle.every_ms


def _ended_by(job: Job, cutoff: int) -> bool:
    return job.status in TERMINAL and job.end is not None and job.end <= cutoff


def _ms(value: datetime | int) -> int:
    return epoch_ms(value) if isinstance(value, datetime) else int(value)


def _tasks(name: str, type: str, tasks: Iterable[str] | None) -> tuple[str, ...]:
    if type != "GPServer":
        if tasks:
            raise ValueError("only GP services have tasks")
        return ()
    if tasks is None:
        return (name,)
    found = (tasks,) if isinstance(tasks, str) else tuple(tasks)
    if not found:
        raise ValueError("a GP service has at least one task")
    for task in found:
        if not isinstance(task, str) or not _TASK_NAME.fullmatch(task):
            raise ValueError(f"a task name is letters, digits and underscores, not {task!r}")
    if len(set(found)) != len(found):
        raise ValueError("task names must be unique")
    return found


def _entry(value: object, keys: tuple[str, ...]) -> dict:
    """A copy of one fixed message or parameter; its values are kept as given, hostile or not."""
    if not isinstance(value, Mapping) or not all(key in value for key in keys):
        raise ValueError(f"expected an object with {' and '.join(keys)}, got {value!r}")
    return dict(value)


def _params(params: Mapping[str, Mapping]) -> dict[str, dict]:
    if not isinstance(params, Mapping):
        raise ValueError(f"expected {{name: {{dataType, value}}}}, got {params!r}")
    return {str(name): _entry(param, ("dataType", "value")) for name, param in params.items()}
