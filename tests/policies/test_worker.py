"""The background worker for real: `celery -A dashboard worker --beat` with the filesystem broker the demo uses,
its own SQLite database, a simulated ArcGIS Server and a webhook receiver, all started (and stopped) by the test.
Beat ticks every second; the due policy runs once, cancels what it matches with its owner's token, and the
webhook hears that it acted. Everything talks over 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from arcgis_simulator import Simulator
from tests.conftest import RECEIVER_NETWORK
from tests.helpers import ROOT

INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")
SERVICE_KEY = "Hydrology/Watershed"
WORKER = [sys.executable, "-m", "celery", "-A", "dashboard", "worker", "--beat"]  # as the README runs it

# Run by `manage.py shell -c`, in the worker's environment: the operator, her stored token, the policy and a webhook.
SETUP_SCRIPT = """
import json, os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from jobs.models import Site, StoredToken
from policies.models import AlertChannel, Policy

spec = json.loads(os.environ["PORTAL_SETUP"])
site = Site.objects.create(slug="main", name="Main site", admin_url=spec["admin_url"], insecure=True)
olivia = get_user_model().objects.create_user("olivia", password="olivia-password")
olivia.groups.add(Group.objects.get(name="Operator"))
stored = StoredToken(user=olivia, site=site, arcgis_username="siteadmin", source=StoredToken.PASTED)
stored.token = spec["token"]
stored.save()
Policy.objects.create(
    name="Batch queue", site=site, services="Hydrology/*", username="svc_batch", queued_minutes=30,
    mode="scheduled", every_minutes=15, enabled=True, next_run_at=timezone.now(), owner=olivia,
)
AlertChannel.objects.create(name="hook", kind="webhook", url=spec["webhook"], events=["policy_acted"])
"""


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
    env.update(
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        DJANGO_SECRET_KEY="worker-test-" + "x" * 40,
        TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        PORTAL_VAR_DIR=str(tmp_path / "var"),  # SQLite and the filesystem broker's queue
        POLICY_TICK_SECONDS="1",
        ALERT_WEBHOOKS_ALLOW_HTTP="1",  # the receiver is plain http on 127.0.0.1
        ALERT_WEBHOOK_ALLOWED_NETWORKS=RECEIVER_NETWORK,  # and loopback, which webhooks reach only when allowed
        PORTAL_URL="https://jobs.example.com",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def _manage(env: dict[str, str], *args: str, extra: dict | None = None) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**env, **(extra or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _wait_for(condition: Callable[[], bool], seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {seconds} s. The worker's log:\n{log.read_text()}")
        time.sleep(0.2)


def _stop(process: subprocess.Popen) -> None:
    """A warm shutdown, then whatever it takes: the worker and its pool end with the test."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _rows(database: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(database, timeout=5) as connection:
        return connection.execute(sql).fetchall()


def test_a_real_worker_with_beat_runs_the_due_policy_once_and_alerts(tmp_path, receiver):
    env = _environment(tmp_path)
    with Simulator("empty") as simulator:
        simulator.state.add_service("Watershed", folder="Hydrology")
        long_ago = simulator.clock.now() - timedelta(minutes=40)
        old = [
            simulator.state.add_job(SERVICE_KEY, status="esriJobSubmitted", username="svc_batch", submitted=long_ago)
            for _ in range(2)
        ]
        recent = simulator.state.add_job(SERVICE_KEY, status="esriJobSubmitted", username="svc_batch")
        _manage(env, "migrate", "--noinput", "-v0")
        spec = {
            "admin_url": simulator.admin_url,
            "token": simulator.issue_token("siteadmin", referer="gp-jobs-portal"),
            "webhook": receiver.url,
        }
        _manage(env, "shell", "-c", SETUP_SCRIPT, extra={"PORTAL_SETUP": json.dumps(spec)})

        log = tmp_path / "worker.log"
        with log.open("wb") as output:
            worker = subprocess.Popen(
                [*WORKER, "--concurrency", "1", "--loglevel", "INFO", "--without-mingle", "--without-gossip"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so teardown ends its pool too
            )
        try:

            def cancelled() -> list[str]:
                return sorted(r.path.rsplit("/", 2)[-2] for r in simulator.requests if r.operation == "cancel")

            _wait_for(
                lambda: cancelled() == sorted(old) and receiver.received, 45, "the scheduled run and its alert", log
            )
            ticks = log.read_text().count("Sending due task policies-tick")
            _wait_for(
                lambda: log.read_text().count("Sending due task policies-tick") >= ticks + 2, 15, "two more ticks", log
            )
        finally:
            _stop(worker)

    database = tmp_path / "var" / "portal.sqlite3"
    assert cancelled() == sorted(old) and simulator.state.get_job(SERVICE_KEY, recent)["status"] == "esriJobSubmitted"
    assert _rows(database, "SELECT kind, outcome, matched, acted FROM policies_policyrun") == [
        ("scheduled", "acted", 2, 2)
    ]  # once, however many ticks came after
    audit = _rows(
        database, "SELECT username, action, via, via_detail, outcome FROM jobs_auditevent WHERE action = 'cancel'"
    )
    assert audit == [("olivia", "cancel", "policy", 'policy "Batch queue"', "success")] * 2
    [hook] = receiver.received
    assert hook["json"]["event"] == "policy_acted"
    assert hook["json"]["title"] == 'Policy "Batch queue": 2 jobs cancelled on Main site'
    assert hook["json"]["link"].startswith("https://jobs.example.com/policies/")
    assert _rows(database, "SELECT status, attempts FROM policies_delivery") == [("sent", 1)]
    assert worker.returncode is not None
