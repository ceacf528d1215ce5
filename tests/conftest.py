"""Fixtures shared by the portal's tests: users for each role, a site on the simulator, connected tokens,
and a test client that behaves like the browser (CSRF enforced, htmx headers on demand)."""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.test import Client
from django.utils.crypto import get_random_string

import arcgis_client
from jobs import running_long, upstream
from jobs.counters import SeriesIndex
from jobs.models import Site, StoredToken
from jobs.targets import ServiceTarget
from tests.helpers import METRICS_TOKEN, SETTINGS_VARIABLES

pytest_plugins = ["arcgis_simulator.pytest_plugin"]

IN_CI = bool(os.environ.get("CI"))


@pytest.fixture
def environ(monkeypatch, tmp_path):
    """A clean environment for reading the settings module afresh (tests.helpers.load_settings);
    development keys go to a temporary directory."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path / "var"))
    return monkeypatch


@pytest.fixture(scope="session", autouse=True)
def _no_session_left_on_the_test_database(django_db_setup, django_db_blocker):
    """On PostgreSQL, a connection still open when the suite ends (a thread of the portal's that kept one) keeps the
    test database from being dropped: pytest-django only warns that "other users" use it. Say whose it is."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name, state, left(query, 300) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        others = cursor.fetchall()
    if others:
        threads = sorted(thread.name for thread in threading.enumerate())
        warnings.warn(f"sessions left on the test database: {others}; threads alive: {threads}", stacklevel=1)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The row cache and sessions may live in Redis, shared between tests: start each test clean."""
    cache.clear()
    SeriesIndex.forget_all()  # the gauges' index, when it lives in this process (no Redis)
    upstream.forget_closed_breakers()  # a breaker this process found closed a moment ago
    running_long.forget_notices_here()  # what this process wrote of flagged jobs a moment ago
    yield


def make_user(username: str, role: str | None = None, **extra):
    user = get_user_model().objects.create_user(username=username, password=f"{username}-password", **extra)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def operator(db):
    return make_user("olivia", "Operator")


@pytest.fixture
def second_operator(db):
    return make_user("oscar", "Operator")


@pytest.fixture
def viewer(db):
    return make_user("victor", "Viewer")


@pytest.fixture
def site_admin(db):
    return make_user("sam", "Site admin")


@pytest.fixture
def outsider(db):
    """Signed in, but without any role."""
    return make_user("nobody")


@pytest.fixture
def site(db, simulator):
    """A site on the simulator (plain HTTP, so TLS verification is explicitly off)."""
    return Site.objects.create(slug="main", name="Main site", admin_url=simulator.admin_url, insecure=True)


@pytest.fixture
def hidden_site(db, simulator) -> Site:
    """A second site, shared only with a group none of the test users is in."""
    hidden = Site.objects.create(slug="hidden", name="Secret Site", admin_url=simulator.admin_url, insecure=True)
    hidden.groups.add(Group.objects.create(name="Hidden team"))
    return hidden


@pytest.fixture
def service(simulator) -> arcgis_client.ServiceRef:
    """A GP service in a folder, next to a map service (which has no jobs)."""
    simulator.state.add_service("Watershed", folder="Hydrology")
    simulator.state.add_service("Rivers", folder="Hydrology", type="MapServer")
    return arcgis_client.ServiceRef("Hydrology", "Watershed")


def store_token(user, site: Site, token: str, **fields) -> StoredToken:
    stored, _ = StoredToken.objects.get_or_create(user=user, site=site, defaults={"ciphertext": b""})
    stored.token = token
    for name, value in {"source": StoredToken.PASTED, "arcgis_username": "", **fields}.items():
        setattr(stored, name, value)
    stored.save()
    return stored


@pytest.fixture
def target(site, service) -> ServiceTarget:
    return ServiceTarget(site, service)


@pytest.fixture
def connect(simulator):
    """Give a portal user an ArcGIS token for a site, as the connect page would."""

    def _connect(user, site: Site, arcgis_user: str = "siteadmin", **fields) -> StoredToken:
        token = simulator.issue_token(arcgis_user, referer=site.effective_referer)
        return store_token(user, site, token, arcgis_username=arcgis_user, **fields)

    return _connect


class PortalClient(Client):
    """A test client with CSRF enforced, like a browser: it holds the CSRF cookie and sends the
    token header that htmx sends (hx-headers on <body>)."""

    def __init__(self, user=None, **kwargs):
        super().__init__(enforce_csrf_checks=True, **kwargs)
        self.csrf_token = get_random_string(32)
        self.cookies["csrftoken"] = self.csrf_token
        if user is not None:
            self.force_login(user)

    def htmx_get(self, path, data=None, **headers):
        return self.get(path, data, headers={"HX-Request": "true", **headers})

    def action(self, path, data=None, *, htmx=True, csrf=True, follow=False, **headers):
        """A POST as the portal's pages send it: with htmx's headers, or as a plain form."""
        sent = dict(headers)
        if csrf:
            sent["X-CSRFToken"] = self.csrf_token
        if htmx:
            sent["HX-Request"] = "true"
        return self.post(path, data or {}, headers=sent, follow=follow)


@pytest.fixture
def metrics_token(settings):
    """/metrics on, with the token tests.helpers.scrape sends."""
    settings.METRICS_TOKEN = METRICS_TOKEN
    return METRICS_TOKEN


@pytest.fixture
def client_as():
    def _client(user=None) -> PortalClient:
        return PortalClient(user)

    return _client


@pytest.fixture
def olivia(operator, site, connect, client_as) -> PortalClient:
    """An Operator with her own ArcGIS token for the site, signed in."""
    connect(operator, site)
    return client_as(operator)


# --- a webhook receiver on 127.0.0.1 (alert tests) ---------------------------------------------------------


@dataclass
class Receiver:
    """Answers each POST with the next planned (status, headers, seconds to wait), then 200s; records the bodies."""

    url: str = ""
    plan: list[tuple[int, dict, float]] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def answers(self, *plan: tuple[int, dict, float]) -> None:
        self.plan.extend(plan)


RECEIVER_NETWORK = "127.0.0.1/32"  # where the receiver listens: the only private address webhooks may reach in tests


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    """A webhook receiver the test starts on 127.0.0.1 (loopback only) and that stops with it; webhooks may reach it
    because ALERT_WEBHOOK_ALLOWED_NETWORKS allows that one address."""
    settings.ALERT_WEBHOOK_ALLOWED_NETWORKS = [RECEIVER_NETWORK]
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.received.append(
                {
                    "path": self.path,
                    "type": self.headers["Content-Type"],
                    "json": json.loads(body),
                    "headers": dict(self.headers),
                }
            )
            status, headers, wait = state.plan.pop(0) if state.plan else (200, {}, 0)
            if wait:
                state.stopping.wait(wait)
            answer = b"ok" if status < 300 else b"receiver says no\n  (details)"
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/portal"
    yield state
    state.stopping.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
