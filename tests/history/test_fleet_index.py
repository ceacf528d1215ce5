"""The fleet view from the job index: when every site it covers is collected and fresh, its rows come from one query
over the index (the fan-out's filters, order, cursor and row markup), said to be as of the last collection; when a
site is stale or not collected, it asks ArcGIS as before."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

import arcgis_client
from history import fleet_index
from jobs import running_long
from jobs.models import Site
from jobs.queries import FleetQuery
from tests.conftest import store_token
from tests.helpers import row_html, row_ids, sse_events, text
from tests.history.factory import collected, indexed

EXECUTING, SUCCEEDED, SUBMITTED, FAILED = (
    arcgis_client.EXECUTING,
    arcgis_client.SUCCEEDED,
    arcgis_client.SUBMITTED,
    arcgis_client.FAILED,
)


def fleet_page(client, **params) -> str:
    response = client.get(reverse("jobs:fleet"), {**params, "inline": "1"})
    assert response.status_code == 200
    return response.content.decode()


def both(simulator, site, key: str, status: str = EXECUTING, **fields) -> str:
    """A job ArcGIS holds, and the index too, as the collector would have written it."""
    job_id = simulator.state.add_job(key, status=status, **fields)
    job = simulator.state.get_job(key, job_id)
    submitted = datetime.fromtimestamp(job["submittedTime"] / 1000, tz=UTC)
    indexed(
        site, key, status, submitted=submitted, job_id=job_id, user=job["username"] or "", machine=job["machinename"]
    )
    return job_id


def upstream_queries(sim) -> list:
    return [r for r in sim.requests if r.operation in ("query", "statistics")]


@pytest.fixture
def fresh(site, service):
    """The site's one GP service collected a second ago."""
    return collected(site, service.key, seconds_ago=1)


def test_a_fresh_index_serves_the_rows_in_one_query_without_asking_arcgis(simulator, site, service, fresh, olivia):
    t0 = timezone.now() - timedelta(minutes=30)
    made = [both(simulator, site, service.key, submitted=t0 + timedelta(seconds=i)) for i in range(3)]
    simulator.requests.clear()
    html = fleet_page(olivia)
    assert row_ids(html) == made[::-1]
    assert not upstream_queries(simulator)
    row = row_html(html, made[0])
    assert f'data-status="{EXECUTING}"' in row and 'data-site="main"' in row
    assert 'data-service="Hydrology/Watershed"' in row and ">Cancel</button>" in row
    status = text(re.search(r'<p id="fleet-progress".*?</p>', html, re.S).group(0))
    assert re.search(r"3 jobs shown, from 1 GP service, .* From the job index, as of [12] s ago ?\.", status)


