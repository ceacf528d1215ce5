"""Two portal processes behind one imaginary load balancer: whatever one of them does, the other knows.

Sessions live in the shared PostgreSQL database, read through the shared Redis, which also holds the row cache; the
audit trail and the encrypted tokens are in the database; a request may land on either process. The portals are real
gunicorn processes (see conftest.py) driven over HTTP the way a browser and htmx drive them.
"""

from __future__ import annotations

import html
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.scaleout.conftest import SERVICE, SERVICE_KEY, Cluster, Operator, Portal

pytestmark = pytest.mark.scaleout

SHARED_READ_SECONDS = 1.1  # a little over the portal's sharing of identical reads

CSRF_HEADER = re.compile(r"""hx-headers='\{"x-csrftoken": "([^"]+)"\}'""")
FORM_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CANCEL_REQUESTED = "Cancel requested"


class Browser:
    """A browser tab on one portal: its own cookie jar, and the CSRF token of the last page it loaded."""

    def __init__(self, portal: Portal) -> None:
        self.portal = portal
        self.username = ""
        self.http = requests.Session()
        self.http.trust_env = False  # no proxy settings from the environment between us and 127.0.0.1
        self.csrf_token = ""

    def get(self, path: str, *, htmx: bool = False) -> requests.Response:
        headers = {"HX-Request": "true"} if htmx else {}
        response = self.http.get(self.portal.url + path, headers=headers, allow_redirects=False, timeout=30)
        if found := CSRF_HEADER.search(response.text):
            self.csrf_token = found.group(1)
        return response

    def log_in(self, operator: Operator) -> None:
        """The real login form: GET it for the CSRF cookie and field, POST the credentials."""
        form = self.get("/accounts/login/")
        assert form.status_code == 200, form.text
        response = self.http.post(
            self.portal.url + "/accounts/login/",
            data={
                "username": operator.username,
                "password": operator.password,
                "csrfmiddlewaretoken": FORM_CSRF.search(form.text).group(1),
                "next": "",
            },
            headers={"Origin": self.portal.url},
            allow_redirects=False,
            timeout=30,
        )
        assert (response.status_code, response.headers.get("Location")) == (302, "/"), (
            f"{operator.username} could not log in on portal {self.portal.name}: {response.status_code}\n"
            f"{response.text[:2000]}"
        )
        assert self.session_cookie
        self.username = operator.username

    @property
    def session_cookie(self) -> str | None:
        return self.http.cookies.get("sessionid")

    def adopt_session(self, browser: Browser) -> None:
        """Send another tab's session cookie, as a browser does when a load balancer switches portals."""
        self.http.cookies.set("sessionid", browser.session_cookie)
        self.username = browser.username

    def action(self, path: str, data: dict | None = None) -> requests.Response:
        """A POST as htmx sends it from the portal's pages: HX-Request, and the CSRF token from hx-headers."""
        assert self.csrf_token, "load a portal page first: it carries the CSRF token htmx sends"
        headers = {"HX-Request": "true", "X-CSRFToken": self.csrf_token, "Origin": self.portal.url}
        return self.http.post(
            self.portal.url + path, data=data or {}, headers=headers, allow_redirects=False, timeout=30
        )


# --- reading the portal's markup ---------------------------------------------------------


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def signed_in_as(page: str) -> str:
    found = re.search(r'<span class="who">\s*([^<\s]+)', page)
    return found.group(1) if found else ""


def job_row(page: str, job_id: str) -> str:
    found = re.search(rf'<tr id="job-{job_id}"[^>]*>.*?</tr>', page, re.S)
    assert found, f"no row for job {job_id} in:\n{page[:3000]}"
    return found.group(0)


def row_status(row: str) -> str:
    return re.search(r'data-status="([^"]*)"', row).group(1)


def outcome_of(row: str) -> str:
    """The text of the row's role="status" element: what the last action on the job came to."""
    [status] = re.findall(r'<[^>]*role="status"[^>]*>(.*?)</span>', row, re.S)
    return text_of(status)


