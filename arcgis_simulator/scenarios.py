"""Ready-made sites: what services exist, which jobs they hold, and how long they keep finished ones."""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from . import state as s
from .clock import epoch_ms
from .history import Batch, Runtime, Workload, add_past

USERNAMES = ("analyst1", "analyst2", "hydro_modeler", "planner", "svc_batch", None)
MACHINES = ("GIS01.EXAMPLE.COM", "GIS02.EXAMPLE.COM", "GIS03.EXAMPLE.COM")

DEMO_PAST = timedelta(days=7)  # the demo's history of finished jobs
DEMO_TRICKLE_AGO = timedelta(hours=2)  # the trickle of new jobs began this long before the start; the past ends there
# ArcGIS forgets finished jobs after the jobs directory's maximum file age (6 hours by default, and an
# administrator may raise it): the demo's site keeps them a day longer than its past, so all of it is there.
DEMO_MAX_FILE_AGE = DEMO_PAST + timedelta(days=1)

_STAFF = ("analyst1", "analyst2", "planner", None)
_HYDROLOGISTS = ("hydro_modeler", "hydro_modeler", "hydro_modeler", "analyst2")
# How the demo's GP services were used over the past week, from busy to quiet.
DEMO_WORKLOADS = (
    Workload("Utilities/PrintingTools", (120, 180), Runtime(8, 0.5, 2, 45), _STAFF, failure_rate=0.02),
    Workload("Buffer", (160, 240), Runtime(12, 0.7, 2, 60), _STAFF, failure_rate=0.04),
    Workload("Hydrology/Watershed", (90, 150), Runtime(60, 0.5, 15, 400), _HYDROLOGISTS),
    Workload(
        "Hydrology/FloodModel",
        (70, 110),
        Runtime(540, 0.2, 300, 1200, tail=0.07),  # typically 6 to 12 minutes, some far longer
        _HYDROLOGISTS,
        failure_rate=0.02,
        machine_failure_rates={"GIS02.EXAMPLE.COM": 0.20},  # something is wrong with GIS02's model data
        instances_per_machine=1,  # a heavy model: one instance per machine
    ),
    Workload("Geocode_Batch", (40, 70), Runtime(150, 0.4, 45, 600), ("analyst1", "planner", "analyst2")),
    Workload("System/PublishingTools", (15, 35), Runtime(40, 0.5, 10, 300), _STAFF[:3], failure_rate=0.06),
    Workload("System/CachingTools", (8, 20), Runtime(900, 0.6, 120, 3600), ("analyst1", "planner")),
    Workload("System/ReportingTools", (4, 10), Runtime(20, 0.4, 5, 120), ("analyst1",)),
)
# svc_batch's nightly run, 01:00 to 04:00 UTC: bursts larger than the instances can take at once, so they queue.
DEMO_BATCHES = (
    Batch("Geocode_Batch", "svc_batch", "GeocodeAddresses", at_hours=(1.0, 1.75, 2.5, 3.25), per_burst=(15, 25)),
    Batch("Utilities/PrintingTools", "svc_batch", "Export_Web_Map_Task", at_hours=(1.5, 2.5, 3.5), per_burst=(30, 40)),
)

# A benchmark's site keeps finished jobs an hour: 200 services at 10 jobs a minute then hold about 130,000
# (some 140 MB), where ArcGIS's default 6 hours would hold 730,000 (some 570 MB).
FLEET_MAX_FILE_AGE = timedelta(hours=1)


@dataclass(frozen=True)
class Scenario:
    """A ready-made site: `build(state, seed, **options)` adds its services and jobs. Its options are
    build's keyword-only parameters, each an int or a float with a default."""

    build: Callable[..., None]
    max_file_age: float = s.DEFAULT_MAX_FILE_AGE  # seconds finished jobs are kept, unless the simulator is told

    def options(self) -> dict[str, int | float]:
        """Each option's name and default."""
        parameters = inspect.signature(self.build).parameters.values()
        return {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}

    def check(self, options: Mapping[str, object]) -> dict[str, int | float]:
        """The options, refused unless each is one of this scenario's and of its default's type."""
        known = self.options()
        checked: dict[str, int | float] = {}
        for name, value in options.items():
            if name not in known:
                raise ValueError(f"no scenario option {name!r}; {self._accepted()}")
            kind = type(known[name])
            # a bool is no number here, and an int option takes no float (a float one takes an int)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or (kind is int and isinstance(value, float))
            ):
                raise ValueError(f"scenario option {name!r} must be {kind.__name__}, not {value!r}")
            checked[name] = kind(value)
        return checked

    def parse(self, spec: str) -> tuple[str, int | float]:
        """NAME=VALUE from the command line, VALUE read as its option's type."""
        name, sep, raw = spec.partition("=")
        known = self.options()
        if not sep or name not in known:
            raise ValueError(f"expected NAME=VALUE with a scenario option for NAME, got {spec!r}; {self._accepted()}")
        try:
            return name, type(known[name])(raw)
        except ValueError:
            raise ValueError(f"scenario option {name!r} must be {type(known[name]).__name__}, not {raw!r}") from None

    def describe_options(self) -> str:
        """NAME=DEFAULT, …; empty when it has none."""
        return ", ".join(f"{name}={default}" for name, default in self.options().items())

    def _accepted(self) -> str:
        return f"its options: {self.describe_options() or 'none'}"


def empty(state: s.SiteState, seed: int) -> None:
    """No folders, no services."""


