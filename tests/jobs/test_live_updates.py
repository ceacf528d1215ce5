"""Live updates: one poll per page (not per row), only changed rows in its answer, newer jobs announced,
and one upstream read per service per interval shared by every operator watching it."""

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import urlencode

import pytest
from django.test import override_settings
from django.urls import reverse

from tests.conftest import make_user
from tests.helpers import jobs_table_html, row_html, row_ids, status_text, streamed_html

EXECUTING, SUCCEEDED, SUBMITTED = "esriJobExecuting", "esriJobSucceeded", "esriJobSubmitted"
CANCELLING, CANCELLED = "esriJobCancelling", "esriJobCancelled"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def poller(html: str) -> dict:
    """The page's poller: where it asks, what it carries, how often."""
    match = re.search(r'<div id="job-poller" hx-get="([^"]+)" hx-vals="([^"]+)" hx-trigger="every (\d+)s"', html)
    assert match, html
    url, vals, seconds = match.groups()
    return {"url": unescape(url), "vals": json.loads(unescape(vals)), "seconds": int(seconds)}


def window_reads(simulator) -> list:
    """Queries of the page's window (not the service's baseline, read at most every ten minutes and shared)."""
    return [r for r in simulator.requests if r.operation == "query" and r.query.get("jobStatus") != SUCCEEDED]


def poll(client, found: dict):
    """As htmx sends it: the poller's URL, its values added to the query."""
    joiner = "&" if "?" in found["url"] else "?"
    return client.htmx_get(found["url"] + joiner + urlencode(found["vals"]))


def test_the_table_polls_once_for_all_its_active_rows(simulator, service, target, olivia):
    running = [simulator.state.add_job(service.key, status=EXECUTING) for _ in range(3)]
    queued = simulator.state.add_job(service.key, status=SUBMITTED)
    done = simulator.state.add_job(service.key, status=SUCCEEDED)
    html = jobs_table_html(olivia, target)
    assert html.count('id="job-poller"') == 1
    found = poller(html)
    watched = dict(item.split(":") for item in found["vals"]["rows"].split(","))
    assert watched == {**dict.fromkeys(running, EXECUTING), queued: SUBMITTED}
    assert done not in found["vals"]["rows"]
    assert found["seconds"] == 1 and found["url"].startswith(target.url("job_updates"))
    # No row polls on its own.
    for job_id in (*running, queued, done):
        assert "hx-trigger" not in row_html(html, job_id).split(">", 1)[0]


def test_the_poll_answers_only_the_rows_that_changed_and_stops_when_none_is_active(simulator, service, target, olivia):
    first, second = (
        simulator.state.add_job(service.key, status=EXECUTING, submitted=T0 + timedelta(i)) for i in (0, 1)
    )
    found = poller(jobs_table_html(olivia, target, {"page": 1, "per_page": 25, "sort": "-duration"}))
    simulator.requests.clear()

    quiet = poll(olivia, found)
    assert quiet.status_code == 200 and row_ids(quiet.content.decode()) == []
    assert len(window_reads(simulator)) == 1  # one read for the page

    simulator.state.set_status(service.key, first, SUCCEEDED)
    changed = poll(olivia, found)
    html = changed.content.decode()
    assert row_ids(html) == [first]
    assert 'hx-swap-oob="true"' in row_html(html, first) and 'data-status="esriJobSucceeded"' in html
    following = poller(html)  # the poller now carries the one row still active
    assert following["vals"]["rows"] == f"{second}:{EXECUTING}" and "per_page=25" in following["url"]

    simulator.state.set_status(service.key, second, SUCCEEDED)
    last = poll(olivia, following)
    assert last.status_code == 286  # htmx stops polling
    assert row_ids(last.content.decode()) == [second]


