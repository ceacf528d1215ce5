"""No dead ends: a page that cannot do what was asked says what can be done. A new or waiting job's Cancel, which
ArcGIS would refuse, is off with the ways out beside it; a search for part of a name says values are whole; a purge
says how many jobs it would cancel before anyone confirms; a delete names the service and the site; a failing
server is named as the site operators know, not as 127.0.0.1:<port>."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from django.urls import reverse

import arcgis_client
from tests.helpers import jobs_table_html, streamed_html, text

NEW, WAITING, SUBMITTED, EXECUTING = (
    arcgis_client.NEW,
    arcgis_client.WAITING,
    arcgis_client.SUBMITTED,
    arcgis_client.EXECUTING,
)
HINT = "ArcGIS cancels only submitted or executing jobs: delete it, or purge the queue."


def row_html(html: str, job_id: str) -> str:
    match = re.search(rf'<tr id="job-{job_id}".*?</tr>', html, re.S)
    assert match, html
    return match.group()


def test_a_new_or_waiting_jobs_cancel_says_what_works_instead(simulator, service, target, olivia):
    new, waiting = (simulator.state.add_job(service.key, status) for status in (NEW, WAITING))
    running = simulator.state.add_job(service.key, EXECUTING)
    html = jobs_table_html(olivia, target)
    for job_id in (new, waiting):
        row = row_html(html, job_id).replace("&#39;", "'")
        assert re.search(rf'<button type="submit" id="cancel-{job_id}"[^>]* disabled title="{re.escape(HINT)}"', row)
        assert f'aria-describedby="cancel-hint-{job_id}"' in row
        assert f'<span class="cancel-hint" id="cancel-hint-{job_id}">{HINT}</span>' in row
    assert "cancel-hint" not in row_html(html, running)


def test_a_delete_names_the_service_and_the_site(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, EXECUTING)
    row = row_html(jobs_table_html(olivia, target), job_id)
    assert f'hx-confirm="Delete job {job_id} of Hydrology/Watershed on Main site? ' in row


def test_a_search_for_part_of_an_id_or_name_says_values_are_whole(simulator, service, target, olivia):
    simulator.state.add_job(service.key, EXECUTING, username="svc_batch")
    html = jobs_table_html(olivia, target, {"job": "j1"})
    assert text(re.search(r'<p class="summary" id="table-summary">.*?</p>', html, re.S).group()) == (
        "No jobs match. Job ID “j1” must be whole, exactly as ArcGIS names it: part of a name finds nothing. "
        "Clear the filters"
    )
    assert f'<a href="{target.url("job_list")}">Clear the filters</a>' in html
    html = jobs_table_html(olivia, target, {"user": "svc", "machine": "GIS"})
    assert "User “svc” and machine “GIS” must be whole, exactly as ArcGIS names them" in text(html)
    assert "must be whole" not in jobs_table_html(olivia, target, {"status": SUBMITTED})  # nothing partial asked


def test_the_fleet_says_folder_and_service_names_are_whole_and_ignores_their_case(simulator, service, olivia):
    job_id = simulator.state.add_job(service.key, EXECUTING)
    stream = reverse("jobs:fleet_stream")
    html = streamed_html(olivia, f"{stream}?{urlencode({'folder': 'hydro'})}")
    assert "No jobs match. Folder “hydro” must be whole, exactly as ArcGIS names it" in text(html)
    html = streamed_html(olivia, f"{stream}?{urlencode({'folder': 'hydrology', 'service': 'WATERSHED'})}")
    assert f'id="job-{job_id}"' in html  # ArcGIS's names are the same in any case


def test_a_purge_says_how_many_jobs_it_would_cancel_before_it_is_confirmed(simulator, service, target, olivia):
    for status in (NEW, SUBMITTED, SUBMITTED, WAITING, EXECUTING):
        simulator.state.add_job(service.key, status)
    simulator.requests.clear()
    for htmx in (True, False):  # the jobs page's question in place, or a page of its own without JavaScript
        html = olivia.action(target.url("purge"), htmx=htmx).content.decode()
        assert "Purge the queue of Hydrology/Watershed on Main site?" in html
        count = text(re.search(r'<p id="purge-count">.*?</p>', html, re.S).group())
        assert count == "4 jobs are queued now: 1 new, 2 submitted, 1 waiting."
    assert not [r for r in simulator.requests if r.operation == "purgeQueue"]  # asked, not done
    answer = olivia.action(target.url("purge"), {"confirmed": "yes"}).content.decode()
    assert "Queue purged" in answer


def test_an_empty_queue_is_said_before_a_purge(simulator, service, target, olivia):
    html = olivia.action(target.url("purge")).content.decode()
    assert text(re.search(r'<p id="purge-count">.*?</p>', html, re.S).group()) == "No job is queued now."


def test_a_failing_server_is_named_as_the_site(simulator, service, target, olivia):
    simulator.faults.set("html_502", operation="query")
    html = jobs_table_html(olivia, target)
    assert "Main site answered HTTP 502 Bad Gateway instead of ArcGIS JSON." in text(html)
    assert "127.0.0.1" not in text(html)
