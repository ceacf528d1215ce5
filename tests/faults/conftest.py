"""What the portal stands on, owned by the test: a private Redis (the shared cache), a second private Redis (the task
broker), a private PostgreSQL cluster, and in front of them a gunicorn portal (2 workers, threads, the production
settings), a background worker with beat, the simulator as ArcGIS and a webhook receiver. Every one of them is
started on a free loopback port and stopped by the fixture, whatever happens.

The portal's start-up (environment, migrations, static files, gunicorn, readiness) is the scale-out tests' machinery
(tests/scaleout/conftest.py), pointed at the private servers instead of the machine's shared ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from arcgis_simulator import Simulator
from tests.private_servers import PrivatePostgres, PrivateRedis, missing
from tests.scaleout.conftest import (
    FOLDER,
    IN_CI,
    REFERER,
    ROOT,
    SERVICE,
    SERVICE_KEY,
    Portal,
    _environment,
    _finish,
    _manage,
    _start_portal,
    _stop,
    _wait_until_healthy,
)

SITE_SLUG = "main"
DATABASE = "portal"
POLLING = ("ada", "ben", "cleo", "dan")  # operators signed in and polling throughout
SIGNING_OUT = "dora"  # signs out while Redis is down: her session must stay ended when it comes back
CLICKING = "eve"  # loads a page, then clicks while the database is down
ADMIN = "root"  # sends a test alert while the broker is down
POLICY = "Batch queue"
WORKER = [sys.executable, "-m", "celery", "-A", "dashboard", "worker", "--beat"]

SETUP_SCRIPT = """
import json, os
from datetime import datetime, timezone as tz
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from jobs.models import Site, StoredToken
from policies.models import AlertChannel, Policy

spec = json.loads(os.environ["PORTAL_SETUP"])
site = Site.objects.create(insecure=True, **spec["site"])
users = {}
for person in spec["operators"]:
    user = get_user_model().objects.create_user(person["username"], password=person["password"])
    user.groups.add(Group.objects.get(name="Operator"))
    stored = StoredToken(user=user, site=site, arcgis_username=person["arcgis_user"], source=StoredToken.PASTED)
    stored.token = person["token"]
    stored.save()
    users[user.username] = user
get_user_model().objects.create_superuser(spec["admin"]["username"], password=spec["admin"]["password"])
policy = Policy.objects.create(
    name=spec["policy"], site=site, services="Hydrology/*", username="svc_batch", queued_minutes=30,
    mode="scheduled", every_minutes=15, enabled=True, owner=users[spec["policy_owner"]],
)
# Not due until the test makes it due, while the broker is down.
Policy.objects.filter(pk=policy.pk).update(next_run_at=datetime(2099, 1, 1, tzinfo=tz.utc))
AlertChannel.objects.create(name="hook", kind="webhook", url=spec["webhook"], events=["policy_acted"])
"""


@dataclass(frozen=True)
class Person:
    username: str
    password: str
    arcgis_user: str = ""
    token: str = ""


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that records each JSON body it is sent."""

    url: str = ""
    received: list[dict] = field(default_factory=list)


