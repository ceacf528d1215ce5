"""The proxy: cancel, delete, purge and bulk, with htmx and without JavaScript, and every failure as a message."""

import json
import re

import pytest
from django.urls import reverse

from arcgis_client import ServiceRef
from jobs.models import AuditEvent
from jobs.targets import ServiceTarget
from tests.helpers import jobs_table_html, row_html, status_text

EXECUTING, SUCCEEDED, SUBMITTED = "esriJobExecuting", "esriJobSucceeded", "esriJobSubmitted"


def posts(simulator, suffix):
    return [r for r in simulator.requests if r.method == "POST" and r.path.endswith(suffix)]


# --- cancel ---------------------------------------------------------------------------


def test_cancel_answers_the_row_with_cancel_requested(simulator, service, target, olivia, operator):
    job_id = simulator.state.add_job(service.key, status=EXECUTING, username="analyst5")
    jobs_table_html(olivia, target)  # the page the operator clicks on
    simulator.requests.clear()
    response = olivia.action(target.url("cancel", job_id))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="job-{job_id}" data-status="esriJobCancelling"')
    assert status_text(html) == "Cancel requested"
    assert "analyst5" in html  # the whole row, from what the page showed
    # One upstream call: the cancel itself, carrying the operator's token in the body.
    [cancel] = simulator.requests
    assert cancel.method == "POST" and cancel.path.endswith(f"/jobs/{job_id}/cancel") and cancel.form["token"]
    assert simulator.state.get_job(service.key, job_id)["status"] == "esriJobCancelling"
    event = AuditEvent.objects.get(action="cancel", job_id=job_id)
    assert (event.user, event.outcome, event.service, event.via) == (operator, "success", "Hydrology/Watershed", "web")
    assert event.finished is not None and event.duration_ms is not None


def test_refused_cancel_shows_the_servers_message_verbatim(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=SUCCEEDED)
    html = olivia.action(target.url("cancel", job_id)).content.decode()
    # ArcGIS's words verbatim, and what re-reading the job found.
    assert status_text(html) == f"Unable to cancel job :[{job_id}] — it is already Succeeded."
    assert 'data-status="esriJobSucceeded"' in html  # the job was read again: its real state
    event = AuditEvent.objects.get(action="cancel", job_id=job_id)
    assert (event.outcome, event.message, event.upstream_code) == ("refused", f"Unable to cancel job :[{job_id}]", 500)


