"""Browsing: the overview, a site's services, the jobs page with its filters and paging, and row refreshes."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from jobs.rows import ServiceTarget

EXECUTING, SUCCEEDED, SUBMITTED = "esriJobExecuting", "esriJobSucceeded", "esriJobSubmitted"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def target(site, service):
    return ServiceTarget(site, service)


@pytest.fixture
def olivia(operator, site, connect, client_as):
    connect(operator, site)
    return client_as(operator)


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="job-(\w+)"', html)


def add_jobs(simulator, service, count, **fields):
    """Jobs one minute apart, the last one newest."""
    return [simulator.state.add_job(service.key, submitted=T0 + timedelta(minutes=i), **fields) for i in range(count)]


def queries(simulator):
    return [r for r in simulator.requests if r.path.endswith("/jobs/query")]


# --- overview and site pages -------------------------------------------------------


def test_overview_lists_gp_services_by_folder_and_loads_counts_on_their_own(simulator, site, service, olivia):
    simulator.state.add_service("Buffer")
    simulator.state.add_service("Parcels", type="MapServer")
    html = olivia.get(reverse("jobs:overview")).content.decode()
    assert "Main site" in html
    assert "<caption>Hydrology</caption>" in html and "<caption>Root folder</caption>" in html
    assert ">Watershed</a>" in html and ">Buffer</a>" in html
    assert "Parcels" not in html and "Rivers" not in html  # map services have no jobs
    counts_url = ServiceTarget(site, service).url("service_counts")
    assert f'hx-get="{counts_url}" hx-trigger="load"' in html
    # The page itself asked for no job counts: they load one service at a time.
    assert not [r for r in simulator.requests if "/jobs/" in r.path]


def test_counts_fragment_shows_the_service_statistics(simulator, service, target, olivia):
    add_jobs(simulator, service, 3, status=SUCCEEDED)
    add_jobs(simulator, service, 2, status=EXECUTING)
    simulator.state.add_job(service.key, status="esriJobFailed")
    html = olivia.htmx_get(target.url("service_counts")).content.decode()
    assert "6 total" in html
    assert "2 active" in html and "3 succeeded" in html and "1 failed" in html and "0 cancelled" in html


def test_counts_fragment_of_a_broken_service_shows_its_error_in_place(simulator, service, target, olivia):
    simulator.faults.set("html_502", operation="statistics")
    response = olivia.htmx_get(target.url("service_counts"))
    assert response.status_code == 200
    assert "Bad Gateway" in response.content.decode()


def test_overview_without_a_token_links_to_connect(site, service, operator, client_as):
    html = client_as(operator).get(reverse("jobs:overview")).content.decode()
    assert "You have no ArcGIS token for this site." in html
    assert reverse("jobs:token", args=["main"]) in html


def test_site_page_lists_the_services_of_one_site(simulator, site, service, olivia):
    response = olivia.get(reverse("jobs:site", args=["main"]))
    assert response.status_code == 200
    assert ">Watershed</a>" in response.content.decode()


# --- the jobs page ----------------------------------------------------------------------


def test_jobs_page_lists_newest_first_with_every_column(simulator, service, target, olivia):
    oldest, newest = add_jobs(simulator, service, 2, status=SUCCEEDED, username="analyst7", machinename="GIS09")
    html = olivia.get(target.url("job_list")).content.decode()
    assert row_ids(html) == [newest, oldest]
    row = html[html.index(f'id="job-{newest}"') :]
    assert 'data-status="esriJobSucceeded"' in row[:200]
    for text in ("Succeeded", "analyst7", "GIS09", "2026-11-02 08:01:00", "Jobs 1–2 of 2"):
        assert text in html
    # Times say their UTC value on hover.
    assert 'title="2026-11-02 08:01:00 UTC"' in html


def test_fifty_jobs_a_page_by_default_with_server_side_paging(simulator, service, target, olivia):
    jobs = add_jobs(simulator, service, 120, status=SUCCEEDED)
    newest_first = jobs[::-1]
    first = olivia.get(target.url("job_list")).content.decode()
    assert row_ids(first) == newest_first[:50]
    assert "Jobs 1–50 of 120" in first and "Page 1 of 3" in first
    simulator.requests.clear()
    third = olivia.get(target.url("job_list"), {"page": 3}).content.decode()
    assert row_ids(third) == newest_first[100:]
    assert "Jobs 101–120 of 120" in third and 'rel="next"' not in third and 'rel="prev"' in third
    [query] = queries(simulator)
    assert (query.query["start"], query.query["number"]) == ("101", "50")


def test_page_size_is_chosen_by_the_operator(simulator, service, target, olivia):
    add_jobs(simulator, service, 30, status=SUCCEEDED)
    html = olivia.get(target.url("job_list"), {"per_page": 25}).content.decode()
    assert len(row_ids(html)) == 25 and "Page 1 of 2" in html


@pytest.mark.parametrize(
    ("params", "upstream"),
    [
        ({"status": EXECUTING}, {"jobStatus": EXECUTING}),
        ({"user": "analyst2"}, {"userName": "analyst2"}),
        ({"machine": "GIS02.EXAMPLE.COM"}, {"machineName": "GIS02.EXAMPLE.COM"}),
    ],
)
def test_each_filter_reaches_arcgis_and_narrows_the_list(simulator, service, target, olivia, params, upstream):
    wanted = simulator.state.add_job(
        service.key, status=EXECUTING, username="analyst2", machinename="GIS02.EXAMPLE.COM"
    )
    simulator.state.add_job(service.key, status=SUCCEEDED, username="analyst1", machinename="GIS01.EXAMPLE.COM")
    simulator.requests.clear()
    html = olivia.get(target.url("job_list"), params).content.decode()
    assert row_ids(html) == [wanted]
    [query] = queries(simulator)
    for name, value in upstream.items():
        assert query.query[name] == value


def test_time_range_filter_is_read_in_the_operators_time_zone(simulator, service, target, olivia):
    jobs = add_jobs(simulator, service, 5, status=SUCCEEDED)  # 08:00 … 08:04 UTC
    olivia.cookies["tz"] = "Europe/Paris"  # UTC+1 in November
    simulator.requests.clear()
    html = olivia.get(target.url("job_list"), {"since": "2026-11-02T09:01", "until": "2026-11-02T09:03"}).content
    assert row_ids(html.decode()) == [jobs[3], jobs[2], jobs[1]]
    [query] = queries(simulator)
    assert query.query["startTime"] == str(int((T0 + timedelta(minutes=1)).timestamp() * 1000))
    assert query.query["endTime"] == str(int((T0 + timedelta(minutes=3)).timestamp() * 1000))
    # Shown in Paris time, UTC on hover.
    assert 'title="2026-11-02 08:02:00 UTC">2026-11-02 09:02:00</time>' in html.decode()


def test_job_id_filter_shows_that_one_job(simulator, service, target, olivia):
    wanted, _ = add_jobs(simulator, service, 2, status=SUCCEEDED)
    assert row_ids(olivia.get(target.url("job_list"), {"job": wanted}).content.decode()) == [wanted]
    html = olivia.get(target.url("job_list"), {"job": "j" + "0" * 32}).content.decode()
    assert row_ids(html) == [] and "No jobs match." in html


def test_invalid_filters_are_explained_and_nothing_is_asked_upstream(simulator, service, target, olivia):
    simulator.requests.clear()
    response = olivia.get(target.url("job_list"), {"status": "esriJobExploded", "since": "yesterday"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "The filters need a correction" in html and "Submitted from" in html
    assert not queries(simulator)


def test_filter_changes_answer_htmx_with_the_table_only(simulator, service, target, olivia):
    add_jobs(simulator, service, 2, status=SUCCEEDED)
    response = olivia.htmx_get(target.url("job_list"), {"status": SUCCEEDED}, **{"HX-Target": "job-table"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="job-table"') and "<html" not in html
    assert len(row_ids(html)) == 2


def test_sorting_orders_the_page(simulator, service, target, olivia):
    bob = simulator.state.add_job(service.key, status=SUCCEEDED, username="bob", submitted=T0)
    amy = simulator.state.add_job(service.key, status=SUCCEEDED, username="amy", submitted=T0 + timedelta(1))
    cat = simulator.state.add_job(service.key, status=SUCCEEDED, username="cat", submitted=T0 + timedelta(2))
    assert row_ids(olivia.get(target.url("job_list"), {"sort": "user"}).content.decode()) == [amy, bob, cat]
    assert row_ids(olivia.get(target.url("job_list"), {"sort": "submitted"}).content.decode()) == [bob, amy, cat]


def test_operators_see_actions_and_viewers_do_not(simulator, site, service, target, viewer, connect, client_as, olivia):
    simulator.state.add_job(service.key, status=EXECUTING)
    assert ">Cancel</button>" in olivia.get(target.url("job_list")).content.decode()
    connect(viewer, site)
    html = client_as(viewer).get(target.url("job_list")).content.decode()
    assert ">Cancel</button>" not in html and ">Delete</button>" not in html and "Purge queue" not in html
    assert 'name="job_ids"' not in html


def test_cancel_is_enabled_only_while_submitted_or_executing(simulator, service, target, olivia):
    statuses = ["esriJobNew", SUBMITTED, "esriJobWaiting", EXECUTING, SUCCEEDED, "esriJobFailed", "esriJobCancelled"]
    ids = {status: simulator.state.add_job(service.key, status=status) for status in statuses}
    html = olivia.get(target.url("job_list")).content.decode()
    for status, job_id in ids.items():
        row = html[html.index(f'id="job-{job_id}"') :]
        row = row[: row.index("</tr>")]
        button = re.search(rf'<button type="submit" id="cancel-{job_id}"([^>]*)>Cancel</button>', row)
        enabled = " disabled" not in button.group(1)
        assert enabled == (status in (SUBMITTED, EXECUTING)), status


# --- rows refresh themselves ---------------------------------------------------------------


def test_non_terminal_rows_poll_and_terminal_rows_do_not(simulator, service, target, olivia):
    running = simulator.state.add_job(service.key, status=EXECUTING)
    done = simulator.state.add_job(service.key, status=SUCCEEDED)
    html = olivia.get(target.url("job_list")).content.decode()
    running_row = html[html.index(f'id="job-{running}"') :].split(">", 1)[0]
    done_row = html[html.index(f'id="job-{done}"') :].split(">", 1)[0]
    assert f'hx-get="{target.url("job", running)}"' in running_row and 'hx-trigger="every 1s"' in running_row
    assert 'hx-sync="this:drop"' in running_row
    assert "hx-get" not in done_row


def test_row_refresh_answers_the_row_and_stops_at_a_terminal_status(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    running = olivia.htmx_get(target.url("job", job_id))
    assert running.status_code == 200
    assert running.content.decode().lstrip().startswith(f'<tr id="job-{job_id}" data-status="esriJobExecuting"')
    simulator.state.set_status(service.key, job_id, SUCCEEDED)
    finished = olivia.htmx_get(target.url("job", job_id))
    assert finished.status_code == 286  # htmx stops polling
    assert 'data-status="esriJobSucceeded"' in finished.content.decode()


def test_cancelling_is_shown_as_cancel_requested_until_cancelled(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    olivia.action(target.url("cancel", job_id))
    html = olivia.htmx_get(target.url("job", job_id)).content.decode()
    assert 'data-status="esriJobCancelling"' in html and ">Cancel requested</span>" in html
    simulator.clock.advance(5)
    response = olivia.htmx_get(target.url("job", job_id))
    assert response.status_code == 286
    assert 'data-status="esriJobCancelled"' in response.content.decode()


def test_the_outcome_message_survives_refreshes(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=SUCCEEDED)
    olivia.action(target.url("cancel", job_id))
    html = olivia.htmx_get(target.url("job", job_id)).content.decode()
    assert f'role="status" class="outcome outcome-refused">Unable to cancel job :[{job_id}]' in html


def test_job_detail_page_shows_every_field_and_the_last_portal_action(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=SUCCEEDED, username="analyst3", machinename="GIS03")
    olivia.action(target.url("cancel", job_id))
    html = olivia.get(target.url("job", job_id)).content.decode()
    assert f"Job <code>{job_id}</code>" in html
    assert f"{simulator.base_url}/rest/services/Hydrology/Watershed/GPServer/Watershed/jobs/{job_id}" in html
    assert "Cancel by olivia" in html and "Refused" in html
    assert "analyst3" in html and "GIS03" in html


def test_times_follow_the_chosen_time_zone(simulator, service, target, olivia):
    simulator.state.add_job(service.key, status=SUCCEEDED, submitted=T0)
    response = olivia.post(
        reverse("jobs:timezone"),
        {"timezone": "America/New_York", "next": target.url("job_list")},
        headers={"X-CSRFToken": olivia.csrf_token},
    )
    assert response.status_code == 302 and response.url == target.url("job_list")
    html = olivia.get(target.url("job_list")).content.decode()
    assert ">2026-11-02 03:00:00</time>" in html  # EST, UTC-5
    assert "America/New_York" in html


def test_unknown_time_zone_is_refused(olivia):
    olivia.post(reverse("jobs:timezone"), {"timezone": "Mars/Olympus"}, headers={"X-CSRFToken": olivia.csrf_token})
    assert "tz" not in olivia.cookies or olivia.cookies["tz"].value != "Mars/Olympus"
