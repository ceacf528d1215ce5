"""The ArcGIS client's operations over real HTTP and HTTPS against the simulator: what it sends,
what it makes of the answers, one pooled session per site, and bounded concurrency.

Errors and faults: test_errors.py. Names, tokens and secrets: test_names.py. A job's page: test_rest_job.py.
Answers the simulator never gives (cookies, redirects, odd JSON): test_odd_answers.py.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

import arcgis_client
from arcgis_client import AdminClient, ServiceRef, SiteConnection
from arcgis_client import connection as connection_module
from tests.arcgis_client.conftest import GP, REFERER, WATERSHED

JOBS_PATH = "/arcgis/admin/services/Hydrology/Watershed.GPServer/jobs"


@pytest.fixture(params=["http", "https"])
def gis(request):
    """A site with GP and map services at the root and in folders (one of them empty), over HTTP or HTTPS."""
    sim = request.getfixturevalue("simulator" if request.param == "http" else "tls_simulator")
    sim.state.add_service("Watershed", folder="Hydrology")
    sim.state.add_service("Rivers", folder="Hydrology", type="MapServer")
    sim.state.add_service("Clip", folder="Utilities")
    sim.state.add_service("Buffer")
    sim.state.add_service("Parcels", type="MapServer")
    sim.state.add_folder("Empty")
    return sim


def sent(sim) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in sim.requests]


def ago(sim, minutes: float):
    return sim.clock.now() - timedelta(minutes=minutes)


# --- reading ----------------------------------------------------------------------------------------


def test_check_root_reads_the_admin_root(gis, admin):
    root = admin.check_root()

    assert "services" in root["resources"]
    [request] = gis.requests
    assert (request.method, request.path, request.query) == ("GET", "/arcgis/admin", {"f": "json"})


def test_list_services_reads_the_root_and_every_folder(gis, admin):
    folders, root_services = admin.list_folders()
    assert folders == ["Hydrology", "Utilities", "Empty"]
    # The simulator names the root "/": it comes out as "".
    assert {(s.folder, s.name) for s in root_services} == {("", "Buffer"), ("", "Parcels")}
    gis.requests.clear()

    services = admin.list_services()

    assert {(s.folder, s.name, s.type) for s in services} == {
        ("", "Buffer", "GPServer"),
        ("", "Parcels", "MapServer"),
        ("Hydrology", "Watershed", "GPServer"),
        ("Hydrology", "Rivers", "MapServer"),
        ("Utilities", "Clip", "GPServer"),
    }
    assert sorted(sent(gis)) == [
        ("GET", "/arcgis/admin/services"),
        ("GET", "/arcgis/admin/services/Empty"),
        ("GET", "/arcgis/admin/services/Hydrology"),
        ("GET", "/arcgis/admin/services/Utilities"),
    ]
    gp_services = {s.ref for s in admin.list_gp_services()}
    assert gp_services == {ServiceRef("", "Buffer"), WATERSHED, ServiceRef("Utilities", "Clip")}


def test_query_jobs_returns_pages_newest_first(gis, admin):
    ids = [gis.state.add_job(GP, submitted=ago(gis, 60 - i)) for i in range(12)]
    newest_first = ids[::-1]

    first = admin.query_jobs(WATERSHED, number=5)
    last = admin.query_jobs(WATERSHED, start=11, number=5)

    assert (first.total, first.start, first.number, first.next_start) == (12, 1, 5, 6)
    assert [job.job_id for job in first.jobs] == newest_first[:5]
    # The server's nextStart of -1 on the last page becomes None.
    assert (last.total, last.start, last.next_start) == (12, 11, None)
    assert [job.job_id for job in last.jobs] == newest_first[10:]
    assert first.jobs[0] == arcgis_client.Job(
        job_id=ids[-1],
        status=arcgis_client.EXECUTING,
        submitted=ago(gis, 49),
        ended=None,
        username="analyst1",
        machine="GIS01.EXAMPLE.COM",
        url=f"{gis.base_url}/rest/services/Hydrology/Watershed/GPServer/Watershed/jobs/{ids[-1]}",
    )
    request = gis.requests[-1]
    assert (request.method, request.path) == ("GET", f"{JOBS_PATH}/query")
    assert request.query == {
        "jobStatus": "",
        "userName": "",
        "machineName": "",
        "startTime": "",
        "endTime": "",
        "start": "11",
        "number": "5",
        "f": "json",
    }


@pytest.mark.parametrize(
    "filters, expected, sent_params",
    [
        ({"status": arcgis_client.SUCCEEDED}, ["bob"], {"jobStatus": arcgis_client.SUCCEEDED}),
        ({"username": "ann"}, ["ann-late", "ann"], {"userName": "ann"}),
        ({"machine": "GIS02"}, ["ann-late", "bob"], {"machineName": "GIS02"}),
        ({"start_time": 45, "end_time": 35}, ["bob"], {"startTime": 45, "endTime": 35}),
    ],
    ids=["status", "user", "machine", "time-range"],
)
def test_query_jobs_filters(gis, admin, filters, expected, sent_params):
    jobs = {
        gis.state.add_job(GP, arcgis_client.EXECUTING, "ann", "GIS01", submitted=ago(gis, 50)): "ann",
        gis.state.add_job(GP, arcgis_client.SUCCEEDED, "bob", "GIS02", submitted=ago(gis, 40)): "bob",
        gis.state.add_job(GP, arcgis_client.SUBMITTED, "ann", "GIS02", submitted=ago(gis, 30)): "ann-late",
    }
    # Times are given as "minutes ago" in the table.
    filters = {k: ago(gis, v) if k.endswith("_time") else v for k, v in filters.items()}

    page = admin.query_jobs(WATERSHED, **filters)

    assert [jobs[job.job_id] for job in page.jobs] == expected
    assert page.total == len(expected)
    query = gis.requests[-1].query
    for name, value in sent_params.items():
        expected_value = str(int(ago(gis, value).timestamp() * 1000)) if name.endswith("Time") else value
        assert query[name] == expected_value


def test_get_job_reads_one_job(gis, admin):
    running = gis.state.add_job(GP, submitted=ago(gis, 10), username=None)
    finished = gis.state.add_job(GP, arcgis_client.SUCCEEDED, submitted=ago(gis, 30), end_time=ago(gis, 25))

    job = admin.get_job(WATERSHED, running)
    done = admin.get_job(WATERSHED, finished)

    assert (job.job_id, job.status, job.username, job.ended) == (running, arcgis_client.EXECUTING, None, None)
    assert job.can_cancel and not job.is_terminal
    assert (done.status, done.submitted, done.ended, done.duration) == (
        arcgis_client.SUCCEEDED,
        ago(gis, 30),
        ago(gis, 25),
        timedelta(minutes=5),
    )
    assert done.is_terminal and not done.can_cancel
    assert sent(gis) == [("GET", f"{JOBS_PATH}/{running}"), ("GET", f"{JOBS_PATH}/{finished}")]


def test_job_statistics(gis, admin):
    for status in [
        arcgis_client.SUCCEEDED,
        arcgis_client.SUCCEEDED,
        arcgis_client.FAILED,
        arcgis_client.CANCELLED,
        arcgis_client.EXECUTING,
        arcgis_client.NEW,
    ]:
        gis.state.add_job(GP, status)

    stats = admin.job_statistics(WATERSHED)

    assert stats == arcgis_client.JobStatistics(total=6, succeeded=2, failed=1, cancelled=1)
    assert stats.other == 2
    assert sent(gis) == [("POST", f"{JOBS_PATH}/statistics")]


# --- operations ---------------------------------------------------------------------------------------


def test_cancel_job(gis, admin):
    job = gis.state.add_job(GP, arcgis_client.EXECUTING)

    admin.cancel_job(WATERSHED, job)

    assert gis.state.get_job(GP, job)["status"] == arcgis_client.CANCELLING
    gis.clock.advance(5)
    assert admin.get_job(WATERSHED, job).status == arcgis_client.CANCELLED
    assert sent(gis)[0] == ("POST", f"{JOBS_PATH}/{job}/cancel")


def test_a_post_carries_its_form_and_a_get_its_query_as_requests_encodes_them(gis, admin):
    """The client encodes parameters itself (requests' own check of them costs more than the rest of preparing a
    request): byte for byte what requests would send, None left out, a list's items each given."""
    params = {"f": "json", "token": "a b+c/é", "none": None, "ids": ["j1", "j2"], "number": 50, "empty": ""}
    assert connection_module._encoded(params) == requests.models.RequestEncodingMixin._encode_params(params)
    job = gis.state.add_job(GP, arcgis_client.EXECUTING)
    admin.cancel_job(WATERSHED, job)
    admin.query_jobs(WATERSHED, number=5)
    cancel, query = gis.requests[-2:]
    assert cancel.headers["Content-Type"] == "application/x-www-form-urlencoded" and cancel.form["f"] == "json"
    assert cancel.form["token"] and "token" not in cancel.query
    assert query.query["number"] == "5" and query.query["f"] == "json" and "Content-Type" not in query.headers


