"""A job's page in the Services Directory (its `url`): the resource, its inputs and results, messages that
follow the job's lifecycle, errors, tokens, per-job overrides, the REST cancel, faults and the request log."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from arcgis_simulator import OPERATIONS, ManualClock, Simulator
from arcgis_simulator.clock import epoch_ms
from arcgis_simulator.gp import MESSAGE_TYPES

from .conftest import GP, JOBS, RawAdminApi

INFO = "esriJobMessageTypeInformative"
INVALID_URL = {"error": {"code": 400, "message": "Unable to complete operation.", "details": ["Invalid URL"]}}
TOKEN_REQUIRED = {"error": {"code": 499, "message": "Token Required", "details": []}}
MISMATCH = {"error": {"code": 498, "message": "Invalid token, ClientID does not match.", "details": []}}
MISSING_JOB = "j0123456789abcdef0123456789abcdef"
# Monday, April 2, 2018 4:57:04 PM UTC, the contract's example
APRIL_2 = datetime(2018, 4, 2, 16, 57, 4, tzinfo=UTC)
APRIL_2_MS = int(APRIL_2.timestamp() * 1000)


def rest_jobs(sim: Simulator, service: str = "Hydrology/Watershed", task: str = "Watershed") -> str:
    return f"{sim.base_url}/rest/services/{service}/GPServer/{task}/jobs"


def url_of(admin: RawAdminApi, job: str, service: str = GP) -> str:
    return admin.get(f"/services/{service}.GPServer/jobs/{job}")["url"]


def page(admin: RawAdminApi, url: str, **params: object) -> dict:
    """GET a REST page as the portal does: f=json, the token in X-Esri-Authorization."""
    headers = {"X-Esri-Authorization": f"Bearer {admin.token}"}
    response = admin.session.get(url, params={"f": "json", **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def descriptions(answer: dict) -> list[str]:
    return [message["description"] for message in answer["messages"]]


@pytest.fixture
def april(http: requests.Session) -> Iterator[RawAdminApi]:
    """A site whose clock stands at the contract's example time."""
    with Simulator(clock=ManualClock(APRIL_2)) as sim:
        sim.state.add_service("Watershed", folder="Hydrology")
        sim.state.add_service("Buffer")
        yield RawAdminApi(sim, sim.issue_token(), http)


