"""The command line: `addsite` registers or updates a site (validated, audited), and `canceljob`
cancels a job with a portal user's own stored token through the same audited operation."""

import os
import sqlite3
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError

from arcgis_simulator.tls import generate_certificate
from jobs.models import AuditEvent, Site, StoredToken
from tests.conftest import make_user
from tests.helpers import ROOT

ADMIN_URL = "https://north.example.com:6443/arcgis/admin"

pytestmark = pytest.mark.django_db


def run(name: str, *args) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


# --- addsite -----------------------------------------------------------------------------------


@pytest.fixture
def ca_file(tmp_path) -> Path:
    """A CA certificate in a PEM file, as a site admin has one."""
    return generate_certificate(tmp_path / "north-ca")[0]


def test_addsite_registers_a_site_with_every_option(site_admin, ca_file):
    out = run(
        "addsite",
        "north",
        ADMIN_URL + "/",
        "--name",
        "North",
        "--token-url",
        "https://north.example.com:6443/arcgis/tokens/generateToken",
        "--referer",
        "https://portal.example.org/",
        "--ca-bundle",
        str(ca_file),
        "--user",
        "sam",
    )
    assert out.strip() == f"Registered site north: {ADMIN_URL}"
    site = Site.objects.get(slug="north")
    assert (site.name, site.admin_url, site.referer) == ("North", ADMIN_URL, "https://portal.example.org/")
    assert site.token_url == "https://north.example.com:6443/arcgis/tokens/generateToken"
    # The certificate itself, read once: the site works from any portal host, whatever files it has.
    assert (site.ca_bundle, site.insecure) == (ca_file.read_text(), False)
    event = AuditEvent.objects.get()
    assert (event.action, event.via, event.user, event.site, event.outcome) == (
        "site_change",
        "cli",
        site_admin,
        site,
        "success",
    )
    assert event.message.startswith(f"Added site “North”: slug: north; name: “North”; admin URL: {ADMIN_URL}; ")
    assert "referer: https://portal.example.org/" in event.message
    assert "CA bundle: 1 certificate (SHA-256 " in event.message and "BEGIN" not in event.message


def test_addsite_updates_a_site_with_the_same_slug(site_admin):
    run("addsite", "north", ADMIN_URL, "--name", "North", "--user", "sam")
    first = Site.objects.get()
    out = run("addsite", "north", "http://north-test.example.com/arcgis/admin", "--insecure", "--user", "sam")
    assert out.startswith("Updated site north")
    site = Site.objects.get()
    assert site.pk == first.pk and site.name == "North"  # the name is kept when not given again
    assert site.admin_url == "http://north-test.example.com/arcgis/admin" and site.insecure
    added, changed = AuditEvent.objects.order_by("id").values_list("message", flat=True)
    assert added.startswith(f"Added site “North”: slug: north; name: “North”; admin URL: {ADMIN_URL};")
    assert changed == (
        f"Changed site “North”: admin URL: {ADMIN_URL} → http://north-test.example.com/arcgis/admin; "
        "skip TLS verification: off → on. Revoked 0 stored tokens: the address changed."
    )


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("not a certificate\n", "Paste one or more PEM certificates"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "Paste one or more PEM certificates"),
        ("KEY", "never a key"),
    ],
)
def test_addsite_refuses_a_ca_bundle_that_is_not_certificates(site_admin, tmp_path, content, error):
    cert, key = generate_certificate(tmp_path / "ca")
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(cert.read_text() + key.read_text() if content == "KEY" else content)
    with pytest.raises(CommandError, match=error):
        run("addsite", "north", ADMIN_URL, "--ca-bundle", str(bundle), "--user", "sam")
    assert not Site.objects.exists() and not AuditEvent.objects.exists()