def test_delete_job(gis, admin):
    job = gis.state.add_job(GP, arcgis_client.SUCCEEDED)
    other = gis.state.add_job(GP, arcgis_client.SUCCEEDED)

    admin.delete_job(WATERSHED, job)

    assert gis.state.get_job(GP, job) is None
    assert gis.state.get_job(GP, other) is not None
    assert sent(gis) == [("POST", f"{JOBS_PATH}/{job}/delete")]


def test_purge_queue_cancels_queued_jobs_only(gis, admin):
    queued = [
        gis.state.add_job(GP, status) for status in (arcgis_client.NEW, arcgis_client.SUBMITTED, arcgis_client.WAITING)
    ]
    running = gis.state.add_job(GP, arcgis_client.EXECUTING)

    admin.purge_queue(WATERSHED)

    assert [gis.state.get_job(GP, job)["status"] for job in queued] == [arcgis_client.CANCELLED] * 3
    assert gis.state.get_job(GP, running)["status"] == arcgis_client.EXECUTING
    assert sent(gis) == [("POST", f"{JOBS_PATH}/purgeQueue")]


def test_operations_on_a_root_service(gis, admin):
    buffer = ServiceRef("", "Buffer")
    job = gis.state.add_job("Buffer", arcgis_client.EXECUTING)

    assert [j.job_id for j in admin.query_jobs(buffer).jobs] == [job]
    admin.cancel_job(buffer, job)

    assert sent(gis) == [
        ("GET", "/arcgis/admin/services/Buffer.GPServer/jobs/query"),
        ("POST", f"/arcgis/admin/services/Buffer.GPServer/jobs/{job}/cancel"),
    ]


