"""The admin root, folders and services, unknown paths, and the request log."""

from __future__ import annotations

import json

import requests

from arcgis_simulator import Simulator

from .conftest import GP, JOBS, RawAdminApi


def not_found(name: str) -> dict:
    return {
        "status": "error",
        "messages": [f"Could not find resource or operation '{name}' on the system."],
        "code": 404,
    }


def test_admin_root(admin: RawAdminApi) -> None:
    # The answer as the contract quotes it.
    assert admin.get("") == json.loads(
        '{"resources": ["machines", "clusters", "system", "services", "security", "data", "uploads", "logs", "mode", '
        '"usagereports"], "currentVersion": 11.3, "fullVersion": "11.3.0"}'
    )


def test_admin_root_with_trailing_slash(admin: RawAdminApi) -> None:
    assert "services" in admin.get("/")["resources"]


def test_root_folder(admin: RawAdminApi) -> None:
    assert admin.get("/services") == {
        "folderName": "/",
        "description": "Root folder",
        "folders": ["Hydrology"],
        "services": [
            {"folderName": "/", "serviceName": "Buffer", "type": "GPServer", "description": ""},
            {"folderName": "/", "serviceName": "Parcels", "type": "MapServer", "description": ""},
        ],
    }


def test_one_folder(admin: RawAdminApi) -> None:
    assert admin.get("/services/Hydrology") == {
        "folderName": "Hydrology",
        "description": "",
        "services": [
            {
                "folderName": "Hydrology",
                "serviceName": "Watershed",
                "type": "GPServer",
                "description": "Delineates watersheds",
            }
        ],
    }


def test_empty_folder_is_listed(admin: RawAdminApi) -> None:
    admin.sim.state.add_folder("Archive")
    assert admin.get("/services")["folders"] == ["Hydrology", "Archive"]
    assert admin.get("/services/Archive") == {"folderName": "Archive", "description": "", "services": []}


def test_empty_site(simulator: Simulator, http: requests.Session) -> None:
    client = RawAdminApi(simulator, simulator.issue_token(), http)
    assert client.get("/services") == {"folderName": "/", "description": "Root folder", "folders": [], "services": []}


def test_unknown_folder(admin: RawAdminApi) -> None:
    assert admin.get("/services/Nowhere") == not_found("Nowhere")


def test_service_resource(admin: RawAdminApi) -> None:
    gp = admin.get("/services/Hydrology/Watershed.GPServer")
    assert (gp["serviceName"], gp["type"], gp["description"]) == ("Watershed", "GPServer", "Delineates watersheds")
    assert gp["properties"]["executionType"] == "Asynchronous"
    assert admin.get("/services/Parcels.MapServer")["type"] == "MapServer"


def test_folder_and_service_names_match_in_any_case(admin: RawAdminApi) -> None:
    """As ArcGIS does: a service spelled in another case is the same service, with the same jobs."""
    job_id = admin.sim.state.add_job(GP)
    assert admin.get("/services/HYDROLOGY/watershed.GPServer")["serviceName"] == "Watershed"
    assert admin.get("/services/hydrology")["folderName"] == "hydrology"
    assert [s["serviceName"] for s in admin.get("/services/hydrology")["services"]] == ["Watershed"]
    assert admin.get(f"/services/hydrology/WATERSHED.GPServer/jobs/{job_id}")["jobId"] == job_id
    assert admin.post(f"/services/Hydrology/watershed.GPServer/jobs/{job_id}/cancel") == {"status": "success"}
    assert admin.get("/services/Hydrology/Watershed.gpserver") == not_found("Watershed.gpserver")  # the type exactly


def test_unknown_services(admin: RawAdminApi) -> None:
    assert admin.get("/services/Nope.GPServer") == not_found("Nope.GPServer")
    assert admin.get("/services/Hydrology/Buffer.GPServer/jobs/query") == not_found("Buffer.GPServer")
    assert admin.get("/services/Buffer.MapServer") == not_found("Buffer.MapServer")
    assert admin.get("/services/Nowhere/Watershed.GPServer/jobs") == not_found("Watershed.GPServer")


def test_jobs_resource_lists_no_jobs(admin: RawAdminApi) -> None:
    admin.sim.state.add_job(GP)
    assert admin.get(JOBS) == {"resources": ["statistics"]}
    assert admin.get("/services/Buffer.GPServer/jobs") == {"resources": ["statistics"]}


