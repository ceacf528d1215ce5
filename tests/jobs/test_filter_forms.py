"""The filter forms' fixed choices: shared by every form made from a form class (Django copied them for each form, most
of the cost of making one), yet each form's field and widget its own, and the choices offered, chosen and refused as
before."""

from __future__ import annotations

import copy

import pytest

from jobs.forms import AuditFilterForm, FixedChoices, FleetFilterForm, JobFilterForm

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("form_class", "name"),
    [
        (JobFilterForm, "status"),
        (JobFilterForm, "within"),
        (JobFilterForm, "sort"),
        (JobFilterForm, "per_page"),
        (FleetFilterForm, "status"),
        (FleetFilterForm, "order"),
        (AuditFilterForm, "action"),
    ],
)
def test_forms_of_one_class_share_its_fixed_choices_not_its_fields(form_class, name):
    first, second = form_class({}), form_class({})
    assert first.fields[name] is not second.fields[name]
    assert first.fields[name].widget is not second.fields[name].widget
    assert first.fields[name].choices is second.fields[name].choices is form_class.base_fields[name].choices
    assert first.fields[name].widget.choices is first.fields[name].choices


def test_choices_set_on_one_forms_field_stay_that_forms():
    mine = FleetFilterForm({}, sites=[])
    other = FleetFilterForm({}, sites=[])
    mine.fields["order"].choices = [("newest", "Newest first")]
    assert [value for value, _ in other.fields["order"].choices] == ["newest", "longest"]
    assert [value for value, _ in FleetFilterForm.base_fields["order"].choices] == ["newest", "longest"]
    assert 'value="longest"' in str(other["order"]) and 'value="longest"' not in str(mine["order"])


def test_a_fixed_choice_is_offered_chosen_and_an_unknown_one_refused():
    chosen = JobFilterForm({"status": "esriJobFailed", "per_page": "100"})
    assert chosen.is_valid(), chosen.errors
    assert chosen.cleaned_data["status"] == "esriJobFailed" and chosen.page_size == 100
    html = str(chosen["status"])
    assert '<option value="">Any status</option>' in html
    assert '<option value="esriJobFailed" selected>Failed</option>' in html

    refused = JobFilterForm({"status": "esriJobDone", "per_page": "7"})
    assert not refused.is_valid()
    assert "Select a valid choice. esriJobDone is not one of the available choices." in refused.errors["status"]
    assert "per_page" in refused.errors


def test_fixed_choices_are_normalised_once_and_cannot_be_changed_in_place():
    choices = FixedChoices({"a": "A", "Group": {"b": "B"}}.items())
    assert list(choices) == [("a", "A"), ("Group", [("b", "B")])]
    assert len(choices) == 2 and choices[1][0] == "Group"
    assert copy.copy(choices) is choices and copy.deepcopy(choices) is choices
    assert not hasattr(choices, "append") and isinstance(choices._choices, tuple)