@contextlib.contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.received.append(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/portal"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Stack:
    """The portal and everything it stands on, each of which the test may stop, hang and start again."""

    portal: Portal
    worker: subprocess.Popen
    worker_log: Path
    cache: PrivateRedis
    broker: PrivateRedis
    postgres: PrivatePostgres
    simulator: Simulator
    receiver: Receiver
    people: dict[str, Person]
    old_batch_jobs: list[str]  # what the policy cancels when it runs

    def jobs_path(self, job_id: str = "", action: str = "") -> str:
        path = f"/sites/{SITE_SLUG}/services/{FOLDER}/{SERVICE}.GPServer/jobs/"
        return path + (f"{job_id}/" if job_id else "") + (f"{action}/" if action else "")

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        """A query on the portal's database, from the test's side."""
        with self.postgres.connect(DATABASE, autocommit=True) as connection:
            cursor = connection.execute(query, params)
            return cursor.fetchall() if cursor.description else []


def _start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [*WORKER, "--concurrency", "1", "--loglevel", "INFO", "--without-mingle", "--without-gossip"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so teardown ends its pool and beat too
        )


def _stop_worker(worker: subprocess.Popen) -> None:
    for sig, patience in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        if worker.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=patience)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    if lacking := missing():
        reason = f"FAULT SUITE NOT RUN: this machine lacks {', '.join(lacking)}."
        if IN_CI:
            pytest.fail(reason + " CI is set, so this is a failure.", pytrace=False)
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("faults")
    cache, broker = PrivateRedis(directory / "cache"), PrivateRedis(directory / "broker")
    postgres = PrivatePostgres()
    simulator = Simulator("empty", users=["svc.gis:svc-arcgis:admin"], cancel_delay=600)
    portal: Portal | None = None
    worker: subprocess.Popen | None = None
    worker_log = directory / "worker.log"
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(postgres.close)
        cleanup.callback(cache.close)
        cleanup.callback(broker.close)
        cleanup.callback(simulator.stop)
        for path in (cache.directory, broker.directory, directory / "var"):
            path.mkdir()
        cache.start()
        broker.start()
        postgres.init()
        with postgres.connect(autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{DATABASE}"')
        simulator.start()
        simulator.state.add_service(SERVICE, folder=FOLDER)
        receiver = cleanup.enter_context(receiving())
        long_ago = simulator.clock.now() - timedelta(minutes=40)
        old_batch_jobs = [
            simulator.state.add_job(SERVICE_KEY, status="esriJobSubmitted", username="svc_batch", submitted=long_ago)
            for _ in range(2)
        ]

        env = _environment(
            DATABASE,
            f"gpjobs-faults-{secrets.token_hex(4)}",
            directory / "static",
            directory / "var",
            database_url=postgres.url(DATABASE),
            redis_url=cache.url + "/0",
        )
        env |= {
            "CELERY_BROKER_URL": broker.url + "/0",
            "POLICY_TICK_SECONDS": "1",
            "ALERT_WEBHOOKS_ALLOW_HTTP": "1",  # the receiver is plain http on 127.0.0.1…
            "ALERT_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",  # …a loopback address, which webhooks may not reach else
            "DATABASE_CONN_MAX_AGE": "60",  # persistent connections, as deployed: a restart breaks them
        }
        people = {}
        for name in (*POLLING, SIGNING_OUT, CLICKING):
            token = simulator.issue_token("svc.gis", referer=REFERER)
            people[name] = Person(name, f"{name}-portal-password", "svc.gis", token)
        people[ADMIN] = Person(ADMIN, f"{ADMIN}-portal-password")

        collect = _manage(env, "collectstatic", "--noinput", "-v0")
        migrate = _manage(env, "migrate", "--noinput", "-v0")
        _finish(migrate, "manage.py migrate")
        _finish(collect, "manage.py collectstatic")
        spec = {
            "site": {"slug": SITE_SLUG, "name": "Main site", "admin_url": simulator.admin_url, "referer": REFERER},
            "operators": [vars(people[name]) for name in (*POLLING, SIGNING_OUT, CLICKING)],
            "admin": vars(people[ADMIN]),
            "policy": POLICY,
            "policy_owner": POLLING[0],
            "webhook": receiver.url,
        }
        _finish(_manage({**env, "PORTAL_SETUP": json.dumps(spec)}, "shell", "-c", SETUP_SCRIPT), "portal set-up")

        portal = _start_portal("F", env, directory, threads=4, workers=2)
        cleanup.callback(_stop, portal)
        worker = _start_worker(env, worker_log)
        cleanup.callback(_stop_worker, worker)
        _wait_until_healthy([portal])
        yield Stack(portal, worker, worker_log, cache, broker, postgres, simulator, receiver, people, old_batch_jobs)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test shows what the portal and the worker logged."""
    report = yield
    found = getattr(item, "funcargs", {}).get("stack")
    if report.failed and isinstance(found, Stack):
        report.sections.append(("portal log", found.portal.log()[-30000:]))
        report.sections.append(("worker log", found.worker_log.read_text(errors="replace")[-20000:]))
    return report
