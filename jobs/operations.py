"""Every state-changing action of the portal, each one audited.

Views, the bulk proxy and the CLI all come through here. An AuditEvent is written
as *pending* before ArcGIS is called and completed afterwards, so even a crash
mid-call leaves a trace. Upstream calls for many jobs run concurrently, while all
database work stays on the caller's thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs import arcgis, ca_bundles
from jobs.crypto import TokenDecryptionError
from jobs.models import AuditEvent, Site, StoredToken

log = logging.getLogger(__name__)

Action = AuditEvent.Action
Result = AuditEvent.Outcome
Via = AuditEvent.Via

SUCCESS_MESSAGES = {
    Action.CANCEL: "Cancel requested",
    Action.DELETE: "Deleted",
    Action.PURGE: "Queue purged: every new, submitted and waiting job was cancelled",
}

MAYBE_DONE = "ArcGIS may still have carried it out."
ADDRESS_CHANGED = "This site's address changed: reconnect."

# What each job action asks of ArcGIS; purge has no job, so its target is "".
_CALLS: dict[str, Callable[[arcgis.AdminClient, arcgis.ServiceRef, str], None]] = {
    Action.CANCEL: lambda client, service, job_id: client.cancel_job(service, job_id),
    Action.DELETE: lambda client, service, job_id: client.delete_job(service, job_id),
    Action.PURGE: lambda client, service, _: client.purge_queue(service),
}


class NotConnected(Exception):
    """The operator has no usable token for the site."""

    def __init__(self, site: Site, reason: str):
        super().__init__(f"{reason} Connect to {site.name} with your ArcGIS account.")


@dataclass(frozen=True)
class Outcome:
    """What happened to one action, ready to show in a row or a message."""

    action: str
    result: str  # an AuditEvent.Outcome value
    message: str
    job_id: str = ""
    job: arcgis.Job | None = None  # the job's state as best known after the action
    reconnect: bool = False  # the operator's token is missing or was rejected
    gone: bool = False  # the job no longer exists on the server
    code: int | None = None  # ArcGIS's error code, when it answered with one

    @property
    def ok(self) -> bool:
        return self.result == Result.SUCCESS


# --- tokens ---------------------------------------------------------------------------


def stored_token(user, site: Site) -> StoredToken | None:
    return StoredToken.objects.filter(user=user, site=site).first()


def client_for(user, site: Site) -> arcgis.AdminClient:
    """An Administrator API client acting with the user's own token; raises NotConnected."""
    return client_with(site, stored_token(user, site))


def client_with(site: Site, token: StoredToken | None) -> arcgis.AdminClient:
    """The same, for a token already read (pages that also show it need not read it twice)."""
    if token is None:
        if site.connection_changed is not None:  # every token was revoked when the address changed
            raise NotConnected(site, ADDRESS_CHANGED)
        raise NotConnected(site, "You have no ArcGIS token for this site.")
    if token.invalid_since is not None:
        raise NotConnected(site, "ArcGIS rejected your token.")
    if token.is_expired:
        raise NotConnected(site, "Your ArcGIS token has expired.")
    try:
        secret = token.token
    except TokenDecryptionError as exc:
        raise NotConnected(site, str(exc)) from None
    return arcgis.AdminClient(site.connection(), secret)


def mark_token_rejected(user, site: Site, used_since: datetime) -> None:
    """ArcGIS answered 498/499 to a call made since `used_since`: that token must not be used
    again until the operator reconnects (a token connected after the call began is spared)."""
    StoredToken.objects.filter(user=user, site=site, invalid_since__isnull=True, connected_at__lte=used_since).update(
        invalid_since=timezone.now()
    )


def read(user, site: Site, call: Callable[[arcgis.AdminClient], object], client: arcgis.AdminClient | None = None):
    """A read-only call with the user's token (or the client made from it); a 498/499 answer
    marks the token rejected."""
    started = timezone.now()
    try:
        return call(client or client_for(user, site))
    except arcgis.TokenRejected:
        mark_token_rejected(user, site, started)
        raise


