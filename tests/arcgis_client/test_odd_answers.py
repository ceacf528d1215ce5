"""The ArcGIS client against answers the simulator never gives, served over real HTTP by a bare stub:
cookies, redirects, HTML and plain-text pages, and JSON that is valid ArcGIS but unusual (other
versions, Esri's own variations, missing optional fields)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

import arcgis_client
from arcgis_client import AdminClient, ServiceRef, SiteConnection
from tests.arcgis_client.conftest import REFERER

BUFFER = ServiceRef("", "Buffer")
JOBS = "/arcgis/admin/services/Buffer.GPServer/jobs"
MS = 1523033824000  # an epoch-milliseconds timestamp, as in Esri's examples
WHEN = datetime.fromtimestamp(MS / 1000, tz=UTC)


class Stub:
    """An HTTP server that answers each path with a canned answer (404 otherwise) and records requests."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, headers)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.partition("?")[0]
                stub.requests.append((self.command, path, dict(self.headers.items())))
                status, headers, body = stub.answers.get(path, (404, {"Content-Type": "text/html"}, b"<html></html>"))
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.admin_url = f"http://127.0.0.1:{self.server.server_address[1]}/arcgis/admin"

    def answer(self, path: str, body, *, status: int = 200, content_type: str = "application/json", **headers):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answers[path] = (status, {"Content-Type": content_type, **headers}, data)


@pytest.fixture
def stub():
    server = Stub()
    thread = threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def client(stub):
    connection = SiteConnection(stub.admin_url, referer=REFERER)
    yield AdminClient(connection, "the-token")
    connection.close()


# --- unusual but valid ArcGIS JSON ------------------------------------------------------------------------------


def test_root_services_may_name_their_folder_slash_empty_or_nothing(stub, client):
    stub.answer(
        "/arcgis/admin/services",
        {
            "folderName": "",
            "folders": [],
            "services": [
                {"folderName": "/", "serviceName": "Slash", "type": "GPServer"},
                {"folderName": "", "serviceName": "Empty", "type": "GPServer"},
                {"serviceName": "Absent", "type": "GPServer"},
                {"folderName": "/", "type": "GPServer"},  # no name: not a service the portal can use
                "not an object",
            ],
        },
    )

    services = client.list_gp_services()

    assert [(s.folder, s.name, s.description) for s in services] == [
        ("", "Slash", ""),
        ("", "Empty", ""),
        ("", "Absent", ""),
    ]
    assert services[0].ref == ServiceRef("", "Slash")


@pytest.mark.parametrize(
    "expires, expected",
    [(str(MS), WHEN), (MS, WHEN), (float(MS), WHEN), (None, None), ("", None), ("soon", None), ("9" * 20, None)],
    ids=["string", "number", "float", "null", "empty", "garbage", "beyond-any-year"],
)
def test_token_expiry_may_be_a_string_or_a_number(stub, client, expires, expected):
    stub.answer("/arcgis/admin/generateToken", {"token": "new-token", "expires": expires})

    token = AdminClient(client.connection).generate_token("someone", "a-password")

    assert (token.token, token.expires) == ("new-token", expected)


def test_a_token_answer_without_a_token_is_malformed(stub, client):
    stub.answer("/arcgis/admin/generateToken", {"expires": MS})

    with pytest.raises(arcgis_client.MalformedResponse):
        AdminClient(client.connection).generate_token("someone", "a-password")


@pytest.mark.parametrize(
    "info",
    [{}, {"authInfo": ["https://x"]}, {"authInfo": {"tokenServicesUrl": 5}}, {"authInfo": {"tokenServicesUrl": "/t"}}],
    ids=["no-auth-info", "auth-info-list", "url-number", "url-relative"],
)
def test_rest_info_without_a_usable_token_service(stub, client, info):
    stub.answer("/arcgis/rest/info", info)

    with pytest.raises(arcgis_client.NotFound, match="does not name a token service"):
        client.discover_token_url()


@pytest.mark.parametrize(
    "body, messages",
    [
        ({"status": "error", "messages": "Unable to cancel job :[jA]", "code": 500}, ["Unable to cancel job :[jA]"]),
        ({"status": "error", "code": 500}, ["The server reported an error."]),
        ({"error": {"code": 500, "message": "Failed.", "details": "Job is busy."}}, ["Failed.", "Job is busy."]),
        ({"error": {"code": 500}}, ["The server reported an error."]),
    ],
    ids=["admin-string", "admin-none", "rest-string-details", "rest-none"],
)
def test_error_messages_in_unusual_shapes(stub, client, body, messages):
    stub.answer(f"{JOBS}/jA/cancel", body)

    with pytest.raises(arcgis_client.OperationRefused) as caught:
        client.cancel_job(BUFFER, "jA")

    assert caught.value.messages == messages
    assert str(caught.value) == " ".join(messages)  # as sentences


