"""The ArcGIS client's errors, over real HTTP(S) against the simulator: ArcGIS's own errors in both
shapes, every fault the simulator injects, what is retried (GETs, on connection errors and 502/503/504)
and what never is (POSTs, read timeouts), timeouts, and TLS verification."""

from __future__ import annotations

import socket
import time

import pytest

import arcgis_client
from arcgis_client import AdminClient, ServiceRef, SiteConnection
from arcgis_simulator import ManualClock, Simulator
from arcgis_simulator.tls import generate_certificate
from tests.arcgis_client.conftest import GP, REFERER, WATERSHED

TOKEN_REQUIRED = {
    "admin": "Unauthorized access.Token not found. You can generate a token using the 'generateToken' operation.",
    "rest": "Token Required",
}
FORBIDDEN = "You do not have permissions to access this resource or perform this operation."


@pytest.fixture(params=["admin", "rest"])
def styled(request):
    """A site answering errors in one shape only: Administrator style or REST style."""
    with Simulator("empty", clock=ManualClock(), error_style=request.param) as sim:
        sim.state.add_service("Watershed", folder="Hydrology")
        yield sim


def assert_fit_for_an_operator(error: arcgis_client.ArcGISError) -> None:
    text = str(error)
    assert text and len(text) < 300
    for noise in ("Traceback", "urllib3", "ConnectionPool", "Max retries", "object at 0x", "Errno"):
        assert noise not in text


def status_of(sim, job_id: str) -> str:
    return sim.state.get_job(GP, job_id)["status"]


# --- ArcGIS's own errors, in both shapes (HTTP 200 with an error body) ----------------------------------


def test_a_bad_token_is_invalid(styled, connect_to):
    client = connect_to(styled, token="not-a-token")

    with pytest.raises(arcgis_client.TokenInvalid) as caught:
        client.query_jobs(WATERSHED)

    assert (caught.value.code, str(caught.value)) == (498, "Invalid token.")


def test_an_expired_token_is_invalid(styled, connect_to):
    client = connect_to(styled, token=styled.issue_token(referer=REFERER, expiration_minutes=1))
    client.check_root()
    styled.clock.advance(61)

    with pytest.raises(arcgis_client.TokenInvalid, match=r"^Invalid token\.$"):
        client.check_root()


def test_a_token_bound_to_another_referer_is_invalid(styled, connect_to):
    client = connect_to(styled, token=styled.issue_token(referer="https://elsewhere.example.com/"))

    with pytest.raises(arcgis_client.TokenInvalid) as caught:
        client.get_job(WATERSHED, styled.state.add_job(GP))

    assert str(caught.value) == "Invalid token, ClientID does not match."


def test_no_token_is_token_required(styled, connect_to):
    client = connect_to(styled, user=None)

    with pytest.raises(arcgis_client.TokenRequired) as caught:
        client.list_services()

    assert caught.value.code == 499
    assert str(caught.value) == TOKEN_REQUIRED[styled.error_style]


@pytest.mark.parametrize("operation", ["cancel_job", "delete_job", "purge_queue"])
def test_a_publisher_may_not_change_jobs(styled, connect_to, operation):
    job = styled.state.add_job(GP, arcgis_client.SUBMITTED)
    call = getattr(connect_to(styled, "publisher"), operation)

    with pytest.raises(arcgis_client.Forbidden) as caught:
        call(WATERSHED) if operation == "purge_queue" else call(WATERSHED, job)

    assert (caught.value.code, str(caught.value)) == (403, FORBIDDEN)
    assert status_of(styled, job) == arcgis_client.SUBMITTED


def test_a_refused_cancel_keeps_the_servers_words(styled, connect_to):
    job = styled.state.add_job(GP, arcgis_client.SUCCEEDED)

    with pytest.raises(arcgis_client.OperationRefused) as caught:
        connect_to(styled).cancel_job(WATERSHED, job)

    assert caught.value.code == 500
    assert caught.value.messages == [f"Unable to cancel job :[{job}]"]
    assert str(caught.value) == f"Unable to cancel job :[{job}]"


def test_a_refused_delete_keeps_the_servers_words(styled, connect_to):
    missing = "j" + "0" * 32

    with pytest.raises(arcgis_client.OperationRefused) as caught:
        connect_to(styled).delete_job(WATERSHED, missing)

    assert (caught.value.code, str(caught.value)) == (400, f"Unable to delete job :[{missing}]")


def test_missing_jobs_and_services_are_not_found(styled, connect_to):
    client = connect_to(styled)
    missing = "j" + "0" * 32

    with pytest.raises(arcgis_client.NotFound) as job:
        client.get_job(WATERSHED, missing)
    with pytest.raises(arcgis_client.NotFound) as service:
        client.query_jobs(ServiceRef("Hydrology", "Nowhere"))

    assert job.value.code == 404
    assert str(job.value) == f"Could not find resource or operation '{missing}' on the system."
    assert "Nowhere.GPServer" in str(service.value)