def test_addsite_records_the_first_superuser_when_no_user_is_named():
    make_user("root", is_superuser=True)
    run("addsite", "north", ADMIN_URL)
    assert AuditEvent.objects.get().username == "root"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["http://north.example.com/arcgis/admin"], "Use https"),
        (["https://admin:secret@north.example.com/arcgis/admin"], "Credentials never belong in the URL"),
        (["ftp://north.example.com/arcgis/admin"], "admin URL"),
        ([ADMIN_URL, "--token-url", "http://north.example.com/arcgis/tokens/generateToken"], "Use https"),
        ([ADMIN_URL, "--ca-bundle", "/etc/ssl/ca.pem", "--insecure"], "not allowed with argument"),
        ([ADMIN_URL, "--ca-bundle", "/nonexistent/ca.pem"], "Cannot read the CA bundle /nonexistent/ca.pem"),
        ([ADMIN_URL, "--user", "ghost"], "No portal user 'ghost'"),
    ],
)
def test_addsite_refuses_bad_input_and_changes_nothing(site_admin, args, error):
    if "--user" not in args:
        args = [*args, "--user", "sam"]
    with pytest.raises(CommandError, match=error):
        run("addsite", "north", *args)
    assert not Site.objects.exists()
    assert not AuditEvent.objects.exists()


def test_addsite_never_changes_a_site_unaudited(db):
    """With no portal user to record (none named, no superuser yet), nothing is changed."""
    with pytest.raises(CommandError, match="--user"):
        run("addsite", "north", ADMIN_URL)
    assert not Site.objects.exists()


# --- canceljob ---------------------------------------------------------------------------------


def test_canceljob_cancels_with_the_users_own_token(simulator, site, service, operator, connect):
    stored = connect(operator, site)
    job_id = simulator.state.add_job(service.key)
    out = run("canceljob", "main", "Hydrology/Watershed", job_id, "--user", "olivia")
    assert out.strip() == f"Cancel requested: {job_id}"
    assert simulator.state.get_job(service.key, job_id)["status"] == "esriJobCancelling"
    [cancel] = [r for r in simulator.requests if r.operation == "cancel"]
    assert cancel.form["token"] == stored.token
    event = AuditEvent.objects.get()
    assert (event.action, event.via, event.username, event.job_id) == ("cancel", "cli", "olivia", job_id)
    assert (event.service, event.outcome, event.message) == ("Hydrology/Watershed", "success", "Cancel requested")


def test_canceljob_accepts_the_service_with_its_type(simulator, site, operator, connect):
    simulator.state.add_service("Buffer")
    connect(operator, site)
    job_id = simulator.state.add_job("Buffer")
    run("canceljob", "main", "Buffer.GPServer", job_id, "--user", "olivia")
    assert simulator.state.get_job("Buffer", job_id)["status"] == "esriJobCancelling"


def test_canceljob_reports_a_refusal_with_the_servers_message(simulator, site, service, operator, connect):
    connect(operator, site)
    job_id = simulator.state.add_job(service.key, status="esriJobSucceeded")
    with pytest.raises(CommandError) as failure:
        run("canceljob", "main", "Hydrology/Watershed", job_id, "--user", "olivia")
    assert str(failure.value).startswith(f"Unable to cancel job :[{job_id}]")
    assert failure.value.returncode == 1
    event = AuditEvent.objects.get()
    assert (event.via, event.outcome, event.upstream_code) == ("cli", "refused", 500)


def test_canceljob_without_a_token_says_to_connect(simulator, site, service, operator):
    job_id = simulator.state.add_job(service.key)
    simulator.requests.clear()
    with pytest.raises(CommandError, match="no ArcGIS token") as failure:
        run("canceljob", "main", "Hydrology/Watershed", job_id, "--user", "olivia")
    assert failure.value.returncode == 1
    assert list(simulator.requests) == []
    assert AuditEvent.objects.get().outcome == "failed"


