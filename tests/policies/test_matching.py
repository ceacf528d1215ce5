"""What a cancel policy matches: every threshold edge (a job matches only once strictly past it), the statuses,
user and machine, the time conditions as alternatives, and the Folder/Name patterns the fleet asks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import arcgis_client
from jobs import running_long
from jobs.queries import FleetQuery, matches_pattern
from policies.matching import Criteria, why

EXECUTING, SUBMITTED, NEW, WAITING = (
    arcgis_client.EXECUTING,
    arcgis_client.SUBMITTED,
    arcgis_client.NEW,
    arcgis_client.WAITING,
)
NOW = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)
ALL = frozenset(arcgis_client.QUERYABLE_STATUSES)


def job(status: str, age: timedelta, username: str = "svc_batch", machine: str = "GIS01") -> arcgis_client.Job:
    return arcgis_client.Job("j1", status, submitted=NOW - age, username=username, machine=machine)


def criteria(**fields) -> Criteria:
    return Criteria(statuses=fields.pop("statuses", ALL), **fields)


@pytest.mark.parametrize("status", [NEW, SUBMITTED, WAITING])
@pytest.mark.parametrize(
    ("age", "matched"),
    [
        (timedelta(minutes=29, seconds=59), False),
        (timedelta(minutes=30), False),  # exactly at the threshold: not yet
        (timedelta(minutes=30, seconds=1), True),
        (timedelta(hours=5), True),
    ],
)
def test_queued_longer_than_n_minutes_edges(status, age, matched):
    reason = why(criteria(queued_minutes=30), job(status, age), None, NOW)
    assert (reason is not None) is matched
    if matched:
        assert reason.startswith(f"Queued {running_long.minutes_text(age)}, over 30 min")


@pytest.mark.parametrize(
    ("age", "matched"),
    [(timedelta(minutes=120), False), (timedelta(minutes=120, seconds=1), True)],
)
def test_running_longer_than_n_minutes_edges(age, matched):
    reason = why(criteria(running_minutes=120), job(EXECUTING, age), None, NOW)
    assert (reason is not None) is matched
    if matched:
        assert reason == "Running 2.0 h, over 120 min"


def test_time_conditions_apply_to_their_own_statuses_only():
    long_ago = timedelta(hours=10)
    assert why(criteria(running_minutes=5), job(SUBMITTED, long_ago), None, NOW) is None
    assert why(criteria(queued_minutes=5), job(EXECUTING, long_ago), None, NOW) is None
    assert why(criteria(queued_minutes=5), job(arcgis_client.CANCELLING, long_ago), None, NOW) is None


def test_running_long_is_the_services_baseline_flag():
    base = running_long.Baseline(20, timedelta(minutes=5))
    limits = running_long.Thresholds()  # 3× and +10 min: 15 min for a 5-minute service
    at_edge, past = job(EXECUTING, timedelta(minutes=15)), job(EXECUTING, timedelta(minutes=15, seconds=1))
    assert running_long.flag_for(at_edge, base, limits, NOW) is None
    flag = running_long.flag_for(past, base, limits, NOW)
    assert why(criteria(running_long=True), past, flag, NOW) == flag.text == "Running long: 3.0× its usual 5 min"
    assert why(criteria(running_long=True), at_edge, None, NOW) is None
    # Another flag is not "running long".
    queued = running_long.Flag("queued-long", "Queued long: waiting 2 h")
    assert why(criteria(running_long=True), job(EXECUTING, timedelta(hours=2)), queued, NOW) is None


def test_the_time_conditions_are_alternatives():
    both = criteria(running_minutes=60, queued_minutes=30)
    assert why(both, job(EXECUTING, timedelta(minutes=61)), None, NOW).startswith("Running 61 min")
    assert why(both, job(SUBMITTED, timedelta(minutes=31)), None, NOW).startswith("Queued 31 min")
    assert why(both, job(EXECUTING, timedelta(minutes=45)), None, NOW) is None
    # A job running 2 h, flagged running long by its baseline, and past the minutes too: one reason, the minutes.
    flag = running_long.Flag("running-long", "Running long: 8.0× its usual 15 min")
    either = criteria(running_minutes=60, running_long=True)
    assert why(either, job(EXECUTING, timedelta(hours=2)), flag, NOW) == "Running 2.0 h, over 60 min"
    assert why(either, job(EXECUTING, timedelta(minutes=30)), flag, NOW) == flag.text


def test_without_time_conditions_every_job_of_the_statuses_matches():
    chosen = criteria(statuses=frozenset({SUBMITTED}))
    assert why(chosen, job(SUBMITTED, timedelta(seconds=1)), None, NOW) == "Submitted"
    assert why(chosen, job(EXECUTING, timedelta(hours=1)), None, NOW) is None


def test_user_and_machine_match_whole_names_whatever_their_case():
    mine = criteria(username="SVC_Batch", machine="gis01", queued_minutes=30)
    old = timedelta(minutes=45)
    assert why(mine, job(SUBMITTED, old), None, NOW) == "Queued 45 min, over 30 min · user svc_batch · machine GIS01"
    assert why(mine, job(SUBMITTED, old, username="svc_batch2"), None, NOW) is None
    assert why(mine, job(SUBMITTED, old, machine="GIS02"), None, NOW) is None
    assert (
        why(mine, arcgis_client.Job("j2", SUBMITTED, submitted=NOW - old, username=None, machine="GIS01"), None, NOW)
        is None
    )


def test_a_job_without_a_submitted_time_never_meets_a_time_condition():
    assert why(criteria(queued_minutes=1), arcgis_client.Job("j1", SUBMITTED), None, NOW) is None


def test_what_is_asked_of_arcgis():
    queued = criteria(statuses=frozenset({SUBMITTED, EXECUTING}), queued_minutes=30)
    assert queued.asked_statuses == (SUBMITTED,)
    assert queued.submitted_before(NOW) == NOW - timedelta(minutes=30)
    mixed = criteria(running_minutes=90, queued_minutes=30)
    assert set(mixed.asked_statuses) == {EXECUTING, NEW, SUBMITTED, WAITING}
    assert mixed.submitted_before(NOW) == NOW - timedelta(minutes=30)  # the shorter one: both still match
    assert criteria(running_long=True, running_minutes=90).submitted_before(NOW) is None  # baselines vary
    assert criteria(statuses=frozenset({SUBMITTED}), running_minutes=5).asked_statuses == ()  # nothing can match
    untimed = criteria(statuses=frozenset({SUBMITTED, WAITING}))
    assert untimed.asked_statuses == (SUBMITTED, WAITING) and untimed.submitted_before(NOW) is None


@pytest.mark.parametrize(
    ("pattern", "key", "matched"),
    [
        ("Hydrology/*", "Hydrology/FloodModel", True),
        ("Hydrology/*", "Hydrology2/FloodModel", False),
        ("hydrology/flood*", "Hydrology/FloodModel", True),  # ArcGIS's names are case-insensitive
        ("*/FloodModel", "Hydrology/FloodModel", True),
        ("*/FloodModel", "FloodModel", False),  # a service of the root folder has no folder
        ("FloodModel", "FloodModel", True),
        ("FloodModel", "Hydrology/FloodModel", False),
        ("*", "Hydrology/FloodModel", True),
        ("*", "Buffer", True),
        ("Flood?odel", "FloodModel", True),
        ("*Model", "Hydrology/FloodModel", False),  # a wildcard stays within its folder or name
        ("*Model", "FloodModel", True),
        ("Buffer?Tool", "Buffer/Tool", False),
        ("Hydro*/*", "Hydrology/FloodModel", True),
    ],
)
def test_service_patterns(pattern, key, matched):
    assert matches_pattern(arcgis_client.ServiceRef.parse(key), pattern) is matched


def test_the_fleet_asks_only_the_services_any_pattern_names():
    query = FleetQuery(services=("Hydrology/*", "Buffer"))
    wanted = [
        key
        for key in ("Hydrology/A", "Buffer", "Utilities/Buffer", "Other/B")
        if query.wants(arcgis_client.ServiceRef.parse(key))
    ]
    assert wanted == ["Hydrology/A", "Buffer"]
    assert FleetQuery().wants(arcgis_client.ServiceRef.parse("Other/B"))
