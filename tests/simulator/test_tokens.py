"""Tokens: the two generateToken endpoints, /rest/info, how tokens travel, binding, expiry, privileges."""

from __future__ import annotations

import pytest
import requests

from arcgis_simulator import ManualClock, Simulator
from arcgis_simulator.clock import epoch_ms

from .conftest import GP, JOBS, RawAdminApi

INVALID = {"status": "error", "messages": ["Invalid token."], "code": 498}
MISMATCH = {"status": "error", "messages": ["Invalid token, ClientID does not match."], "code": 498}
REQUIRED = {
    "status": "error",
    "messages": ["Unauthorized access.Token not found. You can generate a token using the 'generateToken' operation."],
    "code": 499,
}
FORBIDDEN = {
    "status": "error",
    "messages": ["You do not have permissions to access this resource or perform this operation."],
    "code": 403,
}


def now_ms(sim: Simulator) -> int:
    return epoch_ms(sim.clock.now())


def test_rest_info_points_at_the_token_service(simulator: Simulator, http: requests.Session) -> None:
    answer = http.get(simulator.base_url + "/rest/info", params={"f": "json"}).json()
    assert answer == {
        "currentVersion": 11.3,
        "fullVersion": "11.3.0",
        "authInfo": {
            "isTokenBasedSecurity": True,
            "tokenServicesUrl": simulator.token_url,
            "shortLivedTokenValidity": 60,
        },
    }


def test_rest_info_answers_with_the_host_the_client_used(simulator: Simulator, http: requests.Session) -> None:
    url = f"http://localhost:{simulator.port}/arcgis/rest/info?f=json"
    answer = http.get(url).json()
    assert answer["authInfo"]["tokenServicesUrl"] == f"http://localhost:{simulator.port}/arcgis/tokens/generateToken"


def test_rest_generate_token(simulator: Simulator, http: requests.Session) -> None:
    response = http.post(
        simulator.token_url, data={"username": "siteadmin", "password": "siteadmin", "expiration": "90", "f": "json"}
    )
    answer = response.json()
    assert set(answer) == {"token", "expires", "ssl"}
    assert answer["expires"] == now_ms(simulator) + 90 * 60_000
    assert answer["ssl"] is True
    assert http.get(simulator.admin_url, params={"f": "json", "token": answer["token"]}).json()["resources"]


def test_rest_generate_token_refuses_get(simulator: Simulator, http: requests.Session) -> None:
    answer = http.get(simulator.token_url, params={"username": "siteadmin", "password": "siteadmin", "f": "json"})
    assert answer.json() == {
        "error": {
            "code": 405,
            "message": "Unable to generate token.",
            "details": ["Token generation via HTTP GET is disabled."],
        }
    }


def test_admin_generate_token_answers_expires_as_a_string(simulator: Simulator, http: requests.Session) -> None:
    answer = http.post(
        simulator.admin_url + "/generateToken",
        data={"username": "siteadmin", "password": "siteadmin", "client": "requestip", "f": "json"},
    ).json()
    assert set(answer) == {"token", "expires"}
    assert answer["expires"] == str(now_ms(simulator) + 60 * 60_000)


def test_requested_expiration_is_capped(simulator: Simulator, http: requests.Session) -> None:
    answer = http.post(
        simulator.token_url,
        data={"username": "siteadmin", "password": "siteadmin", "expiration": "100000", "f": "json"},
    ).json()
    assert answer["expires"] == now_ms(simulator) + 1440 * 60_000


def test_the_cap_is_configurable(http: requests.Session) -> None:
    with Simulator(clock=ManualClock(), max_token_minutes=15) as sim:
        answer = http.post(
            sim.token_url, data={"username": "publisher", "password": "publisher", "expiration": "60", "f": "json"}
        ).json()
        assert answer["expires"] == now_ms(sim) + 15 * 60_000


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        ({"username": "siteadmin", "password": "wrong"}, "Invalid username or password."),
        ({"username": "nobody", "password": "siteadmin"}, "Invalid username or password."),
        ({"username": "siteadmin"}, "'username' and 'password' must be specified."),
        ({"username": "siteadmin", "password": "siteadmin", "client": "referer"}, "'referer' must be specified."),
        ({"username": "siteadmin", "password": "siteadmin", "expiration": "soon"}, "Invalid expiration 'soon'."),
    ],
)
def test_generate_token_failures(simulator: Simulator, http: requests.Session, data: dict, detail: str) -> None:
    rest = http.post(simulator.token_url, data={**data, "f": "json"}).json()
    assert rest == {"error": {"code": 400, "message": "Unable to generate token.", "details": [detail]}}
    admin = http.post(simulator.admin_url + "/generateToken", data={**data, "f": "json"}).json()
    assert admin == {"status": "error", "messages": ["Unable to generate token.", detail], "code": 400}


def test_token_expires_with_the_clock(admin: RawAdminApi) -> None:
    assert admin.get("/services")["folderName"] == "/"
    admin.sim.clock.advance(59 * 60)
    assert admin.get("/services")["folderName"] == "/"
    admin.sim.clock.advance(60)
    assert admin.get("/services") == INVALID


def test_unknown_token_is_invalid(site: Simulator, http: requests.Session) -> None:
    assert RawAdminApi(site, "not-a-token", http).get("/services") == INVALID


def test_missing_token_is_499(anonymous: RawAdminApi) -> None:
    assert anonymous.get("") == REQUIRED
    assert anonymous.get("/services") == REQUIRED
    assert anonymous.post(JOBS + "/purgeQueue") == REQUIRED