def audit_rows(page: str) -> list[dict[str, str]]:
    """The audit trail's table, one {column header: cell text} per event."""
    table = re.search(r'<table[^>]*class="[^"]*\baudit\b[^"]*"[^>]*>(.*?)</table>', page, re.S)
    assert table, f"no audit table in:\n{page[:3000]}"
    head, body = re.search(r"<thead>(.*?)</thead>.*?<tbody>(.*?)</tbody>", table.group(1), re.S).groups()
    columns = [text_of(cell) for cell in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)]
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = [text_of(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        if len(cells) == len(columns):  # not the "No events match." row
            rows.append(dict(zip(columns, cells, strict=True)))
    return rows


def outcome_word(event: dict[str, str]) -> str:
    """ "Refused 500" (the outcome, then ArcGIS's code) → "refused"."""
    return event["Outcome"].split()[0].lower()


def token_sent(request) -> str:
    """The token one upstream request carried: in the POST body, or the header Esri's clients use."""
    return request.form.get("token") or request.headers.get("X-Esri-Authorization", "").removeprefix("Bearer ")


# --- the tests ---------------------------------------------------------------------------


def test_a_session_opened_on_portal_a_is_honoured_by_portal_b(portals: Cluster):
    olivia = portals.operators["olivia"]
    on_a = Browser(portals.a)
    on_a.log_in(olivia)
    assert signed_in_as(on_a.get("/").text) == "olivia"
    # The session lives in the shared database, read through the shared Redis.
    assert portals.session_stores(on_a.session_cookie) == (True, True)

    # Without the cookie, B knows nobody.
    stranger = Browser(portals.b).get("/")
    assert stranger.status_code == 302
    assert stranger.headers["Location"].startswith("/accounts/login/")

    on_b = Browser(portals.b)
    on_b.adopt_session(on_a)
    overview = on_b.get("/?inline=1")  # the overview as it renders in one go (without JavaScript)
    assert overview.status_code == 200, overview.text[:2000]
    assert signed_in_as(overview.text) == "olivia"
    # B listed the site's GP services upstream with olivia's token, decrypted from the shared database.
    assert f">{SERVICE}</a>" in overview.text

    # B serves the hashed static files that collectstatic wrote for the production settings.
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', overview.text).group(1)
    assert re.search(r"/portal\.[0-9a-f]{12}\.css$", stylesheet), stylesheet
    css = on_b.get(stylesheet)
    assert css.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css") and "{" in css.text


def test_a_cancel_on_portal_a_is_in_the_audit_trail_on_portal_b(portals: Cluster):
    olivia = portals.operators["olivia"]
    job_id = portals.add_executing_job()
    on_a = Browser(portals.a)
    on_a.log_in(olivia)
    page = on_a.get(portals.jobs_path() + "?inline=1")
    assert page.status_code == 200
    assert row_status(job_row(page.text, job_id)) == "esriJobExecuting"

    answer = on_a.action(portals.jobs_path(job_id, "cancel"))

    assert answer.status_code == 200, answer.text[:2000]
    row = job_row(answer.text, job_id)
    assert outcome_of(row) == CANCEL_REQUESTED
    assert row_status(row) == "esriJobCancelling"
    [cancel] = portals.upstream("cancel", job_id)
    assert token_sent(cancel) == olivia.token

    on_b = Browser(portals.b)
    on_b.adopt_session(on_a)
    audit = on_b.get("/audit/")
    assert audit.status_code == 200
    [event] = [event for event in audit_rows(audit.text) if event["Job"] == job_id]
    assert (event["Who"], event["Action"], event["Service"]) == ("olivia", "Cancel", SERVICE_KEY)
    assert outcome_word(event) == "success"
    assert event["Message"] == CANCEL_REQUESTED


def test_each_portal_answers_the_pages_poll_with_the_operators_own_token(portals: Cluster):
    olivia = portals.operators["olivia"]
    job_id = portals.add_executing_job()
    on_a = Browser(portals.a)
    on_a.log_in(olivia)
    on_a.get(portals.jobs_path() + "?inline=1")
    assert outcome_of(job_row(on_a.action(portals.jobs_path(job_id, "cancel")).text, job_id)) == CANCEL_REQUESTED
    on_b = Browser(portals.b)
    on_b.adopt_session(on_a)
    # The page's one poll, as htmx sends it: the active rows it shows, with the status it shows them in.
    poll = f"{portals.jobs_path()}updates/?sort=submitted&rows={job_id}:esriJobExecuting&failures=0"

    time.sleep(SHARED_READ_SECONDS)  # the page's own read is no longer fresh: the next poll reads again
    reads_by = {}
    for browser in (on_a, on_b):
        seen = len(portals.simulator.requests)
        answer = browser.get(poll, htmx=True)
        assert answer.status_code == 200, f"portal {browser.portal.name}: {answer.text[:2000]}"
        row = job_row(answer.text, job_id)
        assert row_status(row) == "esriJobCancelling" and 'hx-swap-oob="true"' in row
        assert f"{job_id}:esriJobCancelling" in answer.text  # the next poll watches it in its new status
        reads_by[browser.portal.name] = [r for r in portals.simulator.requests[seen:] if r.operation == "query"]
    # Portal A read the page with olivia's token; portal B may answer from that read, shared through Redis.
    assert reads_by["A"], "portal A did not read the page upstream"
    assert {token_sent(r) for reads in reads_by.values() for r in reads} == {olivia.token}

    # ArcGIS finishes the cancel: the next poll shows it and tells htmx to stop polling (286).
    portals.simulator.state.set_status(SERVICE_KEY, job_id, "esriJobCancelled")
    time.sleep(SHARED_READ_SECONDS)
    final = on_b.get(poll.replace("esriJobExecuting", "esriJobCancelling"), htmx=True)
    assert final.status_code == 286
    assert row_status(job_row(final.text, job_id)) == "esriJobCancelled"


def test_two_operators_cancel_the_same_job_at_once_through_different_portals(portals: Cluster):
    olivia, oscar = portals.operators["olivia"], portals.operators["oscar"]
    job_id = portals.add_executing_job()
    on_a, on_b = Browser(portals.a), Browser(portals.b)
    on_a.log_in(olivia)
    on_b.log_in(oscar)
    time.sleep(SHARED_READ_SECONDS)  # a page read in the last second (shared) may not show the new job yet
    for browser in (on_a, on_b):
        assert row_status(job_row(browser.get(portals.jobs_path() + "?inline=1").text, job_id)) == "esriJobExecuting"

    barrier = threading.Barrier(2, timeout=30)

    def cancel(browser: Browser) -> requests.Response:
        barrier.wait()
        return browser.action(portals.jobs_path(job_id, "cancel"))

    # A slow cancel upstream keeps both requests inside ArcGIS at the same time.
    portals.simulator.faults.set("latency", service=SERVICE_KEY, operation="cancel", ms=400)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = dict(zip((olivia.username, oscar.username), pool.map(cancel, (on_a, on_b)), strict=True))
    finally:
        portals.simulator.faults.clear("latency")

    rows = {}
    for username, answer in answers.items():
        assert answer.status_code == 200, f"{username}: {answer.status_code} {answer.text[:2000]}"
        rows[username] = job_row(answer.text, job_id)
    outcomes = {username: outcome_of(row) for username, row in rows.items()}
    refusal = f"Unable to cancel job :[{job_id}]"
    # ArcGIS's words verbatim, then what re-reading the job found.
    assert sorted(outcomes.values()) == sorted([CANCEL_REQUESTED, f"{refusal} — it is Cancelling."]), outcomes
    [winner] = [username for username, outcome in outcomes.items() if outcome == CANCEL_REQUESTED]
    [loser] = [username for username, outcome in outcomes.items() if outcome.startswith(refusal)]
    # Both rows show the job's real state: the winner's from the contract, the loser's re-read from ArcGIS.
    assert {row_status(row) for row in rows.values()} == {"esriJobCancelling"}

    # Both cancels reached ArcGIS, each with its own operator's token.
    cancels = portals.upstream("cancel", job_id)
    assert sorted(token_sent(r) for r in cancels) == sorted([olivia.token, oscar.token])

    # The shared audit trail holds both attempts, whichever portal is asked.
    for browser in (on_a, on_b):
        audit = browser.get(f"/audit/?job={job_id}")
        assert audit.status_code == 200
        events = [event for event in audit_rows(audit.text) if event["Job"] == job_id]
        assert sorted((event["Who"], outcome_word(event), event["Message"]) for event in events) == sorted(
            [(winner, "success", CANCEL_REQUESTED), (loser, "refused", refusal)]
        ), f"audit on portal {browser.portal.name}: {events}"
