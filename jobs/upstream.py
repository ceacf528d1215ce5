"""How the portal calls ArcGIS: per-site budgets, a circuit breaker shared by every worker,
a cap on the requests one site may hold per worker, and reads shared between operators.

The client (arcgis_client) knows nothing of Django; this is where it meets the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from django.conf import settings
from django.utils import timezone

import arcgis_client
from jobs import after_response
from jobs.counters import UpstreamObserver
from jobs.shared_cache import cache

_T = TypeVar("_T")


# --- the circuit breaker ----------------------------------------------------------------


_admitted = threading.local()  # per thread: (site pk, whether its breaker had any state) at the last admit

# A breaker found without any state (closed, nothing failed) is taken as closed for this long by this process without
# asking the shared cache again: a bulk's 500 calls ask it twice a second, not 500 times. Another worker's failures
# open it here that much later; this process's own failures count at once.
CLOSED_MEMO_SECONDS = 0.25
_closed_until: dict[int, float] = {}


def forget_closed_breakers() -> None:
    """For tests: every breaker is read again at its next call."""
    _closed_until.clear()


@dataclass(frozen=True)
class SiteGuard:
    """A circuit breaker for one site, its state in the shared cache so every worker and host agrees (while Redis
    is away, each process keeps its own).

    After BREAKER_FAILURES consecutive timeouts or connection failures, calls fail at once for
    BREAKER_COOLDOWN seconds; then one trial call decides whether the site is back.
    """

    site_pk: int
    site_name: str

    @property
    def _key(self) -> str:
        return f"breaker:{self.site_pk}"

    def state(self) -> dict:
        return cache.get(self._key) or {}

    def admit(self) -> None:
        if time.monotonic() < _closed_until.get(self.site_pk, 0):
            _admitted.seen = (self.site_pk, False)
            return
        state = self.state()
        _admitted.seen = (self.site_pk, bool(state))  # what record() needs to know, without reading it again
        if not state:
            _closed_until[self.site_pk] = time.monotonic() + CLOSED_MEMO_SECONDS
            return
        opened = state.get("opened")
        if opened is None:
            return
        retry_at = opened + settings.ARCGIS_BREAKER_COOLDOWN
        now = time.time()
        # After the cool-down, exactly one caller (across every worker) gets to try.
        # (The trial's claim outlives any call it could make: its own answer releases it.)
        if now >= retry_at and cache.add(f"{self._key}:trial", 1, timeout=max(settings.ARCGIS_BREAKER_COOLDOWN, 120)):
            return
        raise arcgis_client.SiteUnavailable(self.describe(state, now))

    def describe(self, state: dict, now: float | None = None) -> str:
        since = timezone.localtime(datetime.fromtimestamp(state["since"], tz=UTC))
        wait = max(round(state["opened"] + settings.ARCGIS_BREAKER_COOLDOWN - (now or time.time())), 1)
        return f"{self.site_name} is not answering since {since:%H:%M}; trying again in {wait} s."

    def record(self, answered: bool) -> None:
        if answered:
            # The client records each call right after admitting it, on the same thread.
            if getattr(_admitted, "seen", None) != (self.site_pk, False):
                cache.delete_many([self._key, f"{self._key}:trial"])
            return
        _closed_until.pop(self.site_pk, None)
        state = self.state()
        now = time.time()
        failures = state.get("failures", 0) + 1
        state = {"failures": failures, "since": state.get("since", now), "opened": state.get("opened")}
        if failures >= settings.ARCGIS_BREAKER_FAILURES:
            state["opened"] = now  # (re)open: a failed trial starts a new cool-down
            cache.delete(f"{self._key}:trial")
        cache.set(self._key, state, timeout=24 * 3600)

    def is_open(self) -> bool:
        return self.state().get("opened") is not None


def connection_for(site, *, action_timeout: float | None = None) -> arcgis_client.SiteConnection:
    """The pooled upstream connection for a site's current settings (`action_timeout`: a POST's own budget instead of
    the site's, e.g. a token trade that must cost no more than a read)."""
    return arcgis_client.SiteConnection.for_settings(
        admin_url=site.admin_url,
        token_url=site.token_url or None,
        referer=site.effective_referer,
        verify=site.tls_verify,
        timeout=(site.connect_timeout, site.read_timeout),
        action_timeout=site.action_timeout if action_timeout is None else action_timeout,
        guard=SiteGuard(site.pk, site.name),
        observer=UpstreamObserver(site.slug),
        name=site.name,
    )


# --- requests per site and worker -------------------------------------------------------------

