"""Redis stopping, hanging (SIGSTOP) and restarting empty under the portal's own cache classes (dashboard/cache.py),
with a private `redis-server` the tests start on a free port and stop: nobody is signed out, nothing answers 500, the
shared state falls back to per-process state (or to the database), and what an outage left stale in Redis is never
trusted when it comes back.

The portal as deployed, with gunicorn and a private PostgreSQL as well, is in tests/faults. The fixtures that start
and configure the private Redis are in conftest.py.
"""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import caches

import arcgis_client
import dashboard.cache
from api import personal_tokens
from jobs.upstream import SiteGuard
from tests.conftest import PortalClient
from tests.dashboard.conftest import RETRY
from tests.helpers import jobs_table_html, status_text, text
from tests.private_servers import PrivateRedis

pytestmark = pytest.mark.django_db

SIGNED_IN = '<span class="who">'
NOTICE = "Live updates are slower than usual: the portal's shared cache is not answering."


def in_redis(server: PrivateRedis, key: str):
    """What Redis itself holds for one of the default cache's keys."""
    return server.client().get(f"gpjobs:1:{key}")


def past_the_retry() -> None:
    time.sleep(RETRY * 1.5)


def log_in(client: PortalClient, user) -> None:
    """The real sign-in form, as a browser posts it."""
    answer = client.post(
        "/accounts/login/",
        {"username": user.username, "password": f"{user.username}-password", "csrfmiddlewaretoken": client.csrf_token},
    )
    assert (answer.status_code, answer["Location"]) == (302, "/"), answer.content.decode()[:2000]
    client.csrf_token = client.cookies["csrftoken"].value  # a new one with every sign-in


def signed_in(client: PortalClient) -> bool:
    answer = client.get("/audit/")
    assert answer.status_code in (200, 302), answer.status_code
    return answer.status_code == 200 and SIGNED_IN in answer.content.decode()


# --- the cache itself ---------------------------------------------------------------------------------


def test_a_hanging_redis_is_left_alone_and_what_was_written_meanwhile_is_dropped_on_its_return(
    redis_cache, monkeypatch
):
    # Within the retry interval whatever this machine's speed (resuming Redis and asking it took over 0.2 s on a
    # slow run); past it by moving the cache's clock, not by waiting.
    monkeypatch.setattr(dashboard.cache, "RETRY_SECONDS", 60)
    cache = caches["default"]
    cache.set("breaker:1", "before")
    redis_cache.pause()
    assert cache.get("breaker:1") is None  # one short timeout, then this process's own memory
    cache.set("breaker:1", "during")
    assert cache.get("breaker:1") == "during"
    assert cache.shared is False

    redis_cache.resume()  # Redis answers again, still holding the value from before
    assert in_redis(redis_cache, "breaker:1") is not None
    assert cache.get("breaker:1") == "during"  # within the retry interval nothing asks Redis

    monkeypatch.setattr(dashboard.cache, "time", SimpleNamespace(monotonic=lambda: time.monotonic() + 61))
    assert cache.get("breaker:1") is None  # neither the stale value nor the per-process one
    assert in_redis(redis_cache, "breaker:1") is None
    assert cache.shared is True
    cache.set("breaker:1", "after")
    assert in_redis(redis_cache, "breaker:1") is not None


def test_while_redis_is_down_the_shared_only_cache_keeps_nothing_and_the_default_keeps_it_per_process(redis_cache):
    redis_cache.stop()
    caches["shared_only"].set("session", "data")
    assert caches["shared_only"].get("session") is None
    assert caches["shared_only"].add("lock", 1)  # nobody else can be told "taken" from here
    caches["default"].set("read", "answer")
    assert caches["default"].get("read") == "answer"
    caches["default"].add("count", 0)
    assert caches["default"].incr("count") == 1


def test_an_outage_is_logged_once_and_its_end_once(redis_cache, caplog):
    caplog.set_level(logging.WARNING, logger="dashboard.outages")
    cache = caches["default"]
    redis_cache.stop()
    for n in range(20):
        cache.set(f"k{n}", n)
        cache.get(f"k{n}")
    past_the_retry()
    cache.get("k0")  # one retry, still down: nothing more is logged
    redis_cache.start()
    past_the_retry()
    assert cache.get("k0") is None
    said = [record.getMessage() for record in caplog.records if record.name == "dashboard.outages"]
    assert len(said) == 2, said
    assert said[0].startswith(f"The shared cache (Redis at 127.0.0.1:{redis_cache.port}) is not answering (")
    assert said[1].startswith(f"The shared cache (Redis at 127.0.0.1:{redis_cache.port}) answers again after ")


# --- sessions: in the database, read through Redis ---------------------------------------------------


def test_nobody_is_signed_out_when_redis_stops_or_restarts_empty(redis_cache, operator):
    client = PortalClient()
    log_in(client, operator)
    assert signed_in(client)
    redis_cache.stop()
    assert signed_in(client)
    # signing out and in again works without Redis too
    assert client.post("/accounts/logout/", {"csrfmiddlewaretoken": client.csrf_token}).status_code == 302
    assert not signed_in(client)
    log_in(client, operator)
    assert signed_in(client)
    redis_cache.start()  # empty
    past_the_retry()
    assert signed_in(client)