def connect(user, site: Site, *, username: str, password: str, expiration_minutes: int, via=Via.WEB) -> Outcome:
    """Trade the operator's ArcGIS credentials for a token; the password is used once, never kept."""

    def generate():
        client = arcgis.AdminClient(site.connection())
        return client.generate_token(username, password, expiration_minutes=expiration_minutes), username

    return _connect(user, site, via, generate)


def connect_with_token(user, site: Site, token: str, *, via=Via.WEB) -> Outcome:
    """Store a token the operator pasted (e.g. from a federated Portal), once ArcGIS accepts it."""

    def check():
        arcgis.AdminClient(site.connection(), token).list_folders()
        return arcgis.Token(token=token, expires=None), ""

    return _connect(user, site, via, check)


def _connect(user, site, via, obtain: Callable[[], tuple[arcgis.Token, str]]) -> Outcome:
    [event] = _start_events(user, site, Action.CONNECT, via, "", [""])
    started = time.monotonic()
    try:
        outcome = _obtain_and_store(user, site, obtain)
    except Exception as exc:  # nothing may leave the audit row pending, not even a bug
        outcome = _unexpected(Action.CONNECT, "", exc)
    _finish_events([event], [(outcome, time.monotonic() - started)])
    return outcome


def _obtain_and_store(user, site, obtain: Callable[[], tuple[arcgis.Token, str]]) -> Outcome:
    try:
        token, arcgis_username = obtain()
    except arcgis.ArcGISError as exc:
        return _failure(Action.CONNECT, "", exc, reconnect_hint=False)
    with transaction.atomic():
        # A token from the old address must not be kept once the site points elsewhere (change_site).
        now = Site.objects.select_for_update().filter(pk=site.pk).values(*Site.CONNECTION_FIELDS).first()
        if now != {field: getattr(site, field) for field in Site.CONNECTION_FIELDS}:
            return Outcome(Action.CONNECT, Result.FAILED, "This site's address changed while you connected: reconnect.")
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
    return Outcome(Action.CONNECT, Result.SUCCESS, f"Connected to {site.name}{who}{until}.")


def disconnect(user, site: Site, *, via=Via.WEB, by=None) -> Outcome:
    """Delete the user's token for the site; `by` is the administrator who did it for them, if any."""
    actor = by or user
    [event] = _start_events(actor, site, Action.DISCONNECT, via, "", [""])
    try:
        deleted, _ = StoredToken.objects.filter(user=user, site=site).delete()
    except Exception as exc:  # e.g. the database went away: the row says so if it can be written at all
        outcome = _unexpected(Action.DISCONNECT, "", exc)
    else:
        if actor != user:
            message = f"Removed the token of {user.get_username()} for {site.name}."
        elif deleted:
            message = f"Disconnected from {site.name}; your token was deleted."
        else:
            message = "You were not connected."
        outcome = Outcome(Action.DISCONNECT, Result.SUCCESS, message)
    _finish_events([event], [(outcome, 0.0)])
    return outcome


def record_site_change(user, site: Site, message: str, *, via=Via.ADMIN) -> None:
    """Site changes need no upstream call; they are recorded as completed at once."""
    [event] = _start_events(user, site, Action.SITE_CHANGE, via, "", [""])
    _finish_events([event], [(Outcome(Action.SITE_CHANGE, Result.SUCCESS, message), 0.0)])


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
        described = "; ".join(_describe_change(name, old, new, created) for name, (old, new) in changes.items())
        message = f"{'Added' if created else 'Changed'} site: {described or 'nothing'}."
        if moved:
            message += f" Revoked {revoked} stored token{'' if revoked == 1 else 's'}: the address changed."
        record_site_change(user, site, message, via=via)
    return revoked


