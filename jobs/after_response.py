"""Bookkeeping nobody waits for, done once the answer is sent: the jobs a page read kept for later actions, the
flags it noticed for the alert watch. The operator's page does not wait for them; they cost the same, later.

Inside a request (between AfterResponseMiddleware and the end of sending its answer) `defer` queues the work; the
queue runs when the WSGI server closes the response (Django's request_finished, in the request's own thread). A
streamed answer (server-sent events) may last minutes: its queue runs before streaming starts, and what it defers
meanwhile runs at once. Outside a request (a pool thread, a Celery task, a management command) work runs at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.core.signals import request_finished

log = logging.getLogger(__name__)

_local = threading.local()


def defer(work: Callable[..., object], *args: object) -> None:
    """work(*args) once this thread's answer is sent; now when there is none."""
    queue = getattr(_local, "queue", None)
    if queue is None:
        _run(work, args)
    else:
        queue.append((work, args))


def _run(work: Callable[..., object], args: tuple) -> None:
    try:
        work(*args)
    except Exception:  # bookkeeping must never break the request that left it, nor the next one's
        log.exception("work left for after the answer failed: %s", getattr(work, "__qualname__", work))


def _run_queued(queue: list) -> None:
    for work, args in queue:
        _run(work, args)


class AfterResponseMiddleware:
    """Opens the request's queue; it runs once the answer is sent (or before a stream starts)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        _answer_sent()  # (a queue whose answer the server never closed: not lost)
        queue: list = []
        _local.queue = queue
        try:
            response = self.get_response(request)
        finally:
            _local.queue = None  # from here on (a stream's generator), deferred work runs at once
        if response.streaming:
            _run_queued(queue)
        else:
            _local.sent = queue  # run by _answer_sent, when the server closes the response
        return response


def _answer_sent(**_signal) -> None:
    queue = getattr(_local, "sent", None)
    if queue is not None:
        _local.sent = None
        _run_queued(queue)


request_finished.connect(_answer_sent, dispatch_uid="jobs.after_response")
