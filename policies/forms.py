from django import forms

import arcgis_client
from policies.matching import Criteria
from policies.models import DEFAULT_STATUSES, STATUS_CHOICES, AlertChannel, Policy

# A cancel can only stop a job that has not finished (or is not already being cancelled).
CANCELLABLE = {arcgis_client.NEW, arcgis_client.SUBMITTED, arcgis_client.WAITING, arcgis_client.EXECUTING}


class PolicyForm(forms.ModelForm):
    statuses = forms.MultipleChoiceField(
        choices=STATUS_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: new, submitted, waiting and executing jobs.",
    )

    class Meta:
        model = Policy
        fields = Policy.EDITABLE_FIELDS
        labels = {"enabled": "Enabled: run on its schedule"}
        help_texts = {"enabled": "Off, it waits: you can still preview it and act on the preview."}

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        self.fields["site"].empty_label = None

    def clean(self):
        data = super().clean()
        statuses = set(data.get("statuses") or DEFAULT_STATUSES)
        if data.get("action") == Policy.Action.CANCEL and not statuses <= CANCELLABLE:
            self.add_error("statuses", "A cancel policy chooses among new, submitted, waiting and executing jobs.")
        criteria = Criteria(
            frozenset(statuses),
            running_minutes=data.get("running_minutes"),
            running_long=bool(data.get("running_long")),
            queued_minutes=data.get("queued_minutes"),
        )
        if criteria.timed and not criteria.asked_statuses:
            self.add_error(
                "statuses",
                "No ticked status can meet the time conditions: running ones need Executing, queued ones "
                "New, Submitted or Waiting.",
            )
        return data


class ChannelForm(forms.ModelForm):
    """An alert channel in the Django admin: its events as check boxes."""

    events = forms.MultipleChoiceField(choices=AlertChannel.Event.choices, widget=forms.CheckboxSelectMultiple)
    # Not the model's field: the URL is stored encrypted and never shown again (its path is often its secret).
    url = forms.URLField(
        label="Webhook URL",
        required=False,
        max_length=1000,
        assume_scheme="https",
        help_text="https, to a public address; redirects are never followed. Stored encrypted and never shown "
        "again: leave it empty to keep the current one. Empty for e-mail.",
    )

    class Meta:
        model = AlertChannel
        fields = [
            "name",
            "kind",
            "url",
            "recipients",
            "events",
            "failure_rate_percent",
            "failure_rate_min_jobs",
            "site",
            "enabled",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("failure_rate_percent", "failure_rate_min_jobs"):  # empty: the usual value
            self.fields[name].required = False

    def clean_failure_rate_percent(self):
        return self.cleaned_data.get("failure_rate_percent") or AlertChannel.FAILURE_RATE_PERCENT

    def clean_failure_rate_min_jobs(self):
        return self.cleaned_data.get("failure_rate_min_jobs") or AlertChannel.FAILURE_RATE_MIN_JOBS

    def _post_clean(self):
        if url := self.cleaned_data.get("url"):
            self.instance.url = url  # before the model's own checks (its address among them) run
        super()._post_clean()
