"""Upstream faults as operators meet them.

For every fault the simulator can inject, on every page and action it touches: the failure is explained in
words in place (full pages 200, htmx fragments 200 with the row or fragment showing it), the audit row is
completed (never left pending), nothing answers 500, and no request holds a worker much longer than the
site's read timeout. Ambiguous actions (the answer lost after the request was sent) re-read the job and
report its real state.
"""

from __future__ import annotations

import html as htmllib
import json
import re
import time
from urllib.parse import urlencode

import pytest
import requests
from django.urls import reverse

from arcgis_client import ServiceRef
from arcgis_simulator import ManualClock, Simulator
from arcgis_simulator.tls import generate_certificate
from jobs.models import AuditEvent, Site, StoredToken
from jobs.targets import ServiceTarget
from tests.conftest import store_token
from tests.helpers import alert_text, jobs_table, jobs_table_html, messages_text, status_text, text

EXECUTING, CANCELLING, SUCCEEDED, SUBMITTED = (
    "esriJobExecuting",
    "esriJobCancelling",
    "esriJobSucceeded",
    "esriJobSubmitted",
)
READ_TIMEOUT = 1.0  # the shortest a site may have
# A structural bound: far above a 1 s timeout on a busy machine, far below the 20 s latency and 60 s stall.
BOUND = 10.0
LATENCY = {"ms": 20_000}
STALL = {"seconds": 60}
CONFIRMED_CANCEL = "Cancel requested (the answer was lost; re-reading the job confirmed it)"
CONFIRMED_DELETE = "Deleted (the answer was lost; re-reading the job confirmed it)"
MAYBE = "ArcGIS may still have carried it out."


@pytest.fixture
def target(site, service):
    """The GP service on a site whose budgets are short, so faults cost well under a second."""
    site.read_timeout = site.action_timeout = READ_TIMEOUT
    site.save()
    return ServiceTarget(site, service)


@pytest.fixture(autouse=True)
def _one_fault_at_a_time(settings):
    """These tests read the words of each fault; the circuit breaker, which replaces them after a few
    timeouts in a row, has tests of its own (tests/test_stalled_site.py)."""
    settings.ARCGIS_BREAKER_FAILURES = 1000


@pytest.fixture
def host(site):
    """How a failure names the server: the site, as operators know it (not 127.0.0.1:<port>)."""
    return site.name


def timed(send, *args, **kwargs):
    """Send a request; it must come back within the structural bound and never as a server error."""
    started = time.monotonic()
    response = send(*args, **kwargs)
    elapsed = time.monotonic() - started
    assert elapsed < BOUND, f"the request held its worker for {elapsed:.1f} s"
    assert response.status_code < 500
    return response


def row_status(html: str, job_id: str) -> str:
    match = re.search(rf'<tr id="job-{job_id}" data-status="([^"]*)"', html)
    assert match, html
    return match.group(1)


def poller(html: str) -> dict:
    """The page's one poller: its URL (with its values) and how often it asks."""
    match = re.search(r'<div id="job-poller" hx-get="([^"]+)" hx-vals="([^"]+)" hx-trigger="every (\d+)s"', html)
    assert match, html
    vals = json.loads(htmllib.unescape(match.group(2)))
    url = htmllib.unescape(match.group(1))
    return {"url": url + ("&" if "?" in url else "?") + urlencode(vals), "seconds": int(match.group(3)), **vals}


def no_pending_audit() -> bool:
    return not AuditEvent.objects.filter(outcome=AuditEvent.Outcome.PENDING).exists()


def timeout_message(host: str) -> str:
    return f"{host} did not answer within 1 s."


# What a read shows for each fault; the same words on every page.
READ_FAULTS = {
    "latency": (LATENCY, "{host} did not answer within 1 s."),
    "stall": (STALL, "{host} did not answer within 1 s."),
    "reset": ({}, "{host} closed the connection without answering."),
    "html_502": ({}, "{host} answered HTTP 502 Bad Gateway instead of ArcGIS JSON."),
    "malformed_json": ({}, "{host} answered with something that is not ArcGIS JSON."),
}