# --- tokens --------------------------------------------------------------------------------------------


def test_generate_token_at_the_admin_endpoint(gis, open_connection):
    connection = open_connection(gis)

    token = AdminClient(connection).generate_token("siteadmin", "siteadmin", expiration_minutes=30)

    # The admin endpoint sends expires as a string of epoch milliseconds.
    assert token.expires == gis.clock.now() + timedelta(minutes=30)
    [request] = gis.requests
    assert (request.method, request.path) == ("POST", "/arcgis/admin/generateToken")
    assert request.form == {
        "username": "siteadmin",
        "password": "siteadmin",
        "client": "referer",
        "referer": REFERER,
        "expiration": "30",
        "f": "json",
    }
    # The token is bound to the site's referer, which the connection sends.
    assert AdminClient(connection, token.token).check_root()


def test_generate_token_at_the_configured_token_url(gis, open_connection):
    connection = open_connection(gis, token_url=gis.token_url)

    token = AdminClient(connection).generate_token("siteadmin", "siteadmin")

    # The token service sends expires as a number.
    assert token.expires == gis.clock.now() + timedelta(minutes=60)
    assert sent(gis) == [("POST", "/arcgis/tokens/generateToken")]
    assert gis.requests[0].form["client"] == "referer"
    assert AdminClient(connection, token.token).list_folders()