def test_the_index_and_arcgis_give_the_same_pages_in_the_same_order(simulator, site, service, fresh, olivia):
    simulator.state.add_service("Buffer")
    collected(site, "Buffer")
    t0 = timezone.now() - timedelta(hours=1)
    for i in range(130):  # three to a second, across two services: pages end amid jobs of the same time
        both(simulator, site, [service.key, "Buffer"][i % 2], submitted=t0 + timedelta(seconds=i // 3))
    for order in ("newest", "longest"):
        indexed = every_page(olivia, order=order)
        fresh.last_pass = timezone.now() - timedelta(hours=1)  # stale: the fan-out
        fresh.save()
        asked = every_page(olivia, order=order)
        fresh.last_pass = timezone.now()
        fresh.save()
        assert len(indexed) == len(set(indexed)) == 130
        assert indexed == asked


def every_page(client, **params) -> list[str]:
    html, seen = fleet_page(client, **params), []
    for _ in range(10):
        seen += row_ids(html)
        link = re.search(r'href="([^"]*before=[^"]+)" rel="next"', html)
        if not link:
            return seen
        html = client.get(link.group(1).replace("&amp;", "&") + "&inline=1").content.decode()
    raise AssertionError("more than 10 pages")


def test_the_filters_apply_to_the_index_as_arcgis_applies_them(simulator, site, service, fresh, olivia):
    simulator.state.add_service("Buffer")
    collected(site, "Buffer")
    now = timezone.now()
    running = both(simulator, site, service.key, submitted=now - timedelta(minutes=5))
    queued = both(simulator, site, service.key, SUBMITTED, submitted=now - timedelta(minutes=4))
    done = both(simulator, site, service.key, SUCCEEDED, submitted=now - timedelta(minutes=3))
    other = both(
        simulator, site, "Buffer", username="analyst2", machinename="GIS02", submitted=now - timedelta(hours=3)
    )
    cases = [
        ({}, [queued, running, other]),
        ({"status": [SUCCEEDED]}, [done]),
        ({"status": [SUCCEEDED, SUBMITTED]}, [done, queued]),
        ({"folder": "HYDROLOGY"}, [queued, running]),
        ({"service": "watershed"}, [queued, running]),
        ({"folder": "hydrology", "service": "WATERSHED"}, [queued, running]),
        ({"service": "buffer"}, [other]),
        ({"user": "ANALYST2"}, [other]),
        ({"machine": "gis02"}, [other]),
        ({"within": "1h"}, [queued, running]),
        ({"order": "longest"}, [other, running, queued]),
    ]
    for params, expected in cases:
        assert row_ids(fleet_page(olivia, **params)) == expected, params
    simulator.requests.clear()
    fresh.last_pass = None  # the same answers from ArcGIS
    fresh.save()
    for params, expected in cases:
        assert row_ids(fleet_page(olivia, **params)) == expected, params
    assert upstream_queries(simulator)


def test_the_rows_are_flagged_as_the_fan_out_flags_them(simulator, site, service, fresh, olivia):
    now = timezone.now()
    for i in range(20):  # the index's baseline: 5 min
        indexed(site, service.key, SUCCEEDED, submitted=now - timedelta(days=1, minutes=i), seconds=300)
    runaway = both(simulator, site, service.key, submitted=now - timedelta(minutes=40))
    normal = both(simulator, site, service.key, submitted=now - timedelta(minutes=3))
    waiting = both(simulator, site, service.key, SUBMITTED, submitted=now - timedelta(hours=2))
    html = fleet_page(olivia)
    assert re.search(r"Running long: 8\.\d× its usual 5 min", row_html(html, runaway))
    assert "data-running-long" not in row_html(html, normal)
    assert 'data-queued-long="true"' in row_html(html, waiting)
    assert row_ids(fleet_page(olivia, running_long="on")) == [runaway]
    assert not upstream_queries(simulator)


def test_a_stale_site_sends_the_fleet_view_back_to_arcgis(simulator, site, service, fresh, olivia, settings):
    settings.HISTORY_COLLECT_SECONDS = 30
    only_arcgis = simulator.state.add_job(service.key, status=EXECUTING)
    only_index = indexed(site, service.key, EXECUTING).job_id
    assert row_ids(fleet_page(olivia)) == [only_index]
    fresh.last_pass = timezone.now() - timedelta(seconds=61)  # more than two intervals ago
    fresh.save()
    html = fleet_page(olivia)
    assert row_ids(html) == [only_arcgis]
    assert "From the job index" not in html and "Updated" in html


def test_a_service_never_collected_sends_it_back_to_arcgis(simulator, site, service, fresh, olivia):
    simulator.state.add_service("Buffer")
    collected(site, "Buffer", seconds_ago=None)  # found, not read yet
    only_arcgis = simulator.state.add_job(service.key, status=EXECUTING)
    indexed(site, service.key, EXECUTING)
    assert row_ids(fleet_page(olivia)) == [only_arcgis]


def test_a_site_not_collected_sends_it_back_to_arcgis_unless_another_site_is_asked_alone(
    simulator, site, service, fresh, operator, olivia
):
    spare = Site.objects.create(slug="spare", name="Spare", admin_url=simulator.admin_url, insecure=True)
    store_token(operator, spare, simulator.issue_token("siteadmin", referer=spare.effective_referer))
    only_arcgis = simulator.state.add_job(service.key, status=EXECUTING)
    only_index = indexed(site, service.key, EXECUTING).job_id
    # Both sites ask the one simulator: its job shows once per site.
    assert row_ids(fleet_page(olivia)) == [only_arcgis, only_arcgis]
    assert row_ids(fleet_page(olivia, site="main")) == [only_index]


def test_restricted_sites_stay_hidden_from_the_index_too(simulator, site, service, fresh, hidden_site, olivia):
    collected(hidden_site, service.key)
    mine = indexed(site, service.key, EXECUTING).job_id
    indexed(hidden_site, service.key, EXECUTING)
    html = fleet_page(olivia)
    assert row_ids(html) == [mine] and "Secret Site" not in html


def test_the_stream_sends_the_index_rows_at_once(simulator, site, service, fresh, olivia):
    job_id = indexed(site, service.key, EXECUTING).job_id
    response = olivia.get(reverse("jobs:fleet_stream"))
    events = sse_events(response)
    assert [event for event, _ in events] == ["fragment", "done"]
    assert row_ids(events[0][1]) == [job_id] and "From the job index, as of" in events[0][1]
    assert not upstream_queries(simulator)


def test_the_csv_export_reads_the_index(simulator, site, service, fresh, olivia):
    job_id = indexed(site, service.key, EXECUTING).job_id
    response = olivia.get(reverse("jobs:fleet_export"))
    assert job_id in b"".join(response.streaming_content).decode()
    assert not upstream_queries(simulator)


def test_rows_come_in_one_query_whatever_the_page(site, service, fresh):
    t0 = timezone.now() - timedelta(hours=1)
    for i in range(60):
        indexed(site, service.key, EXECUTING, submitted=t0 + timedelta(seconds=i))
    running_long.index_baselines([site])  # the baselines are shared for minutes: read before
    with CaptureQueriesContext(connection) as queries:
        state = fleet_index.indexed_fleet([site], FleetQuery())
    assert state is not None and len(state.rows) == 50 and state.more
    assert len([q for q in queries if "history_indexedjob" in q["sql"]]) == 1
    assert len([q for q in queries if "history_servicecollection" in q["sql"]]) == 1


def test_jobs_gone_from_arcgis_while_active_are_not_rows_of_the_fleet(site, service, fresh, olivia):
    kept = indexed(site, service.key, EXECUTING).job_id
    indexed(site, service.key, EXECUTING, gone_while=EXECUTING)
    assert row_ids(fleet_page(olivia)) == [kept]


def test_whoever_may_see_the_site_sees_the_index_rows_without_a_connection(site, service, fresh, viewer, client_as):
    job_id = indexed(site, service.key, EXECUTING).job_id
    html = fleet_page(client_as(viewer))
    assert row_ids(html) == [job_id] and "did not answer" not in html