_slots: dict[tuple[int, int], threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


@contextlib.contextmanager
def site_slot(site) -> Iterator[None]:
    """Holds one of the few request slots a site has in this worker while its calls run.

    A stalled site can then hold at most ARCGIS_REQUESTS_PER_SITE of a worker's threads;
    requests beyond that are told so at once instead of queueing behind it.
    """
    with _slots_lock:
        size = settings.ARCGIS_REQUESTS_PER_SITE
        slots = _slots.setdefault((site.pk, size), threading.BoundedSemaphore(size))
    if not slots.acquire(timeout=settings.ARCGIS_SLOT_WAIT):
        raise arcgis_client.SiteUnavailable(
            f"{site.name} is slow to answer and already has {size} request{'' if size == 1 else 's'} "
            "waiting for it; try again in a moment."
        )
    try:
        yield
    finally:
        slots.release()


# --- reads shared between operators ---------------------------------------------------------


def _read_key(key_parts: tuple) -> str:
    return "read:" + hashlib.blake2b(repr(key_parts).encode(), digest_size=16).hexdigest()


def shared_value(key_parts: tuple):
    """What a shared read last answered, if it is still kept; never calls upstream."""
    cached = cache.get(_read_key(key_parts))
    return None if cached is None else cached[1]


# Shared reads being fetched by a thread of this process (a shell's read ahead, say): the process's other threads wait
# for the answer here, rather than polling the shared cache for it. A fetch that fails is cancelled: they try for
# themselves.
class _Fetching(Future):
    answered_at = 0.0  # time.time() of its answer


_fetching: dict[str, _Fetching] = {}


def shared_read(
    key_parts: tuple,
    fetch: Callable[[], _T],
    fresh_for: float | None = None,
    then: Callable[[_T], object] | None = None,
) -> _T:
    """The answer of an upstream read, shared through the cache for about a second.

    The caller has already checked that the user may see the site and holds a usable token:
    the key starts with the site, so nothing is ever shared across sites. One caller fetches
    while the others briefly use the previous answer (or wait for the new one), so fifty
    operators watching one service cost ArcGIS about one read per interval, not fifty.
    `then` is called with each answer read from upstream, not with a shared one: once per read, not per reader.
    """
    fresh_for = settings.SHARED_READ_SECONDS if fresh_for is None else fresh_for
    if fresh_for <= 0:
        return _followed(fetch(), then)
    key = _read_key(key_parts)
    lock = key + ":lock"
    deadline = time.monotonic() + settings.ARCGIS_SLOT_WAIT
    while True:
        fetching = _fetching.get(key)
        if fetching is not None and not fetching.cancelled() and _still_fresh(fetching, fresh_for):
            # Under way in this process: its answer however long it takes (its call has its own timeouts), rather
            # than a second call once ARCGIS_SLOT_WAIT is over; should it fail, this caller reads for itself.
            with contextlib.suppress(CancelledError):
                return fetching.result()
        cached = cache.get(key)
        now = time.time()
        if cached is not None and now - cached[0] < fresh_for:
            return cached[1]
        if cache.add(lock, 1, timeout=30):
            fetching = _fetching[key] = _Fetching()
            try:
                value = fetch()
            except BaseException:
                fetching.cancel()
                _release(key, lock)
                raise
            fetching.answered_at = time.time()
            fetching.set_result(value)  # this process's waiters first: the shared cache is for the other workers,
            # who have it once this request's answer is sent (meanwhile the lock has them wait for it).
            after_response.defer(_share, key, lock, (fetching.answered_at, value), max(int(fresh_for * 10), 5))
            return _followed(value, then)  # (nobody waits for it: e.g. its rows remembered)
        # Someone else is fetching: a slightly older answer will do, else wait a little for theirs.
        if cached is not None and now - cached[0] < fresh_for * 5:
            return cached[1]
        if time.monotonic() > deadline:
            return _followed(fetch(), then)
        time.sleep(0.005)  # (its answer is often a few milliseconds away: another worker's shell read it ahead)


def _still_fresh(fetching: _Fetching, fresh_for: float) -> bool:
    """Under way, or answered lately: an answer whose sharing is late (its request's answer not yet sent) is not
    handed out for longer than any shared answer."""
    return not fetching.done() or time.time() - fetching.answered_at < fresh_for


def _share(key: str, lock: str, read: tuple[float, object], seconds: int) -> None:
    try:
        cache.set(key, read, timeout=seconds)
    finally:
        _release(key, lock)  # (till now, this process's later readers had it from the read itself)


def _release(key: str, lock: str) -> None:
    _fetching.pop(key, None)
    cache.delete(lock)


def _followed(value: _T, then: Callable[[_T], object] | None) -> _T:
    if then is not None:
        then(value)
    return value