def test_generate_token_finds_the_token_service_through_rest_info(gis, open_connection):
    """A web adaptor may hide the admin generateToken; /rest/info names the token service."""
    gis.faults.set("html_502", operation="generateToken", count=1, status=404)
    connection = open_connection(gis)

    token = AdminClient(connection).generate_token("siteadmin", "siteadmin")

    assert sent(gis) == [
        ("POST", "/arcgis/admin/generateToken"),
        ("GET", "/arcgis/rest/info"),
        ("POST", "/arcgis/tokens/generateToken"),
    ]
    assert gis.requests[2].form["referer"] == REFERER
    assert AdminClient(connection, token.token).check_root()


def test_discover_token_url(gis, open_connection):
    assert AdminClient(open_connection(gis)).discover_token_url() == gis.token_url


def test_a_configured_token_url_that_is_missing_is_reported_not_replaced(simulator, open_connection):
    simulator.faults.set("html_502", operation="generateToken", status=404)
    client = AdminClient(open_connection(simulator, token_url=simulator.token_url))

    with pytest.raises(arcgis_client.NotFound):
        client.generate_token("siteadmin", "siteadmin")

    assert sent(simulator) == [("POST", "/arcgis/tokens/generateToken")]


# --- one pooled session per site, bounded concurrency -----------------------------------------------------


def test_for_settings_returns_one_connection_per_configuration(simulator):
    settings = {"admin_url": simulator.admin_url, "referer": REFERER, "verify": True, "timeout": (5.0, 30.0)}

    connection = SiteConnection.for_settings(**settings)

    assert SiteConnection.for_settings(**settings) is connection
    assert SiteConnection.for_settings(**{**settings, "referer": "https://other.example.com/"}) is not connection
    assert SiteConnection.for_settings(**{**settings, "verify": False}) is not connection
    assert SiteConnection.for_settings(**{**settings, "timeout": (5.0, 10.0)}) is not connection


def test_calls_reuse_one_keep_alive_connection(simulator, open_connection, caplog):
    simulator.state.add_service("Watershed", folder="Hydrology")
    client = AdminClient(open_connection(simulator), simulator.issue_token(referer=REFERER))
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")

    client.check_root()
    client.list_services()
    client.query_jobs(WATERSHED)
    client.job_statistics(WATERSHED)
    client.purge_queue(WATERSHED)

    assert len(simulator.requests) == 6
    opened = [r for r in caplog.records if r.getMessage().startswith("Starting new HTTP connection")]
    assert len(opened) == 1


def test_one_connection_serves_several_operators_at_once(simulator, open_connection):
    simulator.state.add_service("Watershed", folder="Hydrology")
    connection = open_connection(simulator)
    tokens = {user: simulator.issue_token(user, referer=REFERER) for user in ("siteadmin", "publisher")}
    clients = [AdminClient(connection, tokens[user]) for user in ("siteadmin", "publisher") * 4]

    results = arcgis_client.run_concurrently(lambda c: c.purge_queue(WATERSHED), clients, limit=8)

    # Each request carried its own operator's token: the administrator's purges pass, the publisher's are refused.
    assert [type(r).__name__ for r in results] == ["NoneType", "Forbidden"] * 4
    assert sorted(r.form["token"] for r in simulator.requests) == sorted([tokens["siteadmin"], tokens["publisher"]] * 4)


def test_folders_are_listed_concurrently_within_the_limit(simulator, open_connection):
    for i in range(8):
        simulator.state.add_service("Tool", folder=f"Folder{i}")
    client = AdminClient(open_connection(simulator), simulator.issue_token(referer=REFERER))
    # Every folder listing takes at least 0.3 s (the root listing, the first, is let through).
    simulator.faults.set("latency", operation="services", after=1, ms=300)

    started = time.monotonic()
    assert len(client.list_services(limit=8)) == 8
    concurrent = time.monotonic() - started
    simulator.faults.set("latency", operation="services", after=1, ms=300)
    started = time.monotonic()
    assert len(client.list_services(limit=2)) == 8
    two_at_a_time = time.monotonic() - started

    # One after the other, eight listings could not take less than 2.4 s; two at a time, no less than 1.2 s.
    assert concurrent < 2.4
    assert two_at_a_time >= 1.2