def _describe_change(name: str, old, new, created: bool) -> str:
    """name 'old' → 'new', in words anyone who may read the audit trail may see (never a secret)."""

    def show(value) -> str:
        if name == "ca_bundle":
            return ca_bundles.describe(value or "")
        if isinstance(value, list | tuple):
            return "[" + ", ".join(map(str, value)) + "]"
        return repr(value) if isinstance(value, str) else str(value)

    return f"{name} {show(new)}" if created else f"{name} {show(old)} → {show(new)}"


# --- job operations -------------------------------------------------------------------


def cancel_job(user, site, service, job_id, *, via=Via.WEB, known: arcgis.Job | None = None) -> Outcome:
    return perform(user, site, service, Action.CANCEL, [job_id], via=via, known={job_id: known})[0]


def delete_job(user, site, service, job_id, *, via=Via.WEB) -> Outcome:
    return perform(user, site, service, Action.DELETE, [job_id], via=via)[0]


def purge_queue(user, site, service, *, via=Via.WEB) -> Outcome:
    return perform(user, site, service, Action.PURGE, [""], via=via)[0]


def bulk(user, site, service, action: str, job_ids: Iterable[str], *, known=None) -> list[Outcome]:
    if action not in (Action.CANCEL, Action.DELETE):
        raise ValueError(f"Bulk actions are cancel and delete, not {action!r}.")
    return perform(user, site, service, action, job_ids, via=Via.BULK, known=known)


def perform(user, site, service: arcgis.ServiceRef, action, targets, *, via, known=None) -> list[Outcome]:
    """Act on jobs of one service: audit rows first, upstream calls concurrently, rows completed.

    `known` maps job IDs to their last known state, so a successful cancel can show
    the row as CANCELLING without reading the job again.
    """
    targets = [t and arcgis.validate_job_id(t) for t in dict.fromkeys(targets)]
    events = _start_events(user, site, action, via, service.key, targets)
    try:
        results = _attempt_all(user, site, service, action, targets, known or {})
    except Exception as exc:  # nothing may leave the audit rows pending, not even a bug
        results = [(_unexpected(action, target, exc), 0.0) for target in targets]
    _finish_events(events, results)
    return [outcome for outcome, _ in results]


def _attempt_all(user, site, service, action, targets, known) -> list[tuple[Outcome, float]]:
    token_used_since = timezone.now()
    try:
        client = client_for(user, site)
    except NotConnected as exc:
        return [(Outcome(action, Result.FAILED, str(exc), target, reconnect=True), 0.0) for target in targets]

    def attempt(target: str) -> tuple[Outcome, float]:
        started = time.monotonic()
        try:
            outcome = _attempt(client, service, action, target, known.get(target))
        except Exception as exc:  # one job's surprise is that job's failure, not the whole bulk's
            outcome = _unexpected(action, target, exc)
        return outcome, time.monotonic() - started

    # attempt() catches everything, so each result is an (outcome, seconds) pair.
    results = arcgis.run_concurrently(attempt, targets, settings.ARCGIS_MAX_CONCURRENCY)
    if any(outcome.reconnect for outcome, _ in results):
        mark_token_rejected(user, site, token_used_since)
    return results


def _attempt(client, service, action: str, target: str, known: arcgis.Job | None) -> Outcome:
    try:
        _CALLS[action](client, service, target)
    except arcgis.ArcGISError as exc:
        return _with_real_state(client, service, _failure(action, target, exc), exc)
    return _success(action, target, known)


def _unexpected(action: str, job_id: str, exc: Exception) -> Outcome:
    """An error no layer expected (a bug, a library's surprise): logged with its traceback for the
    administrators, and a failure in words for the operator and the audit row."""
    log.error("unexpected %s during %s %s", type(exc).__name__, action, job_id, exc_info=exc)
    message = f"The portal failed unexpectedly ({type(exc).__name__}); the details are in its log."
    if action in _CALLS:
        message += f" {MAYBE_DONE}"
    return Outcome(action, Result.FAILED, message, job_id)


