"""Bookkeeping nobody waits for is done once the answer is sent: a page's rows are remembered when the server closes
its response, not before; a stream's is done before it starts; outside a request, at once; a failure is logged."""

from __future__ import annotations

import logging
import threading
import time
from types import SimpleNamespace

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import HttpResponse, StreamingHttpResponse
from django.test import RequestFactory

from jobs import after_response, shared_cache, upstream
from tests.helpers import row_ids

pytestmark = pytest.mark.django_db


def served(view):
    """`view` behind the middleware, as the portal's stack calls it."""
    return after_response.AfterResponseMiddleware(view)


def test_work_left_by_a_view_runs_when_the_server_closes_its_answer():
    done: list[str] = []

    def view(request):
        after_response.defer(done.append, "rows remembered")
        after_response.defer(done.append, "flags noticed")
        return HttpResponse("the page")

    response = served(view)(RequestFactory().get("/"))
    assert response.content == b"the page" and done == []
    response.close()
    assert done == ["rows remembered", "flags noticed"]
    response.close()  # closed twice (a server's and a middleware's): done once
    assert done == ["rows remembered", "flags noticed"]


def test_a_stream_does_its_views_work_before_it_starts_and_its_own_at_once():
    done: list[str] = []

    def events():
        after_response.defer(done.append, "while streaming")
        yield "event"

    def view(request):
        after_response.defer(done.append, "before streaming")
        return StreamingHttpResponse(events())

    response = served(view)(RequestFactory().get("/"))
    assert done == ["before streaming"]
    assert b"".join(response.streaming_content) == b"event"
    assert done == ["before streaming", "while streaming"]


def test_outside_a_request_work_runs_at_once():
    done: list[str] = []
    after_response.defer(done.append, "now")
    assert done == ["now"]


def test_a_failing_piece_of_work_is_logged_and_the_rest_still_runs(caplog):
    done: list[str] = []

    def view(request):
        after_response.defer(lambda: 1 / 0)
        after_response.defer(done.append, "still done")
        return HttpResponse("the page")

    response = served(view)(RequestFactory().get("/"))
    with caplog.at_level(logging.ERROR, logger="jobs.after_response"):
        response.close()
    assert done == ["still done"]
    assert "work left for after the answer failed" in caplog.text and "ZeroDivisionError" in caplog.text


def test_a_queue_its_server_never_closed_is_run_by_the_next_request_not_lost():
    done: list[str] = []

    def view(request):
        after_response.defer(done.append, request.path)
        return HttpResponse("the page")

    served(view)(RequestFactory().get("/first"))  # never closed
    assert done == []
    served(view)(RequestFactory().get("/second")).close()
    assert done == ["/first", "/second"]


@pytest.fixture
def wsgi_handler():
    """The portal's WSGI entry point, as gunicorn calls it; the test's database connection kept open (as Django's
    test client keeps it)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield WSGIHandler()
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def test_a_tables_rows_are_remembered_once_the_server_has_sent_it(simulator, service, target, olivia, wsgi_handler):
    """The rows are in the row cache only once the server closes the response it has sent."""
    ids = [simulator.state.add_job(service.key) for _ in range(3)]
    request = RequestFactory().get(target.url("job_list"), headers={"HX-Request": "true", "HX-Target": "job-table"})
    environ = request.environ | {"HTTP_COOKIE": "; ".join(f"{k}={v.value}" for k, v in olivia.cookies.items())}
    statuses: list[str] = []
    response = wsgi_handler(environ, lambda status, headers: statuses.append(status))
    assert statuses == ["200 OK"] and row_ids(b"".join(response).decode()) == ids[::-1]
    assert target.recall(ids) == {}
    response.close()
    assert sorted(target.recall(ids)) == sorted(ids)


def test_a_read_reaches_the_other_workers_once_the_answer_is_sent(settings):
    """Meanwhile this process's later readers have it from the read itself, and the other workers find its lock
    (they wait for it); then the shared cache holds it and the lock is gone."""
    settings.SHARED_READ_SECONDS = 5
    key = ("page", 9)
    lock = upstream._read_key(key) + ":lock"
    seen = {}

    def view(request):
        value = upstream.shared_read(key, lambda: "the page")
        seen["shared"] = upstream.shared_value(key)
        seen["locked"] = shared_cache.cache.get(lock) is not None
        seen["read here again"] = upstream.shared_read(key, lambda: "read again")
        return HttpResponse(value)

    response = served(view)(RequestFactory().get("/"))
    assert seen == {"shared": None, "locked": True, "read here again": "the page"}
    response.close()
    assert upstream.shared_value(key) == "the page"
    assert shared_cache.cache.get(lock) is None
    assert upstream.shared_read(key, lambda: "read again") == "the page"


def test_a_read_whose_sharing_is_late_is_not_handed_out_past_its_freshness(settings, monkeypatch):
    """Should the answer of the request that read it not be sent for a while, this process's other threads have the
    read from it only while it is fresh; then they read again. (Its age comes from moving the clock the reads look at,
    not from waiting: the first reader is within the freshness however slow the machine.)"""
    settings.SHARED_READ_SECONDS = 60
    settings.ARCGIS_SLOT_WAIT = 0.01
    key = ("page", 10)

    def view(request):
        return HttpResponse(upstream.shared_read(key, lambda: "the page"))

    response = served(view)(RequestFactory().get("/"))  # its answer not sent yet: not shared, still locked
    answers: list[str] = []
    reader = threading.Thread(target=lambda: answers.append(upstream.shared_read(key, lambda: "read again")))
    reader.start()
    reader.join(5)
    assert answers == ["the page"]  # fresh: from the read itself
    later = SimpleNamespace(time=lambda: time.time() + 61, monotonic=time.monotonic, sleep=time.sleep)
    monkeypatch.setattr(upstream, "time", later)
    reader = threading.Thread(target=lambda: answers.append(upstream.shared_read(key, lambda: "read again")))
    reader.start()
    reader.join(5)
    assert answers == ["the page", "read again"]
    response.close()
