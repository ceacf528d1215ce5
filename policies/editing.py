"""Creating, changing and deleting policies: each change saved with its audit row (old and new values) in one
transaction, and the schedule following what changed.

A policy acts with its owner's ArcGIS token, so a token only ever does what its owner chose: when anyone else
changes what a policy matches or does (anything but its name), or switches it on, the policy becomes theirs: their
token acts from then on, the change is audited with the owner's old and new name, and the previous owner is told
(by e-mail, when their account has an address). Renaming it or switching it off leaves it its owner's.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from jobs import audit
from jobs.models import AuditEvent
from policies.models import STATUS_CHOICES, Policy, PolicyRun

Action = AuditEvent.Action

log = logging.getLogger(__name__)

# What the audit trail tells about a policy, in this order.
FIELDS = (*Policy.EDITABLE_FIELDS, "owner")
SCHEDULE_FIELDS = {"enabled", "mode", "every_minutes"}
# What the owner's token does: changed by someone else (or switched on), the policy becomes that person's.
ACTING_FIELDS = set(Policy.EDITABLE_FIELDS) - {"name", "enabled"}


def takes_over(user, policy: Policy, changes: dict) -> bool:
    """Whether these changes by `user` make the policy theirs: they are not its owner, and change what it matches
    or does, or switch it on."""
    if policy.pk is None or policy.owner_id == user.pk:
        return False
    return bool(ACTING_FIELDS & set(changes)) or changes.get("enabled") == (False, True)


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


def save(user, policy: Policy, before: dict | None, *, via: str = AuditEvent.Via.WEB) -> bool:
    """Save a new policy (before=None) or a changed one (before: its snapshot when loaded), audited. Returns whether
    the change made the policy the user's (see takes_over)."""
    created = before is None
    after = snapshot(policy)
    if before is None:
        changes = {name: (None, value) for name, value in after.items() if value not in ("", None, [], False)}
    else:
        changes = {name: (before[name], after[name]) for name in FIELDS if before[name] != after[name]}
    previous_owner = policy.owner
    taken_over = not created and takes_over(user, policy, changes)
    if taken_over:
        policy.owner = user
        changes["owner"] = (before["owner"] if before else None, user.get_username())
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
            if taken_over:
                message += f" It is now {user.get_username()}'s: its schedule acts with their ArcGIS token."
            audit.record(user, policy.site, action, message, via=via)
        if taken_over and previous_owner is not None:
            transaction.on_commit(lambda: _tell_previous_owner(previous_owner, policy, user, described))
    return taken_over


def set_enabled(user, policy: Policy, enabled: bool) -> bool:
    """Switch the policy on or off; returns whether switching it on made it the user's."""
    before = snapshot(policy)
    policy.enabled = enabled
    return save(user, policy, before)


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


def _tell_previous_owner(previous, policy: Policy, user, described: str) -> None:
    """An e-mail to whoever owned the policy until someone else changed it (when their account has an address),
    sent by the worker: a web request never waits for a mail server."""
    from policies.alerts import portal_link
    from policies.tasks import tell_user

    link = portal_link(reverse("policies:detail", args=[policy.pk]))
    name = audit.quoted(policy.name)
    body = (
        f"{user.get_username()} changed your policy {name} on {policy.site.name} ({described}). It is "
        f"now theirs: its schedule acts with their ArcGIS token, no longer with yours."
        + (f"\n\n{link}" if link else "")
    )
    try:
        tell_user.apply_async((previous.pk, f"Your policy {name} is now {user.get_username()}'s", body))
    except Exception as exc:  # the broker is down: the audit trail still says it
        log.warning("could not queue the e-mail telling %s about policy %s: %s", previous, policy.pk, exc)
