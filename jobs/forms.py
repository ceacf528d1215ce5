from datetime import UTC, datetime, timedelta

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.forms.renderers import Jinja2 as Jinja2Renderer
from django.utils import timezone
from django.utils.choices import BaseChoiceIterator, normalize_choices
from django.utils.datastructures import MultiValueDict

import arcgis_client
from jobs import audit, sorting
from jobs.models import AuditEvent
from jobs.queries import ActionTarget, FleetQuery, JobQuery
from jobs.validators import JOB_ID_PATTERN, job_id_validator, machine_validator, name_validator, username_validator

PAGE_SIZES = (25, 50, 100, 200)


class FixedChoices(BaseChoiceIterator):
    """Choices fixed when the form class is made, which every form made from it shares. Django deep-copies a choice
    field's choices for each form and normalises them again for its widget: for the jobs page's filters, most of the
    0.4 ms a form took to make. (Choices set on a form's own field replace these; nothing changes them in place.)"""

    def __init__(self, choices):
        self._choices = tuple(normalize_choices(choices))

    def __iter__(self):
        return iter(self._choices)

    def __len__(self) -> int:
        return len(self._choices)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class DateTimeTextInput(forms.DateTimeInput):
    """One tab stop, where a datetime-local input is seven; Django reads "2026-11-02 09:01" and "…T09:01"."""

    def __init__(self, **kwargs):
        attrs = {"placeholder": "YYYY-MM-DD HH:MM", "inputmode": "numeric", "size": 16, **kwargs.pop("attrs", {})}
        super().__init__(format="%Y-%m-%d %H:%M", attrs=attrs, **kwargs)


