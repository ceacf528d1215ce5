"""The database not answering: every request gets a 503 that says so in words (never a traceback), an action is never
sent to ArcGIS before its audit row is written, and the outage is logged once.

The database "goes away" through Django's own hook for every query a connection runs (`execute_wrapper`): from then
on each query of the request's connection fails as a dropped connection does, with an OperationalError. The fault
suite (tests/faults) does the same with a real PostgreSQL server stopped under a gunicorn portal.
"""

from __future__ import annotations

import contextlib
import logging
import re

import pytest
from django.db import OperationalError, connection

from jobs.models import AuditEvent
from tests.conftest import PortalClient
from tests.helpers import jobs_table_html, row_html, status_text, text

EXECUTING = "esriJobExecuting"
NOT_ANSWERING = "The portal's database is not answering; nothing was sent to ArcGIS. Try again in a moment."

# transaction=True: a failed query must not leave a test-wide transaction unusable for what the test does next.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@contextlib.contextmanager
def database_gone(only: str = ""):
    """Every query (or each one whose SQL contains `only`) fails as if the server had gone away."""

    def refuse(execute, sql, params, many, context):
        if only in sql:
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse):
        yield


def browser(user) -> PortalClient:
    """The portal's handler answers the error instead of the test client raising it."""
    client = PortalClient(raise_request_exception=False)
    client.force_login(user)
    return client


def cancels(simulator, job_id: str) -> list:
    return [r for r in simulator.requests if r.method == "POST" and r.path.endswith(f"/jobs/{job_id}/cancel")]


def test_a_page_is_a_503_in_words_never_a_traceback(operator):
    client = browser(operator)
    with database_gone():
        page = client.get("/")
        fragment = client.htmx_get("/audit/")
    assert page.status_code == 503 and page["Retry-After"] == "5"
    said = text(page.content.decode())
    assert NOT_ANSWERING in said and "You are not signed out" in said
    assert "Traceback" not in said and "OperationalError" not in said and "server closed" not in said
    # htmx (and portal.js) get the explanation alone, to show in place
    assert fragment.status_code == 503
    assert fragment.content.decode().startswith('<p class="message message-error" role="alert">')
    assert text(fragment.content.decode()) == NOT_ANSWERING
    # the next request, with the database back, is served as usual: nobody was signed out
    assert client.get("/audit/").status_code == 200


def test_the_api_says_so_in_its_own_shape(operator):
    from api import personal_tokens

    _, token = personal_tokens.issue(operator, "script", 7)
    client = PortalClient(raise_request_exception=False)
    with database_gone():
        answer = client.get("/api/v1/sites/", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 503
    assert answer.json() == {"error": {"code": "unavailable", "message": NOT_ANSWERING}}


def test_the_database_going_away_between_the_page_and_the_click_sends_nothing(
    simulator, service, target, operator, site, connect
):
    connect(operator, site)
    client = browser(operator)
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    assert 'data-status="esriJobExecuting"' in row_html(jobs_table_html(client, target), job_id)  # the page

    with database_gone():  # then the click
        answer = client.action(target.url("cancel", job_id))

    assert answer.status_code == 503 and text(answer.content.decode()) == NOT_ANSWERING
    assert cancels(simulator, job_id) == []  # nothing reached ArcGIS
    assert simulator.state.get_job(service.key, job_id)["status"] == EXECUTING
    assert not AuditEvent.objects.filter(job_id=job_id).exists()

    # The database answers again: the same click acts, audited.
    answer = client.action(target.url("cancel", job_id))
    assert answer.status_code == 200 and status_text(answer.content.decode()) == "Cancel requested"
    assert len(cancels(simulator, job_id)) == 1
    assert AuditEvent.objects.get(job_id=job_id).outcome == "success"


def test_only_the_audit_row_refused_is_enough_to_send_nothing(simulator, service, target, operator, site, connect):
    """Everything else of the request works (session, user, site, token); the audit row's INSERT does not."""
    connect(operator, site)
    client = browser(operator)
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    with database_gone(only='INSERT INTO "jobs_auditevent"'):
        answer = client.action(target.url("cancel", job_id))
    assert answer.status_code == 503
    assert cancels(simulator, job_id) == []


def test_a_database_lost_after_arcgis_was_asked_says_it_may_have_been_done(
    simulator, service, target, operator, site, connect
):
    connect(operator, site)
    client = browser(operator)
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    with database_gone(only='UPDATE "jobs_auditevent"'):  # the row is written, its completion is not
        answer = client.action(target.url("cancel", job_id))
    assert answer.status_code == 503
    assert text(answer.content.decode()) == (
        "The portal's database stopped answering after ArcGIS was asked: the cancel may have been carried out, "
        "and its audit row stays pending. Look at the job again in a moment."
    )
    assert len(cancels(simulator, job_id)) == 1
    [event] = AuditEvent.objects.filter(job_id=job_id)
    assert event.outcome == "pending" and event.username == operator.username  # written before ArcGIS was called


def test_the_outage_is_logged_once_and_its_end_once(operator, caplog):
    client = browser(operator)
    caplog.set_level(logging.WARNING, logger="dashboard.outages")
    with database_gone():
        for _ in range(5):
            assert client.get("/").status_code == 503
    connection.close()  # as Django does at the end of a request whose connection failed
    assert client.get("/").status_code == 200  # a new connection: the outage is over
    said = [record.getMessage() for record in caplog.records if record.name == "dashboard.outages"]
    assert len(said) == 2, said
    assert said[0].startswith("The database is not answering (OperationalError: server closed the connection")
    ended = r"The database answers again after [\d.]+ s; 5 requests were answered without it meanwhile"
    assert re.fullmatch(ended, said[1]), said[1]
    assert not [r for r in caplog.records if r.name == "django.request"]  # no traceback per request