def _success(action: str, job_id: str, known: arcgis.Job | None) -> Outcome:
    if action == Action.DELETE:
        return Outcome(action, Result.SUCCESS, SUCCESS_MESSAGES[action], job_id, gone=True)
    # The contract: a successful cancel moves the job to CANCELLING; the row's own refresh does the rest.
    if known:
        job = replace(known, status=arcgis.CANCELLING, ended=None)
    else:  # a row this worker never showed: its refresh fills in the other fields
        job = arcgis.Job(job_id=job_id, status=arcgis.CANCELLING)
    return Outcome(action, Result.SUCCESS, SUCCESS_MESSAGES[action], job_id, job=job)


def _failure(action: str, job_id: str, exc: arcgis.ArcGISError, *, reconnect_hint=True) -> Outcome:
    if isinstance(exc, arcgis.OperationRefused):
        return Outcome(action, Result.REFUSED, exc.message, job_id, code=exc.code)
    rejected = isinstance(exc, arcgis.TokenRejected)
    message = exc.message
    if rejected and reconnect_hint:
        message += " Reconnect with your ArcGIS account."
    return Outcome(action, Result.FAILED, message, job_id, reconnect=rejected and reconnect_hint, code=exc.code)


def _with_real_state(client, service, outcome: Outcome, exc: arcgis.ArcGISError) -> Outcome:
    """After a refusal or an ambiguous failure, read the job again: the server's state is the truth."""
    if not (outcome.result == Result.REFUSED or exc.ambiguous):
        return outcome
    # When the request may have been carried out and there is no job to re-read, say so.
    unknown = replace(outcome, message=f"{outcome.message} {MAYBE_DONE}") if exc.ambiguous else outcome
    if not outcome.job_id:
        return unknown
    try:
        job = client.get_job(service, outcome.job_id)
    except arcgis.NotFound:
        job = None
    except arcgis.ArcGISError:
        return unknown
    if not exc.ambiguous:
        return replace(outcome, job=job, gone=job is None)
    if outcome.action == Action.DELETE:
        done = job is None
    else:
        done = job is not None and job.status in (arcgis.CANCELLING, arcgis.CANCELLED)
    if done:
        message = f"{SUCCESS_MESSAGES[outcome.action]} (the answer was lost; re-reading the job confirmed it)"
        return replace(outcome, result=Result.SUCCESS, message=message, job=job, gone=job is None)
    state = "it no longer exists" if job is None else f"it is {job.label}"
    return replace(outcome, message=f"{outcome.message} Re-reading the job: {state}.", job=job, gone=job is None)


# --- audit trail ----------------------------------------------------------------------


def _start_events(user, site: Site, action: str, via: str, service: str, targets: list[str]) -> list[AuditEvent]:
    events = [
        AuditEvent(
            user=user,
            username=user.get_username(),
            site=site,
            site_slug=site.slug,
            site_name=site.name,
            service=service,
            job_id=target,
            action=action,
            via=via,
        )
        for target in targets
    ]
    with transaction.atomic():
        if len(events) == 1:
            events[0].save(force_insert=True)
        else:
            AuditEvent.objects.bulk_create(events)
    return events


def _finish_events(events: list[AuditEvent], results: list[tuple[Outcome, float]]) -> None:
    finished = timezone.now()
    for event, (outcome, seconds) in zip(events, results, strict=True):
        event.outcome = outcome.result
        event.message = outcome.message
        # Whatever a server calls its error code, only a plausible one fits the column.
        event.upstream_code = outcome.code if outcome.code is not None and 0 <= outcome.code <= 2**31 - 1 else None
        event.duration_ms = round(seconds * 1000)
        event.finished = finished
        log.info(
            "audit user=%s action=%s site=%s service=%s job=%s outcome=%s",
            event.username,
            event.action,
            event.site_slug,
            event.service,
            event.job_id,
            event.outcome,
        )
    fields = ["outcome", "message", "upstream_code", "duration_ms", "finished"]
    # One UPDATE per row, all in one transaction: for a 500-job bulk action this takes a
    # fraction of the time bulk_update spends building its CASE expressions.
    with transaction.atomic():
        for event in events:
            event.save(update_fields=fields)
