from django import forms

EXPIRY_DAYS = [(7, "7 days"), (30, "30 days"), (90, "90 days"), (365, "1 year")]


class NewTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What will use it, e.g. deploy-script. The audit trail names it so."
    )
    days = forms.TypedChoiceField(label="Valid for", coerce=int, choices=EXPIRY_DAYS, initial=30)
