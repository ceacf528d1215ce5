"""Running a policy: what it matches right now (read through jobs.fleet), acting on it (through jobs.operations,
audited as via policy "<name>"), and the record of every run.

A preview lists the matches and is acted on later, by the person who previewed it, on exactly that list (jobs
whose status changed in between are skipped). A scheduled run reads and acts at once with the owner's token,
within the safety rails: at most `max_jobs` jobs a run (above it, none), and a policy whose owner cannot act
pauses itself. Both alert (policies.alerts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

import arcgis_client
from accounts import sso
from accounts.permission_cache import uncached
from accounts.roles import can_operate
from jobs import audit, fleet, operations, stored_tokens
from jobs.models import AuditEvent, Site
from jobs.queries import ActionTarget, FleetQuery
from jobs.targets import ServiceTarget
from policies import alerts
from policies.matching import Criteria, why
from policies.models import AlertChannel, Policy, PolicyRun

log = logging.getLogger(__name__)

Outcome = PolicyRun.Outcome
PAGE_SIZE = 100  # jobs asked of each service per page of the fleet
MAX_LOOKED_AT = 1000  # jobs a run looks at, at most, to find its matches
STALE_AFTER = timedelta(minutes=30)  # a run still "running" after this died with its worker
PREVIEWS_KEPT = timedelta(days=7)


# --- what a policy matches -----------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    target: ServiceTarget
    job: arcgis_client.Job
    reason: str

    def planned(self) -> dict:
        submitted = self.job.submitted.isoformat() if self.job.submitted else None
        return {
            "service": self.target.service.key,
            "job_id": self.job.job_id,
            "status": self.job.status,
            "submitted": submitted,
            "username": self.job.username or "",
            "reason": self.reason,
        }


@dataclass
class Found:
    matches: list[Match] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # what did not answer -> why
    complete: bool = True  # every job in scope was looked at

    @property
    def count_text(self) -> str:
        return f"{len(self.matches)}{'' if self.complete else '+'}"


def find(policy: Policy, user, *, limit: int, services: tuple[str, ...] | None = None) -> Found:
    """The jobs the policy matches now, read with the user's token, newest first. Stops looking once more than
    `limit` match. `services` narrows the scope to those Folder/Name patterns."""
    criteria = Criteria.of(policy)
    statuses = criteria.asked_statuses
    if not statuses:  # e.g. "queued longer than" with only Executing ticked: nothing can match
        return Found()
    now = timezone.now()
    query = FleetQuery(
        statuses=statuses,
        sites=(policy.site.slug,),
        services=services or policy.patterns,
        username=policy.username or None,
        machine=policy.machine or None,
        until=criteria.submitted_before(now),
        page_size=PAGE_SIZE,
    )
    found, looked = Found(), 0
    while True:
        *_, state = fleet.fleet(user, [policy.site], query)
        found.failures.update(state.failures)
        for item in state.rows:
            row = item.row
            if row.job is not None and (reason := why(criteria, row.job, row.flag, now)):
                found.matches.append(Match(row.target, row.job, reason))
        looked += len(state.rows)
        if not state.more or not state.rows:
            return found
        if len(found.matches) > limit or looked >= MAX_LOOKED_AT:
            found.complete = False
            return found
        last = state.rows[-1]
        query = replace(query, cursor=(last.submitted_ms, last.row.job_id))


def _failures_text(found: Found) -> str:
    return " ".join(f"{where} did not answer: {why_}" for where, why_ in found.failures.items())


# --- a preview, and acting on it ------------------------------------------------------------------


def preview(policy: Policy, user) -> PolicyRun:
    """What the policy matches right now, read with the user's own token, kept to be acted on."""
    found = find(policy, user, limit=policy.max_jobs)
    run = PolicyRun(policy=policy, kind=PolicyRun.Kind.MANUAL, user=user, username=user.get_username())
    run.outcome = Outcome.PREVIEW
    run.matched = len(found.matches)
    run.planned = [match.planned() for match in found.matches[: policy.max_jobs + 1]]
    reasons = []
    if len(found.matches) > policy.max_jobs:
        reasons.append(_too_many(policy, found))
    if found.failures:
        reasons.append(_failures_text(found))
    run.reason = " ".join(reasons)
    run.save()
    return run


