"""Browsing: the overview, a site's services, the jobs page with its filters and paging, and the page's poll."""

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from jobs import reads, upstream
from jobs.forms import JobFilterForm
from tests.helpers import jobs_table, jobs_table_html, row_ids, streamed_html

EXECUTING, SUCCEEDED, SUBMITTED = "esriJobExecuting", "esriJobSucceeded", "esriJobSubmitted"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def add_jobs(simulator, service, count, **fields):
    """Jobs one minute apart, the last one newest."""
    return [simulator.state.add_job(service.key, submitted=T0 + timedelta(minutes=i), **fields) for i in range(count)]


def queries(simulator):
    return [r for r in simulator.requests if r.path.endswith("/jobs/query")]


# --- overview and site pages -------------------------------------------------------


def test_overview_renders_at_once_and_streams_services_by_folder_with_their_counts(simulator, site, service, olivia):
    simulator.state.add_service("Buffer")
    simulator.state.add_service("Parcels", type="MapServer")
    add_jobs(simulator, service, 2, status=EXECUTING)
    simulator.requests.clear()
    shell = olivia.get(reverse("jobs:overview")).content.decode()
    assert "Main site" in shell and "Loading services…" in shell
    assert f'sse-connect="{reverse("jobs:overview_stream")}"' in shell
    assert not simulator.requests  # the page itself waits for no site

    html = streamed_html(olivia, reverse("jobs:overview_stream"))
    assert "<caption>Hydrology</caption>" in html and "<caption>Root folder</caption>" in html
    assert ">Watershed</a>" in html and ">Buffer</a>" in html
    assert "Parcels" not in html and "Rivers" not in html  # map services have no jobs
    assert 'id="site-main"' in html and 'hx-swap-oob="true"' in html
    assert "2 total" in html and "2 active" in html
    # One listing of folders, then one statistics call per GP service, all in this one request.
    stats = [r for r in simulator.requests if r.operation == "statistics"]
    assert sorted(r.service for r in stats) == ["Buffer", "Hydrology/Watershed"]


def test_the_overview_without_javascript_renders_everything_in_one_page(simulator, site, service, olivia):
    add_jobs(simulator, service, 3, status=SUCCEEDED)
    shell = olivia.get(reverse("jobs:overview")).content.decode()
    assert '<noscript><meta http-equiv="refresh" content="0; url=/?inline=1"></noscript>' in shell
    html = olivia.get(reverse("jobs:overview"), {"inline": "1"}).content.decode()
    assert "<caption>Hydrology</caption>" in html and "3 total" in html and "Loading" not in html


def test_counts_fragment_shows_the_service_statistics(simulator, service, target, olivia):
    add_jobs(simulator, service, 3, status=SUCCEEDED)
    add_jobs(simulator, service, 2, status=EXECUTING)
    simulator.state.add_job(service.key, status="esriJobFailed")
    html = olivia.htmx_get(target.url("service_counts")).content.decode()
    assert "6 total" in html
    assert "2 active" in html and "3 succeeded" in html and "1 failed" in html and "0 cancelled" in html


def test_a_broken_service_shows_its_error_in_place_with_a_retry(simulator, service, target, olivia):
    simulator.state.add_service("Buffer")
    simulator.faults.set("html_502", operation="statistics", service=service.key)
    html = streamed_html(olivia, reverse("jobs:overview_stream"))
    cell = html[html.rindex(f'id="{target.dom_id}"') :]  # the counts that came in, after the "Loading…"
    cell = cell[: cell.index("</td>")]
    assert "502 Bad Gateway instead of ArcGIS JSON" in cell and "Retry" in cell
    assert "0 total" in html  # Buffer still shows its counts
    response = olivia.htmx_get(target.url("service_counts"))
    assert response.status_code == 200 and "502 Bad Gateway instead of ArcGIS JSON" in response.content.decode()


def test_overview_without_a_token_links_to_connect(site, service, operator, client_as):
    html = streamed_html(client_as(operator), reverse("jobs:overview_stream"))
    assert "You have no ArcGIS token for this site." in html
    assert reverse("jobs:token", args=["main"]) in html


def test_site_page_lists_the_services_of_one_site(simulator, site, service, olivia):
    response = olivia.get(reverse("jobs:site", args=["main"]))
    assert response.status_code == 200 and "Loading services…" in response.content.decode()
    html = streamed_html(olivia, reverse("jobs:site_stream", args=["main"]))
    assert ">Watershed</a>" in html