def test_a_sign_out_while_redis_hangs_holds_when_redis_comes_back_with_the_session(redis_cache, operator):
    tab = PortalClient()
    log_in(tab, operator)
    assert signed_in(tab)  # the session is in Redis now
    other_tab = PortalClient()
    other_tab.cookies["sessionid"] = tab.cookies["sessionid"].value
    redis_cache.pause()
    assert tab.post("/accounts/logout/", {"csrfmiddlewaretoken": tab.csrf_token}).status_code == 302
    redis_cache.resume()  # still holding the session that was signed out meanwhile
    past_the_retry()
    assert not signed_in(other_tab)


def test_a_sign_out_holds_even_when_the_process_that_made_it_is_gone(redis_cache, operator, monkeypatch):
    tab = PortalClient()
    log_in(tab, operator)
    assert signed_in(tab)
    other_tab = PortalClient()
    other_tab.cookies["sessionid"] = tab.cookies["sessionid"].value
    redis_cache.pause()
    assert tab.post("/accounts/logout/", {"csrfmiddlewaretoken": tab.csrf_token}).status_code == 302
    # That process ends before Redis comes back; another one, which also went without Redis, serves the next tab.
    monkeypatch.setattr(dashboard.cache, "_servers", {})
    caches["shared_only"].get("anything")
    redis_cache.resume()
    past_the_retry()
    assert not signed_in(other_tab)


# --- roles: failing closed -------------------------------------------------------------------------


def fresh(user):
    return get_user_model().objects.get(pk=user.pk)


def test_a_role_removed_while_redis_hangs_is_not_given_back_by_its_return(redis_cache, operator):
    assert fresh(operator).has_perm("jobs.operate_jobs")  # cached in Redis with the current generation
    redis_cache.pause()
    assert fresh(operator).has_perm("jobs.operate_jobs")  # Redis times out once: from the database meanwhile
    operator.groups.remove(Group.objects.get(name="Operator"))  # the new generation cannot reach Redis
    assert not fresh(operator).has_perm("jobs.operate_jobs")  # read from the database meanwhile
    redis_cache.resume()
    past_the_retry()
    assert not fresh(operator).has_perm("jobs.operate_jobs")


def test_a_site_restricted_while_redis_hangs_is_hidden_at_once_and_after_its_return(redis_cache, site, operator):
    from jobs import site_directory

    assert site_directory.visible_site(fresh(operator), site.slug) == site  # the process keeps the directory now
    redis_cache.pause()
    site.groups.add(Group.objects.create(name="Hydrology team"))  # the new generation cannot reach Redis
    assert site_directory.visible_site(fresh(operator), site.slug) is None  # from the database meanwhile
    redis_cache.resume()
    past_the_retry()
    assert site_directory.visible_site(fresh(operator), site.slug) is None


# --- per-process state: rate limits, the circuit breaker ------------------------------------------


def test_rate_limits_still_hold_per_process_while_redis_is_down(redis_cache, operator, settings):
    settings.API_RATE_LIMIT = 3
    row, _ = personal_tokens.issue(operator, "script", 7)
    redis_cache.stop()
    for _ in range(3):
        personal_tokens.check_rate(row)
    with pytest.raises(personal_tokens.RateLimited):
        personal_tokens.check_rate(row)


def test_the_circuit_breaker_works_per_process_while_redis_is_down(redis_cache, settings):
    settings.ARCGIS_BREAKER_FAILURES = 2
    guard = SiteGuard(4242, "North")
    redis_cache.stop()
    guard.admit()
    guard.record(answered=False)
    guard.admit()
    guard.record(answered=False)
    with pytest.raises(arcgis_client.SiteUnavailable, match="North is not answering since"):
        guard.admit()


# --- pages and actions ---------------------------------------------------------------------------


def test_pages_and_actions_work_without_redis_and_say_live_updates_are_slower(
    redis_cache, simulator, service, target, operator, site, connect
):
    connect(operator, site)
    client = PortalClient()
    log_in(client, operator)
    job_id = simulator.state.add_job(service.key, status="esriJobExecuting")
    assert NOTICE not in text(client.get("/").content.decode())
    for fault in (redis_cache.pause, redis_cache.resume, redis_cache.stop):
        fault()
        jobs_table_html(client, target)
    # Redis is stopped now.
    page = client.get(target.url("job_list"))
    assert page.status_code == 200 and NOTICE in text(page.content.decode())
    answer = client.action(target.url("cancel", job_id))
    assert answer.status_code == 200 and status_text(answer.content.decode()) == "Cancel requested"
    assert client.get("/?inline=1").status_code == 200
    assert client.get("/jobs/").status_code == 200
    redis_cache.start()
    past_the_retry()
    client.get("/audit/")
    assert NOTICE not in text(client.get("/audit/").content.decode())