def test_the_race_a_job_that_finished_after_the_page_rendered(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    page = jobs_table_html(olivia, target)
    button = re.search(rf'<button type="submit" id="cancel-{job_id}"([^>]*)>Cancel</button>', page)
    assert " disabled" not in button.group(1)
    simulator.state.set_status(service.key, job_id, SUCCEEDED)  # finishes before the click
    html = olivia.action(target.url("cancel", job_id)).content.decode()
    assert status_text(html) == f"Unable to cancel job :[{job_id}] — it is already Succeeded."
    assert 'data-status="esriJobSucceeded"' in html and "Cancel requested" not in html


def test_cancel_without_javascript_redirects_back_with_a_message(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    back = target.url("job_list") + "?status=esriJobExecuting"
    response = olivia.action(target.url("cancel", job_id), {"next": back}, htmx=False)
    assert response.status_code == 302 and response.url == back
    html = olivia.get(back).content.decode()
    assert f"Job {job_id}: Cancel requested" in html
    # The row says so too, once: the page without JavaScript renders its table in one go.
    inline = target.url("job_list") + "?inline=1"
    assert status_text(row_html(olivia.get(inline).content.decode(), job_id)) == "Cancel requested"
    assert status_text(row_html(olivia.get(inline).content.decode(), job_id)) == ""


def test_refusal_without_javascript_is_a_message_too(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=SUCCEEDED)
    response = olivia.action(target.url("cancel", job_id), htmx=False, follow=True)
    assert f"Job {job_id}: Unable to cancel job :[{job_id}]" in response.content.decode()


# --- delete and purge ------------------------------------------------------------------------


def test_delete_removes_the_job_and_says_so(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    html = olivia.action(target.url("delete", job_id), {"confirmed": "yes"}).content.decode()
    assert status_text(html) == "Deleted"
    assert 'data-status="esriJobDeleted"' in html and "hx-get" not in html.split(">", 1)[0]
    assert simulator.state.get_job(service.key, job_id) is None
    assert AuditEvent.objects.get(action="delete", job_id=job_id).outcome == "success"


def test_delete_without_javascript_asks_for_confirmation_first(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    simulator.requests.clear()
    response = olivia.action(target.url("delete", job_id), htmx=False)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'Delete job <code class="whole-id">{job_id}</code> of Hydrology/Watershed on Main site?' in html
    assert "removes every record of it" in html and 'name="confirmed" value="yes"' in html
    assert not simulator.requests and not AuditEvent.objects.exists()
    response = olivia.action(target.url("delete", job_id), {"confirmed": "yes"}, htmx=False, follow=True)
    assert f"Job {job_id}: Deleted" in response.content.decode()
    assert simulator.state.get_job(service.key, job_id) is None


def test_purge_cancels_queued_jobs_and_leaves_executing_ones(simulator, service, target, olivia):
    queued = [simulator.state.add_job(service.key, status=s) for s in ("esriJobNew", SUBMITTED, "esriJobWaiting")]
    running = simulator.state.add_job(service.key, status=EXECUTING)
    response = olivia.action(target.url("purge"), {"confirmed": "yes"})
    assert response.status_code == 200
    assert "Queue purged" in response.content.decode()
    assert json.loads(response["HX-Trigger"]) == {"jobs-changed": {}}  # the table reloads itself
    assert {simulator.state.get_job(service.key, j)["status"] for j in queued} <= {
        "esriJobCancelling",
        "esriJobCancelled",
    }
    assert simulator.state.get_job(service.key, running)["status"] == EXECUTING
    assert AuditEvent.objects.get(action="purge").outcome == "success"


def test_purge_without_javascript_asks_for_confirmation_first(simulator, service, target, olivia):
    simulator.requests.clear()
    html = olivia.action(target.url("purge"), htmx=False).content.decode()
    assert "Purge the queue of Hydrology/Watershed on Main site?" in html and "Executing jobs keep running" in html
    assert not posts(simulator, "/purgeQueue")


# --- bulk ----------------------------------------------------------------------------------


def test_bulk_cancel_sends_what_can_still_change_and_reports_each_outcome(simulator, service, target, olivia):
    running = [simulator.state.add_job(service.key, status=s) for s in (EXECUTING, SUBMITTED, EXECUTING)]
    done = simulator.state.add_job(service.key, status=SUCCEEDED)
    racing = simulator.state.add_job(service.key, status=EXECUTING)
    jobs_table_html(olivia, target)  # the page the operator ticked "select all" on
    simulator.state.set_status(service.key, racing, SUCCEEDED)  # finishes before the click
    simulator.requests.clear()
    response = olivia.action(
        target.url("bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": [*running, done, racing]}
    )
    html = response.content.decode()
    assert response.status_code == 200
    summary = "3 cancellations requested, 1 refused, 1 skipped (already finished)"
    assert re.search(rf'id="bulk-summary">{re.escape(summary)}</p>', html)
    # Each row sent comes back out of band, with its own outcome; the finished one is not sent at all.
    for job_id in running:
        assert re.search(rf'<template>\s*<tr id="job-{job_id}" data-status="esriJobCancelling"', html)
    assert f"Unable to cancel job :[{racing}]" in html
    assert html.count('hx-swap-oob="true"') == 4 and f'id="job-{done}"' not in html
    assert sorted(r.path.rsplit("/", 2)[1] for r in posts(simulator, "/cancel")) == sorted([*running, racing])
    events = AuditEvent.objects.filter(action="cancel", via="bulk")
    assert sorted(events.values_list("outcome", flat=True)) == ["refused", "success", "success", "success"]
    assert not events.filter(job_id=done).exists()


def test_bulk_delete_sends_finished_jobs_too(simulator, service, target, olivia):
    done = simulator.state.add_job(service.key, status=SUCCEEDED)
    jobs_table_html(olivia, target)
    html = olivia.action(target.url("bulk"), {"action": "delete", "job_ids": [done], "confirmed": "yes"})
    assert "1 deleted" in html.content.decode()
    assert simulator.state.get_job(service.key, done) is None


def test_bulk_summary_counts_failures(simulator, service, target, olivia):
    ok = simulator.state.add_job(service.key, status=EXECUTING)
    other = simulator.state.add_job(service.key, status=EXECUTING)
    simulator.faults.set("html_502", operation="cancel", after=1, count=1)
    html = olivia.action(
        target.url("bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": [ok, other]}
    ).content.decode()
    assert "1 cancellation requested, 1 failed" in html
    assert "Bad Gateway" in html


def test_bulk_without_javascript_redirects_back_with_the_summary(simulator, service, target, olivia):
    jobs = [simulator.state.add_job(service.key, status=EXECUTING) for _ in range(2)]
    response = olivia.action(
        target.url("bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": jobs}, htmx=False, follow=True
    )
    assert "2 cancellations requested" in response.content.decode()


def test_bulk_delete_without_javascript_asks_for_confirmation(simulator, service, target, olivia):
    jobs = [simulator.state.add_job(service.key, status=SUCCEEDED) for _ in range(2)]
    simulator.requests.clear()
    html = olivia.action(target.url("bulk"), {"action": "delete", "job_ids": jobs}, htmx=False).content.decode()
    assert "Delete 2 jobs of Hydrology/Watershed on Main site?" in html and all(job_id in html for job_id in jobs)
    assert not simulator.requests


def test_bulk_with_nothing_selected_says_so(simulator, service, target, olivia):
    html = olivia.action(target.url("bulk"), {"action": "cancel"}).content.decode()
    assert "Select at least one job." in html
    assert not posts(simulator, "/cancel")


# --- failures are messages, never 500s ---------------------------------------------------------


def test_no_token_means_a_link_to_connect(simulator, site, service, target, operator, client_as):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    client = client_as(operator)
    assert "You have no ArcGIS token for this site." in jobs_table_html(client, target)
    html = client.action(target.url("cancel", job_id)).content.decode()
    assert "You have no ArcGIS token for this site." in status_text(html)
    assert f'href="{reverse("jobs:token", args=["main"])}"' in html
    assert not posts(simulator, "/cancel")
    assert AuditEvent.objects.get(action="cancel").outcome == "failed"


def test_an_expired_token_asks_to_reconnect(simulator, site, service, target, operator, connect, client_as):
    from django.utils import timezone

    connect(operator, site, expires=timezone.now())
    html = jobs_table_html(client_as(operator), target)
    assert "Your ArcGIS token has expired." in html and "Connect to Main site" in html


def test_unreachable_site_is_explained(simulator, site, service, target, olivia):
    site.admin_url = "http://127.0.0.1:9/arcgis/admin"  # nothing listens on the discard port
    site.save()
    assert "Main site refused the connection." in jobs_table_html(olivia, target)  # the site, not 127.0.0.1:9
    html = olivia.action(target.url("cancel", "j" + "1" * 32)).content.decode()
    assert "refused the connection" in status_text(html)


def test_a_service_that_is_gone_is_explained(simulator, site, service, olivia):
    gone = ServiceTarget(site, ServiceRef("Hydrology", "Retired"))
    # Said in the portal's words: the site lists no such GP service.
    assert "Hydrology/Retired is not a GP service on Main site." in jobs_table_html(olivia, gone)
    html = olivia.action(gone.url("cancel", "j" + "2" * 32)).content.decode()
    assert "Could not find resource" in status_text(html)


def test_simulator_fault_on_the_jobs_page_is_explained(simulator, service, target, olivia):
    simulator.faults.set("html_502")
    html = jobs_table_html(olivia, target)
    assert "Bad Gateway" in html
    # No action that cannot work: the failed table offers a retry, not purge or bulk buttons.
    assert "Retry" in html and "Purge queue" not in html and "Cancel selected" not in html


@pytest.mark.parametrize("action", ["cancel", "delete", "purge", "bulk"])
def test_viewers_get_403_from_every_action(simulator, site, service, target, viewer, connect, client_as, action):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    connect(viewer, site)
    url = target.url(action, job_id) if action in ("cancel", "delete") else target.url(action)
    simulator.requests.clear()
    response = client_as(viewer).action(url, {"confirmed": "yes", "action": "cancel", "job_ids": [job_id]})
    assert response.status_code == 403
    assert not simulator.requests and not AuditEvent.objects.exists()


def test_a_cancel_from_a_row_not_seen_before_still_shows_cancelling(simulator, service, target, olivia):
    """Another worker showed the page (no cached row): the answer is the row, cancelling, without re-reading."""
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    simulator.requests.clear()
    html = olivia.action(target.url("cancel", job_id)).content.decode()
    assert html.lstrip().startswith(f'<tr id="job-{job_id}" data-status="esriJobCancelling"')
    assert status_text(html) == "Cancel requested"
    assert [r.operation for r in simulator.requests] == ["cancel"]