@pytest.fixture(params=list(READ_FAULTS))
def read_fault(request, simulator, host):
    """Switch a fault on for every request; returns the words the operator should read."""
    params, words = READ_FAULTS[request.param]
    simulator.faults.set(request.param, **params)
    return words.format(host=host)


@pytest.fixture(params=list(READ_FAULTS))
def later_fault(request, simulator, host):
    """A fault to switch on later with .on(); .words is what the operator should read."""

    class Fault:
        words = READ_FAULTS[request.param][1].format(host=host)

        @staticmethod
        def on():
            simulator.faults.set(request.param, **READ_FAULTS[request.param][0])

    return Fault


# --- reading: full pages and fragments ---------------------------------------------------------------


def test_jobs_page_explains_the_failure_in_place(simulator, service, target, olivia, read_fault):
    simulator.state.add_job(service.key)
    shell = timed(olivia.get, target.url("job_list"))
    assert shell.status_code == 200 and not simulator.requests  # the page itself waits for nothing
    response = timed(olivia.get, target.url("job_list"), {"inline": "1"})  # as without JavaScript
    assert response.status_code == 200
    html = response.content.decode()
    assert alert_text(html) == f"{read_fault} Retry"
    assert '<tr id="job-' not in html
    assert "<h1>Watershed" in html  # the page around the failure still renders


def test_jobs_table_fragment_explains_the_failure(simulator, service, target, olivia, read_fault):
    response = timed(jobs_table, olivia, target, {"status": EXECUTING})
    assert response.status_code == 200  # htmx swaps only 2xx answers
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="job-table"')
    assert alert_text(html) == f"{read_fault} Retry"


def test_overview_explains_the_failure_for_the_site(simulator, site, service, target, olivia, read_fault):
    assert not timed(olivia.get, reverse("jobs:overview")).content.decode().count('role="alert"')
    stream = timed(olivia.get, reverse("jobs:overview_stream"))
    html = b"".join(stream.streaming_content).decode()
    assert "Main site" in html and read_fault in text(html)
    inline = timed(olivia.get, reverse("jobs:overview"), {"inline": "1"}).content.decode()
    assert alert_text(inline) == f"{read_fault} Retry"


def test_site_page_explains_the_failure(simulator, site, service, target, olivia, read_fault):
    response = timed(olivia.get, reverse("jobs:site", args=[site.slug]), {"inline": "1"})
    assert response.status_code == 200
    assert alert_text(response.content.decode()) == f"{read_fault} Retry"


def test_counts_fragment_explains_the_failure(simulator, service, target, olivia, read_fault):
    response = timed(olivia.htmx_get, target.url("service_counts"))
    assert response.status_code == 200
    html = response.content.decode()
    assert alert_text(html) == read_fault
    assert "total" not in html


def test_overview_shows_other_sites_when_one_fails(simulator, site, service, target, olivia, operator, host):
    """Sites are read concurrently and fail on their own."""
    with Simulator("empty", clock=ManualClock()) as other:
        other.state.add_service("Buffer")
        healthy = Site.objects.create(slug="spare", name="Spare site", admin_url=other.admin_url, insecure=True)
        store_token(operator, healthy, other.issue_token("siteadmin", referer=healthy.effective_referer))
        simulator.faults.set("stall", **STALL)
        html = timed(olivia.get, reverse("jobs:overview"), {"inline": "1"}).content.decode()
    assert alert_text(html) == f"{timeout_message(host)} Retry"
    assert ">Buffer</a>" in html and ">Watershed</a>" not in html


def test_job_page_explains_the_failure(simulator, service, target, olivia, read_fault):
    job_id = simulator.state.add_job(service.key)
    response = timed(olivia.get, target.url("job", job_id))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<h1 class="job-title">Job <code>{job_id}</code></h1>' in html
    assert alert_text(html) == f"Could not read the job: {read_fault} Retry"


# --- the page's poll: keep the rows, back off, stop when nothing can work ------------------------------------