def test_canceljob_with_a_rejected_token_marks_it_and_says_to_reconnect(simulator, site, service, operator, connect):
    connect(operator, site)
    job_id = simulator.state.add_job(service.key)
    simulator.faults.set("expire_tokens")
    with pytest.raises(CommandError, match="Reconnect"):
        run("canceljob", "main", "Hydrology/Watershed", job_id, "--user", "olivia")
    assert StoredToken.objects.get(user=operator).invalid_since is not None


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["main", "Hydrology/Watershed", "JOB", "--user", "ghost"], "No portal user 'ghost'"),
        (["nowhere", "Hydrology/Watershed", "JOB", "--user", "olivia"], "No site 'nowhere'"),
        (["main", "Hydrology/Watershed", "j1/../x", "--user", "olivia"], "Not a valid job ID"),
        (["main", "Hydrology/Watershed", "j 1", "--user", "olivia"], "Not a valid job ID"),
        (["main", "Hydro/../Watershed", "JOB", "--user", "olivia"], "Not a valid"),
        (["main", "Hydrology/Watershed", "JOB", "--user", "victor"], "needs the Operator role"),
    ],
)
def test_canceljob_refuses_bad_input_before_any_upstream_call(
    simulator, site, service, operator, viewer, connect, args, error
):
    connect(operator, site)
    connect(viewer, site)
    job_id = simulator.state.add_job(service.key)
    simulator.requests.clear()
    args = [job_id if a == "JOB" else a for a in args]
    with pytest.raises(CommandError, match=error):
        run("canceljob", *args)
    assert list(simulator.requests) == []
    assert not AuditEvent.objects.exists()
    assert simulator.state.get_job(service.key, job_id)["status"] == "esriJobExecuting"


def test_canceljob_cannot_reach_a_site_hidden_from_the_user(simulator, site, service, operator, connect):
    site.groups.add(Group.objects.create(name="Hydrology team"))
    connect(operator, site)
    job_id = simulator.state.add_job(service.key)
    with pytest.raises(CommandError, match="No site 'main'"):
        run("canceljob", "main", "Hydrology/Watershed", job_id, "--user", "olivia")
    assert simulator.state.get_job(service.key, job_id)["status"] == "esriJobExecuting"


def test_canceljob_exit_codes_in_a_real_process(simulator, service, tmp_path):
    """The shell sees 0 on success and 1 with the server's message on a refusal."""
    database = tmp_path / "portal.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DATABASE_URL": f"sqlite:///{database}",
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SECRET_KEY": "x" * 50,
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ARCGIS_REFERER": "gp-jobs-portal",
    }
    env.pop("REDIS_URL", None)
    token = simulator.issue_token("siteadmin", referer="gp-jobs-portal")
    setup = f"""
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from jobs.models import Site, StoredToken
call_command("migrate", verbosity=0)
user = User.objects.create_user("olivia")
user.groups.add(Group.objects.get(name="Operator"))
site = Site.objects.create(slug="main", name="Main", admin_url={simulator.admin_url!r}, insecure=True)
stored = StoredToken(user=user, site=site, source="pasted")
stored.token = {token!r}
stored.save()
"""

    def manage(*args) -> subprocess.CompletedProcess:
        command = [sys.executable, "manage.py", *args]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    prepared = manage("shell", "-c", setup)
    assert prepared.returncode == 0, prepared.stderr
    job_id = simulator.state.add_job(service.key)

    done = manage("canceljob", "main", "Hydrology/Watershed", job_id, "--user", "olivia")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Cancel requested: {job_id}"
    assert simulator.state.get_job(service.key, job_id)["status"] == "esriJobCancelling"

    refused = manage("canceljob", "main", "Hydrology/Watershed", job_id, "--user", "olivia")
    assert refused.returncode == 1
    assert f"Unable to cancel job :[{job_id}]" in refused.stderr

    unknown = manage("canceljob", "main", "Hydrology/Watershed", job_id, "--user", "ghost")
    assert unknown.returncode == 1 and "No portal user 'ghost'" in unknown.stderr

    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT via, outcome, username FROM jobs_auditevent ORDER BY id").fetchall()
    assert rows == [("cli", "success", "olivia"), ("cli", "refused", "olivia")]
