"""Runaway baselines from the job index: the p95 of the last 30 days' succeeded durations of a service (at least
20 of them), so a runaway is still told after ArcGIS cleaned its jobs directory; otherwise ArcGIS's own jobs."""

from __future__ import annotations

import re
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

import arcgis_client
from jobs import running_long
from jobs.models import Site
from jobs.targets import ServiceTarget
from tests.helpers import row_html, row_ids
from tests.history.factory import indexed

EXECUTING, SUCCEEDED, FAILED = arcgis_client.EXECUTING, arcgis_client.SUCCEEDED, arcgis_client.FAILED


def indexed_history(site, key: str, minutes: list[float], days_ago: float = 1, status: str = SUCCEEDED) -> None:
    submitted = timezone.now() - timedelta(days=days_ago)
    for i, duration in enumerate(minutes):
        indexed(site, key, status, submitted=submitted - timedelta(minutes=i), seconds=duration * 60)


def baseline_text(client, target: ServiceTarget) -> str:
    return client.htmx_get(target.url("service_baseline")).content.decode()


def baseline_reads(simulator) -> list:
    return [r for r in simulator.requests if r.operation == "query" and r.query.get("jobStatus") == SUCCEEDED]


def test_twenty_indexed_succeeded_jobs_give_the_baseline_without_asking_arcgis(
    simulator, site, service, target, olivia
):
    indexed_history(site, service.key, [float(m) for m in range(1, 21)])  # 1 … 20 min: p95 is 19.05 min
    simulator.requests.clear()
    html = baseline_text(olivia, target)
    assert "Usually ≤ 20 min (95% of the 20 succeeded jobs of the last 30 days)." in html
    assert not baseline_reads(simulator)
    [base] = running_long.index_baselines([site]).values()
    assert base.samples == 20 and base.p95 == timedelta(minutes=19.05)


def test_nineteen_are_not_enough_the_baseline_comes_from_arcgis_as_before(simulator, site, service, target, olivia):
    indexed_history(site, service.key, [30.0] * 19)
    now = simulator.clock.now()
    for i in range(10):
        start = now - timedelta(hours=2, minutes=i)
        simulator.state.add_job(service.key, status=SUCCEEDED, submitted=start, end_time=start + timedelta(minutes=5))
    assert "Usually ≤ 5 min (95% of the last 10 succeeded jobs)." in baseline_text(olivia, target)
    assert running_long.index_baselines([site]) == {}


def test_only_the_last_30_days_succeeded_jobs_count(simulator, site, service, target, olivia):
    indexed_history(site, service.key, [4.0] * 20)
    indexed_history(site, service.key, [300.0] * 20, days_ago=31)  # too old
    indexed_history(site, service.key, [300.0] * 20, status=FAILED)  # not succeeded
    indexed_history(site, "Buffer", [300.0] * 20)  # another service
    assert "Usually ≤ 4 min (95% of the 20 succeeded jobs of the last 30 days)." in baseline_text(olivia, target)


def test_service_names_match_whatever_their_case(simulator, site, service, olivia):
    indexed_history(site, "HYDROLOGY/watershed", [4.0] * 20)
    spelled = ServiceTarget(site, arcgis_client.ServiceRef("hydrology", "WATERSHED"))
    assert "Usually ≤ 4 min" in baseline_text(olivia, spelled)
    assert "Usually ≤ 4 min" in baseline_text(olivia, ServiceTarget(site, service))


def test_a_viewer_without_a_connection_sees_the_indexed_baseline(site, service, target, viewer, client_as):
    indexed_history(site, service.key, [4.0] * 20)
    assert "Usually ≤ 4 min" in baseline_text(client_as(viewer), target)


def test_the_fleet_flags_a_runaway_by_the_index_after_arcgis_forgot_the_history(simulator, site, service, olivia):
    indexed_history(site, service.key, [5.0] * 25)  # ArcGIS itself keeps no succeeded job
    now = simulator.clock.now()
    runaway = simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(minutes=40))
    normal = simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(minutes=3))
    simulator.clock.advance(1)
    html = olivia.get(reverse("jobs:fleet"), {"inline": "1"}).content.decode()
    assert re.search(r"Running long: 8\.\d× its usual 5 min", row_html(html, runaway))
    assert "data-running-long" not in row_html(html, normal)
    listed = olivia.get(reverse("jobs:fleet"), {"inline": "1", "running_long": "on"}).content.decode()
    assert row_ids(listed) == [runaway]
    overview = olivia.get(reverse("jobs:overview"), {"inline": "1"}).content.decode()
    assert ">1 running long</a>" in overview
    assert not baseline_reads(simulator)


def test_one_query_for_every_service_of_the_sites_then_shared(db, site, django_assert_num_queries):
    other = Site.objects.create(slug="other", name="Other", admin_url="https://other.example.com/arcgis/admin")
    indexed_history(site, "Hydrology/Watershed", [4.0] * 20)
    indexed_history(site, "Buffer", [8.0] * 21)
    indexed_history(other, "Buffer", [2.0] * 22)
    with django_assert_num_queries(1):
        found = running_long.index_baselines([site, other])
    assert {key: base.samples for key, base in found.items()} == {
        (site.pk, "hydrology/watershed"): 20,
        (site.pk, "buffer"): 21,
        (other.pk, "buffer"): 22,
    }
    with django_assert_num_queries(0):
        assert running_long.index_baselines([site, other]) == found