def test_jobs_may_come_as_a_list_in_any_order_with_fields_missing(stub, client):
    stub.answer(
        f"{JOBS}/query",
        {
            "total": "3",
            "results": [
                {"jobId": "jOld", "submittedTime": MS, "status": arcgis_client.SUCCEEDED, "endTime": str(MS + 60_000)},
                {"jobId": "jNew", "submittedTime": str(MS + 120_000), "status": arcgis_client.EXECUTING},
                {"jobId": "jUnknownTime", "jobStatus": arcgis_client.TIMED_OUT, "machineName": "GIS03"},
            ],
        },
    )

    page = client.query_jobs(BUFFER, number=3)

    # Newest first, jobs without a submitted time last; no nextStart means no further page.
    assert [job.job_id for job in page.jobs] == ["jNew", "jOld", "jUnknownTime"]
    assert (page.total, page.start, page.next_start) == (3, 1, None)
    new, old, unknown = page.jobs
    assert (new.submitted, new.ended, new.username, new.machine, new.url) == (
        datetime.fromtimestamp((MS + 120_000) / 1000, tz=UTC),
        None,
        None,
        None,
        None,
    )
    assert old.ended == datetime.fromtimestamp((MS + 60_000) / 1000, tz=UTC)
    assert (unknown.status, unknown.machine, unknown.submitted, unknown.is_terminal) == (
        arcgis_client.TIMED_OUT,
        "GIS03",
        None,
        True,
    )


def test_jobs_keyed_by_id_take_the_id_from_the_key(stub, client):
    stub.answer(
        f"{JOBS}/query",
        {
            "total": 2,
            "start": 1,
            "nextStart": 2,
            "results": {"jA": {"status": arcgis_client.NEW}, "jB": {"jobId": "jB"}},
        },
    )

    page = client.query_jobs(BUFFER, number=1)

    assert sorted((job.job_id, job.status) for job in page.jobs) == [("jA", arcgis_client.NEW), ("jB", "unknown")]
    assert page.next_start == 2


@pytest.mark.parametrize("results", ["a string", 42, {"jA": "not an object"}], ids=["string", "number", "entry"])
def test_a_job_list_of_the_wrong_shape_is_malformed(stub, client, results):
    stub.answer(f"{JOBS}/query", {"total": 1, "results": results})

    with pytest.raises(arcgis_client.MalformedResponse):
        client.query_jobs(BUFFER)


def test_missing_statistics_count_as_zero(stub, client):
    stub.answer(f"{JOBS}/statistics", {"total": 4, "succeeded": "3"})

    assert client.job_statistics(BUFFER) == arcgis_client.JobStatistics(total=4, succeeded=3, failed=0, cancelled=0)


def test_a_server_without_services_is_not_an_admin_root(stub, client):
    stub.answer("/arcgis/admin", {"currentVersion": 11.3, "resources": ["machines", "logs"]})

    with pytest.raises(arcgis_client.MalformedResponse, match="not an ArcGIS Server admin root"):
        client.check_root()


def test_an_answer_to_an_operation_that_is_neither_success_nor_error_is_malformed(stub, client):
    stub.answer(f"{JOBS}/jA/cancel", {"status": "pending"})

    with pytest.raises(arcgis_client.MalformedResponse):
        client.cancel_job(BUFFER, "jA")


# --- pages that are not ArcGIS JSON ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, content_type, body, error",
    [
        (200, "text/html", b"<html><body>Sign in</body></html>", arcgis_client.UpstreamUnavailable),
        (200, "text/plain", b"OK", arcgis_client.MalformedResponse),
        (200, "application/json", b"[1, 2]", arcgis_client.MalformedResponse),
        (401, "text/html", b"<html>Unauthorized</html>", arcgis_client.Forbidden),
        (500, "text/html", b"<html>Server Error</html>", arcgis_client.UpstreamUnavailable),
    ],
    ids=["html-200", "text-200", "json-list", "html-401", "html-500"],
)
def test_pages_that_are_not_arcgis_json(stub, client, status, content_type, body, error):
    stub.answer("/arcgis/admin", body, status=status, content_type=content_type)

    with pytest.raises(error) as caught:
        client.check_root()

    assert type(caught.value) is error
    assert "<html" not in str(caught.value)


