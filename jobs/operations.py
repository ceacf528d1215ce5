"""Every state-changing action of the portal, each one audited.

Views, the CLI, the JSON API (and later policies) all come through here. An audit row is
written as *pending* before ArcGIS is called and completed afterwards, whatever happens in
between: a database that does not answer stops an action before anything is sent (its error
reaches the caller), and one that stops answering once ArcGIS was called raises
audit.CompletionLost. Upstream calls for many jobs run concurrently, while all database work
stays on the caller's thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import cast

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

import arcgis_client
from jobs import audit, ca_bundles, signals, stored_tokens
from jobs.models import AuditEvent, Site, StoredToken
from jobs.queries import ActionTarget
from jobs.upstream import connection_for, site_slot

log = logging.getLogger(__name__)

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome
Via = AuditEvent.Via

SUCCESS_MESSAGES: dict[str, str] = {
    Action.CANCEL: "Cancel requested",
    Action.DELETE: "Deleted",
    Action.PURGE: "Queue purged: every new, submitted and waiting job was cancelled",
}

MAYBE_DONE = "ArcGIS may still have carried it out."

# What each action asks of ArcGIS; purge has no job, so its job ID is "".
_CALLS: dict[str, Callable[[arcgis_client.AdminClient, arcgis_client.ServiceRef, str], None]] = {
    Action.CANCEL: lambda client, service, job_id: client.cancel_job(service, job_id),
    Action.DELETE: lambda client, service, job_id: client.delete_job(service, job_id),
    Action.PURGE: lambda client, service, _: client.purge_queue(service),
}


@dataclass(frozen=True)
class ActionResult:
    """What happened to one action, ready to show in a row or a message."""

    action: str
    outcome: str  # an AuditEvent.Outcome value
    message: str  # ArcGIS's words verbatim, or the portal's explanation
    target: ActionTarget | None = None
    job: arcgis_client.Job | None = None  # the job's state as best known after the action
    found: str = ""  # what re-reading the job showed, e.g. "it is already Cancelled"
    reconnect: bool = False  # the operator's token is missing or was rejected
    gone: bool = False  # the job no longer exists on the server
    code: int | None = None  # ArcGIS's error code, when it answered with one

    @property
    def ok(self) -> bool:
        return self.outcome == Outcome.SUCCESS

    @property
    def job_id(self) -> str:
        return self.target.job_id if self.target else ""


@dataclass(frozen=True)
class BulkReport:
    """A bulk action: a result per job sent, and the jobs not sent because they had already finished. A report of
    a bulk still under way counts what has ended so far."""

    action: str
    results: list[ActionResult]
    skipped: list[str]

    @classmethod
    def combined(cls, action: str, reports: list[BulkReport]) -> BulkReport:
        """Several sites' bulks as one: the fleet view acts on jobs of many sites at once."""
        return cls(
            action, [r for report in reports for r in report.results], [j for rep in reports for j in rep.skipped]
        )

    def count(self, outcome: str) -> int:
        return sum(result.outcome == outcome for result in self.results)

    @property
    def all_ok(self) -> bool:
        return all(result.ok for result in self.results)

    @property
    def summary(self) -> str:
        """E.g. "21 cancellations requested, 4 refused, 47 skipped (already finished)"."""
        done = self.count(Outcome.SUCCESS)
        if self.action == Action.CANCEL:
            parts = [f"{done} cancellation{'' if done == 1 else 's'} requested"]
        else:
            parts = [f"{done} deleted"]
        parts += [f"{self.count(o)} {o}" for o in (Outcome.REFUSED, Outcome.FAILED) if self.count(o)]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped (already finished)")
        return ", ".join(parts)


# --- tokens ---------------------------------------------------------------------------


def connect(user, site: Site, *, username: str, password: str, expiration_minutes: int, via=Via.WEB) -> ActionResult:
    """Trade the operator's ArcGIS credentials for a token; the password is used once, never kept."""
    client = arcgis_client.AdminClient(connection_for(site))
    return _connect(
        user,
        site,
        via,
        lambda: (client.generate_token(username, password, expiration_minutes=expiration_minutes), username),
    )