LATEST_MS = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp() * 1000)  # a cursor's time past this is no time
# The recent spans a filter offers ("Submitted: last hour"), by their key in the query string: words and length.
SPANS = {
    "1h": ("Last hour", timedelta(hours=1)),
    "6h": ("Last 6 hours", timedelta(hours=6)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
}


def span_choices(spans: dict[str, tuple[str, timedelta]]) -> list[tuple[str, str]]:
    return [(key, words) for key, (words, _) in spans.items()]


class UtcDateTimeField(forms.DateTimeField):
    """A date and time in the operator's time zone that must also exist in UTC, where the database and
    ArcGIS need it: 0001-01-01 00:00 at UTC+14 does not. With `epoch`, it must also be a time ArcGIS can
    be sent, in epoch milliseconds (from 1970 on)."""

    widget = DateTimeLocalInput

    def __init__(self, *, epoch: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.epoch = epoch

    def to_python(self, value):
        result = super().to_python(value)
        if result is None:
            return result
        try:
            millis = result.astimezone(UTC).timestamp() * 1000
        except (OverflowError, ValueError, OSError):
            raise forms.ValidationError("Enter a date between the years 1 and 9999.", code="out_of_range") from None
        if self.epoch and millis < 0:
            raise forms.ValidationError("Enter a date from 1970 on.", code="out_of_range")
        return result


# ArcGIS matches a user name exactly (jobs/query's userName): the empty field says so.
EXACT_NAME = forms.TextInput(attrs={"placeholder": "exact name", "title": "The exact ArcGIS user name"})


def filters_in_words(form: forms.Form) -> str:
    """What a valid filter form asks for, as its fields say it: "Status: Submitted · User: svc_batch · Submitted: Last
    hour" ("" for no filter). Hidden fields (sorting, paging) and a select left at its default are not filters."""
    words = []
    for name, field in form.fields.items():
        value = form.cleaned_data.get(name)
        if isinstance(field.widget, forms.HiddenInput) or value in (None, "", [], False):
            continue
        if str(value) == field.widget.attrs.get("data-default"):
            continue
        label = str(form[name].label)
        if isinstance(field, forms.BooleanField):
            words.append(label)
            continue
        choices = dict(getattr(field, "choices", []))
        if isinstance(value, list):
            shown = ", ".join(str(choices.get(item, item)) for item in value)
        elif isinstance(value, datetime):
            shown = timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
        else:
            shown = str(choices.get(value, choices.get(str(value), value)))
        words.append(f"{label}: {shown}")
    return " · ".join(words)


def whole_values_note(form: forms.Form, names: tuple[str, ...]) -> str:
    """Why a search for part of a name finds nothing: the filters matched whole, as asked, in words ("" when none
    is set), e.g. 'Job ID “j1” must be whole, exactly as ArcGIS names it: part of a name finds nothing.'"""
    if not form.is_valid():
        return ""
    asked = [(str(form[name].label), form.cleaned_data[name]) for name in names if form.cleaned_data.get(name)]
    if not asked:
        return ""
    listed = " and ".join(f"{label[0].lower()}{label[1:]} “{value}”" for label, value in asked)  # "job ID"
    listed = listed[0].upper() + listed[1:]
    them = "it" if len(asked) == 1 else "them"
    return f"{listed} must be whole, exactly as ArcGIS names {them}: part of a name finds nothing."


class Jinja2Form(forms.Form):
    """A form whose widgets render with Jinja2: Django's engine takes several milliseconds for a page's filters.
    (The Django admin keeps its own renderer: its widgets have templates for Django's engine only.)"""

    default_renderer = Jinja2Renderer()  # one, whose compiled templates every form shares

    def problems(self) -> str:
        """What needs a correction, in words, for a message on the page."""
        return problems_in_words(self)


class TimeRangeForm(Jinja2Form):
    """Filters on when jobs were submitted: a recent span, or from and to."""

    within = forms.ChoiceField(
        required=False,
        label="Submitted",
        choices=FixedChoices([("", "Any time"), *span_choices(SPANS)]),
    )
    since = UtcDateTimeField(required=False, epoch=True, widget=DateTimeTextInput(), label="From")
    until = UtcDateTimeField(required=False, epoch=True, widget=DateTimeTextInput(), label="To")

    def clean(self):
        data = super().clean()
        until = data.get("until")
        if until and "since" in data and "within" in data and (start := self.window_start()) and start > until:
            self.add_error("until", "The end of the time range is before its start.")
        return data

    def window_start(self):
        """From when: the date given, or the start of the recent span chosen."""
        data = self.cleaned_data
        if data["within"] and not data["since"]:
            return timezone.now() - SPANS[data["within"]][1]
        return data["since"]


class JobFilterForm(TimeRangeForm):
    """The jobs page's filters; all of it lives in the query string, so it can be bookmarked."""

    field_order = ["status", "user", "machine", "job", "within", "since", "until"]

    status = forms.ChoiceField(
        required=False,
        choices=FixedChoices(
            [("", "Any status"), *((s, arcgis_client.status_label(s)) for s in arcgis_client.QUERYABLE_STATUSES)]
        ),
    )
    user = forms.CharField(required=False, max_length=150, validators=[username_validator], widget=EXACT_NAME)
    machine = forms.CharField(required=False, max_length=255, validators=[machine_validator])
    job = forms.CharField(required=False, max_length=64, validators=[job_id_validator], label="Job ID")
    sort = forms.ChoiceField(
        required=False, choices=FixedChoices(sorting.choices(sorting.SERVICE_COLUMNS)), widget=forms.HiddenInput
    )
    per_page = forms.TypedChoiceField(
        required=False,
        choices=FixedChoices((n, n) for n in PAGE_SIZES),
        coerce=int,
        empty_value=50,  # type: ignore[arg-type]  # django-stubs wants a str; Django takes any value
        initial=50,
        label="Per page",
        widget=forms.Select(attrs={"data-default": "50"}),  # a default is not a filter someone set
    )
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000, widget=forms.HiddenInput)

    def __init__(self, data=None, **kwargs):
        # What the page uses when the query string says nothing is what the form shows.
        if data is not None:
            data = data.copy()
            data.setdefault("per_page", "50")
        super().__init__(data, **kwargs)

    @property
    def ordering(self) -> str:
        return self.cleaned_data.get("sort") or sorting.DEFAULT

    @property
    def page_size(self) -> int:
        return self.cleaned_data.get("per_page") or 50

    @property
    def page_number(self) -> int:
        return self.cleaned_data.get("page") or 1

    def whole_values_note(self) -> str:
        return whole_values_note(self, ("job", "user", "machine"))

    @property
    def looks_for_newer(self) -> bool:
        """The first page of a newest-first list, with no upper time bound: newer jobs would appear here."""
        data = self.cleaned_data
        return self.page_number == 1 and self.ordering == "-submitted" and not data.get("until") and not data.get("job")

    def query(self) -> JobQuery:
        """What ArcGIS's jobs/query is asked."""
        data = self.cleaned_data
        return JobQuery(
            status=data["status"] or None,
            username=data["user"] or None,
            machine=data["machine"] or None,
            since=self.window_start(),
            until=data["until"],
            start=(self.page_number - 1) * self.page_size + 1,
            number=self.page_size,
            oldest_first=self.ordering == "submitted",
        )


class ConnectForm(forms.Form):
    """ArcGIS credentials, used once to generate a token and never stored."""

    username = forms.CharField(max_length=150, label="ArcGIS username", validators=[username_validator])
    password = forms.CharField(
        label="ArcGIS password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    expiration = forms.TypedChoiceField(
        label="Token valid for",
        coerce=int,
        initial=480,
        choices=[(60, "1 hour"), (480, "8 hours"), (1440, "1 day"), (10080, "1 week")],
    )


class PasteTokenForm(forms.Form):
    token = forms.CharField(
        label="ArcGIS token",
        max_length=4096,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="For servers federated with Portal for ArcGIS: a token you generated there.",
        validators=[RegexValidator(r"\A[A-Za-z0-9._~+/=-]+\Z", "That does not look like an ArcGIS token.")],
    )


MAX_BULK = 500


class BulkForm(forms.Form):
    """Cancel or delete the selected jobs (checkboxes named job_ids), or every job the page's filters match."""

    action = forms.ChoiceField(choices=[("cancel", "Cancel"), ("delete", "Delete")])
    all_matching = forms.BooleanField(required=False)  # every job of the list, on every page: asked first
    filters = forms.CharField(required=False, max_length=4000)  # the list's query string, for all_matching
    data: MultiValueDict[str, str]  # request.POST, or the API's: the ticked boxes share one name

    def selected(self) -> list[str]:
        """The ticked values, each once, as many as a bulk may hold (none will do for all matching)."""
        values = list(dict.fromkeys(self.data.getlist("job_ids")))
        if not values and not self.cleaned_data.get("all_matching"):
            raise forms.ValidationError("Select at least one job.")
        if len(values) > MAX_BULK:
            raise forms.ValidationError(f"Select at most {MAX_BULK} jobs at once.")
        return values

    @property
    def shown(self) -> set[str]:
        """The IDs of the jobs whose rows the page shows (their rows are answered): those ticked, unless the
        selection came from a confirmation, which says which."""
        values = self.data.getlist("shown")[:MAX_BULK] or self.data.getlist("job_ids")[:MAX_BULK]
        return {value.rpartition(":")[2] for value in values}

    def clean(self):
        data = super().clean()
        job_ids = self.selected()
        for job_id in job_ids:
            job_id_validator(job_id)
        data["job_ids"] = job_ids
        return data


class ServiceFilterForm(TimeRangeForm):
    """The filters the fleet view and the history share, all in the query string: statuses, a site of those the user
    may see, a folder and a service (whole names), a user, a machine and when the jobs were submitted."""

    status = forms.MultipleChoiceField(
        required=False,
        choices=FixedChoices((s, arcgis_client.status_label(s)) for s in arcgis_client.QUERYABLE_STATUSES),
        widget=forms.CheckboxSelectMultiple,
    )
    site = forms.ChoiceField(required=False, label="Site")
    folder = forms.CharField(required=False, max_length=120, validators=[name_validator])
    service = forms.CharField(required=False, max_length=120, validators=[name_validator])
    user = forms.CharField(
        required=False, max_length=150, validators=[username_validator], label="User", widget=EXACT_NAME
    )
    machine = forms.CharField(required=False, max_length=255, validators=[machine_validator])
    status_help = ""  # what no status ticked means

    def __init__(self, data=None, *, sites=(), **kwargs):
        super().__init__(data, **kwargs)
        self.fields["site"].choices = [("", "All sites"), *((site.slug, site.name) for site in sites)]
        self.fields["status"].help_text = self.status_help


class FleetFilterForm(ServiceFilterForm):
    """The fleet view's filters. No status chosen means the active ones."""

    field_order = ["status", "site", "folder", "service", "user", "machine", "within", "since", "until"]
    status_help = "None ticked: the active ones (new, submitted, waiting, executing, cancelling)."

    running_long = forms.BooleanField(required=False, label="Running long only")
    order = forms.ChoiceField(
        required=False,
        choices=FixedChoices([("newest", "Newest first"), ("longest", "Longest running first")]),
        label="Order",
        widget=forms.Select(attrs={"data-default": "newest"}),  # a default is not a filter someone set
    )
    before = forms.RegexField(required=False, regex=rf"\A[0-9]{{1,16}}:{JOB_ID_PATTERN}\Z", widget=forms.HiddenInput)
    sort = forms.ChoiceField(
        required=False, choices=FixedChoices(sorting.choices(sorting.FLEET_COLUMNS)), widget=forms.HiddenInput
    )

    def clean_before(self):
        value = self.cleaned_data["before"]
        if value and int(value.split(":")[0]) > LATEST_MS:
            raise forms.ValidationError("This is not a page of this list: start from its first page.")
        return value

    def whole_values_note(self) -> str:
        return whole_values_note(self, ("folder", "service", "user", "machine"))

    @property
    def ordering(self) -> str:
        """The list's order: by submission (the order's choice) across pages, any other column within the page."""
        data = self.cleaned_data
        if data.get("sort"):
            return data["sort"]
        return "submitted" if data.get("order") == "longest" else sorting.DEFAULT

    def _oldest_first(self) -> bool:
        """By submission, oldest first: the sort chosen, or when the list is sorted within its pages, the order."""
        if sorting.across_pages(self.ordering):
            return self.ordering == "submitted"
        return self.cleaned_data["order"] == "longest"

    def sites_asked(self, sites: list) -> list:
        """Of the sites the user may see, those the filters ask (a restricted site the user may not see is never
        even asked)."""
        slug = self.cleaned_data["site"]
        return [site for site in sites if site.slug == slug] if slug else list(sites)

    @property
    def plain_fields(self):
        """The fields shown as a label over an input (status, the range and the check box have their own; the
        order is the table's: its headers and sort menu)."""
        return [self[name] for name in ("site", "folder", "service", "user", "machine", "within")]

    def query(self) -> FleetQuery:
        """What every GP service is asked."""
        data = self.cleaned_data
        cursor = None
        if data["before"]:
            ms, job_id = data["before"].split(":")
            cursor = (int(ms), job_id)
        return FleetQuery(
            statuses=tuple(data["status"]) or arcgis_client.ACTIVE_STATUSES,
            sites=(data["site"],) if data["site"] else (),
            folder=data["folder"],
            service=data["service"],
            username=data["user"] or None,
            machine=data["machine"] or None,
            since=self.window_start(),
            until=data["until"],
            running_long_only=data["running_long"],
            longest_first=self._oldest_first(),
            cursor=cursor,
        )


class FleetBulkForm(BulkForm):
    """Cancel or delete jobs ticked in the fleet view: each is "site:[folder/]service:jobId"."""

    def __init__(self, data=None, *, sites, **kwargs):
        super().__init__(data, **kwargs)
        self.sites = {site.slug: site for site in sites}

    def clean(self):
        data = forms.Form.clean(self)
        by_site: dict = {}
        for value in self.selected():
            slug, service, job_id = value.split(":") if value.count(":") == 2 else ("", "", "")
            site = self.sites.get(slug)
            try:
                ref = arcgis_client.ServiceRef.parse(service)
                arcgis_client.validate_job_id(job_id)
            except arcgis_client.InvalidName:
                site = None
            if site is None:
                raise forms.ValidationError("A selected job is not one of a site you may see.")
            by_site.setdefault(site, []).append(ActionTarget(ref, job_id))
        data["by_site"] = by_site
        return data


class AuditFilterForm(Jinja2Form):
    user = forms.CharField(required=False, max_length=150)
    site = forms.SlugField(required=False)
    service = forms.CharField(required=False, max_length=250)
    job = forms.CharField(required=False, max_length=64, label="Job ID")
    action = forms.ChoiceField(required=False, choices=FixedChoices([("", "Any action"), *AuditEvent.Action.choices]))
    outcome = forms.ChoiceField(
        required=False, choices=FixedChoices([("", "Any outcome"), *AuditEvent.Outcome.choices])
    )
    since = UtcDateTimeField(required=False, widget=DateTimeTextInput(), label="From")
    until = UtcDateTimeField(required=False, widget=DateTimeTextInput(), label="To")

    def events(self, user) -> QuerySet[AuditEvent]:
        """The events this user may see, filtered as asked; none while the filters need a correction."""
        if not self.is_valid():
            return audit.events_for(user).none()
        data = self.cleaned_data
        return audit.events_for(
            user,
            username=data["user"],
            site_slug=data["site"],
            service=data["service"],
            job_id=data["job"],
            action=data["action"],
            outcome=data["outcome"],
            since=data["since"],
            until=data["until"],
        )


def problems_in_words(form: forms.Form, *, by_name: bool = False) -> str:
    """What a form needs corrected, as one text: "From: Enter a valid date." on a page, or with `by_name` the
    parameter names a script sent ("since: Enter a valid date.")."""

    def where(name: str) -> str:
        if name == NON_FIELD_ERRORS:
            return ""
        if by_name or name not in form.fields:
            return f"{name}: "
        return f"{form[name].label}: "  # as the page names it: "Status", where the field's own label is unset

    # An ErrorList yields its messages as str (django-stubs says it may yield the ValidationErrors themselves).
    return " ".join(f"{where(name)}{' '.join(map(str, errors))}" for name, errors in form.errors.items())
