"""The audit trail: writing it (before and after every action), reading it as each user may, its CSV export, and
the words it tells a change in (each changed value as a person would write it, never as Python shows it)."""

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models import QuerySet
from django.utils import timezone

from jobs import csv_export
from jobs.models import AuditEvent, Site

log = logging.getLogger(__name__)

# The export's columns: everything an audit row holds.
CSV_COLUMNS = [
    "created",
    "finished",
    "username",
    "site_slug",
    "site_name",
    "service",
    "job_id",
    "action",
    "via",
    "via_detail",
    "outcome",
    "message",
    "upstream_code",
    "duration_ms",
]


def events_for(
    user,
    *,
    username: str = "",
    site_slug: str = "",
    service: str = "",
    job_id: str = "",
    action: str = "",
    outcome: str = "",
    since=None,
    until=None,
) -> QuerySet[AuditEvent]:
    """The events this user may see (those of sites visible to them), filtered as asked (empty: any)."""
    events = AuditEvent.objects.all()
    if not user.is_superuser:
        # By the site itself, not its slug: a new site that reuses a slug reveals nothing of the old
        # one's history, and rows of deleted sites (no site any more) are for superusers only.
        events = events.filter(site__in=Site.objects.visible_to(user))
    exact = {"username": username, "site_slug": site_slug, "job_id": job_id, "action": action, "outcome": outcome}
    events = events.filter(**{field: value for field, value in exact.items() if value})
    if service:
        events = events.filter(service__icontains=service)
    if since:
        events = events.filter(created__gte=since)
    if until:
        events = events.filter(created__lte=until)
    return events


def csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    """The export, line by line."""
    return csv_export.lines(CSV_COLUMNS, events.values_list(*CSV_COLUMNS).iterator(chunk_size=2000))


# --- writing: every action is recorded before ArcGIS is called, and completed after ---------


def begin(
    user, site: Site | None, action: str, via: str, targets: list[tuple[str, str]], *, via_detail: str = ""
) -> list[AuditEvent]:
    """Pending rows, one per (service, job ID) target, written before any upstream call. `via_detail` names
    what acted for the user (e.g. token "deploy-script"); a row without a site (an account's API token) is
    shown to superusers only."""
    shared = {
        "created": timezone.now(),
        "user": user,
        "username": user.get_username(),
        "site": site,
        "site_slug": site.slug if site else "",
        "site_name": site.name if site else "",
        "action": action,
        "via": via,
        "via_detail": via_detail[:200],
    }
    events = [AuditEvent(**shared, service=service, job_id=job_id) for service, job_id in targets]
    with transaction.atomic():
        _insert(events)
    return events


# How begin() writes its rows: INSERTs of many rows, their keys returned, each value shared by every row (all but the
# service and the job ID) prepared once. Through the ORM's bulk_create, preparing every value of every row of 500
# took longer than the database took to write them, while every job waited for its row; a lone row's save() cost a
# cancel more than the INSERT itself.
_VARYING = ("service", "job_id")


def _insert(events: list[AuditEvent]) -> None:
    database = connections[router.db_for_write(AuditEvent)]  # (PostgreSQL, SQLite 3.35+: both return rows)
    quote, meta = database.ops.quote_name, AuditEvent._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(field.pre_save(events[0], add=True), database) for field in fields]
    varying = [i for i, field in enumerate(fields) if field.name in _VARYING]
    row = f"({', '.join(['%s'] * len(fields))})"
    columns = ", ".join(quote(field.column) for field in fields)
    per_insert = max(database.ops.bulk_batch_size(fields, events), 1)
    with database.cursor() as cursor:
        for first in range(0, len(events), per_insert):
            batch = events[first : first + per_insert]
            params: list = []
            for event in batch:
                for i, name in zip(varying, _VARYING, strict=True):
                    values[i] = getattr(event, name)
                params += values
            sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {', '.join([row] * len(batch))}"  # noqa: S608
            cursor.execute(f"{sql} RETURNING {quote(meta.pk.column)}", params)
            for event, (pk,) in zip(batch, cursor.fetchall(), strict=True):
                event.pk = pk
                event._state.adding, event._state.db = False, database.alias


class CompletionLost(Exception):
    """ArcGIS was called, but the database stopped answering before the audit rows could be completed: they stay
    pending (the outcome is in the portal's log), and whoever acted must hear that it may have been carried out."""

    def __init__(self, action: str):
        self.action = action
        super().__init__(f"the database stopped answering before the {action} could be recorded as done")


@dataclass(frozen=True)
class Completion:
    outcome: str  # an AuditEvent.Outcome value
    message: str
    code: int | None = None  # ArcGIS's error code, when it answered with one
    seconds: float = 0.0


# How complete() writes a row: one UPDATE, run by the database driver for each row (executemany). Through the ORM a
# bulk of 500 built 500 UPDATEs, or one whose CASE expressions took longer to build than the rows to write.
_COMPLETED = ("outcome", "message", "upstream_code", "duration_ms", "finished")
LOGGED_JOBS = 100  # job IDs per line of the portal's log