def connect_with_token(user, site: Site, token: str, *, via=Via.WEB) -> ActionResult:
    """Store a token the operator pasted (e.g. from a federated Portal), once ArcGIS accepts it."""

    def check():
        arcgis_client.AdminClient(connection_for(site), token).list_folders()
        return arcgis_client.Token(token=token, expires=None), ""

    return _connect(user, site, via, check)


def _connect(user, site, via, obtain: Callable[[], tuple[arcgis_client.Token, str]]) -> ActionResult:
    [event] = audit.begin(user, site, Action.CONNECT, via, [("", "")])
    started = time.monotonic()
    try:
        result = _obtain_and_store(user, site, obtain)
    except Exception as exc:  # nothing may leave the audit row pending, not even a bug
        result = _unexpected(Action.CONNECT, None, exc)
    _complete([event], [_completion(result, time.monotonic() - started)])
    return result


def _obtain_and_store(user, site: Site, obtain: Callable[[], tuple[arcgis_client.Token, str]]) -> ActionResult:
    try:
        token, arcgis_username = obtain()
    except arcgis_client.ArcGISError as exc:
        return _failure(Action.CONNECT, None, exc, reconnect_hint=False)
    with transaction.atomic():
        # A token from the old address must not be kept once the site points elsewhere (change_site).
        now = Site.objects.select_for_update().filter(pk=site.pk).values(*Site.CONNECTION_FIELDS).first()
        if now != {field: getattr(site, field) for field in Site.CONNECTION_FIELDS}:
            return ActionResult(
                Action.CONNECT, Outcome.FAILED, "This site's address changed while you connected: reconnect."
            )
        stored, _ = StoredToken.objects.get_or_create(user=user, site=site, defaults={"ciphertext": b""})
        stored.token = token.token
        stored.expires = token.expires
        stored.arcgis_username = arcgis_username
        stored.source = StoredToken.GENERATED if arcgis_username else StoredToken.PASTED
        stored.connected_at = timezone.now()
        stored.invalid_since = None
        stored.save()
    who = f" as {arcgis_username}" if arcgis_username else ""
    until = f" until {timezone.localtime(token.expires):%Y-%m-%d %H:%M %Z}" if token.expires else ""
    return ActionResult(Action.CONNECT, Outcome.SUCCESS, f"Connected to {site.name}{who}{until}.")


def disconnect(user, site: Site, *, via=Via.WEB, by=None) -> ActionResult:
    """Delete the user's token for the site; `by` is the administrator who did it for them, if any."""
    actor = by or user
    deleted, _ = StoredToken.objects.filter(user=user, site=site).delete()
    if actor != user:
        message = f"Removed the token of {user.get_username()} for {site.name}."
    elif deleted:
        message = f"Disconnected from {site.name}; your token was deleted."
    else:
        message = "You were not connected."
    audit.record(actor, site, Action.DISCONNECT, message, via=via)
    return ActionResult(Action.DISCONNECT, Outcome.SUCCESS, message)


def record_site_change(user, site: Site, message: str, *, via=Via.ADMIN) -> None:
    """Site changes need no upstream call; they are recorded as completed at once."""
    audit.record(user, site, Action.SITE_CHANGE, message, via=via)


# --- sites ---------------------------------------------------------------------------


def site_changes(site: Site) -> dict[str, tuple[object, object]]:
    """Each field of `site` (not yet saved) that differs from the database, as (old, new); for a new
    site, each field that is set, with None as its old value."""
    fields = [f.name for f in Site._meta.concrete_fields if f.name not in ("id", "connection_changed")]
    saved = Site.objects.filter(pk=site.pk).values(*fields).first() if site.pk else None
    if saved is None:
        return {name: (None, getattr(site, name)) for name in fields if getattr(site, name) not in ("", None)}
    return {name: (saved[name], getattr(site, name)) for name in fields if saved[name] != getattr(site, name)}


