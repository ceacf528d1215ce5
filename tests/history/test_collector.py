"""The collector's pass over a site: new, changed and vanished jobs, answers duplicated or out of order, a page cut
amid equal submitted times, its cost per service, and retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from history import collector
from history.models import IndexedJob, MonitoringAccount, ServiceCollection, Transition

NEW, SUBMITTED, EXECUTING = "esriJobNew", "esriJobSubmitted", "esriJobExecuting"
SUCCEEDED, FAILED, CANCELLING = "esriJobSucceeded", "esriJobFailed", "esriJobCancelling"
KEY = "hydrology/watershed"


def row(job_id: str) -> IndexedJob:
    return IndexedJob.objects.get(job_id=job_id)


def statuses_seen(job_id: str) -> list[str]:
    return list(Transition.objects.filter(job__job_id=job_id).order_by("seen", "id").values_list("status", flat=True))


def per_service(simulator, service) -> list:
    """The requests a pass made about one service (the site's listing of services names none)."""
    return [r for r in simulator.requests if r.service == service.key]


@pytest.fixture
def now(simulator):
    return simulator.clock.now()


def test_a_first_pass_indexes_every_job_with_its_times(simulator, site, service, monitored, now):
    done = simulator.state.add_job(
        service.key,
        status=SUCCEEDED,
        username="ann",
        machinename="GIS02",
        submitted=now - timedelta(minutes=10),
        end_time=now - timedelta(minutes=4),
    )
    running = simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(minutes=1))
    simulator.state.add_service("Buffer")
    queued = simulator.state.add_job("Buffer", status=SUBMITTED, username=None)
    result = collector.collect_site(site)
    assert (result.tally.new, result.tally.changed, result.tally.vanished, result.services) == (3, 0, 0, 2)
    assert result.problem == "" and result.calls == 5  # a token, two folders of services, one query per service
    job = row(done)
    assert (job.site, job.folder, job.service, job.service_key) == (site, "Hydrology", "Watershed", KEY)
    assert (job.status, job.username, job.machine) == (SUCCEEDED, "ann", "GIS02")
    assert job.submitted == now - timedelta(minutes=10) and job.ended == now - timedelta(minutes=4)
    assert job.duration_ms == 6 * 60 * 1000 and job.gone_while == ""
    assert (row(running).ended, row(running).duration_ms) == (None, None)
    assert (row(queued).service_key, row(queued).folder, row(queued).username) == ("buffer", "", "")
    assert statuses_seen(done) == [SUCCEEDED] and statuses_seen(running) == [EXECUTING]
    collection = ServiceCollection.objects.get(service_key=KEY)
    assert collection.newest_submitted == now - timedelta(minutes=1) and collection.last_pass is not None
    assert (collection.lease_owner, collection.lease_until) == ("", None)
    account = MonitoringAccount.objects.get(site=site)
    assert account.last_ok is not None and account.last_pass is not None and account.last_pass_seconds > 0
    assert result.summary.startswith("main: 3 new, 0 changed, 0 vanished jobs in 2 services; 5 upstream calls;")


def test_changes_are_read_again_and_each_status_kept(simulator, site, service, monitored, now):
    job_id = simulator.state.add_job(service.key, status=SUBMITTED, submitted=now - timedelta(hours=2))
    collector.collect_site(site)
    simulator.state.set_status(service.key, job_id, EXECUTING)
    assert collector.collect_site(site).tally.changed == 1
    simulator.clock.advance(90)
    simulator.state.set_status(service.key, job_id, FAILED)
    result = collector.collect_site(site)
    assert (result.tally.new, result.tally.changed) == (0, 1)
    job = row(job_id)
    assert job.status == FAILED and job.ended == now + timedelta(seconds=90)
    assert job.duration_ms == (2 * 3600 + 90) * 1000
    assert statuses_seen(job_id) == [SUBMITTED, EXECUTING, FAILED]
    assert job.first_seen < job.last_seen
    # Finished: nothing more to write, however often it is read again.
    assert collector.collect_site(site).tally.changed == 0 and statuses_seen(job_id)[-1] == FAILED