def test_a_failed_poll_keeps_the_rows_and_backs_off(simulator, service, target, olivia, later_fault):
    job_id = simulator.state.add_job(service.key, status=EXECUTING, username="analyst7", machinename="GIS07")
    found = poller(jobs_table_html(olivia, target))
    later_fault.on()
    response = timed(olivia.htmx_get, found["url"])
    assert response.status_code == 200  # keeps polling: htmx stops only on 286
    html = response.content.decode()
    assert '<tr id="job-' not in html  # the rows the page shows stay as they are
    assert text(html) == f"Could not refresh: {later_fault.words}"
    slower = poller(html)
    assert slower["seconds"] == 2 and slower["failures"] == 1 and slower["rows"] == f"{job_id}:{EXECUTING}"


def test_poll_backoff_grows_with_each_failure_and_resets_on_success(simulator, service, target, olivia):
    simulator.state.add_job(service.key, status=EXECUTING)
    found = poller(jobs_table_html(olivia, target))
    simulator.faults.set("html_502")
    base = found["url"].split("&failures=")[0]
    seen = []
    for failures in (0, 1, 2, 3, 4, 5, 10, 9999, "abc"):
        html = timed(olivia.htmx_get, f"{base}&failures={failures}").content.decode()
        seen.append(poller(html)["seconds"])
        assert "Could not refresh:" in text(html)
    assert seen == [2, 4, 8, 16, 32, 60, 60, 60, 2]  # capped at a minute; nonsense counts as none
    simulator.faults.clear()
    html = olivia.htmx_get(f"{base}&failures=5").content.decode()
    # Back to the normal pace (once a second, up to 30 s when ArcGIS is slow), not the failures' minute.
    assert poller(html)["seconds"] <= 30 and poller(html)["failures"] == 0
    assert "Could not refresh" not in html


@pytest.mark.parametrize("failures", [0, 3])
def test_a_job_that_no_longer_exists_is_shown_gone_and_no_longer_watched(simulator, service, target, olivia, failures):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    found = poller(jobs_table_html(olivia, target, {"sort": "user"}))
    simulator.state.delete(service.key, job_id)
    response = timed(olivia.htmx_get, found["url"].replace("failures=0", f"failures={failures}"))
    assert response.status_code == 286  # htmx's "stop polling": nothing is left to watch
    html = response.content.decode()
    assert row_status(html, job_id) == "esriJobDeleted" and ">Gone</span>" in html


def test_a_poll_with_a_rejected_token_stops_and_asks_to_reconnect(simulator, service, target, olivia, operator):
    simulator.state.add_job(service.key, status=EXECUTING)
    found = poller(jobs_table_html(olivia, target))
    simulator.faults.set("expire_tokens")
    response = timed(olivia.htmx_get, found["url"])
    assert response.status_code == 286  # polling with a rejected token would only fail again
    html = response.content.decode()
    assert text(html) == "Could not refresh: Invalid token. Reconnect to Main site"
    assert f'href="{reverse("jobs:token", args=["main"])}"' in html
    assert StoredToken.objects.get(user=operator).invalid_since is not None


# --- a token that expires -----------------------------------------------------------------------------------


def test_token_rejected_while_reading_asks_to_reconnect_and_stops_calling(simulator, service, target, olivia, operator):
    simulator.faults.set("expire_tokens")
    html = timed(jobs_table, olivia, target).content.decode()
    assert alert_text(html) == "Invalid token. Connect to Main site"
    assert StoredToken.objects.get(user=operator).invalid_since is not None
    # The rejected token is not sent again: the next page says so without asking ArcGIS.
    simulator.requests.clear()
    html = timed(olivia.get, target.url("job_list"), {"inline": "1"}).content.decode()
    assert "ArcGIS rejected your token for Main site." in html  # the banner
    assert "ArcGIS rejected your token. Connect to Main site with your ArcGIS account." in text(html)
    assert not simulator.requests
    overview = timed(olivia.get, reverse("jobs:overview"), {"inline": "1"}).content.decode()
    assert "ArcGIS rejected your token." in overview and not simulator.requests