def test_cancelling_then_cancelled_arrive_by_the_poll(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    found = poller(jobs_table_html(olivia, target))
    olivia.action(target.url("cancel", job_id))
    html = poll(olivia, found).content.decode()
    assert 'data-status="esriJobCancelling"' in row_html(html, job_id)
    assert ">Cancelling</span>" in html  # the status's own word; "Cancel requested" is the action's outcome
    simulator.clock.advance(5)
    html = poll(olivia, poller(html)).content.decode()
    assert 'data-status="esriJobCancelled"' in row_html(html, job_id)


def test_the_outcome_of_an_action_is_kept_across_the_polls_swaps_and_gone_after_a_reload(
    simulator, service, target, olivia
):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    found = poller(jobs_table_html(olivia, target))
    row = olivia.action(target.url("cancel", job_id)).content.decode()
    assert status_text(row) == "Cancel requested"
    refreshed = row_html(poll(olivia, found).content.decode(), job_id)
    # The poll's row asks the browser to keep the outcome element it has (and the ticked box).
    assert re.search(rf'<span role="status" id="outcome-{job_id}"[^>]*hx-preserve', refreshed)
    assert re.search(rf'<input type="checkbox" id="select-{job_id}"[^>]*hx-preserve', refreshed)
    # A fresh page load shows no outcome: it belonged to the action taken on that page.
    assert status_text(row_html(jobs_table_html(olivia, target), job_id)) == ""


def test_rows_pushed_off_the_page_are_read_one_by_one(simulator, service, target, olivia):
    old = simulator.state.add_job(service.key, status=EXECUTING, submitted=T0)
    found = poller(jobs_table_html(olivia, target, {"per_page": 25}))
    for i in range(30):  # newer jobs push the running one off the first page
        simulator.state.add_job(service.key, status=SUCCEEDED, submitted=T0 + timedelta(minutes=1 + i))
    simulator.state.set_status(service.key, old, SUCCEEDED)
    simulator.requests.clear()
    html = poll(olivia, found).content.decode()
    assert row_ids(html) == [old]
    assert [r.operation for r in simulator.requests] == ["query", "job"]


def test_a_deleted_job_is_shown_gone_and_no_longer_watched(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    found = poller(jobs_table_html(olivia, target, {"status": EXECUTING}))
    simulator.state.delete(service.key, job_id)
    response = poll(olivia, found)
    html = response.content.decode()
    assert 'data-status="esriJobDeleted"' in row_html(html, job_id) and ">Gone</span>" in html
    assert poller(html)["vals"]["rows"] == ""  # only newer jobs are still looked for


def test_the_first_page_announces_newer_jobs_without_moving_the_rows(simulator, service, target, olivia):
    simulator.state.add_job(service.key, status=SUCCEEDED, submitted=datetime.now(UTC) - timedelta(minutes=5))
    html = jobs_table_html(olivia, target)
    found = poller(html)  # nothing active, but the first page looks for newer jobs
    assert found["seconds"] == 10 and found["vals"]["rows"] == "" and found["vals"]["newest"] > 0
    assert poll(olivia, found).content.decode().count("new job") == 0
    for _ in range(2):
        simulator.state.add_job(service.key, status=SUCCEEDED)
    html = poll(olivia, found).content.decode()
    assert "2 new jobs — show them" in html and row_ids(html) == []
    # Later pages and other orders do not look for newer jobs.
    assert 'id="job-poller"' not in jobs_table_html(olivia, target, {"sort": "user"})


def test_a_failing_poll_says_so_and_slows_down(simulator, service, target, olivia):
    simulator.state.add_job(service.key, status=EXECUTING)
    found = poller(jobs_table_html(olivia, target))
    simulator.faults.set("html_502", operation="query")
    html = poll(olivia, found).content.decode()
    assert "Could not refresh:" in html and "502 Bad Gateway" in html
    slower = poller(html)
    assert slower["seconds"] == 2 and slower["vals"]["failures"] == 1
    assert poller(poll(olivia, slower).content.decode())["seconds"] == 4


def test_the_poll_slows_down_while_arcgis_is_slow_and_speeds_up_again(simulator, service, target, olivia):
    simulator.state.add_job(service.key, status=EXECUTING)
    found = poller(jobs_table_html(olivia, target))
    assert found["seconds"] == 1 and found["vals"]["every"] == 1
    assert 'id="job-poller"' not in poll(olivia, found).content.decode()  # nothing changed: the poller stays
    simulator.faults.set("latency", operation="query", ms=500)
    slower = poller(poll(olivia, found).content.decode())  # rows unchanged, yet a new poller
    assert slower["seconds"] >= 3 and slower["vals"]["every"] == slower["seconds"]
    simulator.faults.clear()
    assert poller(poll(olivia, slower).content.decode())["seconds"] == 1


def test_malformed_poll_parameters_are_left_out(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    simulator.requests.clear()
    response = olivia.htmx_get(
        target.url("job_updates"), {"rows": f"../x:{EXECUTING},{job_id}:esriJobExploded,j1%0A:{EXECUTING}"}
    )
    assert response.status_code == 286 and row_ids(response.content.decode()) == []


@override_settings(SHARED_READ_SECONDS=30)
def test_operators_watching_one_service_share_one_upstream_read(simulator, site, service, target, connect, client_as):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    clients = []
    for i in range(5):
        user = make_user(f"watcher{i}", "Operator")
        connect(user, site)
        clients.append(client_as(user))
    found = poller(jobs_table_html(clients[0], target))
    simulator.requests.clear()
    for client in clients:
        assert poll(client, found).status_code == 200
    assert len(window_reads(simulator)) == 0  # the table's read is reused
    simulator.state.set_status(service.key, job_id, SUCCEEDED)
    simulator.requests.clear()
    assert row_ids(poll(clients[1], found).content.decode()) == []  # still the shared answer


@override_settings(SHARED_READ_SECONDS=30)
def test_shared_reads_never_reach_someone_without_a_usable_token(simulator, site, service, target, connect, client_as):
    simulator.state.add_job(service.key, status=EXECUTING)
    watcher = make_user("watcher", "Operator")
    connect(watcher, site)
    jobs_table_html(client_as(watcher), target)  # the read is now shared
    unconnected = client_as(make_user("newcomer", "Operator"))
    html = jobs_table_html(unconnected, target)
    assert row_ids(html) == [] and "You have no ArcGIS token for this site." in html


@pytest.mark.parametrize("sort", ["-submitted", "user"])
def test_sorted_pages_poll_with_their_own_filters(simulator, service, target, olivia, sort):
    simulator.state.add_job(service.key, status=EXECUTING, username="amy")
    found = poller(jobs_table_html(olivia, target, {"sort": sort, "user": "amy"}))
    assert "user=amy" in found["url"] and f"sort={sort}".replace("-", "%2D") in found["url"].replace("-", "%2D")


def test_a_row_whose_flag_changed_is_answered_though_its_status_did_not(simulator, service, target, olivia):
    """A job that crosses the running-long threshold while the page is open is flagged by the next poll."""
    now = datetime.now(UTC)
    for i in range(8):  # usually five minutes: running long past fifteen
        start = now - timedelta(hours=2, minutes=i)
        simulator.state.add_job(service.key, status=SUCCEEDED, submitted=start, end_time=start + timedelta(minutes=5))
    job_id = simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(minutes=14))
    found = poller(jobs_table_html(olivia, target))
    assert f"{job_id}:{EXECUTING}" in found["vals"]["rows"].split(",")
    assert row_ids(poll(olivia, found).content.decode()) == []  # nothing to say yet

    simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(minutes=20), job_id="j" + "7" * 32)
    found["vals"]["rows"] += f",{'j' + '7' * 32}:{EXECUTING}"  # as if shown before it crossed the threshold
    html = poll(olivia, found).content.decode()
    assert row_ids(html) == ["j" + "7" * 32]
    assert 'data-running-long="true"' in html
    following = poller(html)  # it now carries what the flag says, and answers again only when that changes
    state = dict(item.split(":", 1) for item in following["vals"]["rows"].split(","))
    assert re.fullmatch(rf"{EXECUTING}:[0-9a-f]{{8}}", state["j" + "7" * 32])
    assert row_ids(poll(olivia, following).content.decode()) == []


def fleet_poll(client, *rows: str):
    return client.htmx_get(reverse("jobs:fleet_updates"), {"rows": ",".join(rows)})


def test_the_fleet_asks_about_its_rows_in_motion_and_answers_them_whole(simulator, site, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING, username="svc_batch")
    fleet_html = streamed_html(olivia, reverse("jobs:fleet_stream"))
    assert set(row_ids(fleet_html)) == {job_id}
    answer = olivia.action(target.url("cancel", job_id), {"fleet": "1"}).content.decode()
    # The row answered from the fleet view keeps what the fleet view showed: it was read moments ago.
    assert 'data-status="esriJobCancelling"' in answer and "svc_batch" in answer and 'data-site="main"' in answer
    moving = f"main:{service.key}:{job_id}:{CANCELLING}"
    assert row_ids(fleet_poll(olivia, moving).content.decode()) == []  # still cancelling: nothing to say

    simulator.clock.advance(5)
    html = fleet_poll(olivia, moving).content.decode()
    row = row_html(html, job_id)
    assert 'data-status="esriJobCancelled"' in row and 'hx-swap-oob="true"' in row and "svc_batch" in row
    assert 'data-service="Hydrology/Watershed"' in row
    assert re.search(rf'<span role="status" id="outcome-{job_id}"[^>]*hx-preserve', row)  # the outcome stays


def test_the_fleet_poll_leaves_out_what_it_may_not_read(simulator, site, hidden_site, service, olivia):
    job_id = simulator.state.add_job(service.key, status=CANCELLING)
    simulator.requests.clear()
    response = fleet_poll(
        olivia,
        f"hidden:{service.key}:{job_id}:{EXECUTING}",  # a site she may not see
        f"main:../x:{job_id}:{EXECUTING}",
        f"main:{service.key}:{job_id}:esriJobExploded",
        f"main:{service.key}:{job_id}:{EXECUTING}:nothex!!",
    )
    assert response.status_code == 200 and row_ids(response.content.decode()) == []
    assert len(simulator.requests) == 0
