"""Fault injection: each kind, and the filters that aim it (service, operation, after, count)."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from arcgis_simulator import ManualClock, Simulator

from .conftest import GP, JOBS, RawAdminApi


def cancel(admin: RawAdminApi, job: str) -> requests.Response:
    return admin.session.post(f"{admin.sim.admin_url}{JOBS}/{job}/cancel", data={"f": "json", "token": admin.token})


def services(admin: RawAdminApi) -> requests.Response:
    return admin.session.get(admin.sim.admin_url + "/services", params={"f": "json", "token": admin.token})


def test_latency(admin: RawAdminApi) -> None:
    admin.sim.faults.set("latency", ms=150, count=1)
    started = time.perf_counter()
    assert services(admin).json()["folderName"] == "/"
    assert time.perf_counter() - started >= 0.15
    assert admin.sim.faults.active() == []  # count=1: used up


def test_global_latency(http: requests.Session) -> None:
    with Simulator(latency_ms=100) as sim:
        started = time.perf_counter()
        http.get(sim.base_url + "/rest/info", params={"f": "json"})
        assert time.perf_counter() - started >= 0.1


def test_html_502(admin: RawAdminApi) -> None:
    job = admin.sim.state.add_job(GP, status="esriJobExecuting")
    admin.sim.faults.set("html_502")
    response = cancel(admin, job)
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert "<title>502 Bad Gateway</title>" in response.text
    assert admin.sim.state.get_job(GP, job)["status"] == "esriJobExecuting"  # never reached ArcGIS
    admin.sim.faults.set("html_502", status=504)
    assert services(admin).status_code == 504
    admin.sim.faults.clear()
    assert services(admin).status_code == 200


def test_reset_before_processing(admin: RawAdminApi) -> None:
    job = admin.sim.state.add_job(GP, status="esriJobExecuting")
    admin.sim.faults.set("reset", operation="cancel", count=1)
    with pytest.raises(requests.ConnectionError, match="reset by peer"):
        cancel(admin, job)
    assert admin.sim.state.get_job(GP, job)["status"] == "esriJobExecuting"
    assert admin.sim.requests[-1].operation == "cancel"  # it did arrive
    assert cancel(admin, job).json() == {"status": "success"}


def test_reset_after_processing_is_ambiguous(admin: RawAdminApi) -> None:
    job = admin.sim.state.add_job(GP, status="esriJobExecuting")
    admin.sim.faults.set("reset_after", operation="cancel")
    with pytest.raises(requests.ConnectionError, match="reset by peer"):
        cancel(admin, job)
    assert admin.sim.state.get_job(GP, job)["status"] == "esriJobCancelling"


def test_reset_over_tls(tls_simulator: Simulator, http: requests.Session) -> None:
    tls_simulator.faults.set("reset")
    with pytest.raises(requests.ConnectionError):
        http.get(tls_simulator.base_url + "/rest/info", params={"f": "json"}, verify=str(tls_simulator.cert_path))


def test_stall_outlasts_the_client_timeout(admin: RawAdminApi) -> None:
    admin.sim.faults.set("stall", seconds=1, count=1)
    with pytest.raises(requests.ReadTimeout):
        admin.session.get(admin.sim.admin_url, params={"f": "json", "token": admin.token}, timeout=0.2)
    assert services(admin).status_code == 200


def test_stall_answers_once_it_is_over(admin: RawAdminApi) -> None:
    admin.sim.faults.set("stall", seconds=0.2)
    started = time.perf_counter()
    assert services(admin).json()["folderName"] == "/"
    assert time.perf_counter() - started >= 0.2


def test_stop_ends_a_stall_at_once() -> None:
    sim = Simulator().start()
    sim.faults.set("stall")  # ten minutes by default
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(requests.get(sim.base_url + "/rest/info", params={"f": "json"}, timeout=30))
        except requests.RequestException as error:
            outcome.append(error)

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 5
    while not sim.requests.snapshot() and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.perf_counter()
    sim.stop()
    thread.join(5)
    assert time.perf_counter() - started < 2
    assert isinstance(outcome[0], requests.ConnectionError)


def test_malformed_json(admin: RawAdminApi) -> None:
    job = admin.sim.state.add_job(GP, status="esriJobExecuting")
    admin.sim.faults.set("malformed_json", operation="cancel")
    response = cancel(admin, job)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    assert '{"status":"success"}'.startswith(response.text)
    assert response.text
    assert admin.sim.state.get_job(GP, job)["status"] == "esriJobCancelling"  # it was done


def test_expire_tokens(admin: RawAdminApi) -> None:
    admin.sim.faults.set("expire_tokens")
    assert services(admin).json() == {"status": "error", "messages": ["Invalid token."], "code": 498}
    fresh = admin.session.post(
        admin.sim.token_url, data={"username": "siteadmin", "password": "siteadmin", "f": "json"}
    ).json()
    assert "token" in fresh  # generating tokens still works...
    response = admin.session.get(admin.sim.admin_url, params={"f": "json", "token": fresh["token"]})
    assert response.json()["code"] == 498  # ...but every token is refused
    assert admin.session.get(admin.sim.base_url + "/rest/info", params={"f": "json"}).json()["currentVersion"]
    admin.sim.faults.clear("expire_tokens")
    assert services(admin).json()["folderName"] == "/"


class TestFilters:
    def test_after_lets_the_first_requests_through(self, admin: RawAdminApi) -> None:
        admin.sim.faults.set("html_502", after=2)
        assert [services(admin).status_code for _ in range(4)] == [200, 200, 502, 502]

    def test_count_clears_the_fault(self, admin: RawAdminApi) -> None:
        fault = admin.sim.faults.set("html_502", count=2)
        assert [services(admin).status_code for _ in range(4)] == [502, 502, 200, 200]
        assert (fault.seen, fault.applied) == (2, 2)
        assert admin.sim.faults.active() == []

    def test_after_and_count_together(self, admin: RawAdminApi) -> None:
        admin.sim.faults.set("html_502", after=1, count=1)
        assert [services(admin).status_code for _ in range(3)] == [200, 502, 200]

    def test_by_service(self, admin: RawAdminApi) -> None:
        admin.sim.faults.set("html_502", service=GP)
        watershed = admin.session.get(admin.sim.admin_url + JOBS, params={"f": "json", "token": admin.token})
        buffer = admin.session.get(
            admin.sim.admin_url + "/services/Buffer.GPServer/jobs", params={"f": "json", "token": admin.token}
        )
        assert (watershed.status_code, buffer.status_code, services(admin).status_code) == (502, 200, 200)

    def test_root_services_by_plain_name(self, admin: RawAdminApi) -> None:
        admin.sim.faults.set("html_502", service="Buffer")
        buffer = admin.session.get(
            admin.sim.admin_url + "/services/Buffer.GPServer/jobs/query", params={"f": "json", "token": admin.token}
        )
        assert buffer.status_code == 502

    def test_by_operation(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP, status="esriJobExecuting")
        admin.sim.faults.set("html_502", operation="cancel")
        assert admin.get(f"{JOBS}/{job}")["status"] == "esriJobExecuting"
        assert admin.get(JOBS + "/query")["total"] == 1
        assert cancel(admin, job).status_code == 502

    @pytest.mark.parametrize(
        ("operation", "path"),
        [
            ("root", ""),
            ("services", "/services"),
            ("services", "/services/Hydrology"),
            ("service", "/services/Hydrology/Watershed.GPServer"),
            ("jobs", JOBS),
            ("query", JOBS + "/query"),
            ("statistics", JOBS + "/statistics"),
            ("job", JOBS + "/j0123456789abcdef0123456789abcdef"),
        ],
    )
    def test_operation_names(self, admin: RawAdminApi, operation: str, path: str) -> None:
        admin.sim.faults.set("html_502", operation=operation)
        response = admin.session.get(admin.sim.admin_url + path, params={"f": "json", "token": admin.token})
        assert response.status_code == 502
        assert services(admin).status_code == (502 if operation == "services" else 200)

    def test_token_and_info_operations(self, admin: RawAdminApi) -> None:
        admin.sim.faults.set("html_502", operation="generateToken")
        admin.sim.faults.set("latency", operation="info", ms=1)
        login = {"username": "siteadmin", "password": "siteadmin", "f": "json"}
        assert admin.session.post(admin.sim.token_url, data=login).status_code == 502
        assert admin.session.post(admin.sim.admin_url + "/generateToken", data=login).status_code == 502
        assert admin.session.get(admin.sim.base_url + "/rest/info", params={"f": "json"}).status_code == 200
        assert [f.applied for f in admin.sim.faults.active()] == [2, 1]

    def test_latency_combines_with_another_fault(self, admin: RawAdminApi) -> None:
        admin.sim.faults.set("latency", ms=100)
        admin.sim.faults.set("html_502")
        started = time.perf_counter()
        assert services(admin).status_code == 502
        assert time.perf_counter() - started >= 0.1

    def test_setting_the_same_fault_again_replaces_it(self, admin: RawAdminApi) -> None:
        admin.sim.faults.set("latency", ms=500)
        admin.sim.faults.set("latency", ms=1)
        admin.sim.faults.set("latency", ms=2, operation="root")
        assert [(f.params["ms"], f.operation) for f in admin.sim.faults.active()] == [(1, None), (2, "root")]

    def test_clear_one_kind(self, admin: RawAdminApi) -> None:
        admin.sim.faults.set("latency", ms=1)
        admin.sim.faults.set("html_502")
        admin.sim.faults.clear("html_502")
        assert [f.kind for f in admin.sim.faults.active()] == ["latency"]

    @pytest.mark.parametrize(
        "arguments",
        [
            {"kind": "explode"},
            {"kind": "latency"},
            {"kind": "latency", "ms": 1, "operation": "cancle"},
            {"kind": "reset", "seconds": 3},
            {"kind": "html_502", "count": 0},
            {"kind": "html_502", "after": -1},
        ],
    )
    def test_mistakes_are_refused(self, arguments: dict) -> None:
        with pytest.raises(ValueError):
            Simulator(clock=ManualClock()).faults.set(**arguments)