def change_site(user, site: Site, changes: dict[str, tuple[object, object]], *, via=Via.ADMIN) -> int:
    """Save a new or changed site and audit each changed field with its old and new value, in one
    transaction. When where or how the site is reached changes (Site.CONNECTION_FIELDS), every stored
    token of the site is revoked at once: otherwise the next page would send each operator's token to
    the new address. Returns how many tokens were revoked."""
    created = site.pk is None
    moved = not created and any(name in Site.CONNECTION_FIELDS for name in changes)
    with transaction.atomic():
        if moved:
            site.connection_changed = timezone.now()
        site.save()
        revoked = StoredToken.objects.filter(site=site).delete()[0] if moved else 0
        if moved:
            signals.site_moved.send(sender=Site, site=site)
        described = audit.describe_changes(_site_shown(), changes, created)
        message = f"{'Added' if created else 'Changed'} site {audit.quoted(site.name)}: {described or 'nothing'}."
        if moved:
            message += f" Revoked {revoked} stored token{'' if revoked == 1 else 's'}: the address changed."
        record_site_change(user, site, message, via=via)
    return revoked


def _site_shown() -> dict[str, audit.Shown]:
    """How the audit trail tells each field of a site (never a secret: a CA bundle by its digest)."""
    fields = [f.name for f in Site._meta.concrete_fields if f.name not in ("id", "connection_changed")]
    Shown = audit.Shown
    return audit.shown_fields(
        Site,
        [*fields, "groups"],
        token_url=Shown("token URL", empty="none (the admin URL's own)", quote=False),
        referer=Shown("referer", empty="the portal's default", quote=False),
        ca_bundle=Shown("CA bundle", describe=lambda pem: ca_bundles.describe(pem or "")),
        connect_timeout=Shown("connect timeout", unit=" s"),
        read_timeout=Shown("read timeout", unit=" s"),
        action_timeout=Shown("action timeout", unit=" s"),
        groups=Shown("seen by", empty="everyone with a role"),
        running_long_factor=Shown("running long past", unit="× the usual time"),
        running_long_margin=Shown("running long past the usual time plus", unit=" min"),
        queued_long_minutes=Shown("queued long after", unit=" min"),
        cancel_stuck_minutes=Shown("cancel stuck after", unit=" min"),
    )


# --- job operations -------------------------------------------------------------------


def cancel_job(
    user, site, service, job_id, *, via=Via.WEB, via_detail: str = "", known: arcgis_client.Job | None = None
) -> ActionResult:
    targets = [ActionTarget(service, job_id)]
    return act(user, site, Action.CANCEL, targets, via=via, via_detail=via_detail, known={job_id: known})[0]


def delete_job(user, site, service, job_id, *, via=Via.WEB, via_detail: str = "") -> ActionResult:
    return act(user, site, Action.DELETE, [ActionTarget(service, job_id)], via=via, via_detail=via_detail)[0]


def purge_queue(user, site, service, *, via=Via.WEB, via_detail: str = "") -> ActionResult:
    return act(user, site, Action.PURGE, [ActionTarget(service)], via=via, via_detail=via_detail)[0]


def plan_bulk(
    action: str, targets: Iterable[ActionTarget], known: dict | None = None
) -> tuple[list[ActionTarget], list[str]]:
    """What a bulk sends, and the IDs it skips: a cancel is not sent for a job the portal last saw finished (a
    finished job never becomes cancellable again)."""
    if action not in (Action.CANCEL, Action.DELETE):
        raise ValueError(f"Bulk actions are cancel and delete, not {action!r}.")
    known = known or {}
    targets = list(dict.fromkeys(targets))
    if action != Action.CANCEL:
        return targets, []
    finished = {t for t in targets if (job := known.get(t.job_id)) is not None and job.is_terminal}
    return [t for t in targets if t not in finished], [t.job_id for t in targets if t in finished]


def bulk(
    user, site, action: str, targets: Iterable[ActionTarget], *, known=None, via=Via.BULK, via_detail: str = ""
) -> BulkReport:
    """Cancel or delete many jobs of a site (of one service or several), all at once (see plan_bulk)."""
    send, skipped = plan_bulk(action, targets, known)
    results = act(user, site, action, send, via=via, via_detail=via_detail, known=known) if send else []
    return BulkReport(action, results, skipped)


