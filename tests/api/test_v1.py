"""The JSON API (/api/v1/): every endpoint, role and error, through the same rules and audited operations
as the pages, with a personal API token over the Django test client."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from api import personal_tokens
from jobs.models import AuditEvent, Site
from tests.conftest import make_user

EXECUTING, SUCCEEDED, CANCELLED, SUBMITTED = (
    "esriJobExecuting",
    "esriJobSucceeded",
    "esriJobCancelled",
    "esriJobSubmitted",
)
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
BASE = "/api/v1/sites/main/services/Hydrology/Watershed/jobs/"


class ApiClient:
    """A script: no session, no CSRF token, its API token in the Authorization header."""

    def __init__(self, token: str | None):
        self.client = Client(enforce_csrf_checks=True)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path, params=None, **headers):
        return self.client.get(path, params or {}, headers={**self.headers, **headers})

    def post(self, path, body=None, **headers):
        data = json.dumps(body) if body is not None else ""
        return self.client.post(path, data, content_type="application/json", headers={**self.headers, **headers})


@pytest.fixture
def api_as():
    def _api(user, name="deploy-script", days=30) -> ApiClient:
        _, token = personal_tokens.issue(user, name, days)
        return ApiClient(token)

    return _api


@pytest.fixture
def ops(operator, site, connect, api_as) -> ApiClient:
    """Olivia's script: an Operator with her own ArcGIS token for the site."""
    connect(operator, site)
    return api_as(operator)


def error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    return body["error"]["message"]


def job_events():
    return AuditEvent.objects.filter(action__in=["cancel", "delete", "purge"]).order_by("id")


def add_jobs(simulator, service, count, **fields):
    return [simulator.state.add_job(service.key, submitted=T0 + timedelta(minutes=i), **fields) for i in range(count)]


# --- reads ------------------------------------------------------------------------------------------


def test_sites_lists_the_sites_the_user_may_see_and_whether_they_are_connected(site, service, ops, operator, db):
    restricted = Site.objects.create(slug="secret", name="Secret", admin_url=site.admin_url, insecure=True)
    restricted.groups.add(Group.objects.create(name="Secret team"))
    Site.objects.create(slug="lab", name="Lab", admin_url=site.admin_url, insecure=True)
    response = ops.get("/api/v1/sites/")
    assert response.status_code == 200
    assert response.json() == [
        {
            "slug": "lab",
            "name": "Lab",
            "connected": False,
            "token_expires": None,
            "services_url": "/api/v1/sites/lab/services/",
        },
        {
            "slug": "main",
            "name": "Main site",
            "connected": True,
            "token_expires": None,
            "services_url": "/api/v1/sites/main/services/",
        },
    ]
    # A restricted site is not there at all: 404, like the pages.
    error(ops.get("/api/v1/sites/secret/services/"), 404, "not_found")


def test_services_of_a_site_by_folder(simulator, site, service, ops):
    simulator.state.add_service("Buffer")
    response = ops.get("/api/v1/sites/main/services/")
    assert response.status_code == 200
    assert response.json() == {
        "site": "main",
        "services": [
            {"folder": "", "name": "Buffer", "key": "Buffer", "jobs_url": "/api/v1/sites/main/services/Buffer/jobs/"},
            {"folder": "Hydrology", "name": "Watershed", "key": "Hydrology/Watershed", "jobs_url": BASE},
        ],
    }


