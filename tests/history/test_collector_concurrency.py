"""Collectors side by side: two workers share a site's services without collecting one twice at once, a dead
worker's lease runs out, and a site that stalls or rejects the account never delays another site."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from arcgis_simulator import ManualClock, Simulator
from history import collector, monitoring
from history.models import IndexedJob, MonitoringAccount, ServiceCollection, Transition
from jobs.models import AuditEvent, Site

EXECUTING, SUCCEEDED = "esriJobExecuting", "esriJobSucceeded"

# the collectors run on threads, each with its connection; the migrations' rows (roles) come back after the flush
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def in_threads(*calls):
    results, errors = [None] * len(calls), []

    def run(i, call):
        try:
            results[i] = call()
        except Exception as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def test_two_collectors_share_a_site_without_collecting_a_service_twice(simulator, site, monitored, monkeypatch):
    monkeypatch.setattr(collector, "CLAIM_PER_READER", 1)  # small claims: the two interleave
    names = [f"Tool{i:02}" for i in range(24)]
    jobs = []
    for name in names:
        simulator.state.add_service(name, folder="Fleet")
        jobs += [simulator.state.add_job(f"Fleet/{name}", status=EXECUTING) for _ in range(3)]
    simulator.faults.set("latency", operation="query", ms=20)
    # Each worker's first claim waits for the other's: they surely work side by side, however the threads are run.
    first_claims, claimed_once = threading.Barrier(2), set()
    claim = collector.claim

    def claim_side_by_side(site, owner, *args):
        claimed = claim(site, owner, *args)
        if owner not in claimed_once:
            claimed_once.add(owner)
            first_claims.wait(10)
        return claimed

    monkeypatch.setattr(collector, "claim", claim_side_by_side)
    first, second = in_threads(
        lambda: collector.collect_site(Site.objects.get(pk=site.pk), owner="worker-a"),
        lambda: collector.collect_site(Site.objects.get(pk=site.pk), owner="worker-b"),
    )
    assert first.services + second.services == 24 and first.services and second.services
    assert first.tally.new + second.tally.new == 72
    # Each service was asked once: by one worker only.
    queries = Counter(r.service for r in simulator.requests if r.operation == "query")
    assert queries == Counter({f"Fleet/{name}": 1 for name in names})
    assert sorted(IndexedJob.objects.values_list("job_id", flat=True)) == sorted(jobs)
    assert Transition.objects.count() == 72
    assert not ServiceCollection.objects.exclude(lease_owner="").exists()


def test_a_held_lease_is_left_alone_and_a_dead_worker_s_runs_out(simulator, site, monitored):
    for name in ("Held", "Abandoned", "Free"):
        simulator.state.add_service(name)
        simulator.state.add_job(name, status=EXECUTING)
    collector.collect_site(site)  # the services are known now
    IndexedJob.objects.all().delete()
    ServiceCollection.objects.update(last_pass=None, newest_submitted=None)
    soon, past = timezone.now() + timedelta(minutes=3), timezone.now() - timedelta(seconds=1)
    ServiceCollection.objects.filter(service_key="held").update(lease_owner="busy-worker", lease_until=soon)
    ServiceCollection.objects.filter(service_key="abandoned").update(lease_owner="dead-worker", lease_until=past)
    result = collector.collect_site(site)
    assert result.services == 2
    assert set(IndexedJob.objects.values_list("service_key", flat=True)) == {"abandoned", "free"}
    assert ServiceCollection.objects.get(service_key="held").lease_owner == "busy-worker"
    # A worker whose lease was taken over writes nothing of what it read.
    collection = ServiceCollection.objects.get(service_key="free")
    plan = collector.Plan(collection, collector.arcgis_client.ServiceRef("", "Free"), None, {})
    with pytest.raises(collector.LeaseLost):
        collector.store(site, plan, collector.Reading(), "late-worker", timezone.now(), 0.1)


@pytest.fixture
def other_simulator():
    with Simulator("empty", clock=ManualClock()) as sim:
        yield sim


@pytest.fixture
def third_simulator():
    with Simulator("empty", clock=ManualClock()) as sim:
        yield sim


def monitored_site(slug: str, sim: Simulator, superuser, **fields) -> Site:
    site = Site.objects.create(slug=slug, name=slug.title(), admin_url=sim.admin_url, insecure=True, **fields)
    monitoring.set_account(site, superuser, username="publisher", password="publisher", via=AuditEvent.Via.CLI)
    sim.state.add_service("Buffer")
    sim.state.add_job("Buffer", status=EXECUTING)
    return site


def test_a_stalled_site_and_a_rejecting_site_never_delay_another(
    simulator, other_simulator, third_simulator, superuser
):
    healthy = monitored_site("healthy", simulator, superuser)
    stalled = monitored_site("stalled", other_simulator, superuser, read_timeout=1.0, connect_timeout=0.5)
    rejecting = monitored_site("rejecting", third_simulator, superuser)
    other_simulator.faults.set("stall", seconds=30)
    third_simulator.faults.set("expire_tokens")
    results = {result.site.slug: result for result in collector.collect([healthy, stalled, rejecting])}
    ok = results["healthy"]
    assert (ok.tally.new, ok.problem) == (1, "") and ok.seconds < 1.0  # less than the stalled site's read timeout
    # The stalled site cost one read's budget (its token trade included), not its action timeout.
    assert 1.0 <= results["stalled"].seconds < 2.5 and "did not answer within 1 s" in results["stalled"].problem
    assert "rejected the monitoring account's token" in results["rejecting"].problem
    # The rejecting site traded its password again once, then gave up for this pass.
    assert [r.operation for r in third_simulator.requests] == ["generateToken", "services", "generateToken", "services"]
    accounts = {a.site.slug: a for a in MonitoringAccount.objects.select_related("site")}
    assert accounts["healthy"].failing_since is None and accounts["healthy"].last_pass is not None
    assert (accounts["stalled"].problem_kind, accounts["rejecting"].problem_kind) == ("unreachable", "rejected")
    assert accounts["stalled"].last_pass is None and accounts["rejecting"].failing_since is not None
    assert set(IndexedJob.objects.values_list("site__slug", flat=True)) == {"healthy"}
    # Once its breaker opens (after ARCGIS_BREAKER_FAILURES passes), a pass over it costs nothing at all.
    for _ in range(2):
        collector.collect_site(stalled)
    again = collector.collect_site(stalled)
    assert again.seconds < 0.5 and "is not answering since" in again.problem
