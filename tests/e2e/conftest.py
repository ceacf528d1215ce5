"""Browser tests: the system Chromium, driven by Playwright, against the portal on a live server
and a simulator that runs on the real clock.

Every page a test opens is watched: console errors and warnings, uncaught page errors and
Content-Security-Policy violations fail the test at teardown.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

# Playwright's sync API keeps an asyncio loop running in the test thread, which Django would
# take for async code and refuse database access from. The tests themselves are synchronous.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

import pytest
from django.db import connections
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

import arcgis_client
from arcgis_simulator import Simulator
from jobs.targets import ServiceTarget
from scripts.chromium import CHROMIUM_ARGS, chromium_path

IN_CI = bool(os.environ.get("CI"))


# Generous, for the asynchronous transitions (polling, the simulator's cancel delay) on a busy machine.
TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)

# Runs before any of the page's own scripts, and is not subject to the page's CSP.
CSP_LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (event) {
  var text = event.violatedDirective + " blocked " + (event.blockedURI || "inline") +
    " at " + event.sourceFile + ":" + event.lineNumber;
  window.__csp.push(text);
  if (window.__reportCspViolation) { window.__reportCspViolation(text); }
});
"""


# --- the browser: Debian's Chromium, started for each test ------------------------------------
#
# While Playwright's sync API runs, the test thread has an asyncio loop marked as running, and
# Django then keeps a second set of database connections for that "async context". So the browser
# starts after the test's database fixtures and stops before the database is emptied at teardown:
# pytest-playwright's fixtures are narrowed from the session to each test, and no loop, browser or
# stray connection outlives a browser test.


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict:
    path = chromium_path()
    if path is None:
        reason = "Chromium is not installed (apt-get install chromium): the browser tests cannot run"
        if IN_CI:
            pytest.fail(f"{reason}, and in CI a skipped browser test is a failure.")
        pytest.skip(reason=f"!!! {reason} (Chromium missing outside CI). !!!")
    return {"executable_path": path, "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture
def playwright(browser_type_launch_args):
    with sync_playwright() as pw:
        yield pw
        # What the test asked the database while the loop ran went through that context's own connections: closed
        # here, inside it, or one outlives the suite (on PostgreSQL it keeps the test database from being dropped).
        connections.close_all()


@pytest.fixture
def browser_type(playwright, browser_name):
    return getattr(playwright, browser_name)


@pytest.fixture
def launch_browser(browser_type_launch_args, browser_type, connect_options):
    def launch(**kwargs) -> Browser:
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture
def browser(launch_browser) -> Iterator[Browser]:
    browser = launch_browser()
    yield browser
    browser.close()


@pytest.fixture
def browser_context_args(live_server) -> dict:
    # A fixed zone that is not UTC, so pages show converted times; English like the portal.
    return {"base_url": live_server.url, "timezone_id": "Europe/Zurich", "locale": "en-GB"}


# --- the portal on a live server -------------------------------------------------------------


class OneChunkAtATime:
    """A response whose body is made while it is sent (a stream: a bulk's progress, the fleet view) makes each
    chunk under the lock too, so its database work never runs beside another request's."""

    def __init__(self, response, lock: threading.Lock) -> None:
        self.response, self.lock = response, lock

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self.response)
        while True:
            with self.lock:
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        with self.lock:
            close = getattr(self.response, "close", None)
            if close is not None:
                close()