def test_a_page_of_jobs_newest_first_with_the_jobs_page_filters_and_paging(simulator, site, service, ops):
    ids = add_jobs(simulator, service, 5, status=SUCCEEDED)
    ids += [
        simulator.state.add_job(service.key, status=EXECUTING, username="hydro", submitted=T0 + timedelta(hours=i + 1))
        for i in range(2)
    ]
    body = ops.get(BASE).json()
    assert [job["job_id"] for job in body["jobs"]] == ids[::-1]
    assert (body["site"], body["service"], body["total"], body["page"], body["per_page"], body["page_count"]) == (
        "main",
        "Hydrology/Watershed",
        7,
        1,
        50,
        1,
    )
    job = body["jobs"][-1]
    assert job["job_id"] == ids[0] and job["status"] == SUCCEEDED and job["status_label"] == "Succeeded"
    assert job["submitted"] == "2026-11-02T08:00:00Z" and job["user"] == "analyst1"
    assert job["portal_url"] == f"/sites/main/services/Hydrology/Watershed.GPServer/jobs/{ids[0]}/"
    assert job["arcgis_url"].endswith(f"/jobs/{ids[0]}") and job["last_action"] is None

    executing = ops.get(BASE, {"status": EXECUTING, "user": "hydro"}).json()
    assert sorted(job["job_id"] for job in executing["jobs"]) == sorted(ids[5:]) and executing["total"] == 2

    page2 = ops.get(BASE, {"per_page": 25, "page": 2}).json()
    assert page2["jobs"] == [] and page2["page"] == 2 and page2["per_page"] == 25
    oldest = ops.get(BASE, {"sort": "submitted"}).json()
    assert oldest["jobs"][0]["job_id"] == ids[0]

    since = ops.get(BASE, {"since": "2026-11-02T08:03:00Z", "until": "2026-11-02 08:04"}).json()
    assert [job["job_id"] for job in since["jobs"]] == [ids[4], ids[3]]


def test_the_root_folder_variant(simulator, site, service, ops):
    simulator.state.add_service("Buffer")
    job_id = simulator.state.add_job("Buffer", status=EXECUTING)
    body = ops.get("/api/v1/sites/main/services/Buffer/jobs/").json()
    assert [job["job_id"] for job in body["jobs"]] == [job_id] and body["service"] == "Buffer"
    assert ops.get(f"/api/v1/sites/main/services/Buffer/jobs/{job_id}/").json()["job"]["status"] == EXECUTING
    cancelled = ops.post(f"/api/v1/sites/main/services/Buffer/jobs/{job_id}/cancel").json()
    assert cancelled["outcome"] == "success"
    event = AuditEvent.objects.get(action="cancel")
    assert (event.service, event.job_id, event.via) == ("Buffer", job_id, "api")


@pytest.mark.parametrize(
    ("params", "complaint"),
    [
        ({"per_page": 3}, "per_page: Select a valid choice"),
        ({"status": "esriJobSomething"}, "status: Select a valid choice"),
        ({"user": "a b"}, "user: Letters, digits"),
        ({"since": "yesterday"}, "since: Enter a valid date/time"),
        ({"since": "2026-11-02 09:00", "until": "2026-11-02 08:00"}, "until: The end of the time range is before"),
        ({"sort": "nonsense"}, "sort: Select a valid choice"),
        ({"page": "two"}, "page"),
        ({"within": "1y"}, "within"),
        ({"username": "hydro"}, "Unknown parameter: username."),  # a misspelt filter must not widen the list
        ({"job": "j../x"}, "job:"),
    ],
)
def test_bad_filters_are_400_in_words_before_any_upstream_call(simulator, site, service, ops, params, complaint):
    simulator.requests.clear()
    assert complaint in error(ops.get(BASE, params), 400, "bad_request")
    assert not [r for r in simulator.requests if r.path.endswith("/jobs/query")]


def test_one_job_and_a_missing_one(simulator, site, service, ops):
    [job_id] = add_jobs(simulator, service, 1, status=EXECUTING)
    body = ops.get(f"{BASE}{job_id}/").json()
    assert body["site"] == "main" and body["service"] == "Hydrology/Watershed"
    assert body["job"]["job_id"] == job_id and body["job"]["status"] == EXECUTING
    message = error(ops.get(f"{BASE}j0000000000000000000000000000000/"), 404, "not_found")
    assert "Hydrology/Watershed has no job j0000000000000000000000000000000" in message


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sites/main/services/Hydro-logy/Watershed/jobs/",
        "/api/v1/sites/main/services/Hydrology/Watershed/jobs/j-1/",
        "/api/v1/sites/main/services/Hydrology/Watershed/jobs/j1%0A/",
        "/api/v1/sites/nosuchsite/services/",
        "/api/v1/nothing/here/",
    ],
)
def test_malformed_names_and_unknown_paths_are_404_in_the_error_shape(simulator, site, service, ops, path):
    simulator.requests.clear()
    error(ops.get(path), 404, "not_found")
    assert not simulator.requests


def test_a_failed_read_is_502_with_arcgis_words(simulator, site, service, ops):
    simulator.faults.set("html_502", operation="query")
    message = error(ops.get(BASE), 502, "upstream_failed")
    assert "502 Bad Gateway" in message