def test_token_rejected_on_the_overview_and_the_counts(simulator, site, service, target, olivia):
    simulator.faults.set("expire_tokens")
    counts = timed(olivia.htmx_get, target.url("service_counts")).content.decode()
    assert alert_text(counts) == "Invalid token."
    overview = timed(olivia.get, reverse("jobs:overview"), {"inline": "1"}).content.decode()
    assert "ArcGIS rejected your token." in overview
    assert f'href="{reverse("jobs:token", args=[site.slug])}' in overview


def test_token_expiring_in_the_middle_of_a_bulk_cancel(simulator, service, target, olivia, operator):
    job_ids = [simulator.state.add_job(service.key, status=EXECUTING) for _ in range(8)]
    jobs_table_html(olivia, target)  # the page the operator acts on
    simulator.faults.set("expire_tokens", operation="cancel", after=3)
    response = timed(olivia.action, target.url("bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": job_ids})
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        text(re.search(r'<p [^>]*id="bulk-summary">(.*?)</p>', html, re.S).group(1))
        == "3 cancellations requested, 5 failed"
    )
    statuses = {job_id: row_status(html, job_id) for job_id in job_ids}
    assert sorted(statuses.values()) == [CANCELLING] * 3 + [EXECUTING] * 5
    for job_id, shown in statuses.items():
        row = re.search(rf'<tr id="job-{job_id}".*?</tr>', html, re.S).group(0)
        if shown == CANCELLING:
            assert status_text(row) == "Cancel requested"
        else:
            assert status_text(row) == "Invalid token. Reconnect with your ArcGIS account. Reconnect to Main site"
    # The server agrees with what the operator was told, and so does the audit trail.
    server = {job_id: simulator.state.get_job(service.key, job_id)["status"] for job_id in job_ids}
    assert server == statuses
    events = AuditEvent.objects.filter(action="cancel", via="bulk")
    assert events.count() == 8 and no_pending_audit()
    assert sorted(events.values_list("outcome", flat=True)) == ["failed"] * 5 + ["success"] * 3
    for event in events.filter(outcome="failed"):
        assert event.message == "Invalid token. Reconnect with your ArcGIS account."
        assert event.upstream_code == 498 and event.finished is not None
    assert StoredToken.objects.get(user=operator).invalid_since is not None


# --- the proxy: cancel under every fault --------------------------------------------------------------------

# kind, params, audit outcome, message ({host} filled in), data-status shown, status on the server afterwards
CANCEL_FAULTS = [
    (
        "latency",
        LATENCY,
        "failed",
        "{host} did not answer within 1 s. Re-reading the job: it is Executing.",
        EXECUTING,
    ),
    ("stall", STALL, "failed", "{host} did not answer within 1 s. Re-reading the job: it is Executing.", EXECUTING),
    (
        "reset",
        {},
        "failed",
        "{host} closed the connection without answering. Re-reading the job: it is Executing.",
        EXECUTING,
    ),
    ("reset_after", {}, "success", CONFIRMED_CANCEL, CANCELLING),
    ("malformed_json", {}, "success", CONFIRMED_CANCEL, CANCELLING),
    ("html_502", {}, "failed", "{host} answered HTTP 502 Bad Gateway instead of ArcGIS JSON.", EXECUTING),
    ("expire_tokens", {}, "failed", "Invalid token. Reconnect with your ArcGIS account.", EXECUTING),
]


@pytest.mark.parametrize(
    ("kind", "params", "outcome", "words", "status"), CANCEL_FAULTS, ids=[f[0] for f in CANCEL_FAULTS]
)
def test_cancel_under_a_fault_answers_the_row_and_completes_the_audit(
    simulator, service, target, olivia, host, kind, params, outcome, words, status
):
    job_id = simulator.state.add_job(service.key, status=EXECUTING, username="analyst3")
    jobs_table_html(olivia, target)  # the page the operator acts on
    simulator.faults.set(kind, operation="cancel", **params)
    response = timed(olivia.action, target.url("cancel", job_id))
    assert response.status_code == 200
    html = response.content.decode()
    message = words.format(host=host)
    assert html.lstrip().startswith(f'<tr id="job-{job_id}"')
    assert status_text(html).startswith(message)
    assert row_status(html, job_id) == status
    assert "analyst3" in html  # the whole row, not an empty shell
    # What the operator was told is what happened on the server.
    assert simulator.state.get_job(service.key, job_id)["status"] == status
    event = AuditEvent.objects.get(action="cancel", job_id=job_id)
    assert event.outcome == outcome
    assert event.message.startswith(message) and event.finished is not None
    assert no_pending_audit()


