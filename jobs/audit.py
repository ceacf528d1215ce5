"""The audit trail: writing it (before and after every action), its filters and its CSV export."""

import csv
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from django import forms
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from jobs.forms import DateTimeLocalInput
from jobs.models import AuditEvent, Site

log = logging.getLogger(__name__)

# The export's columns: everything an audit row holds.
CSV_COLUMNS = [
    "created",
    "finished",
    "username",
    "site_slug",
    "service",
    "job_id",
    "action",
    "via",
    "outcome",
    "message",
    "upstream_code",
    "duration_ms",
]


class AuditFilterForm(forms.Form):
    user = forms.CharField(required=False, max_length=150)
    site = forms.SlugField(required=False)
    service = forms.CharField(required=False, max_length=250)
    job = forms.CharField(required=False, max_length=64, label="Job ID")
    action = forms.ChoiceField(required=False, choices=[("", "Any action"), *AuditEvent.Action.choices])
    outcome = forms.ChoiceField(required=False, choices=[("", "Any outcome"), *AuditEvent.Outcome.choices])
    since = forms.DateTimeField(required=False, widget=DateTimeLocalInput(), label="From")
    until = forms.DateTimeField(required=False, widget=DateTimeLocalInput(), label="To")

    def events(self, user) -> QuerySet[AuditEvent]:
        """The events this user may see (those of sites visible to them), filtered as asked."""
        events = AuditEvent.objects.all()
        if not user.is_superuser:
            events = events.filter(site_slug__in=Site.objects.visible_to(user).values("slug"))
        if not self.is_valid():
            return events.none()
        data = self.cleaned_data
        exact = {
            "username": data["user"],
            "site_slug": data["site"],
            "job_id": data["job"],
            "action": data["action"],
            "outcome": data["outcome"],
        }
        events = events.filter(**{field: value for field, value in exact.items() if value})
        if data["service"]:
            events = events.filter(service__icontains=data["service"])
        if data["since"]:
            events = events.filter(created__gte=data["since"])
        if data["until"]:
            events = events.filter(created__lte=data["until"])
        return events


class _Echo:
    """csv.writer's file: each row comes back as text, to be streamed."""

    def write(self, value: str) -> str:
        return value


def csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    """The export, streamed: a header, then a line per event, cells safe for spreadsheets."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for row in events.values_list(*CSV_COLUMNS).iterator(chunk_size=2000):
        yield writer.writerow([_csv_safe(value) for value in row])


def _csv_safe(value):
    """Keep spreadsheet programs from running a cell that starts like a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# --- writing: every action is recorded before ArcGIS is called, and completed after ---------


def begin(user, site: Site, action: str, via: str, targets: list[tuple[str, str]]) -> list[AuditEvent]:
    """Pending rows, one per (service, job ID) target, written before any upstream call."""
    events = [
        AuditEvent(
            user=user,
            username=user.get_username(),
            site=site,
            site_slug=site.slug,
            service=service,
            job_id=job_id,
            action=action,
            via=via,
        )
        for service, job_id in targets
    ]
    with transaction.atomic():
        if len(events) == 1:
            events[0].save(force_insert=True)
        else:
            AuditEvent.objects.bulk_create(events)
    return events


@dataclass(frozen=True)
class Completion:
    outcome: str  # an AuditEvent.Outcome value
    message: str
    code: int | None = None  # ArcGIS's error code, when it answered with one
    seconds: float = 0.0


def complete(events: list[AuditEvent], completions: list[Completion]) -> None:
    finished = timezone.now()
    for event, done in zip(events, completions, strict=True):
        event.outcome = done.outcome
        event.message = done.message
        # Whatever a server calls its error code, only a plausible one fits the column.
        event.upstream_code = done.code if done.code is not None and 0 <= done.code <= 2**31 - 1 else None
        event.duration_ms = round(done.seconds * 1000)
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


def record(user, site: Site, action: str, message: str, *, via: str) -> None:
    """An action with no upstream call (site changes, disconnects): recorded as completed at once."""
    complete(begin(user, site, action, via, [("", "")]), [Completion(AuditEvent.Outcome.SUCCESS, message)])


def latest_events(site: Site, service: str, job_ids: list[str]) -> dict[str, AuditEvent]:
    """The last completed portal action on each job, by anyone."""
    events = AuditEvent.objects.filter(site_slug=site.slug, service=service, job_id__in=job_ids).exclude(
        outcome=AuditEvent.Outcome.PENDING
    )
    latest = {}
    for event in events.order_by("-created", "-id")[: len(job_ids) * 5]:
        latest.setdefault(event.job_id, event)
    return latest