def test_a_job_that_vanishes_while_active_is_recorded_as_such(simulator, site, service, monitored, now):
    running = simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(hours=1))
    done = simulator.state.add_job(service.key, status=SUCCEEDED, submitted=now - timedelta(minutes=30))
    collector.collect_site(site)
    simulator.state.delete(service.key, running)
    assert simulator.state.forget_finished(0) == 1  # ArcGIS's cleanup: a finished job is no news
    simulator.requests.clear()
    result = collector.collect_site(site)
    assert (result.tally.vanished, result.tally.changed) == (1, 0)
    job = row(running)
    assert (job.status, job.gone_while, job.ended) == (EXECUTING, EXECUTING, None)  # never a guessed outcome
    assert row(done).gone_while == ""
    # Its absence was confirmed with the job itself before it was recorded.
    assert [r.operation for r in per_service(simulator, service)][-1] == "job"
    # Gone: not asked about again.
    simulator.requests.clear()
    assert collector.collect_site(site).tally.vanished == 0
    assert [r.operation for r in per_service(simulator, service)] == ["query"]


def test_a_duplicated_answer_keeps_the_job_s_latest_status(simulator, site, service, monitored, now):
    job = simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(minutes=1))
    answered = simulator.state.get_job(service.key, job)
    body = {
        "total": 2,
        "num": 2,
        "start": 1,
        "nextStart": -1,
        "results": [
            {**answered, "status": SUCCEEDED, "endTime": answered["submittedTime"] + 5000},
            answered,  # the same job again, from before it finished
        ],
    }
    simulator.faults.set("answer", operation="query", count=1, body=body)
    result = collector.collect_site(site)
    assert result.tally.new == 1 and row(job).status == SUCCEEDED and row(job).duration_ms == 5000
    assert statuses_seen(job) == [SUCCEEDED]


def test_an_answer_out_of_order_never_moves_a_job_backwards(simulator, site, service, monitored, now):
    job = simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(minutes=1))
    collector.collect_site(site)
    simulator.state.set_status(service.key, job, SUCCEEDED)
    collector.collect_site(site)
    stale = {**simulator.state.get_job(service.key, job), "status": EXECUTING, "endTime": None}
    body = {"total": 1, "num": 1, "start": 1, "nextStart": -1, "results": {job: stale}}
    simulator.faults.set("answer", operation="query", count=1, body=body)
    result = collector.collect_site(site)
    assert result.tally.changed == 0
    assert row(job).status == SUCCEEDED and row(job).ended is not None
    assert statuses_seen(job) == [EXECUTING, SUCCEEDED]
    # Cancelling is later than executing, and a status ArcGIS never had (unknown) is later than none.
    assert collector.rank(CANCELLING) > collector.rank(EXECUTING) > collector.rank(SUBMITTED) > collector.rank(NEW)
    assert collector.rank("esriJobSomething") < collector.rank(NEW)


def test_a_page_cut_amid_equal_submitted_times_loses_nothing(simulator, site, service, monitored, now, monkeypatch):
    monkeypatch.setattr(collector, "PAGE", 3)
    same = now - timedelta(minutes=5)
    jobs = [simulator.state.add_job(service.key, status=SUCCEEDED, submitted=same) for _ in range(5)]
    jobs += [
        simulator.state.add_job(service.key, status=SUCCEEDED, submitted=same - timedelta(seconds=1)) for _ in "ab"
    ]
    jobs += [
        simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(minutes=20 + i))
        for i in range(4)
    ]
    result = collector.collect_site(site)
    assert result.tally.new == len(jobs) == 11
    assert set(IndexedJob.objects.values_list("job_id", flat=True)) == set(jobs)
    # Each next page ended where the last one ended: its bound, not a position that shifts under new jobs.
    queries = [r for r in per_service(simulator, service) if r.operation == "query"]
    assert queries[1].query["endTime"] == str(int(same.timestamp() * 1000) + 1)
    # And again, with a job submitted at that very time meanwhile, one removed and ArcGIS's cleanup run.
    late = simulator.state.add_job(service.key, status=EXECUTING, submitted=same)
    simulator.state.delete(service.key, jobs[0])
    simulator.state.forget_finished(0)
    collector.collect_site(site)
    assert row(late).status == EXECUTING and IndexedJob.objects.count() == 12