def test_ambiguous_cancel_that_did_not_happen_says_the_job_is_still_executing(simulator, service, target, olivia, host):
    """A reset before ArcGIS processed the cancel: re-reading shows it still running, and nothing claims otherwise."""
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    simulator.faults.set("reset", operation="cancel")
    html = timed(olivia.action, target.url("cancel", job_id)).content.decode()
    assert status_text(html) == f"{host} closed the connection without answering. Re-reading the job: it is Executing."
    assert row_status(html, job_id) == EXECUTING
    assert "Cancel requested" not in html
    event = AuditEvent.objects.get(action="cancel")
    assert (event.outcome, event.message) == ("failed", status_text(html))


def test_ambiguous_cancel_that_happened_is_reported_as_confirmed(simulator, service, target, olivia):
    """The server cancels, then the connection drops: no job was known to the portal, the re-read tells."""
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    simulator.faults.set("reset_after", operation="cancel")
    html = timed(olivia.action, target.url("cancel", job_id)).content.decode()
    assert status_text(html) == CONFIRMED_CANCEL
    assert row_status(html, job_id) == CANCELLING
    assert ">Cancelling</span>" in html  # the status badge, in the status's own word
    event = AuditEvent.objects.get(action="cancel")
    assert (event.outcome, event.message) == ("success", CONFIRMED_CANCEL)
    # Exactly one cancel was sent: POSTs are never retried.
    assert len([r for r in simulator.requests if r.operation == "cancel"]) == 1


def test_ambiguous_cancel_whose_re_read_fails_too_says_it_may_have_happened(simulator, service, target, olivia, host):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    jobs_table_html(olivia, target)  # the page the operator acts on
    simulator.faults.set("stall", **STALL)  # the cancel and the re-read both go unanswered
    response = timed(olivia.action, target.url("cancel", job_id))
    html = response.content.decode()
    assert status_text(html) == f"{timeout_message(host)} {MAYBE}"
    assert row_status(html, job_id) == EXECUTING  # the last known state: the page's poll keeps watching it
    event = AuditEvent.objects.get(action="cancel")
    assert (event.outcome, event.message) == ("failed", f"{timeout_message(host)} {MAYBE}")


def test_cancel_without_javascript_under_a_stall_redirects_back_with_the_message(
    simulator, service, target, olivia, host
):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    simulator.faults.set("stall", operation="cancel", **STALL)
    back = target.url("job_list") + "?status=esriJobExecuting"
    response = timed(olivia.action, target.url("cancel", job_id), {"next": back}, htmx=False)
    assert response.status_code == 302 and response.url == back
    page = timed(olivia.get, back).content.decode()
    assert messages_text(page) == f"Job {job_id}: {timeout_message(host)} Re-reading the job: it is Executing."
    assert AuditEvent.objects.get(action="cancel").outcome == "failed"


# --- delete and purge ----------------------------------------------------------------------------------------

DELETE_FAULTS = [
    ("stall", STALL, "failed", "{host} did not answer within 1 s. Re-reading the job: it is Executing.", EXECUTING),
    (
        "reset",
        {},
        "failed",
        "{host} closed the connection without answering. Re-reading the job: it is Executing.",
        EXECUTING,
    ),
    ("reset_after", {}, "success", CONFIRMED_DELETE, "esriJobDeleted"),
    ("html_502", {}, "failed", "{host} answered HTTP 502 Bad Gateway instead of ArcGIS JSON.", EXECUTING),
    ("expire_tokens", {}, "failed", "Invalid token. Reconnect with your ArcGIS account.", EXECUTING),
]