def test_wrong_credentials_are_refused_with_the_servers_reason(styled, connect_to):
    with pytest.raises(arcgis_client.OperationRefused) as caught:
        connect_to(styled, user=None).generate_token("siteadmin", "wrong-password")

    # ArcGIS's messages, joined as sentences.
    assert str(caught.value) == "Unable to generate token. Invalid username or password."


def test_every_error_is_an_arcgis_error():
    kinds = [
        arcgis_client.TokenInvalid,
        arcgis_client.TokenRequired,
        arcgis_client.Forbidden,
        arcgis_client.NotFound,
        arcgis_client.OperationRefused,
    ]
    kinds += [
        arcgis_client.UpstreamUnavailable,
        arcgis_client.UpstreamTimeout,
        arcgis_client.TLSFailure,
        arcgis_client.MalformedResponse,
    ]
    kinds += [arcgis_client.InvalidName]
    assert all(issubclass(kind, arcgis_client.ArcGISError) for kind in kinds)
    assert issubclass(arcgis_client.UpstreamTimeout, arcgis_client.UpstreamUnavailable)
    assert issubclass(arcgis_client.TLSFailure, arcgis_client.UpstreamUnavailable)


# --- faults on GETs: retried on connection errors and 502/503/504 only -------------------------------------


@pytest.mark.parametrize(
    "kind, params",
    [
        ("html_502", {}),
        ("html_502", {"status": 503}),
        ("html_502", {"status": 504}),
        ("reset", {}),
        ("reset_after", {}),
    ],
    ids=["502", "503", "504", "reset", "reset_after"],
)
def test_a_get_is_retried_after_a_passing_failure(gis, connect_to, kind, params):
    job = gis.state.add_job(GP)
    gis.faults.set(kind, operation="job", count=1, **params)

    assert connect_to(gis).get_job(WATERSHED, job).job_id == job
    assert [r.operation for r in gis.requests] == ["job", "job"]


@pytest.mark.parametrize("kind", ["html_502", "reset"])
def test_a_get_gives_up_after_two_retries(gis, connect_to, kind):
    gis.faults.set(kind, operation="query")

    with pytest.raises(arcgis_client.UpstreamUnavailable) as caught:
        connect_to(gis).query_jobs(WATERSHED)

    assert len(gis.requests) == 3
    host = gis.admin_url.split("/")[2]
    expected = {
        "html_502": f"{host} answered HTTP 502 Bad Gateway instead of ArcGIS JSON.",
        "reset": f"{host} closed the connection without answering.",
    }
    assert str(caught.value) == expected[kind]
    assert not caught.value.ambiguous


@pytest.mark.parametrize(
    "kind, params, error",
    [
        ("html_502", {"status": 500}, arcgis_client.UpstreamUnavailable),
        ("html_502", {"status": 404}, arcgis_client.NotFound),
        ("html_502", {"status": 403}, arcgis_client.Forbidden),
        ("malformed_json", {}, arcgis_client.MalformedResponse),
        ("expire_tokens", {}, arcgis_client.TokenInvalid),
        ("stall", {"seconds": 30}, arcgis_client.UpstreamTimeout),
    ],
    ids=["500", "404", "403", "malformed_json", "expire_tokens", "stall"],
)
def test_a_get_is_not_retried_after_other_failures(gis, connect_to, kind, params, error):
    # One failure only: a retry would have succeeded.
    gis.faults.set(kind, operation="query", count=1, **params)
    client = connect_to(gis, timeout=(5.0, 0.5))

    started = time.monotonic()
    with pytest.raises(error) as caught:
        client.query_jobs(WATERSHED)

    assert type(caught.value) is error
    assert len(gis.requests) == 1
    assert time.monotonic() - started < 10  # far less than the 30 s stall
    assert_fit_for_an_operator(caught.value)


def test_latency_within_the_read_timeout_is_waited_for(gis, connect_to):
    gis.faults.set("latency", operation="query", ms=100)

    assert connect_to(gis, timeout=(5.0, 10.0)).query_jobs(WATERSHED).total == 0
    assert len(gis.requests) == 1


def test_latency_beyond_the_read_timeout_is_a_timeout(gis, connect_to):
    gis.faults.set("latency", operation="root", ms=20_000)

    with pytest.raises(arcgis_client.UpstreamTimeout) as caught:
        connect_to(gis, timeout=(5.0, 0.5)).check_root()

    assert str(caught.value).endswith("did not answer within 0.5 s.")
    assert len(gis.requests) == 1


# --- faults on POSTs: never retried; ambiguous when the server may have acted --------------------------------