class NotActable(Exception):
    """A preview that cannot be acted on (any more); the message says why."""


def act_on_preview(run: PolicyRun, user) -> PolicyRun:
    """Act on exactly the jobs the preview listed, with the user's own token, once. Each is read again first:
    one that no longer matches, or whose status changed, is skipped and said so."""
    policy = run.policy
    if run.user_id != user.pk:
        raise NotActable("This preview is someone else's: preview the policy yourself.")
    if run.outcome == Outcome.EXPIRED:
        raise NotActable(
            "This preview can no longer be acted on (it is too old, or the policy changed since): preview it again."
        )
    if run.outcome != Outcome.PREVIEW:
        raise NotActable("This preview was already acted on.")
    if not run.actable:
        if len(run.planned) > policy.max_jobs:
            raise NotActable(_too_many(policy, None))
        if not run.planned:
            raise NotActable("The preview listed no jobs.")
        PolicyRun.objects.filter(pk=run.pk, outcome=Outcome.PREVIEW).update(outcome=Outcome.EXPIRED)
        raise NotActable("This preview is too old to act on: preview the policy again.")
    if not PolicyRun.objects.filter(pk=run.pk, outcome=Outcome.PREVIEW).update(outcome=Outcome.RUNNING):
        run.refresh_from_db(fields=["outcome"])
        return act_on_preview(run, user)  # acted on, or expired, meanwhile: say which
    run.outcome = Outcome.RUNNING
    try:
        _act_on_planned(run, user)
    except Exception:  # a run must not stay "running": recorded as failed, the details in the log
        log.exception("policy %s: acting on preview %s failed", policy.pk, run.pk)
        fail_run(run, "The run failed unexpectedly; the details are in the portal's log.")
    return run


def _act_on_planned(run: PolicyRun, user) -> None:
    services = tuple(sorted({item["service"] for item in run.planned}))
    found = find(run.policy, user, limit=MAX_LOOKED_AT, services=services)
    fresh = {(m.target.service.key, m.job.job_id): m for m in found.matches}
    chosen, skipped = [], []
    for item in run.planned:
        match = fresh.get((item["service"], item["job_id"]))
        if match is None:
            message = "Skipped: it no longer matches the policy (it may have finished)."
        elif match.job.status != item["status"]:
            message = (
                f"Skipped: it is now {match.job.label}, not {arcgis_client.status_label(item['status'])} as previewed."
            )
        else:
            chosen.append(match)
            continue
        skipped.append({**item, "outcome": "skipped", "message": message})
    _act(run, user, chosen, skipped, found)


# --- scheduled runs --------------------------------------------------------------------------------


def claim_due(now: datetime | None = None) -> list[PolicyRun]:
    """Claim each due scheduled run, atomically: a compare-and-set of the policy's next run time and a run row
    unique per (policy, scheduled time). However many workers tick at once, each due run is claimed once."""
    now = now or timezone.now()
    claimed = []
    due = Policy.objects.filter(enabled=True, mode=Policy.Mode.SCHEDULED, next_run_at__lte=now)
    due = due.exclude(runs__outcome=Outcome.RUNNING)  # one run of a policy at a time: a slow one is not overtaken
    for policy in due.select_related("site", "owner"):
        at = policy.next_run_at
        assert at is not None  # the query asked for those due by then
        following = at + timedelta(minutes=policy.every_minutes)
        if following <= now:  # the worker was down: one run now, no catching up
            following = now + timedelta(minutes=policy.every_minutes)
        with transaction.atomic():
            moved = Policy.objects.filter(pk=policy.pk, enabled=True, next_run_at=at).update(next_run_at=following)
            if not moved:
                continue  # another worker claimed it, or it was changed meanwhile
            run, created = PolicyRun.objects.get_or_create(
                policy=policy,
                scheduled_for=at,
                defaults={
                    "kind": PolicyRun.Kind.SCHEDULED,
                    "user": policy.owner,
                    "username": policy.owner.get_username() if policy.owner else "",
                },
            )
        if created:
            claimed.append(run)
    return claimed