@pytest.mark.parametrize(
    ("kind", "params", "outcome", "words", "status"), DELETE_FAULTS, ids=[f[0] for f in DELETE_FAULTS]
)
def test_delete_under_a_fault_answers_the_row_and_completes_the_audit(
    simulator, service, target, olivia, host, kind, params, outcome, words, status
):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    jobs_table_html(olivia, target)  # the page the operator acts on
    simulator.faults.set(kind, operation="delete", **params)
    response = timed(olivia.action, target.url("delete", job_id), {"confirmed": "yes"})
    assert response.status_code == 200
    html = response.content.decode()
    message = words.format(host=host)
    assert status_text(html).startswith(message)
    assert row_status(html, job_id) == status
    on_server = simulator.state.get_job(service.key, job_id)
    assert (on_server["status"] if on_server else "esriJobDeleted") == status
    event = AuditEvent.objects.get(action="delete", job_id=job_id)
    assert event.outcome == outcome and event.message.startswith(message)
    assert no_pending_audit()


# A purge has no job to re-read: when the answer was lost after sending, the message says it may have happened.
PURGE_FAULTS = [
    ("stall", STALL, f"{{host}} did not answer within 1 s. {MAYBE}", SUBMITTED),
    ("reset", {}, f"{{host}} closed the connection without answering. {MAYBE}", SUBMITTED),
    ("reset_after", {}, f"{{host}} closed the connection without answering. {MAYBE}", "esriJobCancelled"),
    ("html_502", {}, f"{{host}} answered HTTP 502 Bad Gateway instead of ArcGIS JSON. {MAYBE}", SUBMITTED),
    ("malformed_json", {}, f"{{host}} answered with something that is not ArcGIS JSON. {MAYBE}", "esriJobCancelled"),
    ("expire_tokens", {}, "Invalid token. Reconnect with your ArcGIS account.", SUBMITTED),
]
RECONNECT_LINK = " Reconnect to Main site"


@pytest.mark.parametrize(("kind", "params", "words", "status"), PURGE_FAULTS, ids=[f[0] for f in PURGE_FAULTS])
def test_purge_under_a_fault_explains_it_and_completes_the_audit(
    simulator, service, target, olivia, host, kind, params, words, status
):
    job_id = simulator.state.add_job(service.key, status=SUBMITTED)
    simulator.faults.set(kind, operation="purgeQueue", **params)
    response = timed(olivia.action, target.url("purge"), {"confirmed": "yes"})
    assert response.status_code == 200
    html = response.content.decode()
    message = words.format(host=host)
    assert text(html) == message + (RECONNECT_LINK if kind == "expire_tokens" else "")
    assert json.loads(response["HX-Trigger"]) == {"jobs-changed": {}}  # the table reloads: the jobs' real state
    assert simulator.state.get_job(service.key, job_id)["status"] == status
    event = AuditEvent.objects.get(action="purge")
    assert event.outcome == "failed" and event.message == message and event.finished is not None
    assert no_pending_audit()


def test_purge_without_javascript_under_a_fault_redirects_back_with_the_message(
    simulator, service, target, olivia, host
):
    simulator.faults.set("stall", operation="purgeQueue", **STALL)
    response = timed(olivia.action, target.url("purge"), {"confirmed": "yes"}, htmx=False)
    assert response.status_code == 302
    page = timed(olivia.get, response.url).content.decode()
    assert messages_text(page).startswith(timeout_message(host))


# --- bulk actions --------------------------------------------------------------------------------------------


def test_bulk_cancel_against_a_stalled_server_fails_each_job_within_the_timeout(
    simulator, service, target, olivia, host
):
    job_ids = [simulator.state.add_job(service.key, status=EXECUTING) for _ in range(8)]
    jobs_table_html(olivia, target)  # the page the operator acts on
    simulator.faults.set("stall", operation="cancel", **STALL)
    response = timed(olivia.action, target.url("bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": job_ids})
    html = response.content.decode()
    assert "0 cancellations requested, 8 failed" in html
    for job_id in job_ids:
        row = re.search(rf'<tr id="job-{job_id}".*?</tr>', html, re.S).group(0)
        assert status_text(row) == f"{timeout_message(host)} Re-reading the job: it is Executing."
        assert row_status(row, job_id) == EXECUTING
    assert set(AuditEvent.objects.values_list("outcome", flat=True)) == {"failed"} and no_pending_audit()


