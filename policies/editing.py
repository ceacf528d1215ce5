"""Creating, changing and deleting policies: each change saved with its audit row (old and new values) in one
transaction, and the schedule following what changed."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from jobs import audit
from jobs.models import AuditEvent
from policies.models import STATUS_CHOICES, Policy, PolicyRun

Action = AuditEvent.Action

# What the audit trail tells about a policy, in this order.
FIELDS = (*Policy.EDITABLE_FIELDS, "owner")
SCHEDULE_FIELDS = {"enabled", "mode", "every_minutes"}

# How the audit trail tells each value: statuses and choices by their labels, minutes as minutes.
SHOWN = audit.shown_fields(
    Policy,
    FIELDS,
    site=audit.Shown("site", quote=False),
    services=audit.Shown("GP services", quote=False),
    statuses=audit.Shown("statuses", choices=dict(STATUS_CHOICES), empty="new, submitted, waiting and executing"),
    username=audit.Shown("submitted by", empty="anyone"),
    machine=audit.Shown("machine", empty="any"),
    running_minutes=audit.Shown("running longer than", unit=" min"),
    queued_minutes=audit.Shown("queued longer than", unit=" min"),
    every_minutes=audit.Shown("every", unit=" min"),
    max_jobs=audit.Shown("at most", unit=" jobs a run"),
    mode=audit.Shown(
        "mode", choices={Policy.Mode.MANUAL: "by hand, after a preview", Policy.Mode.SCHEDULED: "scheduled"}
    ),
    owner=audit.Shown("owner"),
)


def snapshot(policy: Policy) -> dict:
    """The policy's audited values, as they read: the site by slug, the owner by name."""
    values = {name: getattr(policy, name) for name in FIELDS if name not in ("site", "owner")}
    values["site"] = policy.site.slug if policy.site_id else None
    values["owner"] = policy.owner.get_username() if policy.owner else None
    return {name: values[name] for name in FIELDS}


def save(user, policy: Policy, before: dict | None, *, via: str = AuditEvent.Via.WEB) -> None:
    """Save a new policy (before=None) or a changed one (before: its snapshot when loaded), audited."""
    created = before is None
    after = snapshot(policy)
    if before is None:
        changes = {name: (None, value) for name, value in after.items() if value not in ("", None, [], False)}
    else:
        changes = {name: (before[name], after[name]) for name in FIELDS if before[name] != after[name]}
    if created or SCHEDULE_FIELDS & set(changes):
        policy.schedule_from(timezone.now())
    if policy.enabled:
        policy.paused_reason = ""
    described = audit.describe_changes(SHOWN, changes, created)
    with transaction.atomic():
        policy.save()
        if changes and not created:
            # A preview shows what the policy as it was would do: acting on it must not do what it does now.
            policy.runs.filter(outcome=PolicyRun.Outcome.PREVIEW).update(outcome=PolicyRun.Outcome.EXPIRED)
        if changes:
            verb, action = ("Created", Action.POLICY_CREATED) if created else ("Changed", Action.POLICY_CHANGED)
            message = f"{verb} policy {audit.quoted(policy.name)}: {described}."
            audit.record(user, policy.site, action, message, via=via)


def set_enabled(user, policy: Policy, enabled: bool) -> None:
    before = snapshot(policy)
    policy.enabled = enabled
    save(user, policy, before)


def delete(user, policy: Policy) -> None:
    summary = f"{policy.get_action_display().lower()}: {policy.matches_text}; {policy.schedule_text.lower()}"
    with transaction.atomic():
        audit.record(
            user,
            policy.site,
            Action.POLICY_DELETED,
            f"Deleted policy {audit.quoted(policy.name)} ({summary}).",
            via=AuditEvent.Via.WEB,
        )
        policy.delete()
