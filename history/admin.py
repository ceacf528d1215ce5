"""Site admins set, replace and remove each site's monitoring account here. Its password or token goes into a
password field and is never shown again (not even as dots); how the account fares is shown read-only. Every change
is audited, without the secret."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from history import monitoring
from history.models import MonitoringAccount
from jobs.admin import visible_sites
from jobs.models import AuditEvent

SECRET_HELP = (
    "The account's password (with a username), or a long-lived token (without one). Kept encrypted and never shown "
    "again: leave it empty to keep the one stored."
)


class MonitoringAccountForm(forms.ModelForm):
    secret = forms.CharField(
        label="Password or token",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=SECRET_HELP,
    )

    class Meta:
        model = MonitoringAccount
        fields = ["site", "username"]
        help_texts = {"username": "A read-only ArcGIS account; empty when the secret is a token."}

    def clean(self):
        data = super().clean()
        account = self.instance
        if not data.get("secret"):
            if account.pk is None:
                self.add_error("secret", "Enter the account's password, or a token.")
            elif data.get("username", "") != account.username:
                self.add_error("secret", "A new username needs its password (a token: empty the username).")
        return data


@admin.register(MonitoringAccount)
class MonitoringAccountAdmin(admin.ModelAdmin):
    form = MonitoringAccountForm
    list_display = ("site", "kind", "username", "last_ok", "failing_since", "problem")
    list_filter = ("kind", "problem_kind")
    status_fields = ("kind", "last_ok", "failing_since", "problem", "token_expires", "last_pass", "last_pass_took")
    fieldsets = ((None, {"fields": ("site", "username", "secret")}),)

    @admin.display(description="Last pass took")
    def last_pass_took(self, obj: MonitoringAccount) -> str:
        return "—" if obj.last_pass_seconds is None else f"{obj.last_pass_seconds:.2f} s"

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.fieldsets
        return (*self.fieldsets, ("How it fares", {"fields": self.status_fields}))

    def get_readonly_fields(self, request, obj=None):
        # An account stays with its site: another site's is set there.
        return ("site", *self.status_fields) if obj is not None else ()

    def get_queryset(self, request):
        return super().get_queryset(request).filter(site__in=visible_sites(request)).select_related("site")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "site":
            kwargs["queryset"] = visible_sites(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        """Through the one audited function; without a new secret nothing changes."""
        secret = form.cleaned_data.get("secret")
        if not secret:
            return
        username = obj.username.strip()
        monitoring.set_account(
            obj.site,
            request.user,
            username=username,
            password=secret if username else "",
            token="" if username else secret,
            via=AuditEvent.Via.ADMIN,
        )
        obj.pk = MonitoringAccount.objects.values_list("pk", flat=True).get(site=obj.site)  # for the admin's log

    def delete_model(self, request, obj):
        monitoring.remove_account(obj.site, request.user, via=AuditEvent.Via.ADMIN)

    def delete_queryset(self, request, queryset):
        for account in queryset.select_related("site"):
            self.delete_model(request, account)