@pytest.mark.parametrize(
    "kind, params, error, status_after",
    [
        ("reset", {}, arcgis_client.UpstreamUnavailable, arcgis_client.EXECUTING),
        ("html_502", {}, arcgis_client.UpstreamUnavailable, arcgis_client.EXECUTING),
        ("stall", {"seconds": 30}, arcgis_client.UpstreamTimeout, arcgis_client.EXECUTING),
        ("reset_after", {}, arcgis_client.UpstreamUnavailable, arcgis_client.CANCELLING),
        ("malformed_json", {}, arcgis_client.MalformedResponse, arcgis_client.CANCELLING),
    ],
    ids=["reset", "html_502", "stall", "reset_after", "malformed_json"],
)
def test_a_cancel_is_sent_once_whatever_happens(gis, connect_to, kind, params, error, status_after):
    job = gis.state.add_job(GP, arcgis_client.EXECUTING)
    gis.faults.set(kind, operation="cancel", count=1, **params)
    client = connect_to(gis, timeout=(5.0, 0.5), action_timeout=0.5)

    with pytest.raises(error) as caught:
        client.cancel_job(WATERSHED, job)

    assert [(r.method, r.operation) for r in gis.requests] == [("POST", "cancel")]
    # The client cannot tell whether the server acted; the caller re-reads the job.
    assert caught.value.ambiguous
    assert status_of(gis, job) == status_after
    assert_fit_for_an_operator(caught.value)


def test_an_expired_token_on_a_post_is_not_ambiguous(gis, connect_to):
    job = gis.state.add_job(GP, arcgis_client.EXECUTING)
    gis.faults.set("expire_tokens", count=1)

    with pytest.raises(arcgis_client.TokenInvalid) as caught:
        connect_to(gis).delete_job(WATERSHED, job)

    assert not caught.value.ambiguous
    assert len(gis.requests) == 1
    assert status_of(gis, job) == arcgis_client.EXECUTING


# --- no server, or a server that does not accept connections ------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("operation", ["check_root", "purge_queue"])
def test_a_refused_connection_is_upstream_unavailable(operation):
    client = AdminClient(SiteConnection(f"http://127.0.0.1:{free_port()}/arcgis/admin"), "a-token")

    with pytest.raises(arcgis_client.UpstreamUnavailable) as caught:
        client.check_root() if operation == "check_root" else client.purge_queue(WATERSHED)

    assert str(caught.value).endswith("refused the connection.")
    # Nothing reached a server, not even a POST.
    assert not caught.value.ambiguous
    client.connection.close()


def test_a_server_that_accepts_no_connection_is_a_timeout():
    # A listening socket whose backlog is full: further connection attempts are never answered.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        waiting = [socket.socket() for _ in range(3)]
        for sock in waiting:
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
        connection = SiteConnection(f"http://127.0.0.1:{port}/arcgis/admin", timeout=(0.2, 5.0))
        try:
            with pytest.raises(arcgis_client.UpstreamTimeout) as caught:
                AdminClient(connection, "a-token").check_root()
        finally:
            connection.close()
            for sock in waiting:
                sock.close()

    assert str(caught.value) == f"127.0.0.1:{port} did not accept a connection within 0.2 s."


# --- TLS ------------------------------------------------------------------------------------------------------


def test_tls_is_verified_against_the_sites_ca_bundle(tls_simulator, connect_to):
    tls_simulator.state.add_service("Watershed", folder="Hydrology")
    job = tls_simulator.state.add_job(GP, arcgis_client.EXECUTING)
    client = connect_to(tls_simulator, verify=str(tls_simulator.cert_path))

    client.check_root()
    client.cancel_job(WATERSHED, job)

    assert [r.operation for r in tls_simulator.requests] == ["root", "cancel"]


def test_tls_is_verified_by_default(tls_simulator, connect_to):
    client = connect_to(tls_simulator)
    assert client.connection.verify is True

    with pytest.raises(arcgis_client.TLSFailure) as caught:
        client.check_root()
    with pytest.raises(arcgis_client.TLSFailure):
        AdminClient(client.connection).generate_token("siteadmin", "siteadmin")

    assert "certificate could not be verified" in str(caught.value)
    assert_fit_for_an_operator(caught.value)
    assert len(tls_simulator.requests) == 0


def test_a_ca_bundle_for_another_certificate_is_refused(tls_simulator, connect_to, tmp_path):
    other_cert, _ = generate_certificate(tmp_path / "other")

    with pytest.raises(arcgis_client.TLSFailure):
        connect_to(tls_simulator, verify=str(other_cert)).check_root()

    assert len(tls_simulator.requests) == 0


def test_a_missing_ca_bundle_is_a_tls_failure(tls_simulator, connect_to, tmp_path):
    missing = tmp_path / "no-such-ca.pem"

    with pytest.raises(arcgis_client.TLSFailure) as caught:
        connect_to(tls_simulator, verify=str(missing)).check_root()

    assert "CA bundle file is missing" in str(caught.value)
    assert str(tmp_path) not in str(caught.value)  # an error never tells where files are on the portal's host
    assert len(tls_simulator.requests) == 0


def test_verification_can_be_switched_off_explicitly(tls_simulator, connect_to):
    assert "services" in connect_to(tls_simulator, verify=False).check_root()["resources"]
    assert len(tls_simulator.requests) == 1
