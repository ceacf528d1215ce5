"""Health checks for load balancers and orchestrators.

- `/healthz` is liveness: the process answers. It touches nothing else, so a database or Redis outage never gets
  every worker restarted.
- `/readyz` is readiness: each dependency `ok`, `degraded` or `down`, answering 503 only when the database is down,
  the one dependency the portal cannot serve without. Redis down costs speed (dashboard/cache.py) and the broker
  down delays background work: a load balancer keeps sending people to the portal then.

The same states are /metrics' `gpjobs_dependency_up` gauges (dashboard.metrics).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import caches
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection
from prometheus_client.core import GaugeMetricFamily

from dashboard import cache
from dashboard.cache import State
from dashboard.error_pages import DATABASE

BROKER_TIMEOUT = 0.5  # seconds the readiness check waits for the broker


def database_state() -> State:
    """`ok` when the database answers a query, `down` otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        DATABASE.failed(exc)
        return "down"
    return "ok"


def cache_state() -> State:
    """`ok`; `degraded` while this process has not gone back to a Redis that answers again; `down` while Redis
    does not answer (the portal then works on per-process state and the database)."""
    return cache.state(caches["default"])


def broker_state() -> State:
    """`ok` when the task broker takes a connection, `down` otherwise (scheduled runs and alerts then wait)."""
    options: dict[str, object] = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS}
    if "socket_timeout" in options:  # a network broker (Redis): wait briefly
        options |= {"socket_connect_timeout": BROKER_TIMEOUT, "socket_timeout": BROKER_TIMEOUT}
    broker = Connection(settings.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT, transport_options=options)
    try:
        with broker:
            broker.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT)
    except Exception:  # whatever the transport raises, the broker did not take a connection
        return "down"
    return "ok"


def dependency_states() -> dict[str, State]:
    return {"database": database_state(), "cache": cache_state(), "broker": broker_state()}


def overall(states: dict[str, State]) -> State:
    if states["database"] == "down":
        return "down"
    return "ok" if all(state == "ok" for state in states.values()) else "degraded"


@login_not_required
@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Nothing else is asked (see /readyz)."""
    return JsonResponse({"status": "ok"})


@login_not_required
@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: each dependency's state; 503 only when the database is down."""
    states = dependency_states()
    status = overall(states)
    return JsonResponse({"status": status, **states}, status=503 if status == "down" else 200)


class DependencyCollector:
    """/metrics: one gauge per dependency, 1 while it answers (`ok` or `degraded`), 0 while it is `down`."""

    def __init__(self, states: dict[str, State]):
        self.states = states

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "gpjobs_dependency_up",
            "1 while a dependency of the portal (database, cache, broker) answers, 0 while it is down.",
            labels=["dependency"],
        )
        for name, state in self.states.items():
            up.add_metric([name], 0 if state == "down" else 1)
        yield up