def test_a_service_arcgis_does_not_have_is_404_with_its_words(simulator, site, service, ops):
    message = error(ops.get("/api/v1/sites/main/services/Hydrology/Rivers/jobs/"), 404, "not_found")
    assert message == "Hydrology/Rivers is not a GP service on Main site."


def test_without_an_arcgis_token_reads_are_409_not_connected(simulator, site, service, operator, api_as):
    script = api_as(operator)
    message = error(script.get(BASE), 409, "not_connected")
    assert "You have no ArcGIS token for this site. Connect to Main site" in message
    error(script.get("/api/v1/sites/main/services/"), 409, "not_connected")
    # An action is not an HTTP error: it failed, in words.
    answer = script.post(f"{BASE}j1/cancel").json()
    assert answer["outcome"] == "failed" and "You have no ArcGIS token" in answer["message"]


# --- actions ------------------------------------------------------------------------------------------


def test_cancel_answers_the_outcome_and_the_job(simulator, site, service, ops):
    [job_id] = add_jobs(simulator, service, 1, status=EXECUTING)
    ops.get(BASE)  # the page was read: the answer carries the whole job
    response = ops.post(f"{BASE}{job_id}/cancel")
    assert response.status_code == 200
    body = response.json()
    assert body["outcome"] == "success" and body["message"] == "Cancel requested" and body["job_id"] == job_id
    assert body["job"]["status"] == "esriJobCancelling" and body["job"]["user"] == "analyst1"


def test_a_refused_cancel_is_200_with_arcgis_words_verbatim(simulator, site, service, ops):
    [job_id] = add_jobs(simulator, service, 1, status=SUCCEEDED)
    body = ops.post(f"{BASE}{job_id}/cancel").json()
    assert body["outcome"] == "refused"
    assert body["message"] == f"Unable to cancel job :[{job_id}]"
    assert body["found"] == "it is already Succeeded" and body["job"]["status"] == SUCCEEDED


def test_a_failed_action_is_200_with_outcome_failed(simulator, site, service, ops):
    [job_id] = add_jobs(simulator, service, 1, status=EXECUTING)
    simulator.faults.set("html_502", operation="delete")
    body = ops.post(f"{BASE}{job_id}/delete").json()
    assert body["outcome"] == "failed" and "502 Bad Gateway" in body["message"]


def test_delete_and_purge(simulator, site, service, ops):
    [job_id] = add_jobs(simulator, service, 1, status=SUCCEEDED)
    queued = add_jobs(simulator, service, 2, status=SUBMITTED)
    body = ops.post(f"{BASE}{job_id}/delete").json()
    assert (body["outcome"], body["message"], body["job"]) == ("success", "Deleted", None)
    body = ops.post(f"{BASE}purge").json()
    assert body["outcome"] == "success" and body["message"].startswith("Queue purged") and body["job_id"] == ""
    statuses = {job["job_id"]: job["status"] for job in ops.get(BASE).json()["jobs"]}
    assert job_id not in statuses and all(statuses[q] in ("esriJobCancelling", CANCELLED) for q in queued)
    actions = list(job_events().values_list("action", "via", "via_detail", "outcome"))
    label = ops_label()
    assert actions == [("delete", "api", label, "success"), ("purge", "api", label, "success")]


def ops_label() -> str:
    from api.models import ApiToken

    return ApiToken.objects.get(name="deploy-script").label


def test_bulk_cancel_reports_each_job_the_summary_and_the_skipped(simulator, site, service, ops):
    running = add_jobs(simulator, service, 2, status=EXECUTING)
    [finished] = add_jobs(simulator, service, 1, status=SUCCEEDED)
    ops.get(BASE)  # the portal saw the finished one finished: it is not sent
    body = ops.post(f"{BASE}bulk", {"action": "cancel", "job_ids": [*running, finished]}).json()
    assert body["action"] == "cancel"
    assert body["summary"] == "2 cancellations requested, 1 skipped (already finished)"
    assert body["skipped"] == [finished]
    assert [(r["job_id"], r["outcome"]) for r in body["results"]] == [(running[0], "success"), (running[1], "success")]
    rows = AuditEvent.objects.filter(action="cancel")
    assert rows.count() == 2 and set(rows.values_list("via", flat=True)) == {"api"}


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"action": "purge", "job_ids": ["j1"]}, "action"),
        ({"action": "cancel", "job_ids": []}, "Select at least one job."),
        ({"action": "cancel", "job_ids": ["j1", "not an id"]}, "Job IDs are letters and digits."),
        ({"action": "delete", "job_ids": [f"j{i}" for i in range(501)]}, "Select at most 500 jobs at once."),
        ({"action": "cancel"}, "job_ids"),
        (None, "body"),
    ],
)
def test_bad_bulk_bodies_are_400(simulator, site, service, ops, body, complaint):
    simulator.requests.clear()
    assert complaint in error(ops.post(f"{BASE}bulk", body), 400, "bad_request")
    assert not simulator.requests and not job_events().exists()