def act(
    user, site: Site, action: str, targets: list[ActionTarget], *, via, via_detail: str = "", known=None
) -> list[ActionResult]:
    """Act on jobs of one site: audit rows first, upstream calls concurrently, rows completed; a result per
    target, in their order. `known` maps job IDs to their last known state, so a successful cancel can show
    the row as CANCELLING without reading the job again. `via_detail` names what acted for the user (an API
    token, a policy), for the audit trail."""
    batches = act_in_batches(user, site, action, targets, via=via, via_detail=via_detail, known=known, every=None)
    return [result for batch in batches for result in batch]


def act_in_batches(
    user,
    site: Site,
    action: str,
    targets: list[ActionTarget],
    *,
    via,
    via_detail: str = "",
    known=None,
    every: float | None = 0.25,
) -> Iterator[list[ActionResult]]:
    """act(), its results as they come: whatever ended in each `every` seconds (None: all at once, in the targets'
    order), each batch's audit rows completed before it is handed on. Every row is written before any call.

    A caller that stops listening (a page that went away while its bulk streamed) does not stop the bulk: what
    the operator confirmed is carried out and recorded all the same; nothing is left pending, not even by a bug."""
    targets = [replace(t, job_id=t.job_id and arcgis_client.validate_job_id(t.job_id)) for t in dict.fromkeys(targets)]
    known = known or {}
    events = audit.begin(user, site, action, via, [(t.service.key, t.job_id) for t in targets], via_detail=via_detail)
    event_of = dict(zip(targets, events, strict=True))
    pending = set(targets)

    def record(batch: list[tuple[ActionTarget, ActionResult, float]]) -> list[ActionResult]:
        _complete([event_of[t] for t, _, _ in batch], [_completion(r, seconds) for _, r, seconds in batch])
        pending.difference_update(t for t, _, _ in batch)
        return [result for _, result, _ in batch]

    batches = _attempt_in_batches(user, site, action, targets, known, every)
    try:
        try:
            for batch in batches:
                yield record(batch)
        except (DatabaseError, audit.CompletionLost):  # the database went away: said so (a 503), nothing to record
            raise
        except Exception as exc:  # a bug (each job's own failure is caught where it happens): nothing left pending
            if pending:
                yield record([(t, _unexpected(action, t, exc), 0.0) for t in targets if t in pending])
    finally:
        try:
            for batch in batches:  # only when the caller stopped listening: carried out and recorded, not shown
                record(batch)
        except (DatabaseError, audit.CompletionLost):
            log.error(
                "%s of %s jobs on %s: the database went away; their audit rows stay pending",
                action,
                len(pending),
                site.slug,
            )
        except Exception as exc:
            if pending:
                record([(t, _unexpected(action, t, exc), 0.0) for t in targets if t in pending])


def _complete(events: list[AuditEvent], completions: list[audit.Completion]) -> None:
    """Complete the rows of an action ArcGIS may have carried out by now."""
    try:
        audit.complete(events, completions)
    except DatabaseError as exc:  # the rows stay pending; audit.complete logged each outcome first
        raise audit.CompletionLost(events[0].action if events else "action") from exc


def _attempt_in_batches(
    user, site: Site, action: str, targets: list[ActionTarget], known, every: float | None
) -> Iterator[list[tuple[ActionTarget, ActionResult, float]]]:
    rejections = stored_tokens.RejectionWatch(user, site)

    def attempt(target: ActionTarget) -> tuple[ActionResult, float]:
        started = time.monotonic()
        try:
            result = _attempt(client, action, target, known.get(target.job_id), rejections)
        except Exception as exc:  # one job's surprise is that job's failure, not the whole bulk's
            result = _unexpected(action, target, exc)
        return result, time.monotonic() - started

    try:
        client = stored_tokens.client_for(user, site)
        with site_slot(site):
            # attempt() catches everything, so each result is a (result, seconds) pair, never an ArcGISError.
            for batch in arcgis_client.in_batches(attempt, targets, settings.ARCGIS_MAX_CONCURRENCY, every):
                yield [(target, *cast(tuple[ActionResult, float], done)) for target, done in batch]
    except (stored_tokens.NotConnected, arcgis_client.SiteUnavailable) as exc:  # raised before any call is sent
        yield [(t, ActionResult(action, Outcome.FAILED, exc.message, t, reconnect=exc.reconnect), 0.0) for t in targets]
        return
    rejections.settle()


