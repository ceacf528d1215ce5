"""Two portal processes (gunicorn, dashboard.settings) sharing one PostgreSQL database and one Redis, in front of
one simulated ArcGIS Server site: the portal as a team runs it behind a load balancer.

The portals get a freshly created database, their own Redis database and key prefix, and an environment built
from scratch, so nothing of the outer test run (tests.settings, and whatever DATABASE_URL and REDIS_URL
pytest-django uses) reaches them; the tests talk to them over HTTP only.

Static files: the portals run dashboard.settings, the production configuration, so `collectstatic` fills a
temporary STATIC_ROOT and whitenoise serves the hashed names from its manifest, as deployed. tests.settings would
swap in the finders, unhashed storage and a fast password hasher: not what runs behind a load balancer.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
import requests
from cryptography.fernet import Fernet

from arcgis_simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
IN_CI = bool(os.environ.get("CI"))

POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# Not database 0: the outer suite may keep its cache there and flushes it between tests.
REDIS_DB = 5

SITE_SLUG = "main"
FOLDER, SERVICE = "Hydrology", "Watershed"
SERVICE_KEY = f"{FOLDER}/{SERVICE}"
REFERER = "gp-jobs-portal-scaleout"
STARTUP_SECONDS = 30  # generous: two Django processes booting on two busy cores

# Only what a process needs to run; everything else (DATABASE_URL, REDIS_URL, DJANGO_*…) is set explicitly.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")

# Run by `manage.py shell -c` in the portals' environment: the operators, the site and their stored tokens,
# encrypted with the portals' own TOKEN_ENCRYPTION_KEYS.
SETUP_SCRIPT = """
import json, os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from jobs.models import Site, StoredToken

spec = json.loads(os.environ["PORTAL_SETUP"])
site = Site.objects.create(insecure=True, **spec["site"])
for operator in spec["operators"]:
    user = get_user_model().objects.create_user(operator["username"], password=operator["password"])
    user.groups.add(Group.objects.get(name="Operator"))
    stored = StoredToken(user=user, site=site, arcgis_username=operator["arcgis_user"], source=StoredToken.PASTED)
    stored.token = operator["token"]
    stored.save()
print("set up", site.slug, [operator["username"] for operator in spec["operators"]])
"""


@dataclass(frozen=True)
class Operator:
    username: str
    password: str
    arcgis_user: str
    token: str  # the ArcGIS token stored (encrypted) for this operator


@dataclass
class Portal:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"


@dataclass
class Cluster:
    a: Portal
    b: Portal
    simulator: Simulator
    operators: dict[str, Operator]
    database: str
    redis_key_prefix: str

    @property
    def portals(self) -> tuple[Portal, Portal]:
        return self.a, self.b

    def jobs_path(self, job_id: str = "", action: str = "") -> str:
        path = f"/sites/{SITE_SLUG}/services/{FOLDER}/{SERVICE}.GPServer/jobs/"
        if job_id:
            path += f"{job_id}/"
        if action:
            path += f"{action}/"
        return path

    def add_executing_job(self) -> str:
        return self.simulator.state.add_job(SERVICE_KEY, status="esriJobExecuting")

    def session_stores(self, session_key: str) -> tuple[bool, bool]:
        """Whether the session is in the portals' Redis, and whether it is in their database."""
        # Django's cache key (prefix:version:key) for the cached_db session backend's entry.
        key = f"{self.redis_key_prefix}:1:django.contrib.sessions.cached_db{session_key}"
        with redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_DB) as client:
            in_redis = bool(client.exists(key))
        with psycopg.connect(dbname=self.database, connect_timeout=3, **POSTGRES) as conn:
            [in_database] = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM django_session WHERE session_key = %s)", [session_key]
            ).fetchone()
        return in_redis, in_database

    def upstream(self, operation: str, job_id: str) -> list:
        """The simulator's record of `operation` requests (e.g. "cancel") for one job, oldest first."""
        return [r for r in self.simulator.requests.snapshot() if r.operation == operation and job_id in r.path]


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _unreachable() -> list[str]:
    problems = []
    try:
        with psycopg.connect(dbname="postgres", connect_timeout=3, **POSTGRES):
            pass
    except psycopg.Error as exc:
        problems.append(f"PostgreSQL at {POSTGRES['host']}:{POSTGRES['port']} not reachable ({_one_line(exc)})")
    try:
        with redis.Redis(REDIS_HOST, REDIS_PORT, socket_connect_timeout=3, socket_timeout=3) as client:
            client.ping()
    except redis.RedisError as exc:
        problems.append(f"Redis at {REDIS_HOST}:{REDIS_PORT} not reachable ({_one_line(exc)})")
    return problems


def _require_services() -> None:
    problems = _unreachable()
    if not problems:
        return
    reason = "SCALE-OUT TEST NOT RUN: " + "; ".join(problems) + ". It needs both, as CI provides."
    if IN_CI:
        pytest.fail(reason + " CI is set, so this is a failure.", pytrace=False)
    pytest.skip(reason=f"{reason} (PostgreSQL or Redis missing outside CI)")


def _postgres(sql: str) -> None:
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=3, **POSTGRES) as conn:
        conn.execute(sql)


