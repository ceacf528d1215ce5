"""The ArcGIS client's safety, over real HTTP(S) against the simulator: unsafe folder, service and job
names never reach the wire; tokens travel in POST bodies and GET headers, never in a URL; the site's
Referer goes with every call; no token or password ends up in an error, a repr or a log line."""

from __future__ import annotations

import logging
import traceback

import pytest

import arcgis_client
from arcgis_client import AdminClient, ServiceRef, SiteConnection
from arcgis_simulator import ManualClock, Simulator
from tests.arcgis_client.conftest import GP, REFERER, WATERSHED

# Values that must never become part of a request path.
UNSAFE = ["../x", "..", ".", "a/b", "a%2Fb", "j1?x=1", "j1#f", "j 1", "j\n1", "j\t1", "j1\x00", "a\\b", "ü", "x" * 200]
UNSAFE_JOB_IDS = [*UNSAFE, "", "j_1", "j-1", "j1.GPServer"]
UNSAFE_SERVICE_NAMES = [*UNSAFE, ""]
UNSAFE_FOLDER_NAMES = UNSAFE  # an empty folder is the root


# --- names ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("job_id", UNSAFE_JOB_IDS)
def test_an_unsafe_job_id_is_refused_before_anything_is_sent(gis, admin, job_id):
    for operation in (admin.get_job, admin.cancel_job, admin.delete_job):
        with pytest.raises(arcgis_client.InvalidName):
            operation(WATERSHED, job_id)

    assert len(gis.requests) == 0


@pytest.mark.parametrize("name", UNSAFE_SERVICE_NAMES)
def test_an_unsafe_service_name_is_refused(gis, name):
    for make in (lambda: ServiceRef("Hydrology", name), lambda: ServiceRef("", name)):
        with pytest.raises(arcgis_client.InvalidName):
            make()

    assert len(gis.requests) == 0


@pytest.mark.parametrize("name", UNSAFE_FOLDER_NAMES)
def test_an_unsafe_folder_name_is_refused(gis, name):
    with pytest.raises(arcgis_client.InvalidName):
        ServiceRef(name, "Watershed")
    with pytest.raises(arcgis_client.InvalidName):
        ServiceRef.parse(f"{name}/Watershed.GPServer")

    assert len(gis.requests) == 0


def test_invalid_name_is_a_value_error_with_a_plain_message():
    with pytest.raises(ValueError, match="Not a valid job ID"):
        arcgis_client.validate_job_id("../x")
    with pytest.raises(arcgis_client.InvalidName, match="Not a valid folder name"):
        ServiceRef("a/b", "Watershed")


def test_an_unknown_status_is_refused_before_anything_is_sent(gis, admin):
    with pytest.raises(arcgis_client.InvalidName):
        admin.query_jobs(WATERSHED, status="esriJobExecuting&userName=x")

    assert len(gis.requests) == 0


def test_safe_names_go_into_the_path_as_they_are(gis, admin):
    job = gis.state.add_job(GP)

    assert admin.get_job(ServiceRef.parse("Hydrology/Watershed.GPServer"), job).job_id == job
    assert gis.requests[0].raw_path == f"/arcgis/admin/services/Hydrology/Watershed.GPServer/jobs/{job}"


def test_folders_and_services_the_portal_cannot_address_are_left_out(gis, admin):
    """A server may list names the portal must not put in a path: they are skipped, never requested."""
    for folder in ("a b", "x?y", "..", "ü"):
        gis.state.add_folder(folder)
    gis.state.add_service("Has Space", folder="Hydrology")

    services = admin.list_services()

    assert sorted(r.path for r in gis.requests) == ["/arcgis/admin/services", "/arcgis/admin/services/Hydrology"]
    assert {s.name for s in services} == {"Watershed", "Has Space"}
    assert [s.name for s in admin.list_gp_services()] == ["Watershed"]


# --- where the token and the referer go -----------------------------------------------------------------------


def test_gets_carry_the_token_in_a_header_and_posts_in_the_body(gis, admin, token):
    running, finished = gis.state.add_job(GP, arcgis_client.EXECUTING), gis.state.add_job(GP, arcgis_client.SUCCEEDED)

    admin.check_root()
    admin.list_services()
    admin.query_jobs(WATERSHED, status=arcgis_client.EXECUTING)
    admin.get_job(WATERSHED, running)
    admin.job_statistics(WATERSHED)
    admin.cancel_job(WATERSHED, running)
    admin.delete_job(WATERSHED, finished)
    admin.purge_queue(WATERSHED)

    requests = gis.requests.snapshot()
    assert [r.operation for r in requests] == [
        "root",
        "services",
        "services",
        "query",
        "job",
        "statistics",
        "cancel",
        "delete",
        "purgeQueue",
    ]
    for request in requests:
        assert token not in request.raw_path and token not in str(request.query)
        assert "token" not in request.query
        assert request.headers.get("Referer") == REFERER
        if request.method == "GET":
            assert request.headers["X-Esri-Authorization"] == f"Bearer {token}"
            assert request.query["f"] == "json"
        else:
            assert request.form["token"] == token
            assert request.form["f"] == "json"
            assert "X-Esri-Authorization" not in request.headers