def test_the_overview_refresh_answers_every_count_in_one_request(simulator, site, service, olivia):
    add_jobs(simulator, service, 4, status=SUCCEEDED)
    html = olivia.htmx_get(reverse("jobs:overview_refresh")).content.decode()
    assert "4 total" in html and 'hx-swap-oob="true"' in html


# --- the jobs page ----------------------------------------------------------------------


def test_the_page_reads_its_tables_jobs_ahead_and_the_table_finds_them_shared(
    simulator, service, target, olivia, settings
):
    """The shell starts the read its table will ask for at once: the table, a moment later, waits for no one."""
    settings.SHARED_READ_SECONDS = 5
    ids = add_jobs(simulator, service, 3)
    simulator.requests.clear()
    assert olivia.get(target.url("job_list"), {"page": "1"}).status_code == 200
    deadline = time.monotonic() + 5
    while not queries(simulator) and time.monotonic() < deadline:
        time.sleep(0.01)
    [ahead] = queries(simulator)
    assert ahead.headers.get("X-Esri-Authorization", "").startswith("Bearer ")  # with the operator's own token
    assert row_ids(jobs_table_html(olivia, target, {"page": "1"})) == ids[::-1]
    assert len(queries(simulator)) == 1  # the table's read was the one read ahead
    # Nothing is read ahead for a span that ends now (the table's own would be another), nor one job by ID.
    simulator.requests.clear()
    olivia.get(target.url("job_list"), {"within": "1h"})
    olivia.get(target.url("job_list"), {"job": ids[0]})
    time.sleep(0.2)
    assert not queries(simulator)


def test_the_shell_goes_on_once_its_read_ahead_is_on_its_way(
    simulator, service, target, operator, olivia, settings, monkeypatch
):
    """The shell renders while ArcGIS answers, not while its read ahead waits to start: read_ahead returns once the
    read is being fetched (claimed, so this process's table waits for it), and the table waits for that one, however
    slow ArcGIS is (not only for ARCGIS_SLOT_WAIT, 0.1 s)."""
    settings.SHARED_READ_SECONDS = 5
    monkeypatch.setattr(reads, "AHEAD_HANDOVER_SECONDS", 5)  # (a loaded machine may take more than 5 ms to start it)
    ids = add_jobs(simulator, service, 3)
    first, second = (JobFilterForm({"page": page}) for page in ("1", "2"))
    assert first.is_valid() and second.is_valid()
    reads.read_ahead(operator, target, second.query())  # its threads started, and now waiting for work
    jobs_table_html(olivia, target, {"page": "2"})
    simulator.faults.set("latency", ms=800)
    simulator.requests.clear()
    reads.read_ahead(operator, target, first.query())
    key = upstream._read_key(("jobs", target.site.pk, target.service.match_key, *first.query().key()))
    assert key in upstream._fetching  # on its way already, not queued behind whatever this thread does next
    assert row_ids(jobs_table_html(olivia, target, {"page": "1"})) == ids[::-1]
    assert len(queries(simulator)) == 1


def test_the_page_with_its_rows_reads_them_while_it_renders_the_rest(simulator, service, target, olivia, settings):
    """Without JavaScript (`?inline=1`) the page reads its rows ahead too, and renders everything above them while
    ArcGIS answers: one read, however slow, the rows in their place."""
    settings.SHARED_READ_SECONDS = 5
    ids = add_jobs(simulator, service, 3)
    simulator.faults.set("latency", ms=400)
    simulator.requests.clear()
    html = olivia.get(target.url("job_list"), {"page": "1", "inline": "1"}).content.decode()
    assert row_ids(html) == ids[::-1] and "Jobs 1–3 of 3" in html
    assert html.index('id="job-filters"') < html.index(f'id="job-{ids[-1]}"')
    assert len(queries(simulator)) == 1


def test_jobs_page_lists_newest_first_with_every_column(simulator, service, target, olivia):
    oldest, newest = add_jobs(simulator, service, 2, status=SUCCEEDED, username="analyst7", machinename="GIS09")
    html = jobs_table_html(olivia, target)
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
    first = jobs_table_html(olivia, target)
    assert row_ids(first) == newest_first[:50]
    assert "Jobs 1–50 of 120" in first and "Page 1 of 3" in first
    simulator.requests.clear()
    third = jobs_table_html(olivia, target, {"page": 3})
    assert row_ids(third) == newest_first[100:]
    assert "Jobs 101–120 of 120" in third and 'rel="next"' not in third and 'rel="prev"' in third
    [query] = queries(simulator)
    assert (query.query["start"], query.query["number"]) == ("101", "50")


