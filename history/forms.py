"""The history's filters: the fleet view's, with every status when none is ticked, a span of up to 90 days (the
last 7 by default), one job by its ID, and a cursor over the index instead of ArcGIS's pages."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from history.queries import MAX_PAGE_SIZE, PAGE_SIZE, HistoryQuery, decode_cursor
from jobs.forms import SPANS, ServiceFilterForm, span_choices, whole_values_note
from jobs.validators import job_id_validator

DEFAULT_WITHIN = "7d"
ANY_TIME = "all"
HISTORY_SPANS = SPANS | {"30d": ("Last 30 days", timedelta(days=30)), "90d": ("Last 90 days", timedelta(days=90))}


class HistoryFilterForm(ServiceFilterForm):
    """All in the query string, as the fleet view's: a history page can be bookmarked and shared."""

    field_order = ["status", "site", "folder", "service", "user", "machine", "job", "within", "since", "until"]
    status_help = "None ticked: every status."

    within = forms.ChoiceField(
        required=False,
        label="Submitted",
        choices=[*span_choices(HISTORY_SPANS), (ANY_TIME, "Any time")],
        widget=forms.Select(attrs={"data-default": DEFAULT_WITHIN}),  # a default is not a filter someone set
    )
    job = forms.CharField(required=False, max_length=64, validators=[job_id_validator], label="Job ID")
    before = forms.RegexField(required=False, regex=r"\A[0-9]{1,17}:[0-9]{1,19}\Z", widget=forms.HiddenInput)
    per_page = forms.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE, widget=forms.HiddenInput)

    def __init__(self, data=None, **kwargs):
        if data is not None:  # what the page uses when the query string says nothing is what the form shows
            data = data.copy()
            if not data.get("within"):
                data["within"] = DEFAULT_WITHIN
        super().__init__(data, **kwargs)

    def window_start(self):
        """From when: the date given, or the start of the recent span chosen (any time: all the index keeps)."""
        data = self.cleaned_data
        within = data.get("within") or DEFAULT_WITHIN
        if data.get("since") or within == ANY_TIME:
            return data.get("since")
        return timezone.now() - HISTORY_SPANS[within][1]

    def whole_values_note(self) -> str:
        return whole_values_note(self, ("folder", "service", "job", "user", "machine"))

    @property
    def plain_fields(self):
        return [self[name] for name in ("site", "folder", "service", "user", "machine", "job", "within")]

    def query(self) -> HistoryQuery:
        data = self.cleaned_data
        return HistoryQuery(
            statuses=tuple(data["status"]),
            site=data["site"],
            folder=data["folder"],
            service=data["service"],
            username=data["user"],
            machine=data["machine"],
            job_id=data["job"],
            since=self.window_start(),
            until=data["until"],
            cursor=decode_cursor(data["before"]) if data["before"] else None,
            page_size=data.get("per_page") or PAGE_SIZE,
        )