def test_an_api_cancel_writes_the_same_audit_row_as_a_web_cancel_but_via_api(simulator, site, service, ops, olivia):
    first, second = add_jobs(simulator, service, 2, status=EXECUTING)
    web = olivia.action(f"/sites/main/services/Hydrology/Watershed.GPServer/jobs/{first}/cancel/")
    assert web.status_code == 200
    assert ops.post(f"{BASE}{second}/cancel").json()["outcome"] == "success"
    web_row, api_row = job_events()
    compared = ["user", "username", "site", "site_slug", "site_name", "service", "action", "outcome", "message"]
    assert [getattr(web_row, f) for f in compared] == [getattr(api_row, f) for f in compared]
    assert (web_row.job_id, api_row.job_id) == (first, second)
    assert (web_row.via, web_row.via_detail) == ("web", "")
    assert api_row.via == "api" and api_row.via_detail == ops_label()
    assert api_row.via_detail.startswith('token "deploy-script" (gpj_')
    assert api_row.finished and api_row.duration_ms is not None
    # Both show on the audit page and in the CSV, the API's with its token.
    html = olivia.get(reverse("jobs:audit")).content.decode()
    assert "(API, token &quot;deploy-script&quot; (gpj_" in html
    csv = b"".join(olivia.get(reverse("jobs:audit_csv")).streaming_content).decode()
    assert ',api,"token ""deploy-script"" (gpj_' in csv


def test_the_job_shows_the_last_portal_action(simulator, site, service, ops):
    [job_id] = add_jobs(simulator, service, 1, status=SUCCEEDED)
    ops.post(f"{BASE}{job_id}/cancel")
    last = ops.get(f"{BASE}{job_id}/").json()["job"]["last_action"]
    assert (last["action"], last["outcome"], last["by"], last["via"]) == ("cancel", "refused", "olivia", "api")


# --- roles -------------------------------------------------------------------------------------------


def test_a_viewer_token_reads_but_cannot_act(simulator, site, service, viewer, connect, api_as):
    [job_id] = add_jobs(simulator, service, 1, status=EXECUTING)
    connect(viewer, site)
    script = api_as(viewer)
    assert script.get(BASE).status_code == 200
    for path, body in [
        (f"{BASE}{job_id}/cancel", None),
        (f"{BASE}{job_id}/delete", None),
        (f"{BASE}purge", None),
        (f"{BASE}bulk", {"action": "cancel", "job_ids": [job_id]}),
    ]:
        assert "Your role does not allow this" in error(script.post(path, body), 403, "forbidden")
    assert not job_events().exists()
    assert simulator.state.get_job(service.key, job_id)["status"] == EXECUTING


def test_a_user_without_a_role_is_403_everywhere(simulator, site, service, outsider, api_as):
    script = api_as(outsider)
    for path in ["/api/v1/sites/", "/api/v1/sites/main/services/", BASE]:
        error(script.get(path), 403, "forbidden")
    error(script.post(f"{BASE}j1/cancel"), 403, "forbidden")


def test_a_restricted_site_is_404_to_a_user_outside_its_groups(simulator, site, service, ops, operator):
    team = Group.objects.create(name="Hydrology team")
    site.groups.add(team)
    error(ops.get(BASE), 404, "not_found")
    error(ops.post(f"{BASE}j1/cancel"), 404, "not_found")
    assert ops.get("/api/v1/sites/").json() == []
    operator.groups.add(team)
    assert ops.get(BASE).status_code == 200


