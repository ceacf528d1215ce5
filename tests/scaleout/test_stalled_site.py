"""One stalled ArcGIS site under concurrent load, against a real gunicorn portal (gthread, as deployed):
another site's jobs page and /healthz keep answering without waiting for it.

The stalled site accepts connections and never answers. Sixteen threads keep asking the portal for
its jobs table and its overview stream; meanwhile a viewer who is not even connected to that site
loads another site's jobs table, and a probe asks /healthz. The bound asserted is structural, not a
benchmark: without the per-site request slots every worker thread would sit in the stalled site's
read budget (ten seconds here) and these requests would wait for it; the bound is half that budget.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests

from arcgis_simulator import Simulator
from tests.scaleout.conftest import (
    REDIS_DB,
    REDIS_HOST,
    REDIS_PORT,
    REFERER,
    _environment,
    _finish,
    _manage,
    _postgres,
    _require_services,
    _start_portal,
    _stop,
    _wait_until_healthy,
)
from tests.scaleout.test_scaleout import Browser

pytestmark = pytest.mark.scaleout

STALL_BUDGET = 10  # seconds: the stalled site's read timeout, what a request held behind it would wait

SETUP = """
import json, os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from jobs.models import Site, StoredToken

spec = json.loads(os.environ["PORTAL_SETUP"])
sites = {s["slug"]: Site.objects.create(insecure=True, **s) for s in spec["sites"]}
for person in spec["people"]:
    user = get_user_model().objects.create_user(person["username"], password=person["password"])
    user.groups.add(Group.objects.get(name=person["role"]))
    for slug, token in person["tokens"].items():
        stored = StoredToken(user=user, site=sites[slug], arcgis_username="siteadmin", source=StoredToken.PASTED)
        stored.token = token
        stored.save()
"""


class Person:
    def __init__(self, username: str, role: str):
        self.username, self.role = username, role
        self.password = f"{username}-portal-password"


@pytest.fixture(scope="module")
def stalled(tmp_path_factory):
    """One gunicorn portal (1 worker, 8 threads), a healthy site and a stalled one."""
    _require_services()
    suffix = secrets.token_hex(6)
    database, key_prefix = f"portal_stalled_{suffix}", f"gpjobs-stalled-{suffix}"
    directory = tmp_path_factory.mktemp("stalled")
    env = _environment(database, key_prefix, directory / "static", directory / "var")
    healthy, stuck = Simulator("empty"), Simulator("empty", seed=3)
    portal = None
    _postgres(f'CREATE DATABASE "{database}"')
    try:
        for sim in (healthy, stuck):
            sim.start()
            sim.state.add_service("Watershed", folder="Hydrology")
            sim.state.add_job("Hydrology/Watershed", status="esriJobExecuting")
        operator, viewer = Person("olivia", "Operator"), Person("victor", "Viewer")
        people = [
            {
                **vars(operator),
                "tokens": {
                    "healthy": healthy.issue_token("siteadmin", referer=REFERER),
                    "stuck": stuck.issue_token("siteadmin", referer=REFERER),
                },
            },
            {**vars(viewer), "tokens": {"healthy": healthy.issue_token("siteadmin", referer=REFERER)}},
        ]
        spec = {
            "sites": [
                {"slug": "healthy", "name": "Healthy site", "admin_url": healthy.admin_url, "referer": REFERER},
                {
                    "slug": "stuck",
                    "name": "Stuck site",
                    "admin_url": stuck.admin_url,
                    "referer": REFERER,
                    "read_timeout": STALL_BUDGET,
                },
            ],
            "people": people,
        }
        _finish(_manage(env, "migrate", "--noinput", "-v0"), "manage.py migrate")
        _finish(_manage(env, "collectstatic", "--noinput", "-v0"), "manage.py collectstatic")
        _finish(_manage({**env, "PORTAL_SETUP": json.dumps(spec)}, "shell", "-c", SETUP), "set-up")
        portal = _start_portal("S", env, directory, threads=8)
        _wait_until_healthy([portal])
        stuck.faults.set("stall", seconds=600)
        yield portal, operator, viewer, stuck
    finally:
        if portal is not None:
            _stop(portal)
        for sim in (healthy, stuck):
            sim.stop()
        _postgres(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        with redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_DB) as client:
            for key in client.scan_iter(match=f"{key_prefix}:*", count=500):
                client.delete(key)


TABLE = {"HX-Request": "true", "HX-Target": "job-table"}


def test_a_stalled_site_does_not_hold_another_sites_page_or_healthz(stalled):
    portal, operator, viewer, stuck = stalled
    load = Browser(portal)
    load.log_in(operator)
    watcher = Browser(portal)
    watcher.log_in(viewer)
    stuck_table = "/sites/stuck/services/Hydrology/Watershed.GPServer/jobs/"
    healthy_table = "/sites/healthy/services/Hydrology/Watershed.GPServer/jobs/"
    stop = threading.Event()

    def hammer(index: int) -> int:
        """Keep asking for what waits on the stalled site; count the answers."""
        session = requests.Session()
        session.trust_env = False
        session.cookies.update(load.http.cookies)
        answered = 0
        while not stop.is_set():
            url = stuck_table if index % 2 else "/overview/stream"
            try:
                with session.get(portal.url + url, headers=TABLE, timeout=30, stream=True) as answer:
                    answer.content  # noqa: B018 - read it all, as a browser would
                answered += 1
            except requests.RequestException:
                pass
        return answered

    timings = {"table": [], "healthz": []}
    with ThreadPoolExecutor(max_workers=16) as pool:
        hammers = [pool.submit(hammer, i) for i in range(16)]
        time.sleep(1.0)  # the stalled site's requests now hold whatever they can
        try:
            for _ in range(8):
                started = time.monotonic()
                table = watcher.http.get(portal.url + healthy_table, headers=TABLE, timeout=30)
                timings["table"].append(time.monotonic() - started)
                assert table.status_code == 200 and 'id="job-' in table.text, table.text[:2000]
                started = time.monotonic()
                health = requests.get(portal.url + "/healthz", timeout=30)
                timings["healthz"].append(time.monotonic() - started)
                assert health.status_code == 200
                time.sleep(0.3)
        finally:
            stop.set()
        answered = sum(future.result() for future in hammers)
    # Nothing waited for the stall: a request queued behind it would take the whole budget.
    assert max(timings["table"]) < STALL_BUDGET / 2, timings
    assert max(timings["healthz"]) < STALL_BUDGET / 2, timings
    assert answered > 16  # the stalled site's requests were answered too (busy, or not answering), not held
    # The stalled site was called only a few times: its request slots (and, after three timeouts, its breaker)
    # turned the rest away at once.
    assert len(stuck.requests) < 30, len(stuck.requests)
    page = load.http.get(portal.url + stuck_table, headers=TABLE, timeout=30).text
    explained = ("Stuck site is not answering since", "already has 4 requests waiting", "did not answer within 10 s")
    assert any(words in page for words in explained), page[:2000]
