"""The /_simulator/ control API, used to drive a simulator that runs in another process."""

from __future__ import annotations

import requests

from arcgis_simulator import Simulator

from .conftest import GP, JOBS, RawAdminApi


def control(admin: RawAdminApi, method: str, path: str, body: dict | None = None) -> requests.Response:
    return admin.session.request(method, f"{admin.sim.control_url}/{path}", json=body)


def test_state(admin: RawAdminApi) -> None:
    admin.sim.state.add_job(GP, status="esriJobFailed")
    state = control(admin, "GET", "state").json()
    assert state["adminUrl"] == admin.sim.admin_url
    assert state["tokenUrl"] == admin.sim.token_url
    assert state["manualClock"] is True
    assert state["folders"] == ["Hydrology"]
    assert {"folder": "Hydrology", "name": "Watershed", "type": "GPServer"} in state["services"]
    assert state["jobs"][GP] == {"esriJobFailed": 1}
    assert state["users"] == [{"name": "siteadmin", "admin": True}, {"name": "publisher", "admin": False}]


def test_faults(admin: RawAdminApi) -> None:
    created = control(admin, "POST", "faults", {"kind": "html_502", "operation": "services", "count": 1})
    assert created.status_code == 201
    assert created.json()["fault"]["kind"] == "html_502"
    assert [f["operation"] for f in control(admin, "GET", "faults").json()["faults"]] == ["services"]
    response = admin.session.get(admin.sim.admin_url + "/services", params={"f": "json", "token": admin.token})
    assert response.status_code == 502
    control(admin, "POST", "faults", {"kind": "latency", "ms": 5})
    assert control(admin, "DELETE", "faults").json() == {"faults": []}
    assert admin.sim.faults.active() == []


def test_bad_fault_is_a_400(admin: RawAdminApi) -> None:
    response = control(admin, "POST", "faults", {"kind": "meltdown"})
    assert response.status_code == 400
    assert "unknown fault" in response.json()["error"]


def test_clock_and_jobs(admin: RawAdminApi) -> None:
    added = control(admin, "POST", "jobs", {"service": GP, "status": "esriJobExecuting", "username": "remote"})
    assert added.status_code == 201
    job = added.json()["jobId"]
    assert added.json()["job"]["username"] == "remote"
    assert admin.post(f"{JOBS}/{job}/cancel") == {"status": "success"}
    assert control(admin, "POST", "clock/advance", {"seconds": 2}).status_code == 200
    assert admin.get(f"{JOBS}/{job}")["status"] == "esriJobCancelled"


def test_planned_jobs_and_status_changes(admin: RawAdminApi) -> None:
    body = {"service": GP, "status": "esriJobSubmitted", "durations": [1, 1], "outcome": "esriJobFailed"}
    job = control(admin, "POST", "jobs", body).json()["jobId"]
    control(admin, "POST", "clock/advance", {"seconds": 5})
    assert admin.sim.state.get_job(GP, job)["status"] == "esriJobFailed"
    changed = control(admin, "POST", "jobs/status", {"service": GP, "job_id": job, "status": "esriJobWaiting"})
    assert changed.json()["job"]["status"] == "esriJobWaiting"


def test_cleanup_forgets_finished_jobs(admin: RawAdminApi) -> None:
    state = admin.sim.state
    done = state.add_job(GP, status="esriJobSucceeded")
    running = state.add_job(GP, status="esriJobExecuting")
    control(admin, "POST", "clock/advance", {"seconds": 60})
    later = state.add_job(GP, status="esriJobFailed")
    answer = control(admin, "POST", "jobs/cleanup", {"max_age_seconds": 30})
    assert (answer.status_code, answer.json()) == (200, {"forgotten": 1})
    assert [job["jobId"] for job in state.jobs(GP)] == [later, running]
    assert admin.get(f"{JOBS}/{done}")["code"] == 404
    assert control(admin, "POST", "jobs/cleanup", {"max_age_seconds": 0}).json() == {"forgotten": 1}


def test_cleanup_needs_an_age(admin: RawAdminApi) -> None:
    for body in ({}, {"max_age_seconds": -1}, {"max_age_seconds": "60"}, {"max_age_seconds": True}):
        response = control(admin, "POST", "jobs/cleanup", body)
        assert response.status_code == 400, body
        assert "max_age_seconds" in response.json()["error"]


def test_services(admin: RawAdminApi) -> None:
    response = control(admin, "POST", "services", {"name": "Clip", "folder": "Tools"})
    assert response.json() == {"service": "Tools/Clip"}
    assert admin.get("/services/Tools")["services"][0]["serviceName"] == "Clip"


def test_requests_and_tokens(admin: RawAdminApi) -> None:
    admin.get("/services")
    logged = control(admin, "GET", "requests").json()["requests"]
    assert [(r["method"], r["path"], r["operation"]) for r in logged] == [("GET", "/arcgis/admin/services", "services")]
    control(admin, "DELETE", "requests")
    assert len(admin.sim.requests) == 0
    token = control(admin, "POST", "tokens", {"username": "publisher"}).json()["token"]
    assert admin.session.get(admin.sim.admin_url, params={"f": "json", "token": token}).json()["resources"]
    control(admin, "DELETE", "tokens")
    assert admin.get("/services")["code"] == 498


def test_errors(admin: RawAdminApi) -> None:
    assert control(admin, "POST", "jobs", {"service": "Nope"}).status_code == 404
    assert control(admin, "POST", "jobs", {"service": GP, "colour": "red"}).status_code == 400
    assert control(admin, "POST", "clock/advance", {}).status_code == 400
    assert control(admin, "GET", "teapot").status_code == 404
    bad_json = admin.session.post(admin.sim.control_url + "/faults", data="{not json")
    assert bad_json.status_code == 400


def test_clock_advance_needs_a_manual_clock(http: requests.Session) -> None:
    with Simulator() as sim:
        response = http.post(sim.control_url + "/clock/advance", json={"seconds": 1})
        assert response.status_code == 409