def demo(state: s.SiteState, seed: int) -> None:
    """A small, lively site: folders including System, GP and other services, a week of finished jobs
    behind it, jobs in every status, and a new job every 15 seconds so there is always something to cancel."""
    state.add_service("Buffer", description="Buffers features", tasks=("Buffer",))
    state.add_service("Geocode_Batch", description="Batch geocoding", tasks=("GeocodeAddresses", "ReverseGeocode"))
    state.add_service("Parcels", type="MapServer", description="Parcel fabric")
    state.add_service("Roads", type="FeatureServer", description="Road centrelines")
    state.add_service("SampleWorldCities", type="MapServer")
    state.add_service(
        "CachingTools", folder="System", tasks=("ManageMapServerCacheTiles", "ManageMapServerCacheStatus")
    )
    state.add_service("PublishingTools", folder="System", tasks=("StageService", "PublishServiceDefinition"))
    state.add_service("ReportingTools", folder="System", tasks=("ReportCacheStatus",))
    state.add_service(
        "PrintingTools",
        folder="Utilities",
        description="Prints web maps",
        tasks=("Export_Web_Map_Task", "Get_Layout_Templates_Info_Task"),
    )
    state.add_service("Geometry", folder="Utilities", type="GeometryServer")
    state.add_service(
        "Watershed",
        folder="Hydrology",
        description="Delineates watersheds",
        tasks=("DelineateWatershed", "SnapPourPoints"),
    )
    state.add_service(
        "FloodModel", folder="Hydrology", description="Runs the flood model", tasks=("RunFloodModel", "PrepareInputs")
    )
    state.add_service("Basins", folder="Hydrology", type="MapServer")

    now = state.clock.now()
    add_past(
        state, DEMO_WORKLOADS, DEMO_BATCHES, MACHINES, start=now - DEMO_PAST, end=now - DEMO_TRICKLE_AGO, seed=seed
    )
    state.start_trickle(15, since=now - DEMO_TRICKLE_AGO, usernames=USERNAMES, machines=MACHINES, seed=seed)

    # Statuses the trickle never produces, fixed so they are always there to look at.
    rng = random.Random(seed)
    at = epoch_ms(now)
    for service, task, status, age_minutes in (
        ("Hydrology/FloodModel", "RunFloodModel", s.NEW, 1),
        ("Hydrology/FloodModel", "PrepareInputs", s.WAITING, 3),
        ("Hydrology/Watershed", "DelineateWatershed", s.WAITING, 4),
        ("Buffer", "Buffer", s.CANCELLING, 25),
        ("Buffer", "Buffer", s.CANCELLED, 70),
        ("Utilities/PrintingTools", "Export_Web_Map_Task", s.FAILED, 95),
        ("Hydrology/FloodModel", "RunFloodModel", s.EXECUTING, 180),
        ("Geocode_Batch", "GeocodeAddresses", s.SUBMITTED, 8),
    ):
        state.add_job(
            service,
            task=task,
            status=status,
            username=rng.choice(USERNAMES),
            machinename=rng.choice(MACHINES),
            submitted=at - age_minutes * 60_000,
        )


def large(state: s.SiteState, seed: int) -> None:
    """100 GP services in folder Bulk; Bulk/Tool000 holds 10,000 jobs from the last five hours."""
    for i in range(100):
        state.add_service(f"Tool{i:03d}", folder="Bulk")
    rng = random.Random(seed)
    statuses = (s.SUCCEEDED, s.FAILED, s.CANCELLED, s.EXECUTING, s.SUBMITTED, s.WAITING, s.NEW)
    weights = (60, 10, 5, 10, 10, 3, 2)
    now = epoch_ms(state.clock.now())
    for status in rng.choices(statuses, weights, k=10_000):
        submitted = now - rng.randrange(5 * 3600_000)
        state.add_job(
            "Bulk/Tool000",
            status=status,
            username=rng.choice(USERNAMES),
            machinename=rng.choice(MACHINES),
            submitted=submitted,
            end_time=min(now, submitted + rng.randrange(1000, 600_000)) if status in s.TERMINAL else None,
        )


def fleet(
    state: s.SiteState, seed: int, *, services: int = 50, jobs_per_minute: float = 10.0, folders: int = 5
) -> None:
    """For benchmarks: `services` GP services spread over `folders` folders, each getting `jobs_per_minute`
    new jobs a minute on average, which queue, run and succeed or fail as the site's lifecycle says. The
    traffic began as long before the start as a job may take, so the site starts in its steady state."""
    if services < 1 or folders < 1 or jobs_per_minute < 0:
        raise ValueError("a fleet needs services >= 1, folders >= 1 and jobs_per_minute >= 0")
    if services * jobs_per_minute > 60_000:
        raise ValueError("a fleet takes at most 60,000 new jobs a minute (one a millisecond)")
    width = max(3, len(str(services - 1)))
    for i in range(services):
        state.add_service(f"Tool{i:0{width}d}", folder=f"Fleet{i % folders + 1:02d}")
    if jobs_per_minute:
        longest = state.lifecycle.queue_seconds[1] + state.lifecycle.run_seconds[1]
        since = state.clock.now() - timedelta(seconds=longest)
        every = 60 / (services * jobs_per_minute)
        state.start_trickle(every, since=since, usernames=USERNAMES, machines=MACHINES, seed=seed)


SCENARIOS: dict[str, Scenario] = {
    "empty": Scenario(empty),
    "demo": Scenario(demo, max_file_age=DEMO_MAX_FILE_AGE.total_seconds()),
    "large": Scenario(large),
    "fleet": Scenario(fleet, max_file_age=FLEET_MAX_FILE_AGE.total_seconds()),
}