def test_bulk_cancel_whose_answers_are_lost_confirms_each_job(simulator, service, target, olivia):
    job_ids = [simulator.state.add_job(service.key, status=EXECUTING) for _ in range(8)]
    simulator.faults.set("reset_after", operation="cancel")
    html = timed(
        olivia.action, target.url("bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": job_ids}
    ).content.decode()
    assert "8 cancellations requested" in html
    assert all(row_status(html, job_id) == CANCELLING for job_id in job_ids)
    assert [job["status"] for job in simulator.state.jobs(service.key)] == [CANCELLING] * 8
    assert set(AuditEvent.objects.values_list("outcome", "message")) == {("success", CONFIRMED_CANCEL)}


def test_bulk_delete_under_a_gateway_error_without_javascript(simulator, service, target, olivia, host):
    job_ids = [simulator.state.add_job(service.key, status=SUCCEEDED) for _ in range(3)]
    simulator.faults.set("html_502", operation="delete")
    back = target.url("job_list")
    data = {"action": "delete", "job_ids": job_ids, "confirmed": "yes", "next": back}
    response = timed(olivia.action, target.url("bulk"), data, htmx=False)
    assert response.status_code == 302 and response.url == back
    page = timed(olivia.get, back).content.decode()
    shown = messages_text(page)
    assert shown.startswith("0 deleted, 3 failed")
    assert shown.count("answered HTTP 502 Bad Gateway instead of ArcGIS JSON.") == 3
    assert len(simulator.state.jobs(service.key)) == 3
    assert AuditEvent.objects.filter(action="delete", outcome="failed").count() == 3 and no_pending_audit()


# --- connecting ----------------------------------------------------------------------------------------------

CONNECT_FAULTS = [
    ("latency", LATENCY, "{host} did not answer within 1 s."),
    ("stall", STALL, "{host} did not answer within 1 s."),
    ("reset", {}, "{host} closed the connection without answering."),
    ("html_502", {}, "{host} answered HTTP 502 Bad Gateway instead of ArcGIS JSON."),
    ("malformed_json", {}, "{host} answered with something that is not ArcGIS JSON."),
]


@pytest.mark.parametrize(("kind", "params", "words"), CONNECT_FAULTS, ids=[f[0] for f in CONNECT_FAULTS])
def test_connect_page_explains_a_failed_token_request(
    simulator, site, target, operator, client_as, host, kind, params, words
):
    simulator.faults.set(kind, operation="generateToken", **params)
    client = client_as(operator)
    data = {"intent": "connect", "username": "siteadmin", "password": "siteadmin", "expiration": 60}
    response = timed(client.action, reverse("jobs:token", args=[site.slug]), data, htmx=False)
    assert response.status_code == 200  # the form again, with the reason
    html = response.content.decode()
    assert messages_text(html) == words.format(host=host)
    assert 'name="username"' in html and "siteadmin" not in html.split('name="password"')[1].split(">")[0]
    assert not StoredToken.objects.exists()
    event = AuditEvent.objects.get(action="connect")
    assert event.outcome == "failed" and event.message == words.format(host=host)


def test_pasting_a_token_the_server_rejects_explains_it(simulator, site, target, operator, client_as):
    simulator.faults.set("expire_tokens")
    token = simulator.issue_token("siteadmin", referer=site.effective_referer)
    response = timed(
        client_as(operator).action,
        reverse("jobs:token", args=[site.slug]),
        {"intent": "paste", "token": token},
        htmx=False,
    )
    assert response.status_code == 200
    assert messages_text(response.content.decode()) == "Invalid token."
    assert not StoredToken.objects.exists()
    assert AuditEvent.objects.get(action="connect").outcome == "failed"


# --- TLS: a certificate the site does not trust ---------------------------------------------------------------