def test_the_token_follows_its_owners_role_at_once(simulator, site, service, operator, connect, api_as):
    [job_id] = add_jobs(simulator, service, 1, status=EXECUTING)
    connect(operator, site)
    script = api_as(operator)
    operator.groups.set([Group.objects.get(name="Viewer")])
    error(script.post(f"{BASE}{job_id}/cancel"), 403, "forbidden")
    operator.groups.set([Group.objects.get(name="Operator")])
    assert script.post(f"{BASE}{job_id}/cancel").json()["outcome"] == "success"


def test_a_token_uses_only_its_owners_arcgis_token(simulator, site, service, operator, connect, api_as):
    """Oscar's script acts with Oscar's ArcGIS token; Olivia's being connected gives it nothing."""
    [job_id] = add_jobs(simulator, service, 1, status=EXECUTING)
    connect(operator, site)
    oscar = make_user("oscar", "Operator")
    answer = api_as(oscar).post(f"{BASE}{job_id}/cancel").json()
    assert answer["outcome"] == "failed" and "You have no ArcGIS token" in answer["message"]
    stored = connect(oscar, site)  # his own token, issued to him
    assert api_as(oscar, name="second").post(f"{BASE}{job_id}/cancel").json()["outcome"] == "success"
    cancel = [r for r in simulator.requests if r.operation == "cancel"][-1]
    assert cancel.form["token"] == stored.token


# --- authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic b2xpdmlhOm9saXZpYS1wYXNzd29yZA=="},
        {"Authorization": "Bearer gpj_00000000_nope"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Token gpj_00000000_nope"},
    ],
)
def test_without_a_valid_token_every_endpoint_is_401_in_json_never_a_login_redirect(site, service, db, headers):
    client = Client()
    for method, path in [
        ("get", "/api/v1/sites/"),
        ("get", BASE),
        ("post", f"{BASE}j1/cancel"),
        ("post", f"{BASE}bulk"),
    ]:
        response = getattr(client, method)(path, headers=headers)
        error(response, 401, "unauthorized")
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert not AuditEvent.objects.exists()


def test_a_signed_in_browser_session_alone_does_not_act_and_needs_no_csrf_exemption(simulator, site, service, olivia):
    """Session cookies are not API credentials: a cross-site form post with the operator's cookie is 401."""
    [job_id] = add_jobs(simulator, service, 1, status=EXECUTING)
    error(olivia.get("/api/v1/sites/"), 401, "unauthorized")
    error(olivia.post(f"{BASE}{job_id}/cancel"), 401, "unauthorized")
    assert simulator.state.get_job(service.key, job_id)["status"] == EXECUTING
    assert not job_events().exists()


def test_a_deactivated_users_token_stops_working(site, service, operator, connect, api_as):
    connect(operator, site)
    script = api_as(operator)
    operator.is_active = False
    operator.save()
    assert "deactivated" in error(script.get("/api/v1/sites/"), 401, "unauthorized")


def test_the_schema_and_the_docs_are_for_people_signed_in_unless_opened(client, db, viewer, settings):
    for path in ("/api/v1/openapi.json", "/api/v1/docs"):
        anonymous = client.get(path)
        assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/?next=")
    settings.API_DOCS_PUBLIC = True
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_the_schema_and_the_docs_are_served_by_the_portal(client, db, viewer):
    client.force_login(viewer)
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    spec = schema.json()
    paths = spec["paths"]
    for path in [
        "/api/v1/sites/",
        "/api/v1/sites/{slug}/services/",
        "/api/v1/sites/{slug}/services/{folder}/{name}/jobs/",
        "/api/v1/sites/{slug}/services/{name}/jobs/",
        "/api/v1/sites/{slug}/services/{folder}/{name}/jobs/{job_id}/",
        "/api/v1/sites/{slug}/services/{folder}/{name}/jobs/{job_id}/cancel",
        "/api/v1/sites/{slug}/services/{folder}/{name}/jobs/{job_id}/delete",
        "/api/v1/sites/{slug}/services/{folder}/{name}/jobs/purge",
        "/api/v1/sites/{slug}/services/{folder}/{name}/jobs/bulk",
        "/api/v1/sites/{slug}/services/{name}/jobs/bulk",
    ]:
        assert path in paths, sorted(paths)
    assert '"name": "folder"' not in json.dumps(paths["/api/v1/sites/{slug}/services/{name}/jobs/"])
    assert '"name": "folder"' in json.dumps(paths["/api/v1/sites/{slug}/services/{folder}/{name}/jobs/"])
    assert spec["components"]["securitySchemes"]["BearerToken"] == {"type": "http", "scheme": "bearer"}
    docs = client.get("/api/v1/docs")
    html = docs.content.decode()
    assert docs.status_code == 200
    # Swagger UI comes from the portal's static files, under the portal's own CSP: no CDN.
    assert 'src="/static/ninja/swagger-ui-bundle.js"' in html and "cdn" not in html.lower()
    assert "script-src 'self'" in docs["Content-Security-Policy"]
    assert client.get("/static/ninja/swagger-ui-bundle.js").status_code == 200