def test_a_pass_costs_at_most_three_calls_per_service_when_nothing_changed(simulator, site, service, monitored, now):
    # Long-running work far behind the newest job, with more finished jobs between than one page holds.
    old_running = simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(hours=5))
    old_queued = simulator.state.add_job(service.key, status=SUBMITTED, submitted=now - timedelta(hours=4))
    for minute in range(450):
        simulator.state.add_job(service.key, status=SUCCEEDED, submitted=now - timedelta(hours=3, minutes=-minute / 3))
    simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(seconds=30))
    simulator.state.add_service("Idle")
    simulator.state.add_service("Busy")
    for _ in range(3):
        simulator.state.add_job("Busy", status=EXECUTING)
    collector.collect_site(site)
    assert IndexedJob.objects.count() == 456
    simulator.requests.clear()
    result = collector.collect_site(site)
    assert (result.tally.new, result.tally.changed, result.tally.vanished) == (0, 0, 0)
    by_service = {key: [r for r in simulator.requests if r.service == key] for key in (service.key, "Idle", "Busy")}
    assert {key: len(calls) for key, calls in by_service.items()} == {service.key: 3, "Idle": 1, "Busy": 1}
    # Read only with GETs of read endpoints, the account's token in a header, never in a URL.
    for request in simulator.requests:
        assert request.method == "GET" and request.operation in ("services", "query", "job")
        assert "token" not in request.query and request.headers["X-Esri-Authorization"].startswith("Bearer ")
    # And when they change, they are found.
    simulator.state.set_status(service.key, old_running, SUCCEEDED)
    simulator.state.set_status(service.key, old_queued, EXECUTING)
    result = collector.collect_site(site)
    assert result.tally.changed == 2 and (row(old_running).status, row(old_queued).status) == (SUCCEEDED, EXECUTING)


