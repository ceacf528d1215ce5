"""The audit trail: writing it (before and after every action), its filters, its columns and its CSV writer."""

import csv
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django import forms
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from jobs.forms import DateTimeTextInput, FastForm, UtcDateTimeField
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


class AuditFilterForm(FastForm):
    user = forms.CharField(required=False, max_length=150)
    site = forms.SlugField(required=False)
    service = forms.CharField(required=False, max_length=250)
    job = forms.CharField(required=False, max_length=64, label="Job ID")
    action = forms.ChoiceField(required=False, choices=[("", "Any action"), *AuditEvent.Action.choices])
    outcome = forms.ChoiceField(required=False, choices=[("", "Any outcome"), *AuditEvent.Outcome.choices])
    since = UtcDateTimeField(required=False, widget=DateTimeTextInput(), label="From")
    until = UtcDateTimeField(required=False, widget=DateTimeTextInput(), label="To")

    def problems(self) -> str:
        """What needs a correction, in words: "From: Enter a date between the years 1 and 9999." """
        labels = {name: f"{field.label}: " for name, field in self.fields.items()}
        return " ".join(f"{labels.get(name, '')}{' '.join(errors)}" for name, errors in self.errors.items())

    def events(self, user) -> QuerySet[AuditEvent]:
        """The events this user may see (those of sites visible to them), filtered as asked."""
        events = AuditEvent.objects.all()
        if not user.is_superuser:
            # By the site itself, not its slug: a new site that reuses a slug reveals nothing of the old
            # one's history, and rows of deleted sites (no site any more) are for superusers only.
            events = events.filter(site__in=Site.objects.visible_to(user))
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


# OWASP's rule against CSV (formula) injection: a cell that starts with one of these, or whose first
# non-whitespace character is one of the first four, is shown by spreadsheets as text only if it starts
# with a single quote.
FORMULA_STARTS = ("=", "+", "-", "@")
CONTROL_STARTS = ("\t", "\r")


def csv_cell(value):
    """One cell of the export: dates in ISO 8601, text that could run as a formula neutralised."""
    if isinstance(value, str) and (value[:1] in CONTROL_STARTS or value.lstrip()[:1] in FORMULA_STARTS):
        return "'" + value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class _Echo:
    """A file that hands back what is written, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


def csv_lines(events: QuerySet[AuditEvent]) -> Iterable[str]:
    """The export, line by line (the csv module quotes and doubles embedded quotes)."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(CSV_COLUMNS)
        for row in events.values_list(*CSV_COLUMNS).iterator(chunk_size=2000):
            yield writer.writerow([csv_cell(value) for value in row])

    return lines()


# --- writing: every action is recorded before ArcGIS is called, and completed after ---------


def begin(
    user, site: Site | None, action: str, via: str, targets: list[tuple[str, str]], *, via_detail: str = ""
) -> list[AuditEvent]:
    """Pending rows, one per (service, job ID) target, written before any upstream call. `via_detail` names
    what acted for the user (e.g. token "deploy-script"); a row without a site (an account's API token) is
    shown to superusers only."""
    events = [
        AuditEvent(
            user=user,
            username=user.get_username(),
            site=site,
            site_slug=site.slug if site else "",
            site_name=site.name if site else "",
            service=service,
            job_id=job_id,
            action=action,
            via=via,
            via_detail=via_detail[:200],
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
    """The last completed portal action on each job, by anyone."""
    events = AuditEvent.objects.filter(site=site, service=service, job_id__in=job_ids).exclude(
        outcome=AuditEvent.Outcome.PENDING
    )
    latest = {}
    for event in events.order_by("-created", "-id")[: len(job_ids) * 5]:
        latest.setdefault(event.job_id, event)
    return latest
