"""Drive the simulator exactly as Esri's Python client (arcgis 2.4.4) does, with a plain requests.Session:
token service found through /rest/info, client=referer with referer "http", the token in the
X-Esri-Authorization header on every request (POSTs too), and `status=` instead of `jobStatus=`.
A job's `url` (its Services Directory page) is fetched the same way."""

from __future__ import annotations

import requests

from arcgis_simulator import Simulator


def test_esri_client_flow(tls_simulator: Simulator) -> None:
    sim = tls_simulator
    sim.state.add_service("Watershed", folder="Hydrology")
    sim.state.add_service("Parcels", type="MapServer")
    running = [sim.state.add_job("Hydrology/Watershed", status="esriJobExecuting") for _ in range(12)]
    sim.state.add_job("Hydrology/Watershed", status="esriJobSucceeded")

    with requests.Session() as session:
        session.trust_env = False  # else REQUESTS_CA_BUNDLE would override verify
        session.verify = str(sim.cert_path)
        session.headers.update({"User-Agent": "Geosaurus/2.4.4", "referer": "http"})

        info = session.get(sim.base_url + "/rest/info", params={"f": "json"}).json()
        token_url = info["authInfo"]["tokenServicesUrl"]
        login = {
            "username": "siteadmin",
            "password": "siteadmin",
            "referer": "http",
            "client": "referer",
            "expiration": "60",
            "f": "json",
        }
        token = session.post(token_url, data=login).json()["token"]
        session.headers["X-Esri-Authorization"] = f"Bearer {token}"

        assert "services" in session.get(sim.admin_url, params={"f": "json"}).json()["resources"]
        folders = session.get(sim.admin_url + "/services", params={"f": "json"}).json()["folders"]
        assert folders == ["Hydrology"]
        listing = session.get(f"{sim.admin_url}/services/{folders[0]}", params={"f": "json"}).json()
        service_url = f"{sim.admin_url}/services/Hydrology/{listing['services'][0]['serviceName']}.GPServer"

        params = {"f": "json", "start": 1, "number": 10, "startTime": "", "endTime": "", "userName": ""}
        params |= {"machineName": "", "status": "esriJobExecuting"}
        found: dict[str, dict] = {}
        answer = session.get(service_url + "/jobs/query", params=params).json()
        found |= answer["results"]
        while answer["nextStart"] > -1:
            params["start"] = answer["nextStart"]
            answer = session.get(service_url + "/jobs/query", params=params).json()
            found |= answer["results"]
        assert sorted(found) == sorted(running)

        first = next(iter(found))
        page = session.get(found[first]["url"], params={"f": "json"}).json()
        assert (page["jobId"], page["jobStatus"]) == (first, "esriJobExecuting")
        assert page["messages"][0] == {"type": "esriJobMessageTypeInformative", "description": "Submitted."}
        distance = session.get(found[first]["url"] + "/inputs/Distance", params={"f": "json"}).json()
        assert distance["dataType"] == "GPLinearUnit"
        assert [r.operation for r in sim.requests[-2:]] == ["restJob", "restJobParam"]
        assert "token" not in sim.requests[-1].query  # the header carried it

        job_url = f"{service_url}/jobs/{first}"
        assert session.get(job_url, params={"f": "json"}).json()["status"] == "esriJobExecuting"
        assert session.post(job_url + "/cancel", data={"f": "json"}).json() == {"status": "success"}
        assert session.post(service_url + "/jobs/purgeQueue", data={"f": "json"}).json() == {"status": "success"}

    assert sim.state.get_job("Hydrology/Watershed", first)["status"] == "esriJobCancelling"
    cancel = sim.requests[-2]
    assert (cancel.operation, cancel.form) == ("cancel", {"f": "json"})  # the token came in the header only