def test_token_accepted_in_body_header_and_get_query(site: Simulator, http: requests.Session) -> None:
    token = site.issue_token()
    url = site.admin_url + "/services"
    assert http.get(url, params={"f": "json", "token": token}).json()["folderName"] == "/"
    assert (
        http.get(url, params={"f": "json"}, headers={"X-Esri-Authorization": f"Bearer {token}"}).json()["folderName"]
        == "/"
    )
    assert http.post(url, data={"f": "json", "token": token}).json()["folderName"] == "/"
    posted_with_header = http.post(url, data={"f": "json"}, headers={"X-Esri-Authorization": f"Bearer {token}"})
    assert posted_with_header.json()["folderName"] == "/"


def test_token_in_the_query_string_of_a_post_is_ignored(site: Simulator, http: requests.Session) -> None:
    job = site.state.add_job(GP, status="esriJobExecuting")
    url = f"{site.admin_url}{JOBS}/{job}/cancel"
    answer = http.post(url, params={"token": site.issue_token()}, data={"f": "json"}).json()
    assert answer == REQUIRED
    assert site.state.get_job(GP, job)["status"] == "esriJobExecuting"


def test_referer_bound_token(site: Simulator, http: requests.Session) -> None:
    token = http.post(
        site.token_url,
        data={
            "username": "siteadmin",
            "password": "siteadmin",
            "client": "referer",
            "referer": "https://portal.example.com",
            "f": "json",
        },
    ).json()["token"]
    url = site.admin_url + "/services"
    good = http.get(url, params={"f": "json", "token": token}, headers={"Referer": "https://portal.example.com"})
    assert good.json()["folderName"] == "/"
    assert http.get(url, params={"f": "json", "token": token}).json() == MISMATCH
    other = http.get(url, params={"f": "json", "token": token}, headers={"Referer": "https://evil.example.com"})
    assert other.json() == MISMATCH


def test_issue_token_with_referer(site: Simulator, http: requests.Session) -> None:
    token = site.issue_token("publisher", referer="https://portal.example.com")
    url = site.admin_url + "/services"
    assert http.get(url, params={"f": "json", "token": token}).json() == MISMATCH
    bound = http.get(url, params={"f": "json", "token": token}, headers={"Referer": "https://portal.example.com"})
    assert bound.json()["folderName"] == "/"


@pytest.mark.parametrize(
    ("client", "works"),
    [({"client": "ip", "ip": "10.9.8.7"}, False), ({"client": "ip", "ip": "127.0.0.1"}, True), ({}, True)],
)
def test_ip_bound_tokens(site: Simulator, http: requests.Session, client: dict, works: bool) -> None:
    token = http.post(
        site.admin_url + "/generateToken",
        data={"username": "siteadmin", "password": "siteadmin", "f": "json", **client},
    ).json()["token"]
    answer = http.get(site.admin_url + "/services", params={"f": "json", "token": token}).json()
    if works:
        assert answer["folderName"] == "/"
    else:
        assert answer == MISMATCH


def test_revoked_tokens_are_invalid(admin: RawAdminApi) -> None:
    admin.sim.tokens.revoke_all()
    assert admin.get("/services") == INVALID


def test_publisher_reads_but_may_not_act(site: Simulator, publisher: RawAdminApi) -> None:
    job = site.state.add_job(GP, status="esriJobExecuting")
    queued = site.state.add_job(GP, status="esriJobSubmitted")
    assert publisher.get("")["resources"]
    assert publisher.get("/services/Hydrology")["services"]
    assert publisher.get(JOBS + "/query")["total"] == 2
    assert publisher.get(f"{JOBS}/{job}")["status"] == "esriJobExecuting"
    assert publisher.post(f"{JOBS}/{job}/cancel") == FORBIDDEN
    assert publisher.post(f"{JOBS}/{job}/delete") == FORBIDDEN
    assert publisher.post(JOBS + "/purgeQueue") == FORBIDDEN
    assert site.state.get_job(GP, job)["status"] == "esriJobExecuting"
    assert site.state.get_job(GP, queued)["status"] == "esriJobSubmitted"


def test_issue_token_for_an_unknown_user(simulator: Simulator) -> None:
    with pytest.raises(KeyError):
        simulator.issue_token("nobody")


def test_custom_users_replace_the_defaults(http: requests.Session) -> None:
    with Simulator(users=["ops:secret:admin", "viewer:pw"]) as sim:
        assert [(u.name, u.admin) for u in sim.users] == [("ops", True), ("viewer", False)]
        login = {"username": "siteadmin", "password": "siteadmin", "f": "json"}
        assert http.post(sim.token_url, data=login).json()["error"]["code"] == 400
        assert "token" in http.post(sim.token_url, data={"username": "ops", "password": "secret", "f": "json"}).json()


class TestForcedErrorStyle:
    def test_rest_style_everywhere(self, http: requests.Session) -> None:
        with Simulator(error_style="rest") as sim:
            missing = http.get(sim.admin_url + "/services", params={"f": "json"}).json()
            assert missing == {"error": {"code": 499, "message": "Token Required", "details": []}}
            bad = http.get(sim.admin_url + "/services", params={"f": "json", "token": "x"}).json()
            assert bad == {"error": {"code": 498, "message": "Invalid token.", "details": []}}

    def test_admin_style_everywhere(self, http: requests.Session) -> None:
        with Simulator(error_style="admin") as sim:
            answer = http.post(sim.token_url, data={"username": "siteadmin", "password": "no", "f": "json"}).json()
            assert answer == {
                "status": "error",
                "messages": ["Unable to generate token.", "Invalid username or password."],
                "code": 400,
            }

    def test_unknown_style_is_refused(self) -> None:
        with pytest.raises(ValueError, match="error_style"):
            Simulator(error_style="xml")