def _attempt(client, action: str, target: ActionTarget, known: arcgis_client.Job | None, rejections) -> ActionResult:
    try:
        _CALLS[action](client, target.service, target.job_id)
    except arcgis_client.ArcGISError as exc:
        rejections.saw(exc)
        return _with_real_state(client, _failure(action, target, exc), exc)
    return _success(action, target, known)


def _unexpected(action: str, target: ActionTarget | None, exc: Exception) -> ActionResult:
    """An error no layer expected (a bug, a library's surprise): logged with its traceback for the
    administrators, and a failure in words for the operator and the audit row."""
    log.error("unexpected %s during %s %s", type(exc).__name__, action, target, exc_info=exc)
    message = f"The portal failed unexpectedly ({type(exc).__name__}); the details are in its log."
    if action in _CALLS:
        message += f" {MAYBE_DONE}"
    return ActionResult(action, Outcome.FAILED, message, target)


def _completion(result: ActionResult, seconds: float) -> audit.Completion:
    return audit.Completion(result.outcome, result.message, result.code, seconds)


def _success(action: str, target: ActionTarget, known: arcgis_client.Job | None) -> ActionResult:
    if action == Action.DELETE:
        return ActionResult(action, Outcome.SUCCESS, SUCCESS_MESSAGES[action], target, gone=True)
    if action == Action.PURGE:
        return ActionResult(action, Outcome.SUCCESS, SUCCESS_MESSAGES[action], target)
    # The contract: a successful cancel moves the job to CANCELLING; the row's own refresh does the rest.
    if known:
        job = replace(known, status=arcgis_client.CANCELLING, ended=None)
    else:  # a row this worker never showed: its refresh fills in the other fields
        job = arcgis_client.Job(job_id=target.job_id, status=arcgis_client.CANCELLING)
    return ActionResult(action, Outcome.SUCCESS, SUCCESS_MESSAGES[action], target, job=job)


def _failure(
    action: str, target: ActionTarget | None, exc: arcgis_client.ArcGISError, *, reconnect_hint=True
) -> ActionResult:
    if isinstance(exc, arcgis_client.OperationRefused):
        return ActionResult(action, Outcome.REFUSED, exc.message, target, code=exc.code)
    reconnect = exc.reconnect and reconnect_hint
    message = exc.message + (" Reconnect with your ArcGIS account." if reconnect else "")
    return ActionResult(action, Outcome.FAILED, message, target, reconnect=reconnect, code=exc.code)


def _with_real_state(client, result: ActionResult, exc: arcgis_client.ArcGISError) -> ActionResult:
    """After a refusal or an ambiguous failure, read the job again: the server's state is the truth."""
    if not (result.outcome == Outcome.REFUSED or exc.ambiguous):
        return result
    # When the request may have been carried out and there is no job to re-read, say so.
    unknown = replace(result, message=f"{result.message} {MAYBE_DONE}") if exc.ambiguous else result
    target = result.target
    if target is None or not target.job_id:
        return unknown
    try:
        job = client.get_job(target.service, target.job_id)
    except arcgis_client.NotFound:
        job = None
    except arcgis_client.ArcGISError:
        return unknown
    found = "it no longer exists" if job is None else f"it is {'already ' if job.is_terminal else ''}{job.label}"
    if not exc.ambiguous:
        return replace(result, job=job, gone=job is None, found=found)
    if result.action == Action.DELETE:
        done = job is None
    else:
        done = job is not None and job.status in (arcgis_client.CANCELLING, arcgis_client.CANCELLED)
    if done:
        message = f"{SUCCESS_MESSAGES[result.action]} (the answer was lost; re-reading the job confirmed it)"
        return replace(result, outcome=Outcome.SUCCESS, message=message, job=job, gone=job is None)
    found = "it no longer exists" if job is None else f"it is {job.label}"
    return replace(result, message=f"{result.message} Re-reading the job: {found}.", job=job, gone=job is None)
