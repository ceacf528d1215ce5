"""A believable past for a scenario: days of finished GP jobs, as a site's job history shows them.

Each GP service has a workload: how many jobs a day and at what hours, who submits them, how long
they run, how often they fail (more on one machine, if it says so) and how many instances serve it.
A job waits for a free instance, so busy moments such as a nightly batch show visible queue time.
Everything comes from one generator seeded by the scenario's seed: the same seed and the same start
time give the same past.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import state as s

# The share of a weekday's jobs submitted in each UTC hour: office hours in central Europe.
WORKDAY_HOURS = (0, 0, 0, 0, 0, 1, 3, 6, 9, 10, 10, 9, 6, 8, 10, 10, 8, 6, 4, 3, 2, 1, 1, 0)
WEEKEND_SHARE = 0.3  # weekends see this share of a weekday's jobs
CANCEL_RATE = 0.006  # someone gives up on a few jobs
DISPATCH_SECONDS = (0.3, 2.5)  # even with an instance free, a job waits this long before it executes
FIRST_TASK_WEIGHT = 4  # a service's first task runs this many times as often as each of the others


@dataclass(frozen=True)
class Runtime:
    """How long a job runs: log-normal around `median` seconds, kept within [low, high]; a `tail` share
    of the runs take 1.5 to 3.5 times as long (a large input, a slow database)."""

    median: float
    spread: float  # the log-normal's sigma
    low: float
    high: float
    tail: float = 0.0

    def draw(self, rng: random.Random) -> float:
        seconds = min(self.high, max(self.low, rng.lognormvariate(math.log(self.median), self.spread)))
        if rng.random() < self.tail:
            seconds *= rng.uniform(1.5, 3.5)
        return seconds


@dataclass(frozen=True)
class Workload:
    """How people used one GP service on a weekday."""

    service: str  # "Folder/Name"
    jobs_per_day: tuple[int, int]
    runtime: Runtime
    users: tuple[str | None, ...]  # drawn uniformly: repeat a name to weight it
    failure_rate: float = 0.03
    machine_failure_rates: Mapping[str, float] = field(default_factory=dict)  # where a machine differs
    instances_per_machine: int = 2


@dataclass(frozen=True)
class Batch:
    """A service account's nightly run: bursts of `per_burst` jobs at each of `at_hours` (UTC, fractional)."""

    service: str
    username: str
    task: str
    at_hours: tuple[float, ...]
    per_burst: tuple[int, int]


@dataclass(frozen=True)
class _Submission:
    at: float  # epoch seconds
    username: str | None
    task: str | None  # None: drawn from the service's tasks


def add_past(
    state: s.SiteState,
    workloads: Iterable[Workload],
    batches: Iterable[Batch],
    machines: tuple[str, ...],
    start: datetime,
    end: datetime,
    seed: int,
) -> int:
    """Add the finished jobs submitted between `start` and `end` to `state`; returns how many."""
    rng = random.Random(f"history:{seed}")  # its own generator: the rest of the scenario draws as before
    batches = list(batches)
    added = 0
    for workload in workloads:
        tasks = _tasks(state, workload.service)
        weights = [FIRST_TASK_WEIGHT, *[1] * (len(tasks) - 1)]
        submissions = list(_daily(workload, start, end, rng))
        for batch in batches:
            if batch.service == workload.service:
                submissions += _nightly(batch, start, end, rng)
        submissions.sort(key=lambda sub: sub.at)
        for submission, (queued, ran, machine, outcome) in zip(
            submissions, _run(workload, submissions, machines, rng), strict=True
        ):
            state.add_job(
                workload.service,
                status=s.SUBMITTED,
                username=submission.username,
                machinename=machine,
                submitted=int(submission.at * 1000),
                task=submission.task or rng.choices(tasks, weights)[0],
                durations=(queued, ran),
                outcome=outcome,
            )
            added += 1
    return added


def _daily(workload: Workload, start: datetime, end: datetime, rng: random.Random) -> Iterator[_Submission]:
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    first, last = start.timestamp(), end.timestamp()
    while day < end:
        count = rng.randint(*workload.jobs_per_day)
        if day.weekday() >= 5:
            count = round(count * WEEKEND_SHARE)
        for hour in rng.choices(range(24), WORKDAY_HOURS, k=count):
            at = day.timestamp() + hour * 3600 + rng.uniform(0, 3600)
            if first <= at < last:
                yield _Submission(at, rng.choice(workload.users), None)
        day += timedelta(days=1)


def _nightly(batch: Batch, start: datetime, end: datetime, rng: random.Random) -> Iterator[_Submission]:
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    first, last = start.timestamp(), end.timestamp()
    while day < end:
        for hour in batch.at_hours:
            burst = day.timestamp() + hour * 3600
            for _ in range(rng.randint(*batch.per_burst)):
                at = burst + rng.uniform(0, 90)  # a script submits them one after another
                if first <= at < last:
                    yield _Submission(at, batch.username, batch.task)
        day += timedelta(days=1)


def _run(
    workload: Workload, submissions: list[_Submission], machines: tuple[str, ...], rng: random.Random
) -> Iterator[tuple[float, float, str, str]]:
    """(seconds queued, seconds run, machine, outcome) of each submission, in order. A job takes a random
    idle instance, or else waits for the one that frees first: when all are busy, jobs queue."""
    instances = [(0.0, machine) for machine in machines * workload.instances_per_machine]  # (free from, machine)
    for submission in submissions:
        idle = [i for i, (free_from, _) in enumerate(instances) if free_from <= submission.at]
        chosen = rng.choice(idle) if idle else min(range(len(instances)), key=lambda i: instances[i][0])
        free_from, machine = instances[chosen]
        starts = max(submission.at, free_from) + rng.uniform(*DISPATCH_SECONDS)
        outcome, ran = _outcome(workload, machine, workload.runtime.draw(rng), rng)
        instances[chosen] = (starts + ran, machine)
        yield starts - submission.at, ran, machine, outcome


def _outcome(workload: Workload, machine: str, seconds: float, rng: random.Random) -> tuple[str, float]:
    """How a run of `seconds` ends, and after how long: failures and cancellations cut it short."""
    draw = rng.random()
    if draw < CANCEL_RATE:
        return s.CANCELLED, seconds * rng.uniform(0.2, 0.9)
    if draw < CANCEL_RATE + workload.machine_failure_rates.get(machine, workload.failure_rate):
        return s.FAILED, seconds * rng.uniform(0.05, 1.0)
    return s.SUCCEEDED, seconds


def _tasks(state: s.SiteState, key: str) -> tuple[str, ...]:
    for service in state.gp_services():
        if service.key == key:
            return service.tasks
    raise KeyError(f"no GP service {key!r}")