class TestUrl:
    def test_query_and_job_give_the_rest_page(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP)
        expected = f"{rest_jobs(admin.sim)}/{job}"
        assert admin.get(JOBS + "/query")["results"][job]["url"] == expected
        assert admin.get(f"{JOBS}/{job}")["url"] == expected
        assert admin.sim.state.get_job(GP, job)["url"] == expected

    def test_names_the_task_that_ran(self, admin: RawAdminApi) -> None:
        admin.sim.state.add_service("FloodModel", folder="Hydrology", tasks=("RunFloodModel", "PrepareInputs"))
        default = admin.sim.state.add_job("Hydrology/FloodModel")
        chosen = admin.sim.state.add_job("Hydrology/FloodModel", task="PrepareInputs")
        base = f"{admin.sim.base_url}/rest/services/Hydrology/FloodModel/GPServer"
        assert url_of(admin, default, "Hydrology/FloodModel") == f"{base}/RunFloodModel/jobs/{default}"
        assert url_of(admin, chosen, "Hydrology/FloodModel") == f"{base}/PrepareInputs/jobs/{chosen}"

    def test_follows_the_host_the_client_used(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job("Buffer")
        response = admin.session.get(
            f"{admin.sim.admin_url}/services/Buffer.GPServer/jobs/{job}",
            params={"f": "json", "token": admin.token},
            headers={"Host": "gis.example.com:6443"},
        )
        assert (
            response.json()["url"]
            == f"http://gis.example.com:6443/arcgis/rest/services/Buffer/GPServer/Buffer/jobs/{job}"
        )


class TestResource:
    def test_failed_job(self, april: RawAdminApi) -> None:
        job = april.sim.state.add_job(GP, status="esriJobFailed", submitted=APRIL_2_MS, end_time=APRIL_2_MS + 2030)
        answer = page(april, url_of(april, job))
        assert list(answer) == ["jobId", "jobStatus", "messages", "inputs", "results"]
        assert (answer["jobId"], answer["jobStatus"], answer["results"]) == (job, "esriJobFailed", {})
        assert answer["messages"][:4] == [
            {"type": INFO, "description": "Submitted."},
            {"type": INFO, "description": "Executing..."},
            {"type": INFO, "description": "Start Time: Monday, April 2, 2018 4:57:04 PM"},
            {"type": INFO, "description": "Running script Watershed..."},
        ]
        error, failed, at = answer["messages"][4:]
        assert error["type"] == "esriJobMessageTypeError"
        assert re.fullmatch(r"ERROR \d{6}: .+", error["description"])
        assert failed == {"type": "esriJobMessageTypeError", "description": "Failed to execute (Watershed)."}
        assert at == {
            "type": INFO,
            "description": "Failed at Monday, April 2, 2018 4:57:06 PM (Elapsed Time: 2.03 seconds)",
        }
        assert answer["inputs"]["Distance"] == {"paramUrl": "inputs/Distance"}
        assert all(value == {"paramUrl": f"inputs/{name}"} for name, value in answer["inputs"].items())

    def test_succeeded_job_lists_results(self, april: RawAdminApi) -> None:
        submitted = APRIL_2_MS - 65_000
        job = april.sim.state.add_job(GP, status="esriJobSucceeded", submitted=submitted, end_time=APRIL_2_MS)
        answer = page(april, url_of(april, job))
        assert answer["results"] == {
            name: {"paramUrl": f"results/{name}"}
            for name in ("Output_Features", "Output_File", "Output_Raster", "Feature_Count")
        }
        assert descriptions(answer)[-2:] == [
            "Completed script Watershed...",
            "Succeeded at Monday, April 2, 2018 4:57:04 PM (Elapsed Time: 1 minutes 5 seconds)",
        ]
        assert any(d.startswith("Processing part ") for d in descriptions(answer))  # it did all its work
        assert "progress" not in answer

    @pytest.mark.parametrize(
        ("status", "expected"),
        [("esriJobNew", []), ("esriJobSubmitted", ["Submitted."]), ("esriJobWaiting", ["Submitted."])],
    )
    def test_queued_jobs_have_few_messages(self, admin: RawAdminApi, status: str, expected: list[str]) -> None:
        answer = page(admin, url_of(admin, admin.sim.state.add_job(GP, status=status)))
        assert (answer["jobStatus"], descriptions(answer), answer["results"]) == (status, expected, {})
        assert "Input_Features" in answer["inputs"]  # inputs exist for every job
        assert "progress" not in answer

    def test_messages_grow_while_executing(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP, status="esriJobExecuting")
        url = url_of(admin, job)
        first = page(admin, url)
        assert descriptions(first)[-1] == "Running script Watershed..."
        assert first["progress"] == {"type": "default", "message": "Running script Watershed..."}
        seen = [first]
        for _ in range(20):
            admin.sim.clock.advance(8)  # one more line every few simulated seconds (3 to 8), until all are out
            answer = page(admin, url)
            assert answer["messages"][: len(seen[-1]["messages"])] == seen[-1]["messages"]  # earlier lines stay
            seen.append(answer)
        assert answer["progress"]["message"] == descriptions(answer)[-1]
        admin.sim.clock.advance(600)
        last = page(admin, url)
        admin.sim.clock.advance(600)
        assert page(admin, url) == last  # growth is bounded
        counts = [len(answer["messages"]) for answer in seen]
        assert len(last["messages"]) <= 50
        assert all(b > a for a, b in itertools.pairwise(counts) if a < len(last["messages"]))
        assert {m["type"] for m in last["messages"]} <= {INFO, "esriJobMessageTypeWarning"}

    def test_planned_lifecycle(self, april: RawAdminApi) -> None:
        job = april.sim.state.add_job(
            GP, status="esriJobSubmitted", durations=(5, 60), outcome="esriJobSucceeded", submitted=APRIL_2_MS
        )
        url = url_of(april, job)
        assert descriptions(page(april, url)) == ["Submitted."]
        april.sim.clock.advance(5)
        running = page(april, url)
        assert running["jobStatus"] == "esriJobExecuting"
        assert "Start Time: Monday, April 2, 2018 4:57:09 PM" in descriptions(running)
        april.sim.clock.advance(60)
        done = page(april, url)
        assert (
            descriptions(done)[-1]
            == "Succeeded at Monday, April 2, 2018 4:58:09 PM (Elapsed Time: 1 minutes 0 seconds)"
        )
        assert done["messages"][: len(running["messages"])] == running["messages"]

    def test_cancelled_while_executing(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP, status="esriJobExecuting")
        url = url_of(admin, job)
        admin.sim.clock.advance(30)
        assert admin.post(f"{JOBS}/{job}/cancel") == {"status": "success"}
        cancelling = page(admin, url)
        assert cancelling["jobStatus"] == "esriJobCancelling"
        assert "esriJobMessageTypeAbort" not in {m["type"] for m in cancelling["messages"]}
        admin.sim.clock.advance(2)
        cancelled = page(admin, url)
        assert cancelled["jobStatus"] == "esriJobCancelled"
        assert cancelled["messages"][-1] == {"type": "esriJobMessageTypeAbort", "description": "Cancelled by user."}
        assert "Running script Watershed..." in descriptions(cancelled)
        assert cancelled["results"] == {}

    def test_cancelled_before_it_ran(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP, status="esriJobWaiting")
        assert admin.post(JOBS + "/purgeQueue") == {"status": "success"}
        assert page(admin, url_of(admin, job))["messages"] == [
            {"type": INFO, "description": "Submitted."},
            {"type": "esriJobMessageTypeAbort", "description": "Cancelled by user."},
        ]

    def test_timed_out(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP, status="esriJobTimedOut")
        answer = page(admin, url_of(admin, job))
        assert answer["jobStatus"] == "esriJobTimedOut"
        assert answer["messages"][-2] == {
            "type": "esriJobMessageTypeError",
            "description": "Failed to execute (Watershed).",
        }

    def test_deleted_job_is_unknown(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP, status="esriJobSucceeded")
        url = url_of(admin, job)
        assert admin.post(f"{JOBS}/{job}/delete") == {"status": "success"}
        assert page(admin, url) == INVALID_URL
        assert page(admin, url + "/inputs/Distance") == INVALID_URL

    def test_return_messages_is_accepted(self, admin: RawAdminApi) -> None:
        url = url_of(admin, admin.sim.state.add_job(GP, status="esriJobFailed"))
        assert page(admin, url, returnMessages="true") == page(admin, url)

    def test_deterministic_per_job(self, http: requests.Session) -> None:
        answers = []
        for _ in range(2):
            with Simulator(clock=ManualClock(APRIL_2), seed=7) as sim:
                sim.state.add_service("Watershed", folder="Hydrology")
                jobs = [
                    sim.state.add_job(GP, status=s) for s in ("esriJobFailed", "esriJobSucceeded", "esriJobCancelled")
                ]
                admin = RawAdminApi(sim, sim.issue_token(), http)
                answers.append([page(admin, url_of(admin, job)) for job in jobs])
        assert answers[0] == answers[1]

    def test_generated_messages_use_known_types(self) -> None:
        with Simulator("demo", clock=ManualClock(APRIL_2)) as sim, requests.Session() as http:
            http.trust_env = False
            admin = RawAdminApi(sim, sim.issue_token(), http)
            types = set()
            recent = epoch_ms(sim.clock.now()) - 3 * 3600_000
            for service in sim.state.gp_services():
                jobs = sim.state.jobs(service.key)
                # The last hours' jobs, and a sample of the week of finished ones before them.
                for job in [job for i, job in enumerate(jobs) if job["submittedTime"] >= recent or i % 20 == 0]:
                    answer = page(admin, job["url"])
                    assert answer["jobStatus"] == job["status"]
                    types |= {m["type"] for m in answer["messages"]}
        assert types <= set(MESSAGE_TYPES)
        assert {INFO, "esriJobMessageTypeError", "esriJobMessageTypeAbort"} <= types


class TestParameters:
    @pytest.mark.parametrize(
        ("kind", "name", "data_type"),
        [
            ("inputs", "Input_Features", "GPFeatureRecordSetLayer"),
            ("inputs", "Distance", "GPLinearUnit"),
            ("inputs", "Output_Name", "GPString"),
            ("inputs", "Max_Iterations", "GPLong"),
            ("inputs", "Tolerance", "GPDouble"),
            ("inputs", "Dissolve_Output", "GPBoolean"),
            ("inputs", "Reference_Date", "GPDate"),
            ("results", "Output_Features", "GPFeatureRecordSetLayer"),
            ("results", "Output_File", "GPDataFile"),
            ("results", "Output_Raster", "GPRasterDataLayer"),
            ("results", "Feature_Count", "GPLong"),
        ],
    )
    def test_data_types(self, admin: RawAdminApi, kind: str, name: str, data_type: str) -> None:
        job = admin.sim.state.add_job(GP, status="esriJobSucceeded")
        url = url_of(admin, job)
        answer = page(admin, f"{url}/{kind}/{name}")
        assert list(answer) == ["paramName", "dataType", "value"]
        assert (answer["paramName"], answer["dataType"]) == (name, data_type)
        value = answer["value"]
        literal = {"GPString": str, "GPLong": int, "GPDouble": float, "GPBoolean": bool, "GPDate": int}
        if data_type in literal:
            assert type(value) is literal[data_type]
        elif data_type == "GPLinearUnit":
            assert set(value) == {"distance", "units"} and value["units"] == "esriMeters"
        elif data_type == "GPFeatureRecordSetLayer":
            assert value["geometryType"] in ("esriGeometryPoint", "esriGeometryPolygon")
            assert value["spatialReference"] == {"wkid": 4326, "latestWkid": 4326}
            assert value["features"] and all({"attributes", "geometry"} <= set(f) for f in value["features"])
        else:  # files and rasters live in the job's scratch folder, on the same host
            assert value["url"].startswith(url + "/scratch/")

    def test_results_only_once_succeeded(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP, status="esriJobExecuting")
        url = url_of(admin, job)
        assert page(admin, url + "/results/Output_File") == INVALID_URL
        assert page(admin, url + "/inputs/Distance")["dataType"] == "GPLinearUnit"
        admin.sim.state.set_status(GP, job, "esriJobSucceeded")
        assert page(admin, url + "/results/Output_File")["dataType"] == "GPDataFile"

    def test_unknown_parameter(self, admin: RawAdminApi) -> None:
        url = url_of(admin, admin.sim.state.add_job(GP, status="esriJobSucceeded"))
        assert page(admin, url + "/inputs/Nope") == INVALID_URL
        assert page(admin, url + "/results/Distance") == INVALID_URL  # an input is not a result


class TestErrors:
    @pytest.mark.parametrize(
        "path",
        [
            f"Hydrology/Watershed/GPServer/Watershed/jobs/{MISSING_JOB}",
            "Hydrology/Watershed/GPServer/Nope/jobs/{job}",
            "Hydrology/Nope/GPServer/Watershed/jobs/{job}",
            "Nope/Watershed/GPServer/Watershed/jobs/{job}",
            "Watershed/GPServer/Watershed/jobs/{job}",  # the right name in the wrong folder
            "Parcels/GPServer/Parcels/jobs/{job}",  # a map service has no jobs
            "Buffer/GPServer/Buffer/jobs/{job}",  # another GP service's job
            "Hydrology/Watershed/GPServer/Watershed/jobs/{job}/inputs/Nope",
            "Hydrology/Watershed/GPServer/Watershed/jobs/{job}/results/Output_File",
        ],
    )
    def test_unknown_is_invalid_url(self, admin: RawAdminApi, path: str) -> None:
        job = admin.sim.state.add_job(GP)
        url = f"{admin.sim.base_url}/rest/services/{path.format(job=job)}"
        assert page(admin, url) == INVALID_URL
        assert page(admin, url, f="pjson") == INVALID_URL

    def test_a_job_is_only_found_under_its_own_task(self, admin: RawAdminApi) -> None:
        admin.sim.state.add_service("FloodModel", folder="Hydrology", tasks=("RunFloodModel", "PrepareInputs"))
        job = admin.sim.state.add_job("Hydrology/FloodModel", task="PrepareInputs")
        base = f"{admin.sim.base_url}/rest/services/Hydrology/FloodModel/GPServer"
        assert page(admin, f"{base}/PrepareInputs/jobs/{job}")["jobId"] == job
        assert page(admin, f"{base}/RunFloodModel/jobs/{job}") == INVALID_URL

    def test_other_rest_paths_are_not_found(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP)
        answer = page(admin, f"{rest_jobs(admin.sim)}/{job}/scratch/out.zip")
        assert answer == {
            "error": {
                "code": 404,
                "message": "Could not find resource or operation 'out.zip' on the system.",
                "details": [],
            }
        }


class TestTokens:
    def test_header_and_get_query(self, admin: RawAdminApi) -> None:
        url = url_of(admin, admin.sim.state.add_job(GP))
        assert page(admin, url)["jobStatus"] == "esriJobExecuting"
        by_query = admin.session.get(url, params={"f": "json", "token": admin.token}).json()
        assert by_query["jobStatus"] == "esriJobExecuting"

    def test_missing_token(self, admin: RawAdminApi) -> None:
        url = url_of(admin, admin.sim.state.add_job(GP))
        assert admin.session.get(url, params={"f": "json"}).json() == TOKEN_REQUIRED
        assert admin.session.get(url + "/inputs/Distance", params={"f": "json"}).json() == TOKEN_REQUIRED
        # before anything is looked up: an unknown job needs a token too
        assert admin.session.get(f"{rest_jobs(admin.sim)}/{MISSING_JOB}", params={"f": "json"}).json() == TOKEN_REQUIRED

    def test_referer_binding(self, admin: RawAdminApi) -> None:
        url = url_of(admin, admin.sim.state.add_job(GP))
        token = admin.sim.issue_token(referer="https://portal.example.com")
        header = {"X-Esri-Authorization": f"Bearer {token}"}
        good = admin.session.get(url, params={"f": "json"}, headers={**header, "Referer": "https://portal.example.com"})
        assert good.json()["jobStatus"] == "esriJobExecuting"
        assert admin.session.get(url, params={"f": "json"}, headers=header).json() == MISMATCH
        evil = admin.session.get(url, params={"f": "json"}, headers={**header, "Referer": "https://evil.example.com"})
        assert evil.json() == MISMATCH

    def test_expiry(self, admin: RawAdminApi) -> None:
        url = url_of(admin, admin.sim.state.add_job(GP))
        admin.sim.clock.advance(3600)
        assert page(admin, url) == {"error": {"code": 498, "message": "Invalid token.", "details": []}}

    def test_a_reader_may_read(self, publisher: RawAdminApi) -> None:
        url = url_of(publisher, publisher.sim.state.add_job(GP))
        assert page(publisher, url)["jobStatus"] == "esriJobExecuting"


class TestRestCancel:
    def cancel(self, client: RawAdminApi, url: str, **form: str) -> dict:
        return client.session.post(url + "/cancel", data={"f": "json", "token": client.token, **form}).json()

    @pytest.mark.parametrize("status", ["esriJobWaiting", "esriJobExecuting"])
    def test_cancels_waiting_and_executing(self, admin: RawAdminApi, status: str) -> None:
        job = admin.sim.state.add_job(GP, status=status)
        assert self.cancel(admin, url_of(admin, job)) == {"jobId": job, "jobStatus": "esriJobCancelling"}
        admin.sim.clock.advance(2)
        assert admin.sim.state.get_job(GP, job)["status"] == "esriJobCancelled"
        assert admin.sim.requests[-1].operation == "restJobCancel"

    @pytest.mark.parametrize("status", ["esriJobSubmitted", "esriJobSucceeded", "esriJobCancelled", "esriJobNew"])
    def test_refuses_other_statuses(self, admin: RawAdminApi, status: str) -> None:
        job = admin.sim.state.add_job(GP, status=status)
        answer = self.cancel(admin, url_of(admin, job))
        assert answer == {"error": {"code": 400, "message": "Invalid or missing input parameters.", "details": []}}
        assert admin.sim.state.get_job(GP, job)["status"] == status  # it goes on

    def test_owner_or_administrator(self, publisher: RawAdminApi) -> None:
        theirs = publisher.sim.state.add_job(GP, username="analyst1")
        mine = publisher.sim.state.add_job(GP, username="publisher")
        assert self.cancel(publisher, url_of(publisher, theirs))["error"]["code"] == 403
        assert self.cancel(publisher, url_of(publisher, mine))["jobStatus"] == "esriJobCancelling"

    def test_unknown_job(self, admin: RawAdminApi) -> None:
        assert self.cancel(admin, f"{rest_jobs(admin.sim)}/{MISSING_JOB}") == INVALID_URL


class TestOverrides:
    def test_ten_thousand_hostile_messages(self, admin: RawAdminApi) -> None:
        fixed = [
            {"type": "esriJobMessageTypeWarning", "description": f"<script>alert({i})</script> & \u202e{i}"}
            for i in range(10_000)
        ]
        job = admin.sim.state.add_job(GP, status="esriJobFailed", messages=fixed)
        answer = page(admin, url_of(admin, job))
        assert answer["messages"] == fixed

    def test_messages_of_an_executing_job_stay_fixed(self, admin: RawAdminApi) -> None:
        fixed = [{"type": INFO, "description": "Step one"}, {"type": "esriJobMessageTypeEmpty", "description": ""}]
        url = url_of(admin, admin.sim.state.add_job(GP, messages=fixed))
        admin.sim.clock.advance(600)
        answer = page(admin, url)
        assert (answer["messages"], answer["progress"]["message"]) == (fixed, "Step one")

    def test_inputs_and_results(self, admin: RawAdminApi) -> None:
        inputs = {"Query": {"dataType": "GPString", "value": "<img src=x onerror=alert(1)>"}}
        results = {"Report": {"dataType": "GPDataFile", "value": {"url": "javascript:alert(1)"}}}
        job = admin.sim.state.add_job(GP, status="esriJobExecuting", inputs=inputs, results=results)
        url = url_of(admin, job)
        answer = page(admin, url)
        assert (answer["inputs"], answer["results"]) == ({"Query": {"paramUrl": "inputs/Query"}}, {})
        assert page(admin, url + "/inputs/Query") == {"paramName": "Query", **inputs["Query"]}
        admin.sim.state.set_status(GP, job, "esriJobSucceeded")  # results show once it has succeeded
        assert page(admin, url)["results"] == {"Report": {"paramUrl": "results/Report"}}
        assert page(admin, url + "/results/Report")["value"] == {"url": "javascript:alert(1)"}

    def test_no_inputs(self, admin: RawAdminApi) -> None:
        assert page(admin, url_of(admin, admin.sim.state.add_job(GP, inputs={})))["inputs"] == {}

    @pytest.mark.parametrize(
        "arguments",
        [
            {"task": "Nope"},
            {"messages": ["just a string"]},
            {"messages": [{"type": INFO}]},
            {"inputs": {"X": {"value": 1}}},
            {"results": ["Output"]},
        ],
    )
    def test_mistakes_are_refused(self, admin: RawAdminApi, arguments: dict) -> None:
        with pytest.raises(ValueError):
            admin.sim.state.add_job(GP, **arguments)


class TestTasks:
    def test_default_task_is_named_like_the_service(self, site: Simulator) -> None:
        assert site.state.find_service("Hydrology", "Watershed", "GPServer").tasks == ("Watershed",)
        assert site.state.find_service("", "Parcels", "MapServer").tasks == ()

    @pytest.mark.parametrize(
        "arguments",
        [
            {"tasks": ()},
            {"tasks": ("Run Model",)},
            {"tasks": ("Run/Model",)},
            {"tasks": ("A", "A")},
            {"tasks": ("A",), "type": "MapServer"},
        ],
    )
    def test_mistakes_are_refused(self, site: Simulator, arguments: dict) -> None:
        with pytest.raises(ValueError):
            site.state.add_service("Model", **arguments)

    def test_demo_jobs_belong_to_their_services_tasks(self) -> None:
        sim = Simulator("demo", clock=ManualClock())
        flood = sim.state.find_service("Hydrology", "FloodModel", "GPServer")
        assert flood.tasks == ("RunFloodModel", "PrepareInputs")
        sim.clock.advance(3600)
        used: set[str] = set()
        for service in sim.state.gp_services():
            prefix = f"/rest/services/{service.key}/GPServer/"
            for job in sim.state.jobs(service.key):
                task = job["url"].split(prefix, 1)[1].split("/")[0]
                assert task in service.tasks
                if service == flood:
                    used.add(task)
        assert used == set(flood.tasks)  # the trickle picks among a service's tasks


class TestControlApi:
    def control(self, admin: RawAdminApi, path: str, body: dict) -> requests.Response:
        return admin.session.post(f"{admin.sim.control_url}/{path}", json=body)

    def test_services_with_tasks(self, admin: RawAdminApi) -> None:
        created = self.control(
            admin, "services", {"name": "Clip", "folder": "Tools", "tasks": ["ClipFeatures", "Prep"]}
        )
        assert created.status_code == 201
        assert admin.sim.state.find_service("Tools", "Clip", "GPServer").tasks == ("ClipFeatures", "Prep")
        assert self.control(admin, "services", {"name": "Bad", "tasks": ["no spaces"]}).status_code == 400

    def test_jobs_with_task_and_overrides(self, admin: RawAdminApi) -> None:
        self.control(admin, "services", {"name": "Clip", "tasks": ["ClipFeatures", "Prep"]})
        body = {
            "service": "Clip",
            "status": "esriJobSucceeded",
            "task": "Prep",
            "messages": [{"type": INFO, "description": "<b>bold</b>"}],
            "inputs": {"In": {"dataType": "GPLong", "value": 3}},
            "results": {"Out": {"dataType": "GPBoolean", "value": True}},
        }
        added = self.control(admin, "jobs", body)
        assert added.status_code == 201
        job = added.json()["jobId"]
        assert added.json()["job"]["url"] == f"{admin.sim.base_url}/rest/services/Clip/GPServer/Prep/jobs/{job}"
        answer = page(admin, added.json()["job"]["url"])
        assert answer["messages"] == body["messages"]
        assert (list(answer["inputs"]), list(answer["results"])) == (["In"], ["Out"])

    def test_bad_overrides_are_a_400(self, admin: RawAdminApi) -> None:
        assert self.control(admin, "jobs", {"service": GP, "task": "Nope"}).status_code == 400
        assert self.control(admin, "jobs", {"service": GP, "messages": [1, 2]}).status_code == 400


class TestFaultsAndLog:
    def test_operation_names(self) -> None:
        assert {"restJob", "restJobParam", "restJobCancel"} <= set(OPERATIONS)

    @pytest.mark.parametrize(
        ("operation", "suffix", "method"),
        [("restJob", "", "GET"), ("restJobParam", "/inputs/Distance", "GET"), ("restJobCancel", "/cancel", "POST")],
    )
    def test_aimed_by_operation(self, admin: RawAdminApi, operation: str, suffix: str, method: str) -> None:
        job = admin.sim.state.add_job(GP, status="esriJobExecuting")
        url = url_of(admin, job)
        admin.sim.faults.set("html_502", operation=operation)
        headers = {"X-Esri-Authorization": f"Bearer {admin.token}"}
        response = admin.session.request(method, url + suffix, params={"f": "json"}, headers=headers)
        assert response.status_code == 502
        assert admin.sim.requests[-1].operation == operation
        assert admin.get(f"{JOBS}/{job}")["status"] == "esriJobExecuting"  # nothing was done
        other = url + "/inputs/Distance" if operation == "restJob" else url
        assert "error" not in page(admin, other)  # other operations still answer

    def test_aimed_by_service(self, admin: RawAdminApi) -> None:
        watershed = url_of(admin, admin.sim.state.add_job(GP))
        buffer = url_of(admin, admin.sim.state.add_job("Buffer"), "Buffer")
        admin.sim.faults.set("html_502", service=GP, operation="restJob")
        headers = {"X-Esri-Authorization": f"Bearer {admin.token}"}
        assert admin.session.get(watershed, params={"f": "json"}, headers=headers).status_code == 502
        assert page(admin, buffer)["jobStatus"] == "esriJobExecuting"

    def test_hostile_answer(self, admin: RawAdminApi) -> None:
        url = url_of(admin, admin.sim.state.add_job(GP))
        hostile = {"jobId": "../../admin", "jobStatus": "<script>", "messages": "not a list", "results": None}
        admin.sim.faults.set("answer", operation="restJob", body=hostile)
        assert page(admin, url) == hostile

    def test_stall_and_reset(self, admin: RawAdminApi) -> None:
        url = url_of(admin, admin.sim.state.add_job(GP))
        admin.sim.faults.set("stall", operation="restJob", seconds=1, count=1)
        with pytest.raises(requests.ReadTimeout):
            admin.session.get(url, params={"f": "json", "token": admin.token}, timeout=0.2)
        admin.sim.faults.set("reset", operation="restJobParam", count=1)
        with pytest.raises(requests.ConnectionError):
            admin.session.get(url + "/inputs/Distance", params={"f": "json", "token": admin.token})
        assert page(admin, url)["jobStatus"] == "esriJobExecuting"

    def test_request_log(self, admin: RawAdminApi) -> None:
        job = admin.sim.state.add_job(GP)
        url = url_of(admin, job)
        admin.sim.requests.clear()
        page(admin, url)
        page(admin, url + "/results/Nope")
        logged = admin.sim.requests[:]
        assert [(r.method, r.operation, r.service) for r in logged] == [
            ("GET", "restJob", GP),
            ("GET", "restJobParam", GP),
        ]
        assert logged[0].path == f"/arcgis/rest/services/Hydrology/Watershed/GPServer/Watershed/jobs/{job}"
        assert logged[0].headers["X-Esri-Authorization"] == f"Bearer {admin.token}"
        remote = admin.session.get(admin.sim.control_url + "/requests").json()["requests"]
        assert [r["operation"] for r in remote] == ["restJob", "restJobParam"]