def test_planning_counts_every_claimed_service_in_one_query(site, now):
    """Each service with active jobs behind its window is planned by the index's counts: one query for the whole
    batch (not two per service), and each still read the cheapest way."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    import arcgis_client
    from tests.history.factory import indexed

    ago = lambda **delta: now - timedelta(**delta)  # noqa: E731
    # Far: a job executing for five hours, 450 finished since (three pages): one query for its status is cheapest.
    # Near: one executing for ten minutes, a few finished since: the window starts earlier, at no extra call.
    # Quiet: its active job is inside the window: nothing to count.
    indexed(site, "Team/Far", EXECUTING, submitted=ago(hours=5))
    for minute in range(450):
        indexed(site, "Team/Far", SUCCEEDED, submitted=ago(hours=3, minutes=-minute / 3))
    indexed(site, "Team/Near", EXECUTING, submitted=ago(minutes=10))
    for minute in range(5):
        indexed(site, "Team/Near", SUCCEEDED, submitted=ago(minutes=8 - minute))
    indexed(site, "Team/Quiet", EXECUTING, submitted=ago(seconds=30))
    keys = ("team/far", "team/near", "team/quiet")
    for key in keys:
        newest = IndexedJob.objects.filter(service_key=key).latest("submitted").submitted
        ServiceCollection.objects.create(
            site=site, folder="Team", service=key[5:], service_key=key, newest_submitted=newest + timedelta(minutes=1)
        )
    collections = list(ServiceCollection.objects.filter(site=site).order_by("service_key"))
    refs = {key: arcgis_client.ServiceRef.parse(key) for key in keys}
    with CaptureQueriesContext(connection) as queries:
        plans = collector.plans_for(site, collections, refs)
    assert len(queries) == 2  # the active jobs of every service, then every count
    assert {plan.collection.service_key: (plan.how, len(plan.older)) for plan in plans} == {
        "team/far": (collector.STATUSES, 1),
        "team/near": (collector.MERGE, 1),
        "team/quiet": (collector.MERGE, 0),
    }
    assert plans[1].window_start == ago(minutes=10)


def test_the_account_s_password_only_ever_goes_to_generate_token(simulator, site, service, monitored):
    simulator.state.add_job(service.key, status=EXECUTING)
    collector.collect_site(site)
    posts = [r for r in simulator.requests if r.method == "POST"]
    assert [r.operation for r in posts] == ["generateToken"] and "token" not in posts[0].form
    assert all("publisher" not in str(r.query) for r in simulator.requests)


def test_a_job_with_a_status_a_query_cannot_ask_for_is_read_alone(simulator, site, service, monitored, now):
    job = simulator.state.add_job(service.key, status=EXECUTING, submitted=now - timedelta(hours=2))
    for minute in range(300):
        simulator.state.add_job(service.key, status=SUCCEEDED, submitted=now - timedelta(minutes=100 - minute / 4))
    collector.collect_site(site)
    IndexedJob.objects.filter(job_id=job).update(status="esriJobDeleting")
    simulator.requests.clear()
    collector.collect_site(site)
    assert [r.operation for r in per_service(simulator, service)] == ["query", "job"]
    assert row(job).status == "esriJobDeleting"  # Executing is not later than Deleting: it stays


def test_a_service_that_fails_alone_does_not_end_the_pass(simulator, site, service, monitored):
    simulator.state.add_service("Buffer")
    simulator.state.add_job("Buffer", status=EXECUTING)
    simulator.faults.set(
        "answer", service=service.key, operation="query", body={"error": {"code": 400, "message": "Bad"}}
    )
    result = collector.collect_site(site)
    assert (result.services, result.failed, result.tally.new, result.problem) == (1, 1, 1, "")
    failed = ServiceCollection.objects.get(service_key=KEY)
    assert failed.problem and failed.last_pass is None and failed.lease_owner == ""
    assert MonitoringAccount.objects.get(site=site).failing_since is None


def test_services_follow_the_site_s_listing(simulator, site, service, monitored):
    simulator.state.add_service("Buffer")
    collector.collect_site(site)
    assert set(ServiceCollection.objects.values_list("service_key", flat=True)) == {KEY, "buffer"}
    simulator.state._services.pop(("", "Buffer", "GPServer"))
    collector.collect_site(site)
    assert set(ServiceCollection.objects.values_list("service_key", flat=True)) == {KEY}


def test_a_site_without_a_monitoring_account_is_not_collected(simulator, site, service):
    result = collector.collect_site(site)
    assert result.skipped and list(simulator.requests) == []
    assert result.summary == "main: no monitoring account, not collected"


# --- retention ---------------------------------------------------------------------------------------------


def test_retention_prunes_old_jobs_a_bounded_batch_at_a_time(site, settings, monkeypatch):
    settings.HISTORY_RETENTION_DAYS = 30
    now = timezone.now()

    def add(job_id: str, days: float, submitted=True) -> IndexedJob:
        when = now - timedelta(days=days)
        job = IndexedJob.objects.create(
            site=site,
            service="S",
            service_key="s",
            job_id=job_id,
            status=SUCCEEDED,
            submitted=when if submitted else None,
            first_seen=when,
            last_seen=when,
        )
        Transition.objects.create(job=job, status=SUCCEEDED, seen=when)
        return job

    for i in range(5):
        add(f"old{i}", 31 + i)
    add("oldest_undated", 40, submitted=False)
    add("recent", 29)
    add("recent_undated", 1, submitted=False)
    monkeypatch.setattr(collector, "PRUNE_BATCH", 2)
    monkeypatch.setattr(collector, "PRUNE_BATCHES", 2)
    assert collector.prune(site, now) == 4
    assert collector.prune(site, now) == 2
    assert collector.prune(site, now) == 0
    assert sorted(IndexedJob.objects.values_list("job_id", flat=True)) == ["recent", "recent_undated"]
    assert Transition.objects.count() == 2


def test_a_pass_prunes_what_retention_no_longer_keeps(simulator, site, service, monitored, now, settings):
    settings.HISTORY_RETENTION_DAYS = 7
    recent = simulator.state.add_job(service.key, status=SUCCEEDED, submitted=now - timedelta(days=6))
    simulator.state.add_job(service.key, status=SUCCEEDED, submitted=now - timedelta(days=8))
    result = collector.collect_site(site)  # ArcGIS still had it: indexed, then pruned with the rest
    assert (result.tally.new, result.pruned) == (2, 1)
    assert list(IndexedJob.objects.values_list("job_id", flat=True)) == [recent]
    assert "; 1 pruned" in result.summary