def run_scheduled(run: PolicyRun) -> PolicyRun:
    """A claimed scheduled run: read with the owner's token, act within the rails, record, alert."""
    # The policy as it is now: it may have been disabled or changed since the tick claimed the run.
    policy = Policy.objects.select_related("site", "owner").filter(pk=run.policy_id).first()
    if policy is None:
        return run  # deleted, and its runs with it
    run.policy = policy
    if not (policy.enabled and policy.mode == Policy.Mode.SCHEDULED):
        run.reason = "Not run: the policy was disabled or made manual after this run was due."
        _finish(run, Outcome.NOTHING)
        return run
    if policy.owner is not None:
        uncached(policy.owner)  # the roles as the database has them now, whichever process changed them
        try:
            sso.renew(policy.owner)  # an account of the identity provider: its roles, confirmed when due
        except sso.AccessUnconfirmed as exc:
            run.reason = f"Not run: {exc}"
            _finish(run, Outcome.FAILED)
            return run
    if problem := owner_problem(policy):
        return _paused(run, problem)
    owner = policy.owner
    found = find(policy, owner, limit=policy.max_jobs)
    if problem := _token_problem(policy):  # ArcGIS rejected the token while reading
        return _paused(run, problem)
    run.matched = len(found.matches)
    run.planned = [match.planned() for match in found.matches[: policy.max_jobs + 1]]
    if len(found.matches) > policy.max_jobs:
        run.reason = _too_many(policy, found)
        _finish(run, Outcome.HELD)
        alerts.alert(
            AlertChannel.Event.POLICY_STOPPED,
            policy.site,
            f'Policy "{policy.name}" held back a run',
            run.reason,
            link=policy_link(policy),
        )
        return run
    _act(run, owner, found.matches, [], found)
    if problem := _token_problem(policy):  # ArcGIS rejected the token while acting
        _pause(policy, problem)
    if run.acted:
        summary = f"{run.acted} job{'' if run.acted == 1 else 's'} {_done_word(policy)} on {policy.site.name}"
        alerts.alert(
            AlertChannel.Event.POLICY_ACTED,
            policy.site,
            f'Policy "{policy.name}": {summary}',
            _acted_text(run),
            link=policy_link(policy),
        )
    return run


def owner_problem(policy: Policy) -> str | None:
    """Why the owner's token cannot act for the policy, if it cannot."""
    owner, site = policy.owner, policy.site
    if owner is None:
        return "Its owner's account was deleted."
    if not owner.is_active:
        return f"Its owner {owner.get_username()} is deactivated."
    if not can_operate(owner):
        return f"Its owner {owner.get_username()} may no longer cancel or delete jobs."
    if not Site.objects.visible_to(owner).filter(pk=site.pk).exists():
        return f"Its owner {owner.get_username()} may no longer see {site.name}."
    return _token_problem(policy)


def _token_problem(policy: Policy) -> str | None:
    owner = policy.owner
    assert owner is not None  # asked only once owner_problem() found none
    try:
        stored_tokens.client_for(owner, policy.site)
    except stored_tokens.NotConnected as exc:
        return f"The ArcGIS token of its owner {owner.get_username()} cannot act: {exc.message}"
    return None


def _paused(run: PolicyRun, problem: str) -> PolicyRun:
    run.reason = f"Paused: {problem}"
    _finish(run, Outcome.PAUSED)
    _pause(run.policy, problem)
    return run


def pause_owned_by(user, problem: str) -> None:
    """Every enabled policy of this owner pauses itself, each audited and alerted."""
    for policy in Policy.objects.select_related("site", "owner").filter(owner=user, enabled=True):
        _pause(policy, problem)


def _pause(policy: Policy, problem: str) -> None:
    """The policy stops running on its schedule until someone enables it again; audited and alerted once."""
    paused = Policy.objects.filter(pk=policy.pk, enabled=True).update(
        enabled=False, paused_reason=problem[:500], next_run_at=None
    )
    if not paused:
        return
    policy.enabled, policy.paused_reason, policy.next_run_at = False, problem[:500], None
    if policy.owner is not None:
        audit.record(
            policy.owner,
            policy.site,
            AuditEvent.Action.POLICY_CHANGED,
            f"Policy {audit.quoted(policy.name)} paused itself: {problem}",
            via=AuditEvent.Via.POLICY,
            via_detail=policy.label,
        )
    alerts.alert(
        AlertChannel.Event.POLICY_STOPPED,
        policy.site,
        f'Policy "{policy.name}" paused itself',
        f"{problem} It no longer runs on its schedule: fix this, then enable it again.",
        link=policy_link(policy),
    )


