"""/healthz (liveness: the process answers), /readyz (each dependency ok, degraded or down; 503 only when the
database is down) and the dependency gauges of /metrics."""

from __future__ import annotations

import contextlib
import time

import pytest
from django.core.cache import caches
from django.db import OperationalError, connection
from django.test import Client

from tests.dashboard.conftest import RETRY
from tests.helpers import samples, scrape, value
from tests.private_servers import free_port

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def database_gone():
    def refuse(execute, sql, params, many, context):
        raise OperationalError("connection refused")

    with connection.execute_wrapper(refuse):
        yield


def ready() -> tuple[int, dict]:
    answer = Client().get("/readyz")
    assert answer["Cache-Control"].startswith("max-age=0")
    return answer.status_code, answer.json()


def up(dependency: str) -> float | None:
    answer = scrape()
    assert answer.status_code == 200
    return value(samples(answer.content.decode()), "gpjobs_dependency_up", dependency=dependency)


def test_healthz_says_only_that_the_process_answers():
    with database_gone():
        answer = Client().get("/healthz")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


def test_readyz_reports_each_dependency():
    assert ready() == (200, {"status": "ok", "database": "ok", "cache": "ok", "broker": "ok"})


def test_readyz_is_503_when_the_database_is_down():
    with database_gone():
        status, said = ready()
    assert (status, said["status"], said["database"]) == (503, "down", "down")


def test_redis_down_leaves_the_portal_ready_but_degraded(redis_cache):
    assert ready() == (200, {"status": "ok", "database": "ok", "cache": "ok", "broker": "ok"})
    redis_cache.stop()
    assert ready() == (200, {"status": "degraded", "database": "ok", "cache": "down", "broker": "ok"})
    caches["default"].get("anything")  # this process now works without Redis
    redis_cache.start()
    # Redis answers; this process goes back to it once the retry interval has passed.
    assert ready()[1]["cache"] == "degraded"
    time.sleep(RETRY * 1.5)
    assert ready()[1]["cache"] == "ok"  # the check itself went back: no other call came meanwhile
    assert caches["default"].shared


def test_a_broker_down_leaves_the_portal_ready_but_degraded(settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 10}
    assert ready() == (200, {"status": "degraded", "database": "ok", "cache": "ok", "broker": "down"})


def test_a_broker_that_answers_is_ok(redis_cache, settings):
    settings.CELERY_BROKER_URL = redis_cache.url + "/1"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 10}
    assert ready()[1]["broker"] == "ok"
    redis_cache.pause()  # a broker that hangs is down too, after a short wait
    assert ready()[1]["broker"] == "down"


def test_metrics_has_a_gauge_per_dependency(metrics_token, redis_cache):
    assert (up("database"), up("cache"), up("broker")) == (1, 1, 1)
    redis_cache.stop()
    assert (up("database"), up("cache"), up("broker")) == (1, 0, 1)


def test_metrics_answers_with_the_database_down(metrics_token):
    with database_gone():
        answer = scrape()
    assert answer.status_code == 200
    found = samples(answer.content.decode())
    assert value(found, "gpjobs_dependency_up", dependency="database") == 0
    assert value(found, "gpjobs_dependency_up", dependency="cache") == 1
    assert not [name for name, _ in found if name.startswith("gpjobs_policy_runs")]  # read from the database