def _environment(
    database: str,
    key_prefix: str,
    static_root: Path,
    var_dir: Path,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
) -> dict[str, str]:
    """The portals' environment; the machine's PostgreSQL and Redis unless other URLs are given (tests/faults)."""
    env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
    env.update(
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url or f"postgres://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{database}",
        REDIS_URL=redis_url or f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
        REDIS_KEY_PREFIX=key_prefix,
        DJANGO_STATIC_ROOT=str(static_root),
        PORTAL_VAR_DIR=str(var_dir),
        ARCGIS_REFERER=REFERER,
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def _manage(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen, what: str) -> None:
    try:
        output, _ = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    if process.returncode != 0:
        pytest.fail(f"{what} exited with {process.returncode}:\n{output}", pytrace=False)


def _start_portal(name: str, env: dict[str, str], directory: Path, threads: int = 4, workers: int = 1) -> Portal:
    # The test binds the port and hands the listening socket to gunicorn: no window in which another
    # process could take a port picked in advance, and early connections wait in the backlog.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        log_path = directory / f"portal-{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "dashboard.wsgi",
                    f"--bind=fd://{listener.fileno()}",
                    f"--workers={workers}",
                    "--worker-class=gthread",
                    f"--threads={threads}",
                    "--timeout=60",
                    "--graceful-timeout=2",
                    "--no-control-socket",  # the default control socket path is shared by every gunicorn
                    f"--worker-tmp-dir={directory}",
                    f"--name=portal-{name}",
                    "--access-logfile=-",
                    "--error-logfile=-",
                ],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(listener.fileno(),),
                start_new_session=True,  # its own process group, so teardown can end the workers too
            )
    finally:
        listener.close()
    return Portal(name, f"http://127.0.0.1:{port}", process, log_path)


def _wait_until_healthy(portals: list[Portal]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    waiting = list(portals)
    while waiting:
        portal = waiting[0]
        if portal.process.poll() is not None:
            pytest.fail(
                f"portal {portal.name} exited with {portal.process.returncode} while starting:\n{portal.log()}",
                pytrace=False,
            )
        try:
            response = requests.get(portal.url + "/readyz", timeout=2)
            if response.status_code == 200 and response.json()["status"] == "ok":
                waiting.pop(0)
                continue
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            pytest.fail(
                f"portal {portal.name} was not ready (/readyz) within {STARTUP_SECONDS} s:\n{portal.log()}",
                pytrace=False,
            )
        time.sleep(0.1)


def _stop(portal: Portal) -> None:
    """End the gunicorn master and its workers, whatever state they are in."""
    for sig, patience in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if portal.process.poll() is not None:
            break
        try:
            os.killpg(portal.process.pid, sig)
        except ProcessLookupError:
            break
        try:
            portal.process.wait(timeout=patience)
        except subprocess.TimeoutExpired:
            continue
    # Workers left behind by a master that died first are still in the group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(portal.process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def portals(tmp_path_factory) -> Iterator[Cluster]:
    _require_services()
    suffix = secrets.token_hex(6)
    database, key_prefix = f"portal_scaleout_{suffix}", f"gpjobs-scaleout-{suffix}"
    directory = tmp_path_factory.mktemp("scaleout")
    env = _environment(database, key_prefix, directory / "static", directory / "var")
    simulator = Simulator(
        "empty",
        users=["olivia.gis:olivia-arcgis:admin", "oscar.gis:oscar-arcgis:admin"],
        # Long enough that a cancelled job stays CANCELLING for the whole module: tests move it on themselves.
        cancel_delay=600,
    )
    started: list[Portal] = []
    _postgres(f'CREATE DATABASE "{database}"')
    try:
        simulator.start()
        simulator.state.add_service(SERVICE, folder=FOLDER)
        operators = {}
        for name in ("olivia", "oscar"):
            token = simulator.issue_token(f"{name}.gis", referer=REFERER)
            operators[name] = Operator(name, f"{name}-portal-password", f"{name}.gis", token)
        # Independent, so they run side by side.
        collect = _manage(env, "collectstatic", "--noinput", "-v0")
        migrate = _manage(env, "migrate", "--noinput", "-v0")
        _finish(migrate, "manage.py migrate")
        _finish(collect, "manage.py collectstatic")
        spec = {
            "site": {"slug": SITE_SLUG, "name": "Main site", "admin_url": simulator.admin_url, "referer": REFERER},
            "operators": [vars(operator) for operator in operators.values()],
        }
        _finish(_manage({**env, "PORTAL_SETUP": json.dumps(spec)}, "shell", "-c", SETUP_SCRIPT), "portal set-up")
        for name in ("A", "B"):
            started.append(_start_portal(name, env, directory))
        _wait_until_healthy(started)
        yield Cluster(started[0], started[1], simulator, operators, database, key_prefix)
    finally:
        for portal in started:
            _stop(portal)
        simulator.stop()
        _postgres(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        with redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_DB) as client:
            for key in client.scan_iter(match=f"{key_prefix}:*", count=500):
                client.delete(key)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test shows what both portals logged."""
    report = yield
    cluster = getattr(item, "funcargs", {}).get("portals")
    if report.failed and isinstance(cluster, Cluster):
        for portal in cluster.portals:
            report.sections.append((f"portal {portal.name} log ({portal.url})", portal.log()))
    return report