# --- acting and recording ---------------------------------------------------------------------------


def _act(run: PolicyRun, user, matches: list[Match], skipped: list[dict], found: Found) -> None:
    policy = run.policy
    targets = [ActionTarget(m.target.service, m.job.job_id) for m in matches]
    known = {m.job.job_id: m.job for m in matches}
    if targets:
        report = operations.bulk(
            user, policy.site, policy.action, targets, known=known, via=AuditEvent.Via.POLICY, via_detail=policy.label
        )
    else:
        report = operations.BulkReport(policy.action, [], [])
    by_id = {m.job.job_id: m.planned() for m in matches}
    results = list(skipped)
    for job_id in report.skipped:
        results.append({**by_id[job_id], "outcome": "skipped", "message": "Skipped: it had already finished."})
    for result in report.results:
        message = result.message + (f" — {result.found}." if result.found else "")
        results.append({**by_id[result.job_id], "outcome": result.outcome, "message": message})
    run.results = results
    run.acted = report.count(AuditEvent.Outcome.SUCCESS)
    run.refused = report.count(AuditEvent.Outcome.REFUSED)
    run.failed = report.count(AuditEvent.Outcome.FAILED)
    run.skipped = len(skipped) + len(report.skipped)
    notes = []
    if not matches:
        notes.append("None of the listed jobs still matched." if skipped else "No job matched.")
    if found.failures:
        notes.append(_failures_text(found))
    run.reason = " ".join(notes)
    if run.acted:
        outcome = Outcome.ACTED
    elif run.failed or (found.failures and not matches):
        outcome = Outcome.FAILED
    else:
        outcome = Outcome.NOTHING
    _finish(run, outcome)


def _finish(run: PolicyRun, outcome: str) -> None:
    run.outcome = outcome
    run.finished = timezone.now()
    run.save()


def fail_run(run: PolicyRun, reason: str) -> None:
    run.reason = reason
    _finish(run, Outcome.FAILED)


def tidy_runs(now: datetime | None = None) -> None:
    """Runs still "running" long after they began died with their worker: say so. Previews nobody acted on are
    forgotten after a week (runs that acted stay with their policy)."""
    now = now or timezone.now()
    PolicyRun.objects.filter(outcome=Outcome.RUNNING, started__lt=now - STALE_AFTER).update(
        outcome=Outcome.FAILED, finished=now, reason="The run stopped before it finished (its worker ended)."
    )
    unused = PolicyRun.objects.filter(outcome__in=[Outcome.PREVIEW, Outcome.EXPIRED], started__lt=now - PREVIEWS_KEPT)
    unused.delete()


def _too_many(policy: Policy, found: Found | None) -> str:
    count = f"{found.count_text} jobs match" if found else "Too many jobs match"
    return (
        f"{count}, more than its limit of {policy.max_jobs} a run: it acts on none of them. "
        "Narrow the policy, or raise its limit."
    )


def _done_word(policy: Policy) -> str:
    return "cancelled" if policy.action == Policy.Action.CANCEL else "deleted"


def _acted_text(run: PolicyRun) -> str:
    parts = [f"{run.acted} {_done_word(run.policy)}"]
    parts += [f"{n} {word}" for n, word in ((run.refused, "refused"), (run.failed, "failed"), (run.skipped, "skipped"))]
    jobs = [
        f"{item['service']} {item['job_id']} ({item['reason']})" for item in run.results if item["outcome"] == "success"
    ]
    return ", ".join(p for p in parts if not p.startswith("0 ")) + ".\n" + "\n".join(jobs[:20])


def policy_link(policy: Policy) -> str:
    return alerts.portal_link(reverse("policies:detail", args=[policy.pk]))