def complete(events: list[AuditEvent], completions: list[Completion]) -> None:
    finished = timezone.now()
    for event, done in zip(events, completions, strict=True):
        event.outcome = done.outcome
        event.message = done.message
        # Whatever a server calls its error code, only a plausible one fits the column.
        event.upstream_code = done.code if done.code is not None and 0 <= done.code <= 2**31 - 1 else None
        event.duration_ms = round(done.seconds * 1000)
        event.finished = finished
    _log_outcomes(events)
    database = connections[router.db_for_write(AuditEvent)]
    quote, meta = database.ops.quote_name, AuditEvent._meta
    columns = {field.name: field.column for field in meta.concrete_fields}
    assigned = ", ".join(f"{quote(columns[name])} = %s" for name in _COMPLETED)
    sql = f"UPDATE {quote(meta.db_table)} SET {assigned} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608 - names only
    when = database.ops.adapt_datetimefield_value(finished)
    rows = [(e.outcome, e.message, e.upstream_code, e.duration_ms, when, e.pk) for e in events]
    with transaction.atomic(using=database.alias), database.cursor() as cursor:
        cursor.executemany(sql, rows)


def _log_outcomes(events: list[AuditEvent]) -> None:
    """Each outcome goes to the portal's log before its row is written (should the database be gone by then, the log
    still has it): a line per service and outcome, naming its jobs."""
    jobs: dict[tuple[str, str, str, str, str], list[str]] = {}
    for event in events:
        key = (event.username, event.action, event.site_slug, event.service, event.outcome)
        jobs.setdefault(key, []).append(event.job_id)
    for (username, action, site_slug, service, outcome), job_ids in jobs.items():
        for first in range(0, len(job_ids), LOGGED_JOBS):
            named = ",".join(job_ids[first : first + LOGGED_JOBS])
            log.info(
                "audit user=%s action=%s site=%s service=%s job=%s outcome=%s",
                username,
                action,
                site_slug,
                service,
                named,
                outcome,
            )


def record(
    user,
    site: Site | None,
    action: str,
    message: str,
    *,
    via: str,
    via_detail: str = "",
    outcome: str = AuditEvent.Outcome.SUCCESS,
) -> None:
    """An action with no upstream call (site changes, disconnects, API tokens): recorded as completed at once."""
    events = begin(user, site, action, via, [("", "")], via_detail=via_detail)
    complete(events, [Completion(outcome, message)])


def latest_events(site: Site, service: str, job_ids: list[str]) -> dict[str, AuditEvent]:
    """The last completed portal action on each job, by anyone; the service in any case, as ArcGIS matches it."""
    events = AuditEvent.objects.filter(site=site, service__iexact=service, job_id__in=job_ids).exclude(
        outcome=AuditEvent.Outcome.PENDING
    )
    latest: dict[str, AuditEvent] = {}
    for event in events.order_by("-created", "-id")[: len(job_ids) * 5]:
        latest.setdefault(event.job_id, event)
    return latest


# --- words: a change, as a person would write it ------------------------------------------------


def quoted(text: str) -> str:
    """A name or other free text as the portal quotes it in a sentence."""
    return f"“{text}”"


@dataclass(frozen=True)
class Shown:
    """How the audit trail names one field and shows its values: a choice by its label, a switch as on or off,
    a number with its unit, free text quoted, an empty value by what it means."""

    label: str
    unit: str = ""  # after a number: " s", " min"
    empty: str = "none"  # what an empty value means, e.g. "every site"
    choices: Mapping[str, str] = field(default_factory=dict)  # a stored value → its label
    describe: Callable[[Any], str] | None = None  # for a value none of the above fits
    quote: bool = True  # a name is quoted in a sentence; an address or a slug is not

    def words(self, value: Any) -> str:
        if self.describe is not None:
            return self.describe(value)
        if value is None or value == "" or value == [] or value == ():
            return self.empty
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, list | tuple):
            return ", ".join(self.choices.get(str(item), str(item)) for item in value)
        if str(value) in self.choices:  # a Choices member is a str whose str() is its stored value
            return self.choices[str(value)]
        if isinstance(value, int | float):
            return f"{value:g}{self.unit}"
        return quoted(str(value)) if self.quote else str(value)

    def change(self, old: Any, new: Any, created: bool) -> str:
        return f"{self.label}: {self.words(new)}" if created else f"{self.label}: {self.words(old)} → {self.words(new)}"


def shown_fields(model, names: Iterable[str], **overrides: Shown) -> dict[str, Shown]:
    """Each field by its model's own name for it (verbose_name) and choices, unless `overrides` says otherwise."""
    shown = {}
    for name in names:
        if name in overrides:
            shown[name] = overrides[name]
            continue
        model_field = model._meta.get_field(name)
        choices = {str(value): str(label) for value, label in getattr(model_field, "flatchoices", None) or []}
        quote = not isinstance(model_field, models.URLField | models.SlugField)
        shown[name] = Shown(str(getattr(model_field, "verbose_name", name)), choices=choices, quote=quote)
    return shown


def describe_changes(shown: Mapping[str, Shown], changes: Mapping[str, tuple[Any, Any]], created: bool) -> str:
    """ "name: “Main site” → “Renamed”; read timeout: 10 s → 20 s", in the order of `shown`; for something new
    each value alone ("name: “North”")."""
    return "; ".join(shown[name].change(*changes[name], created) for name in shown if name in changes)
