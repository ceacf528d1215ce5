"""Scheduled cancel policies: the tick finds due policies and each due run is claimed once however many workers
tick; a run acts with the owner's token through the audited operations, within its cap; a policy whose owner's
token is missing, expired or rejected pauses itself and alerts; every run is recorded."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

import arcgis_client
from jobs.models import AuditEvent
from policies import runs, tasks
from policies.models import AlertChannel, Delivery, Policy, PolicyRun
from tests.conftest import store_token
from tests.helpers import samples, scrape, value

SUBMITTED = arcgis_client.SUBMITTED


@pytest.fixture
def owner(operator, site, connect):
    connect(operator, site)
    return operator


@pytest.fixture
def mail_channel(db):
    events = [AlertChannel.Event.POLICY_ACTED, AlertChannel.Event.POLICY_STOPPED]
    return AlertChannel.objects.create(name="ops mail", kind="email", recipients="ops@example.com", events=events)


def scheduled(owner, site, **fields) -> Policy:
    values = {
        "name": "Batch queue",
        "services": "Hydrology/*",
        "username": "svc_batch",
        "queued_minutes": 30,
        "mode": Policy.Mode.SCHEDULED,
        "every_minutes": 15,
        "enabled": True,
        "next_run_at": timezone.now() - timedelta(seconds=1),
    }
    return Policy.objects.create(owner=owner, site=site, **{**values, **fields})


def queued(simulator, service, minutes: float = 40, username: str = "svc_batch") -> str:
    submitted = simulator.clock.now() - timedelta(minutes=minutes)
    return simulator.state.add_job(service.key, status=SUBMITTED, username=username, submitted=submitted)


def cancels(simulator) -> list[str]:
    return [r.path.rsplit("/", 2)[-2] for r in simulator.requests if r.operation == "cancel"]


# --- claiming: once per scheduled time ---------------------------------------------------------------


def test_a_due_policy_is_claimed_once_and_its_next_run_moves_on(owner, site):
    policy = scheduled(owner, site)
    due = policy.next_run_at
    now = timezone.now()
    [run] = runs.claim_due(now)
    assert (run.policy, run.kind, run.scheduled_for, run.username) == (policy, "scheduled", due, "olivia")
    assert runs.claim_due(now) == []  # a second tick at the same moment finds nothing to do
    policy.refresh_from_db()
    assert policy.next_run_at == due + timedelta(minutes=15)


def test_a_worker_that_was_down_runs_once_and_does_not_catch_up(owner, site):
    policy = scheduled(owner, site, next_run_at=timezone.now() - timedelta(hours=5))
    now = timezone.now()
    assert len(runs.claim_due(now)) == 1
    policy.refresh_from_db()
    assert policy.next_run_at == now + timedelta(minutes=15)


def test_only_enabled_scheduled_policies_that_are_due_are_claimed(owner, site):
    scheduled(owner, site, name="disabled", enabled=False)
    scheduled(owner, site, name="manual", mode=Policy.Mode.MANUAL)
    scheduled(owner, site, name="later", next_run_at=timezone.now() + timedelta(minutes=1))
    assert runs.claim_due() == []


def test_a_policy_still_running_is_not_claimed_again_until_its_run_ends(owner, site):
    policy = scheduled(owner, site)
    slow = PolicyRun.objects.create(policy=policy, kind="scheduled", outcome=PolicyRun.Outcome.RUNNING)
    assert runs.claim_due() == []
    slow.outcome = PolicyRun.Outcome.ACTED
    slow.save()
    assert [run.policy for run in runs.claim_due()] == [policy]


def test_the_database_refuses_a_second_run_for_the_same_scheduled_time(owner, site):
    policy = scheduled(owner, site)
    PolicyRun.objects.create(policy=policy, kind="scheduled", scheduled_for=policy.next_run_at)
    with pytest.raises(IntegrityError), transaction.atomic():
        PolicyRun.objects.create(policy=policy, kind="scheduled", scheduled_for=policy.next_run_at)
    # Runs without a scheduled time (previews, manual runs) are many.
    PolicyRun.objects.create(policy=policy, kind="manual")
    PolicyRun.objects.create(policy=policy, kind="manual")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_ticking_at_the_same_moment_act_once(simulator, site, service, operator, connect):
    """Two threads, each with its own database connection, tick together: on PostgreSQL the claims race for real
    (row locks), on SQLite its one writer at a time decides. Each policy runs once, and each job, matched by one
    policy only, is cancelled once. (Two policies matching the same job may each ask for its cancel when two workers
    run them at the same moment; ArcGIS refuses the second. Each policy acting once is the guarantee.)"""
    connect(operator, site)
    jobs = []
    for name in ("one", "two", "three"):
        scheduled(operator, site, name=name, username=f"svc_{name}")
        jobs.append(queued(simulator, service, username=f"svc_{name}"))
    barrier = threading.Barrier(2)
    errors = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            tasks.tick()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert PolicyRun.objects.count() == 3
    assert sorted(PolicyRun.objects.values_list("policy__name", flat=True)) == ["one", "three", "two"]
    assert sorted(cancels(simulator)) == sorted(jobs)


# --- a scheduled run -------------------------------------------------------------------------------------


def test_the_tick_runs_a_due_policy_with_its_owners_token_and_alerts(
    simulator, site, service, owner, mail_channel, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.PORTAL_URL = "https://jobs.example.com"
    old, older = queued(simulator, service, 40), queued(simulator, service, 50)
    queued(simulator, service, 5)
    policy = scheduled(owner, site)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.tick()
    assert sorted(cancels(simulator)) == sorted([old, older])
    run = PolicyRun.objects.get()
    assert (run.kind, run.outcome, run.matched, run.acted, run.username) == ("scheduled", "acted", 2, 2, "olivia")
    events = AuditEvent.objects.filter(action="cancel")
    assert {(e.username, e.via, e.via_detail, e.outcome) for e in events} == {
        ("olivia", "policy", 'policy "Batch queue"', "success")
    }
    [mail] = mailoutbox
    assert mail.subject == '[GP Jobs Portal] Policy "Batch queue": 2 jobs cancelled on Main site'
    assert mail.to == ["ops@example.com"] and f"Hydrology/Watershed {old}" in mail.body
    assert f"https://jobs.example.com{reverse('policies:detail', args=[policy.pk])}" in mail.body
    # The run is on the policy's page.
    page = runs_page(owner, policy)
    assert f'<tr id="run-{run.pk}" data-outcome="acted">' in page


def runs_page(user, policy) -> str:
    from tests.conftest import PortalClient

    return PortalClient(user).get(reverse("policies:detail", args=[policy.pk])).content.decode()


def test_a_run_that_finds_nothing_says_so_and_does_not_alert(
    simulator, site, service, owner, mail_channel, mailoutbox, django_capture_on_commit_callbacks
):
    queued(simulator, service, 5)
    scheduled(owner, site)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.tick()
    run = PolicyRun.objects.get()
    assert (run.outcome, run.matched, run.reason) == ("nothing", 0, "No job matched.")
    assert mailoutbox == [] and not cancels(simulator)


@pytest.mark.parametrize(("matching", "acts"), [(3, True), (4, False)])
def test_above_its_limit_a_run_acts_on_none_records_why_and_alerts(
    simulator, site, service, owner, mail_channel, mailoutbox, django_capture_on_commit_callbacks, matching, acts
):
    for minutes in range(40, 40 + matching):
        queued(simulator, service, minutes)
    scheduled(owner, site, max_jobs=3)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.tick()
    run = PolicyRun.objects.get()
    if acts:  # exactly at the limit: every one
        assert (run.outcome, run.acted) == ("acted", 3) and len(cancels(simulator)) == 3
        return
    assert (run.outcome, run.acted, run.matched) == ("held", 0, 4)
    assert run.reason == (
        "4 jobs match, more than its limit of 3 a run: it acts on none of them. Narrow the policy, or raise its limit."
    )
    assert cancels(simulator) == [] and not AuditEvent.objects.filter(action="cancel").exists()
    [mail] = mailoutbox
    assert mail.subject == '[GP Jobs Portal] Policy "Batch queue" held back a run' and run.reason in mail.body


@pytest.mark.parametrize(
    ("token_fields", "why"),
    [
        ({"expires": timezone.now() - timedelta(minutes=1)}, "Your ArcGIS token has expired."),
        ({"invalid_since": timezone.now()}, "ArcGIS rejected your token."),
        (None, "You have no ArcGIS token for this site."),
    ],
)
def test_a_policy_whose_owners_token_cannot_act_pauses_itself_and_alerts(
    simulator,
    site,
    service,
    operator,
    connect,
    mail_channel,
    mailoutbox,
    django_capture_on_commit_callbacks,
    token_fields,
    why,
):
    if token_fields is not None:
        connect(operator, site, **token_fields)
    queued(simulator, service)
    policy = scheduled(operator, site)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.tick()
    policy.refresh_from_db()
    assert not policy.enabled and policy.next_run_at is None
    assert policy.paused_reason.startswith(f"The ArcGIS token of its owner olivia cannot act: {why}")
    run = PolicyRun.objects.get()
    assert run.outcome == "paused" and run.reason == f"Paused: {policy.paused_reason}"
    assert cancels(simulator) == [] and not [r for r in simulator.requests if r.operation == "query"]
    event = AuditEvent.objects.get(action="policy_changed")
    assert (event.via, event.via_detail) == ("policy", 'policy "Batch queue"')
    assert event.message.startswith("Policy “Batch queue” paused itself: The ArcGIS token of its owner olivia")
    [mail] = mailoutbox
    assert mail.subject == '[GP Jobs Portal] Policy "Batch queue" paused itself'
    # Paused, it is no longer claimed; enabling it again clears the reason and schedules it.
    assert runs.claim_due() == []
    from tests.conftest import PortalClient

    connect(operator, site)
    PortalClient(operator).action(reverse("policies:enable", args=[policy.pk]), {"enabled": "1"}, htmx=False)
    policy.refresh_from_db()
    assert policy.enabled and policy.paused_reason == "" and policy.next_run_at is not None


def test_a_token_arcgis_rejects_during_the_run_pauses_the_policy(simulator, site, service, operator, mail_channel):
    store_token(operator, site, "not-a-token-arcgis-knows")
    queued(simulator, service)
    policy = scheduled(operator, site)
    tasks.tick()
    policy.refresh_from_db()
    assert not policy.enabled and "ArcGIS rejected your token." in policy.paused_reason
    assert PolicyRun.objects.get().outcome == "paused" and cancels(simulator) == []


def test_an_owner_who_may_no_longer_act_pauses_the_policy(simulator, site, service, owner):
    owner.groups.set([Group.objects.get(name="Viewer")])
    policy = scheduled(owner, site)
    tasks.tick()
    policy.refresh_from_db()
    assert policy.paused_reason == "Its owner olivia may no longer cancel or delete jobs."
    Policy.objects.filter(pk=policy.pk).update(enabled=True, owner=None, next_run_at=timezone.now())
    tasks.tick()
    policy.refresh_from_db()
    assert policy.paused_reason == "Its owner's account was deleted." and not policy.enabled


def test_a_site_that_does_not_answer_fails_the_run_and_says_why(simulator, site, service, owner):
    simulator.faults.set("html_502", operation="services")
    scheduled(owner, site)
    tasks.tick()
    run = PolicyRun.objects.get()
    assert run.outcome == "failed" and run.reason.startswith("No job matched. Main site did not answer:")
    assert Policy.objects.get().enabled  # not the owner's fault: it runs again next time


def test_refusals_are_recorded_job_by_job(simulator, site, service, owner):
    waiting = simulator.state.add_job(
        service.key,
        status=arcgis_client.WAITING,
        username="svc_batch",
        submitted=simulator.clock.now() - timedelta(hours=1),
    )
    scheduled(owner, site)
    tasks.tick()
    run = PolicyRun.objects.get()
    assert (run.outcome, run.refused, run.acted) == ("nothing", 1, 0)
    [result] = run.results
    assert (result["job_id"], result["outcome"]) == (waiting, "refused") and result["message"]


def test_a_run_left_running_by_a_worker_that_died_is_failed_and_old_previews_are_forgotten(owner, site):
    policy = scheduled(owner, site, enabled=False)
    hour_ago, week_ago = timezone.now() - timedelta(hours=1), timezone.now() - timedelta(days=8)
    stale = PolicyRun.objects.create(policy=policy, kind="scheduled", started=hour_ago)
    fresh = PolicyRun.objects.create(policy=policy, kind="manual")
    PolicyRun.objects.create(policy=policy, kind="manual", outcome="preview", started=week_ago)
    acted = PolicyRun.objects.create(policy=policy, kind="manual", outcome="acted", started=week_ago)
    recent = PolicyRun.objects.create(policy=policy, kind="manual", outcome="preview", started=hour_ago)
    tasks.tick()
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.outcome == "failed" and "stopped before it finished" in stale.reason
    assert fresh.outcome == "running"
    assert set(PolicyRun.objects.all()) == {stale, fresh, acted, recent}


def test_runs_are_counted_for_prometheus(simulator, site, service, owner, metrics_token):
    scheduled(owner, site)
    tasks.tick()
    found = samples(scrape().content.decode())
    assert value(found, "gpjobs_policy_runs_total", site="main", policy="Batch queue", outcome="nothing") == 1


def test_deliveries_are_not_made_for_channels_that_do_not_want_the_event(
    simulator, site, service, owner, django_capture_on_commit_callbacks
):
    AlertChannel.objects.create(name="sites only", kind="email", recipients="a@example.com", events=["site_down"])
    queued(simulator, service)
    scheduled(owner, site)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.tick()
    assert PolicyRun.objects.get().acted == 1 and not Delivery.objects.exists()


def test_a_policy_disabled_after_the_tick_claimed_it_does_not_act(
    simulator, site, service, operator, connect, monkeypatch
):
    from policies import editing

    connect(operator, site)
    queued(simulator, service)
    scheduled(operator, site, name="a first", username="nobody")
    second = scheduled(operator, site, name="b second")
    run_as_claimed = runs.run_scheduled

    def disable_the_second_while_the_first_runs(run):
        if run.policy.name == "a first":
            editing.set_enabled(operator, Policy.objects.get(pk=second.pk), False)
        return run_as_claimed(run)

    monkeypatch.setattr(runs, "run_scheduled", disable_the_second_while_the_first_runs)
    tasks.tick()
    assert cancels(simulator) == [], "a disabled policy acted"
    run = second.runs.get()
    assert run.outcome == PolicyRun.Outcome.NOTHING and "disabled" in run.reason