# --- job diagnostics and the fleet view --------------------------------------------------------------


def test_a_job_comes_with_its_messages_inputs_and_results(simulator, site, service, ops):
    job_id = simulator.state.add_job(
        service.key,
        status="esriJobFailed",
        messages=[
            {"type": "esriJobMessageTypeInformative", "description": "Start Time: Monday"},
            {"type": "esriJobMessageTypeError", "description": "ERROR 000735: Distance: Value is required"},
        ],
        inputs={"Distance": {"dataType": "GPLinearUnit", "value": {"distance": 100, "units": "esriMeters"}}},
    )
    body = ops.get(f"{BASE}{job_id}/").json()
    assert body["messages"] == [
        {"type": "esriJobMessageTypeInformative", "description": "Start Time: Monday"},
        {"type": "esriJobMessageTypeError", "description": "ERROR 000735: Distance: Value is required"},
    ]
    assert body["message_count"] == 2 and body["page_error"] is None
    assert body["inputs"] == [
        {
            "kind": "inputs",
            "name": "Distance",
            "data_type": "GPLinearUnit",
            "value": {"distance": 100, "units": "esriMeters"},
            "error": None,
        }
    ]
    assert body["services_directory_url"].startswith(simulator.base_url + "/rest/services/Hydrology/Watershed/")


def test_the_fleet_query_merges_every_service_and_pages_by_cursor(simulator, site, service, ops):
    simulator.state.add_service("Buffer")
    newest = simulator.state.add_job("Buffer", status=EXECUTING, submitted=T0 + timedelta(minutes=5))
    older = simulator.state.add_job(service.key, status=SUBMITTED, submitted=T0)
    simulator.state.add_job(service.key, status=SUCCEEDED, submitted=T0 + timedelta(minutes=9))
    body = ops.get("/api/v1/jobs/").json()
    assert [(j["job_id"], j["site"], j["service"]) for j in body["jobs"]] == [
        (newest, "main", "Buffer"),
        (older, "main", "Hydrology/Watershed"),
    ]
    assert body["failures"] == [] and body["next_cursor"] is None
    only = ops.get("/api/v1/jobs/", {"status": [SUCCEEDED], "service": "Watershed"}).json()
    assert [j["status"] for j in only["jobs"]] == [SUCCEEDED]
    error(ops.get("/api/v1/jobs/", {"status": ["esriJobExploded"]}), 400, "bad_request")


def test_one_job_by_its_id_as_the_jobs_page_filters_it(simulator, site, service, ops):
    ids = add_jobs(simulator, service, 3, status=SUCCEEDED)
    body = ops.get(BASE, {"job": ids[1]}).json()
    assert [job["job_id"] for job in body["jobs"]] == [ids[1]] and body["total"] == 1
    assert ops.get(BASE, {"job": "jnothere"}).json()["jobs"] == []


def test_the_fleet_query_refuses_unknown_parameters(simulator, site, service, ops):
    assert "Unknown parameter: sites." in error(ops.get("/api/v1/jobs/", {"sites": "main"}), 400, "bad_request")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("get", f"{BASE}j1/cancel", "POST"),
        ("put", "/api/v1/sites/", "GET"),
        ("delete", f"{BASE}j1/", "GET"),
    ],
)
def test_a_method_a_path_does_not_take_is_405_in_the_error_shape(ops, method, path, allowed):
    response = getattr(ops.client, method)(path, headers=ops.headers)
    assert f"use {allowed}" in error(response, 405, "method_not_allowed")
    assert response["Allow"] == allowed


def test_a_body_too_large_is_400_in_the_error_shape(simulator, site, service, ops, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = ops.post(f"{BASE}bulk", {"action": "cancel", "job_ids": ["j" + "x" * 40] * 100})
    assert "could not be understood" in error(response, 400, "bad_request")