def test_run_concurrently_keeps_order_and_returns_errors():
    def check(n: int) -> int:
        if n % 3 == 0:
            raise arcgis_client.NotFound(f"{n} is missing")
        return n * 10

    results = arcgis_client.run_concurrently(check, range(1, 8), limit=3)

    assert results[:2] == [10, 20] and results[3:5] == [40, 50]
    assert [str(results[i]) for i in (2, 5)] == ["3 is missing", "6 is missing"]
    assert isinstance(results[2], arcgis_client.NotFound)
    assert arcgis_client.run_concurrently(check, [], limit=3) == []
    assert arcgis_client.run_concurrently(check, [2], limit=3) == [20]


def test_run_concurrently_does_not_hide_bugs():
    with pytest.raises(ZeroDivisionError):
        arcgis_client.run_concurrently(lambda n: 1 / n, [1, 0, 2], limit=2)


def test_run_concurrently_runs_up_to_the_limit_at_once():
    limit = 3
    # Each call waits until `limit` calls are running together: fewer at once would break the barrier.
    barrier = threading.Barrier(limit, timeout=10)
    lock = threading.Lock()
    running = peak = 0

    def work(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        barrier.wait()
        with lock:
            running -= 1
        return n

    assert arcgis_client.run_concurrently(work, range(9), limit=limit) == list(range(9))
    assert peak == limit


def test_as_completed_runs_follow_ups_ahead_of_the_items_still_waiting():
    started = []

    def work(item: str) -> str:
        started.append(item)
        if item == "b":
            raise arcgis_client.ArcGISError("no answer")
        return item.upper()

    def then(item: str, result) -> list[str]:
        return [f"{item}1", f"{item}2"] if item in {"a", "b"} else []

    finished = list(arcgis_client.as_completed(work, ["a", "b", "c"], limit=1, then=then))
    assert started == ["a", "a1", "a2", "b", "b1", "b2", "c"]
    assert [item for item, _ in finished] == started
    assert finished[0] == ("a", "A") and isinstance(dict(finished)["b"], arcgis_client.ArcGISError)
    assert list(arcgis_client.as_completed(work, [], then=then)) == []


def test_an_https_site_never_sends_a_password_to_a_plain_http_token_service(tls_simulator, open_connection):
    """A /rest/info naming an http:// token service must not downgrade the operator's password to clear text."""
    tls_simulator.faults.set("html_502", operation="generateToken", status=404)
    insecure_url = tls_simulator.token_url.replace("https://", "http://")
    tls_simulator.faults.set("answer", operation="info", body={"authInfo": {"tokenServicesUrl": insecure_url}})

    with pytest.raises(arcgis_client.TLSFailure, match="plain http"):
        AdminClient(open_connection(tls_simulator)).generate_token("siteadmin", "siteadmin")

    assert sent(tls_simulator) == [("POST", "/arcgis/admin/generateToken"), ("GET", "/arcgis/rest/info")]


@pytest.mark.parametrize(
    "submitted",
    [
        datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 12, 6, 10, 41, 26, 999_999, tzinfo=UTC),
        datetime(2099, 12, 31, 23, 59, 59, 123_457, tzinfo=UTC),
    ],
)
def test_a_job_kept_in_the_shared_cache_comes_back_the_same(submitted):
    job = arcgis_client.Job("j1", arcgis_client.SUCCEEDED, submitted, submitted + timedelta(seconds=1), "u", "m", "x")
    assert pickle.loads(pickle.dumps(job)) == job
    unknown = arcgis_client.Job("j2", arcgis_client.NEW)
    assert pickle.loads(pickle.dumps(unknown)) == unknown