def test_jobs_of_a_service_that_is_not_gp(admin: RawAdminApi) -> None:
    jobs = "/services/Parcels.MapServer/jobs"
    assert admin.get(jobs) == not_found("jobs")
    assert admin.get(jobs + "/query") == not_found("jobs")
    assert admin.post(jobs + "/statistics") == not_found("jobs")
    assert admin.post(jobs + "/purgeQueue") == not_found("jobs")
    assert admin.post(jobs + "/j0123456789abcdef0123456789abcdef/cancel") == not_found("jobs")


def test_unknown_operations(admin: RawAdminApi) -> None:
    assert admin.get("/services/Buffer.GPServer/start") == not_found("start")
    assert admin.get(JOBS + "/j1/cancel/now") == not_found("now")
    assert admin.get("/machines") == not_found("machines")


def test_paths_are_percent_decoded(admin: RawAdminApi) -> None:
    assert admin.get("/services/Hydrology%2FWatershed.GPServer/jobs") == {"resources": ["statistics"]}
    record = admin.sim.requests[-1]
    assert record.raw_path.endswith("/Hydrology%2FWatershed.GPServer/jobs")
    assert record.path.endswith("/Watershed.GPServer/jobs")
    assert (record.operation, record.service) == ("jobs", GP)


def test_escaping_paths_are_not_found_and_logged(admin: RawAdminApi) -> None:
    job = admin.sim.state.add_job(GP)
    assert admin.post(f"{JOBS}/{job}%2F..%2F..%2Fcancel") == not_found("cancel")
    assert admin.sim.state.get_job(GP, job)["status"] == "esriJobExecuting"
    assert admin.sim.requests[-1].path.endswith(f"/jobs/{job}/../../cancel")


def test_paths_outside_the_site(site: Simulator, http: requests.Session) -> None:
    answer = http.get(f"http://127.0.0.1:{site.port}/server/admin", params={"f": "json"}).json()
    assert answer == {
        "error": {"code": 404, "message": "Could not find resource or operation 'admin' on the system.", "details": []}
    }
    assert [r.path for r in site.requests] == ["/server/admin"]
    assert site.requests[0].operation is None


def test_pjson_is_pretty_json(admin: RawAdminApi) -> None:
    response = admin.session.get(admin.sim.admin_url, params={"f": "pjson", "token": admin.token})
    assert "\n" in response.text
    assert json.loads(response.text)["currentVersion"] == 11.3


def test_answers_are_keep_alive_json_with_length(admin: RawAdminApi) -> None:
    response = admin.session.get(admin.sim.admin_url, params={"f": "json", "token": admin.token})
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert response.raw.version == 11
    assert "close" not in response.headers.get("Connection", "")


def test_request_log_records_what_was_sent(admin: RawAdminApi) -> None:
    admin.sim.requests.clear()
    admin.session.post(
        admin.sim.admin_url + JOBS + "/statistics",
        params={"extra": "1"},
        data={"f": "json", "token": admin.token},
        headers={"Referer": "https://portal.example.com"},
    )
    assert len(admin.sim.requests) == 1
    record = admin.sim.requests[0]
    assert record.method == "POST"
    assert record.path == "/arcgis/admin/services/Hydrology/Watershed.GPServer/jobs/statistics"
    assert record.query == {"extra": "1"}
    assert record.form == {"f": "json", "token": admin.token}
    assert record.headers["referer"] == "https://portal.example.com"
    assert record.headers["REFERER"] == "https://portal.example.com"
    assert "Referer" in list(record.headers)
    assert (record.operation, record.service, record.client) == ("statistics", GP, "127.0.0.1")
    assert [r.path for r in admin.sim.requests] == [record.path]
    assert admin.sim.requests[-1:] == [record]


def test_control_requests_are_not_logged(admin: RawAdminApi) -> None:
    admin.sim.requests.clear()
    assert admin.session.get(admin.sim.control_url + "/state").status_code == 200
    assert len(admin.sim.requests) == 0


def test_custom_site_name(http: requests.Session) -> None:
    with Simulator(site="server") as sim:
        assert sim.admin_url.endswith("/server/admin")
        answer = http.get(sim.admin_url, params={"f": "json", "token": sim.issue_token()}).json()
        assert answer["currentVersion"] == 11.3
        arcgis = http.get(sim.admin_url.replace("/server/", "/arcgis/"), params={"f": "json"}).json()
        assert arcgis["error"]["code"] == 404