def test_a_password_travels_in_the_post_body_only(gis):
    connection = SiteConnection(gis.admin_url, referer=REFERER, token_url=gis.token_url)

    AdminClient(connection).generate_token("siteadmin", "siteadmin")

    [request] = gis.requests
    assert request.method == "POST"
    assert request.form["password"] == "siteadmin"
    assert request.query == {}
    assert "siteadmin" not in request.raw_path
    assert request.headers["Referer"] == REFERER
    connection.close()


def test_without_a_referer_no_referer_is_sent(gis):
    connection = SiteConnection(gis.admin_url)
    client = AdminClient(connection)

    token = client.generate_token("siteadmin", "siteadmin")
    AdminClient(connection, token.token).check_root()

    assert [r.headers.get("Referer") for r in gis.requests] == [None, None]
    # Without a referer the token is bound to the caller's address instead.
    assert gis.requests[0].form["client"] == "requestip"
    connection.close()


# --- no secret in errors, reprs or logs ---------------------------------------------------------------------

PASSWORD = "Tr0ub4dor&3-secret"
WRONG_PASSWORD = "Wr0ng-Pa55word-secret"


def test_no_token_or_password_in_errors_reprs_or_logs(caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    errors: list[arcgis_client.ArcGISError] = []

    def expect_error(call, *args):
        with pytest.raises(arcgis_client.ArcGISError) as caught:
            call(*args)
        errors.append(caught.value)

    users = [f"olivia:{PASSWORD}:admin"]
    with Simulator("empty", clock=ManualClock(), users=users) as sim:
        sim.state.add_service("Watershed", folder="Hydrology")
        running, finished = (
            sim.state.add_job(GP, arcgis_client.EXECUTING),
            sim.state.add_job(GP, arcgis_client.SUCCEEDED),
        )
        connection = SiteConnection(sim.admin_url, referer=REFERER, timeout=(5.0, 0.5), action_timeout=0.5)
        anonymous = AdminClient(connection)
        token = anonymous.generate_token("olivia", PASSWORD)
        client = AdminClient(connection, token.token)

        expect_error(anonymous.generate_token, "olivia", WRONG_PASSWORD)
        client.list_services()
        sim.faults.set("reset", operation="query", count=1)
        client.query_jobs(WATERSHED)  # retried, and logged as such
        expect_error(client.cancel_job, WATERSHED, finished)
        sim.faults.set("reset", operation="cancel", count=1)
        expect_error(client.cancel_job, WATERSHED, running)
        sim.faults.set("html_502", operation="job")
        expect_error(client.get_job, WATERSHED, running)
        sim.faults.set("malformed_json", operation="statistics", count=1)
        expect_error(client.job_statistics, WATERSHED)
        sim.faults.set("stall", operation="purgeQueue", count=1, seconds=30)
        expect_error(client.purge_queue, WATERSHED)
        sim.faults.set("expire_tokens", count=1)
        expect_error(client.check_root)
        expect_error(AdminClient(connection, None).check_root)
        connection.close()

    with Simulator("empty", clock=ManualClock(), users=users, tls=True, cert_dir=tmp_path / "tls") as tls:
        untrusted = SiteConnection(tls.admin_url, referer=REFERER)
        expect_error(AdminClient(untrusted).generate_token, "olivia", PASSWORD)
        expect_error(AdminClient(untrusted, token.token).check_root)
        untrusted.close()

    assert len(errors) == 10
    texts = [repr(client), repr(anonymous), repr(connection), repr(token), str(token)]
    for error in errors:
        texts += [str(error), repr(error), *error.messages, "".join(traceback.format_exception(error))]
    for record in caplog.records:
        texts += [record.getMessage(), record.exc_text or ""]
    # The run was logged (urllib3 at DEBUG, its retry warnings), so the check below looked at something.
    assert any("Retrying" in record.getMessage() for record in caplog.records)
    for secret in (token.token, PASSWORD, WRONG_PASSWORD):
        leaks = [text for text in texts if secret in text]
        assert leaks == []
