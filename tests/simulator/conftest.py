"""Helpers for the simulator's own tests: HTTP clients that talk to it the way the portal does.

The `simulator` and `tls_simulator` fixtures come from arcgis_simulator.pytest_plugin (loaded by tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from arcgis_simulator import Simulator

GP = "Hydrology/Watershed"  # the GP service most tests use
JOBS = "/services/Hydrology/Watershed.GPServer/jobs"
# The statuses the Administrator API answers with, as the contract lists them.
ADMIN_STATUSES = (
    "esriJobNew",
    "esriJobSubmitted",
    "esriJobWaiting",
    "esriJobExecuting",
    "esriJobSucceeded",
    "esriJobFailed",
    "esriJobCancelling",
    "esriJobCancelled",
)


class RawAdminApi:
    """Calls the Administrator API like the portal: f=json always, the token in the POST body,
    and in the X-Esri-Authorization header on GETs."""

    def __init__(self, sim: Simulator, token: str | None, session: requests.Session) -> None:
        self.sim = sim
        self.token = token
        self.session = session

    def get(self, path: str, **params: object) -> dict:
        headers = {"X-Esri-Authorization": f"Bearer {self.token}"} if self.token else {}
        response = self.session.get(self.sim.admin_url + path, params={"f": "json", **params}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, **data: object) -> dict:
        body = {"f": "json", **({"token": self.token} if self.token else {}), **data}
        response = self.session.post(self.sim.admin_url + path, data=body)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.fixture
def site(simulator: Simulator) -> Simulator:
    """The empty simulator with one folder, a GP service in it and one at the root, and a map service."""
    simulator.state.add_service("Watershed", folder="Hydrology", description="Delineates watersheds")
    simulator.state.add_service("Buffer")
    simulator.state.add_service("Parcels", type="MapServer")
    return simulator


@pytest.fixture
def admin(site: Simulator, http: requests.Session) -> RawAdminApi:
    return RawAdminApi(site, site.issue_token("siteadmin"), http)


@pytest.fixture
def publisher(site: Simulator, http: requests.Session) -> RawAdminApi:
    return RawAdminApi(site, site.issue_token("publisher"), http)


@pytest.fixture
def anonymous(site: Simulator, http: requests.Session) -> RawAdminApi:
    return RawAdminApi(site, None, http)