@pytest.fixture(scope="package")
def live_server(request) -> Iterator[LiveServer]:
    """pytest-django's live server, stopped when the browser tests end instead of at session end.

    With SQLite in memory, every request thread shares the test's one database connection
    (Django's own caveat for live servers): requests then run one at a time, as the lock below
    ensures. On PostgreSQL each request thread has its own connection and runs concurrently.
    """
    server = LiveServer(request.config.getvalue("liveserver") or "localhost")
    server.lock = threading.Lock()
    if server.thread.connections_override:
        static_files = server.thread.httpd.get_app()  # serves /static/ itself, hands the rest to Django
        django = static_files.application

        def one_at_a_time(environ, start_response):
            with server.lock:
                response = django(environ, start_response)
            return OneChunkAtATime(response, server.lock)

        static_files.application = one_at_a_time
    yield server
    server.stop()


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """The site's ArcGIS Server on the real clock: a cancelled job is CANCELLED 1.5 s after CANCELLING.

    Jobs are added with explicit statuses and stay there unless an action changes them.
    """
    with Simulator("empty", cancel_delay=1.5) as sim:
        yield sim


@pytest.fixture
def jobs_url(site, service: arcgis_client.ServiceRef) -> str:
    return ServiceTarget(site, service).url("job_list")


# --- pages, signed in, and watched ----------------------------------------------------------


@dataclass
class Watch:
    """What went wrong in the browser while a test ran."""

    problems: list[str] = field(default_factory=list)
    pages: list[tuple[Page, bool]] = field(default_factory=list)

    def context(self, context: BrowserContext, javascript: bool) -> None:
        if javascript:
            context.expose_function("__reportCspViolation", lambda text: self.problems.append(f"CSP: {text}"))
            context.add_init_script(CSP_LISTENER)

    def page(self, page: Page, javascript: bool) -> None:
        def on_console(message) -> None:
            if message.type in ("error", "warning"):
                where = message.location.get("url", "")
                self.problems.append(f"console {message.type}: {message.text} ({where})")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.pages.append((page, javascript))

    def collect(self) -> list[str]:
        """Everything seen, plus the CSP violations recorded in the documents still open."""
        problems = list(self.problems)
        for page, javascript in self.pages:
            if javascript and not page.is_closed():
                problems += [f"CSP (window.__csp): {text}" for text in page.evaluate("window.__csp || []")]
        return problems


class Portal:
    """Opens signed-in browser pages on the live portal."""

    def __init__(self, new_context, live_server: LiveServer, watch: Watch) -> None:
        self.new_context = new_context
        self.live_server = live_server
        self.watch = watch
        self.contexts: list[BrowserContext] = []

    def open(self, user, *, javascript: bool = True) -> Page:
        """A page in a browser context of its own, signed in as `user`."""
        page = self.anonymous(javascript=javascript)
        self.sign_in(page, user)
        return page

    def anonymous(self, *, javascript: bool = True) -> Page:
        context = self.new_context(java_script_enabled=javascript)
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        self.watch.context(context, javascript)
        page = context.new_page()
        self.watch.page(page, javascript)
        return page

    @staticmethod
    def sign_in(page: Page, user) -> None:
        """Through the real login page (tests/conftest.py gives every user the password <name>-password)."""
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(f"{user.username}-password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()

    def wait_until_idle(self) -> None:
        """Let the request the server is handling finish (with SQLite it uses the test's own connection)."""
        with self.live_server.lock:
            pass


@pytest.fixture
def portal(new_context, live_server, transactional_db, django_db_serialized_rollback) -> Iterator[Portal]:
    """Browser pages on the live portal; the browser starts with this fixture, so a test asks for its
    database fixtures (users, sites, tokens) before this one.

    Transactional tests empty the database afterwards; the serialized rollback brings back what the
    migrations created (the roles) before each browser test.
    """
    watch = Watch()
    portal = Portal(new_context, live_server, watch)
    yield portal
    problems = watch.collect()
    portal.close()
    portal.wait_until_idle()
    assert not problems, "the browser reported problems:\n" + "\n".join(problems)


@pytest.fixture
def connected_operator(operator, site, connect):
    """An Operator with their own ArcGIS token for the site."""
    connect(operator, site)
    return operator


@pytest.fixture
def operator_page(connected_operator, portal) -> Page:
    """The jobs pages as an Operator sees them, signed in. Database fixtures come before `portal`."""
    return portal.open(connected_operator)