@pytest.fixture(params=["other CA bundle", "default trust store"])
def untrusted_site(request, db, tls_simulator, tmp_path, operator):
    """A site on the HTTPS simulator that does not trust its certificate, with a stored token."""
    bundle = ""
    if request.param == "other CA bundle":
        bundle = generate_certificate(tmp_path / "another-server")[0].read_text()
    tls_simulator.state.add_service("Watershed", folder="Hydrology")
    site = Site.objects.create(
        slug="secure",
        name="Secure site",
        admin_url=tls_simulator.admin_url,
        ca_bundle=bundle,
        read_timeout=READ_TIMEOUT,
    )
    store_token(operator, site, tls_simulator.issue_token("siteadmin", referer=site.effective_referer))
    return site


def test_tls_mismatch_is_explained_everywhere_and_nothing_is_sent(tls_simulator, untrusted_site, operator, client_as):
    target = ServiceTarget(untrusted_site, ServiceRef("Hydrology", "Watershed"))
    job_id = tls_simulator.state.add_job("Hydrology/Watershed", status=EXECUTING)
    words = f"{untrusted_site.name}: the server's TLS certificate could not be verified"
    client = client_as(operator)

    overview = timed(client.get, reverse("jobs:overview"), {"inline": "1"}).content.decode()
    assert alert_text(overview).startswith(words)
    page = timed(jobs_table, client, target).content.decode()
    assert alert_text(page).startswith(words)
    counts = timed(client.htmx_get, target.url("service_counts")).content.decode()
    assert alert_text(counts).startswith(words)
    job_page = timed(client.get, target.url("job", job_id)).content.decode()
    assert alert_text(job_page).startswith(f"Could not read the job: {words}")

    cancel = timed(client.action, target.url("cancel", job_id))
    assert cancel.status_code == 200 and status_text(cancel.content.decode()).startswith(words)
    event = AuditEvent.objects.get(action="cancel")
    assert event.outcome == "failed" and event.message.startswith(words)

    data = {"intent": "connect", "username": "siteadmin", "password": "siteadmin", "expiration": 60}
    connect = timed(client.action, reverse("jobs:token", args=["secure"]), data, htmx=False)
    assert connect.status_code == 200 and messages_text(connect.content.decode()).startswith(words)
    assert AuditEvent.objects.get(action="connect").outcome == "failed" and no_pending_audit()

    # Neither the token nor the password went over a connection the site does not trust.
    assert len(tls_simulator.requests) == 0
    assert tls_simulator.state.get_job("Hydrology/Watershed", job_id)["status"] == EXECUTING


def test_the_servers_own_certificate_as_ca_bundle_works(tls_simulator, untrusted_site, operator, client_as):
    """The same site trusting the right certificate: proves the failures above come from the certificate."""
    untrusted_site.ca_bundle = tls_simulator.cert_path.read_text()
    untrusted_site.save()
    job_id = tls_simulator.state.add_job("Hydrology/Watershed", status=EXECUTING)
    target = ServiceTarget(untrusted_site, ServiceRef("Hydrology", "Watershed"))
    html = jobs_table_html(client_as(operator), target)
    assert row_status(html, job_id) == EXECUTING


# --- the simulator's "answer" fault, used to play a malicious or odd server -------------------------------------


def test_answer_fault_replaces_an_operations_answer_without_performing_it(simulator, service):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    token = simulator.issue_token("siteadmin")
    url = f"{simulator.admin_url}/services/Hydrology/Watershed.GPServer/jobs/{job_id}/cancel"
    body = {"status": "error", "messages": ["<b>No.</b>"], "code": 500}
    simulator.faults.set("answer", operation="cancel", count=1, body=body)
    first = requests.post(url, data={"f": "json", "token": token}, timeout=5)
    assert (first.status_code, first.json()) == (200, body)
    assert simulator.state.get_job(service.key, job_id)["status"] == EXECUTING  # not performed
    second = requests.post(url, data={"f": "json", "token": token}, timeout=5)
    assert second.json() == {"status": "success"}  # count=1: the next one is real
    simulator.faults.set("answer", operation="root", status=503, body={"oops": True})
    third = requests.get(simulator.admin_url, params={"f": "json"}, timeout=5)
    assert (third.status_code, third.json()) == (503, {"oops": True})
    with pytest.raises(ValueError, match="needs body"):
        simulator.faults.set("answer")