def test_page_size_is_chosen_by_the_operator(simulator, service, target, olivia):
    add_jobs(simulator, service, 30, status=SUCCEEDED)
    html = jobs_table_html(olivia, target, {"per_page": 25})
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
    html = jobs_table_html(olivia, target, params)
    assert row_ids(html) == [wanted]
    [query] = queries(simulator)
    for name, value in upstream.items():
        assert query.query[name] == value


def test_time_range_filter_is_read_in_the_operators_time_zone(simulator, service, target, olivia):
    jobs = add_jobs(simulator, service, 5, status=SUCCEEDED)  # 08:00 … 08:04 UTC
    olivia.cookies["tz"] = "Europe/Paris"  # UTC+1 in November
    simulator.requests.clear()
    html = jobs_table_html(olivia, target, {"since": "2026-11-02T09:01", "until": "2026-11-02T09:03"})
    assert row_ids(html) == [jobs[3], jobs[2], jobs[1]]
    [query] = queries(simulator)
    assert query.query["startTime"] == str(int((T0 + timedelta(minutes=1)).timestamp() * 1000))
    assert query.query["endTime"] == str(int((T0 + timedelta(minutes=3)).timestamp() * 1000))
    # Shown in Paris time, UTC on hover.
    assert 'title="2026-11-02 08:02:00 UTC">2026-11-02 09:02:00</time>' in html


def test_job_id_filter_shows_that_one_job(simulator, service, target, olivia):
    wanted, _ = add_jobs(simulator, service, 2, status=SUCCEEDED)
    assert row_ids(jobs_table_html(olivia, target, {"job": wanted})) == [wanted]
    html = jobs_table_html(olivia, target, {"job": "j" + "0" * 32})
    assert row_ids(html) == [] and "No jobs match." in html


def test_invalid_filters_are_explained_and_nothing_is_asked_upstream(simulator, service, target, olivia):
    simulator.requests.clear()
    response = jobs_table(olivia, target, {"status": "esriJobExploded", "since": "yesterday"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "The filters need a correction" in html and "From:" in html
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
    assert row_ids(jobs_table_html(olivia, target, {"sort": "user"})) == [amy, bob, cat]
    assert row_ids(jobs_table_html(olivia, target, {"sort": "submitted"})) == [bob, amy, cat]


def test_operators_see_actions_and_viewers_do_not(simulator, site, service, target, viewer, connect, client_as, olivia):
    simulator.state.add_job(service.key, status=EXECUTING)
    assert ">Cancel</button>" in jobs_table_html(olivia, target)
    connect(viewer, site)
    viewer_client = client_as(viewer)
    html = viewer_client.get(target.url("job_list")).content.decode() + jobs_table_html(viewer_client, target)
    assert ">Actions</th>" not in html  # no empty column either
    assert ">Cancel</button>" not in html and ">Delete</button>" not in html and "Purge queue" not in html
    assert 'name="job_ids"' not in html


def test_cancel_is_enabled_only_while_submitted_or_executing(simulator, service, target, olivia):
    statuses = ["esriJobNew", SUBMITTED, "esriJobWaiting", EXECUTING, SUCCEEDED, "esriJobFailed", "esriJobCancelled"]
    ids = {status: simulator.state.add_job(service.key, status=status) for status in statuses}
    html = jobs_table_html(olivia, target)
    for status, job_id in ids.items():
        row = html[html.index(f'id="job-{job_id}"') :]
        row = row[: row.index("</tr>")]
        button = re.search(rf'<button type="submit" id="cancel-{job_id}"([^>]*)>Cancel</button>', row)
        enabled = " disabled" not in button.group(1)
        assert enabled == (status in (SUBMITTED, EXECUTING)), status


def test_job_detail_page_shows_every_field_and_the_last_portal_action(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=SUCCEEDED, username="analyst3", machinename="GIS03")
    olivia.action(target.url("cancel", job_id))
    html = olivia.get(target.url("job", job_id)).content.decode()
    assert f"Job <code>{job_id}</code>" in html
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
    assert ">2026-11-02 03:00:00</time>" in jobs_table_html(olivia, target)  # EST, UTC-5
    assert "America/New_York" in olivia.get(target.url("job_list")).content.decode()


def test_unknown_time_zone_is_refused(olivia):
    olivia.post(reverse("jobs:timezone"), {"timezone": "Mars/Olympus"}, headers={"X-CSRFToken": olivia.csrf_token})
    assert "tz" not in olivia.cookies or olivia.cookies["tz"].value != "Mars/Olympus"
