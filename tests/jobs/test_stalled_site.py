"""One stalled ArcGIS site must not stall the portal: short read budgets, a circuit breaker shared by every
worker through the cache, and a cap on the requests one site may hold in a worker."""

from __future__ import annotations

import threading
import time

import pytest
from django.urls import reverse

import arcgis_client
from jobs.models import AuditEvent
from jobs.upstream import SiteGuard, connection_for, site_slot
from tests.helpers import alert_text, jobs_table, jobs_table_html, status_text

EXECUTING = arcgis_client.EXECUTING
STALL = {"seconds": 60}


@pytest.fixture
def stalling(site, settings):
    """The site answers nothing (connections are accepted, answers never come); reads give up after 1 s."""
    site.read_timeout = site.action_timeout = 1.0
    site.save()
    settings.ARCGIS_BREAKER_FAILURES = 3
    settings.ARCGIS_BREAKER_COOLDOWN = 30
    return site


def queries(simulator) -> int:
    return len([r for r in simulator.requests if r.operation == "query"])


def test_after_three_timeouts_the_site_is_not_called_and_the_page_says_so(simulator, service, target, olivia, stalling):
    simulator.state.add_job(service.key, status=EXECUTING)
    simulator.faults.set("stall", **STALL)
    for _ in range(3):
        assert "did not answer within 1 s" in alert_text(jobs_table_html(olivia, target))
    assert queries(simulator) == 3
    html = jobs_table_html(olivia, target)
    assert queries(simulator) == 3  # not even tried
    assert alert_text(html).startswith("Main site is not answering since ")
    assert "trying again in 30 s" in alert_text(html) or "trying again in 29 s" in alert_text(html)


def test_actions_fail_at_once_too_and_are_audited(simulator, service, target, olivia, stalling):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    simulator.faults.set("stall", **STALL)
    for _ in range(3):
        jobs_table(olivia, target)
    simulator.requests.clear()
    row = olivia.action(target.url("cancel", job_id)).content.decode()
    assert status_text(row).startswith("Main site is not answering since")
    assert not simulator.requests
    event = AuditEvent.objects.get(action="cancel")
    assert event.outcome == "failed" and event.message.startswith("Main site is not answering")


def test_the_breaker_is_shared_by_every_worker(simulator, service, site, stalling):
    """Another worker (here: a connection of its own, the state comes from the shared cache) fails at once too."""
    guard = SiteGuard(site.pk, site.name)
    for _ in range(3):
        guard.record(answered=False)
    other = arcgis_client.AdminClient(
        arcgis_client.SiteConnection(site.admin_url, timeout=(1, 1), guard=SiteGuard(site.pk, site.name)), "token"
    )
    with pytest.raises(arcgis_client.SiteUnavailable, match="is not answering since"):
        other.query_jobs(service)
    assert not simulator.requests


def test_an_answer_forgives_earlier_failures(site, stalling):
    guard = SiteGuard(site.pk, site.name)
    for _ in range(2):
        guard.record(answered=False)
    guard.admit()  # a call goes out, with two failures counted
    guard.record(answered=True)
    assert guard.state() == {}
    guard.record(answered=False)  # so one more failure does not open it
    guard.admit()
    assert not guard.is_open() and guard.state()["failures"] == 1


def test_after_the_cool_down_one_trial_decides(simulator, service, site, target, olivia, stalling, settings):
    simulator.faults.set("stall", **STALL)
    for _ in range(3):
        jobs_table(olivia, target)
    settings.ARCGIS_BREAKER_COOLDOWN = 0  # the cool-down is over
    simulator.faults.clear()
    simulator.requests.clear()
    assert "Jobs" in jobs_table_html(olivia, target) or "No jobs match." in jobs_table_html(olivia, target)
    assert not SiteGuard(site.pk, site.name).is_open()  # the trial answered: closed again
    assert queries(simulator) >= 1


def test_a_failed_trial_opens_the_breaker_again_and_only_one_trial_goes_out(simulator, site, stalling, settings):
    guard = SiteGuard(site.pk, site.name)
    for _ in range(3):
        guard.record(answered=False)
    settings.ARCGIS_BREAKER_COOLDOWN = 0
    guard.admit()  # the one trial
    with pytest.raises(arcgis_client.SiteUnavailable):
        guard.admit()  # everyone else waits for its verdict
    guard.record(answered=False)
    settings.ARCGIS_BREAKER_COOLDOWN = 30
    with pytest.raises(arcgis_client.SiteUnavailable, match="trying again in"):
        guard.admit()


def test_answers_other_than_timeouts_do_not_open_the_breaker(simulator, service, target, olivia, stalling):
    simulator.faults.set("html_502")
    for _ in range(5):
        assert "502 Bad Gateway" in jobs_table_html(olivia, target)
    assert queries(simulator) >= 5


def test_a_stalled_site_holds_at_most_a_few_requests_of_a_worker(simulator, site, service, target, olivia, settings):
    """The cap on requests waiting for one site: the next one is told at once; other sites are not affected."""
    settings.ARCGIS_REQUESTS_PER_SITE = 1
    settings.ARCGIS_SLOT_WAIT = 0.05
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with site_slot(site):
            entered.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert entered.wait(5)
        html = jobs_table_html(olivia, target)
        assert "is slow to answer and already has 1 request waiting for it" in html
        assert not simulator.requests
    finally:
        release.set()
        holder.join()
    assert "No jobs match." in jobs_table_html(olivia, target)


def test_reads_and_actions_have_their_own_budgets(site):
    site.connect_timeout, site.read_timeout, site.action_timeout = 2.0, 7.0, 45.0
    connection = connection_for(site)
    assert (connection.timeout, connection.action_timeout) == ((2.0, 7.0), 45.0)


def test_the_overview_and_the_jobs_page_never_wait_for_a_site(simulator, service, target, olivia, stalling):
    simulator.faults.set("stall", **STALL)
    started = time.monotonic()
    for url in (reverse("jobs:overview"), target.url("job_list"), reverse("jobs:fleet")):
        assert olivia.get(url).status_code == 200
    assert not simulator.requests  # the shells ask ArcGIS nothing: their parts load on their own
    assert time.monotonic() - started < 10  # structural: no read budget was spent
