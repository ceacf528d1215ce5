"""Ready-made sites: what services exist and which jobs they hold."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

from . import state as s
from .clock import epoch_ms

USERNAMES = ("analyst1", "analyst2", "hydro_modeler", "planner", "svc_batch", None)
MACHINES = ("GIS01.EXAMPLE.COM", "GIS02.EXAMPLE.COM", "GIS03.EXAMPLE.COM")


def empty(state: s.SiteState, seed: int) -> None:
    """No folders, no services."""


def demo(state: s.SiteState, seed: int) -> None:
    """A small, lively site: folders including System, GP and other services, jobs in every
    status, and a new job every 15 seconds so there is always something to cancel."""
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
    state.start_trickle(15, since=now - timedelta(hours=2), usernames=USERNAMES, machines=MACHINES, seed=seed)

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


SCENARIOS: dict[str, Callable[[s.SiteState, int], None]] = {"empty": empty, "demo": demo, "large": large}