@pytest.mark.parametrize(
    "status, body, error",
    [
        (
            500,
            {"status": "error", "messages": ["Unable to cancel job :[jA]"], "code": 500},
            arcgis_client.OperationRefused,
        ),
        (498, {"error": {"code": 498, "message": "Invalid token.", "details": []}}, arcgis_client.TokenInvalid),
        (200, {"error": {"code": 403, "message": "Denied.", "details": ["Not an admin."]}}, arcgis_client.Forbidden),
    ],
    ids=["admin-style-at-500", "rest-style-at-498", "rest-style-with-details"],
)
def test_an_arcgis_error_body_wins_over_the_http_status(stub, client, status, body, error):
    stub.answer(f"{JOBS}/jA/cancel", body, status=status)

    with pytest.raises(error) as caught:
        client.cancel_job(BUFFER, "jA")

    assert type(caught.value) is error
    assert len(stub.requests) == 1
    if error is arcgis_client.Forbidden:
        assert caught.value.messages == ["Denied.", "Not an admin."]


# --- cookies and redirects ---------------------------------------------------------------------------------------


def test_cookies_set_by_the_server_are_not_kept(stub, client):
    """The connection is shared by every operator of a site: one operator's cookie must not ride along."""
    stub.answer("/arcgis/admin", {"resources": ["services"]}, **{"Set-Cookie": "AGS_ROLES=operator1; Path=/"})
    stub.answer(f"{JOBS}/purgeQueue", {"status": "success"}, **{"Set-Cookie": "JSESSIONID=abc; Path=/"})
    # The stub's cookies are ones an ordinary session keeps.
    with requests.Session() as session:
        session.trust_env = False
        session.get(stub.admin_url)
        assert session.cookies.get("AGS_ROLES") == "operator1"
    stub.requests.clear()

    client.check_root()
    client.purge_queue(BUFFER)
    client.check_root()

    assert len(stub.requests) == 3
    assert [headers.get("Cookie") for _, _, headers in stub.requests] == [None, None, None]
    assert len(client.connection.session.cookies) == 0


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_not_followed(stub, client, simulator, status):
    """A redirect could carry the token to another host; ArcGIS never needs one."""
    stub.answer("/arcgis/admin", b"", status=status, content_type="text/plain", Location=simulator.admin_url)
    stub.answer(f"{JOBS}/jA/cancel", b"", status=status, content_type="text/plain", Location=simulator.admin_url)

    with pytest.raises(arcgis_client.UpstreamUnavailable, match="redirect"):
        client.check_root()
    with pytest.raises(arcgis_client.UpstreamUnavailable, match="redirect"):
        client.cancel_job(BUFFER, "jA")

    assert len(stub.requests) == 2
    assert len(simulator.requests) == 0


# --- round 2's security review, finding 9: a hostile answer's decoded size ----------------------------------------


@pytest.mark.parametrize(
    "body, why",
    [
        (b'{"results": [' + b"{}," * 250_000 + b"{}]}", "more than 200,000 objects and lists"),
        (b'{"results": ' + b"[" * 500 + b"]" * 500 + b"}", "nested too deeply: more than 100 levels"),
    ],
    ids=["many-empty-objects", "deep-nesting"],
)
def test_round2_finding_9_an_answer_of_too_many_or_too_deep_objects_is_refused_before_decoding(stub, client, body, why):
    """Some 750 KB of `{},` would decode into a quarter of a million dicts (over 20 MB): the structure is bounded,
    not only the bytes."""
    stub.answer(f"{JOBS}/query", body)

    with pytest.raises(arcgis_client.MalformedResponse) as refused:
        client.query_jobs(BUFFER)

    assert why in refused.value.message


def test_round2_finding_9_brackets_inside_strings_do_not_count(stub, client):
    messages = "[{" * 150_000  # a job's message full of brackets is text, not structure
    stub.answer(f"{JOBS}/query", {"results": [{"jobId": "j1", "jobStatus": "esriJobFailed", "messages": [messages]}]})

    page = client.query_jobs(BUFFER)

    assert [job.job_id for job in page.jobs] == ["j1"]
