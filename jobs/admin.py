from django.contrib import admin
from django.db import models

from jobs import operations
from jobs.models import TIMEOUT_BOUNDS, AuditEvent, ServiceThresholds, Site, StoredToken


def visible_sites(request):
    """The sites this admin user could see in the portal: the admin shows no more (superusers see all)."""
    return Site.objects.filter(pk__in=Site.objects.visible_to(request.user).values("pk"))


class ServiceThresholdsInline(admin.TabularInline):
    """A service that runs longer (or queues longer) than its site's others gets thresholds of its own."""

    model = ServiceThresholds
    extra = 0


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "admin_url", "certificate_check")
    # An address typed without a scheme means https (Django 6's default; sites need https anyway).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    search_fields = ("name", "slug", "admin_url")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("groups",)
    readonly_fields = ("connection_changed",)
    fieldsets = (
        (None, {"fields": ("name", "slug", "admin_url", "token_url", "referer", "connection_changed")}),
        (
            "TLS and timeouts",
            {"fields": ("ca_bundle", "insecure", "connect_timeout", "read_timeout", "action_timeout")},
        ),
        ("Access", {"fields": ("groups",)}),
        (
            "Flagging jobs (fleet view)",
            {"fields": ("running_long_factor", "running_long_margin", "queued_long_minutes", "cancel_stuck_minutes")},
        ),
    )
    inlines = [ServiceThresholdsInline]

    def get_queryset(self, request):
        return visible_sites(request)

    @admin.display(description="TLS certificate", ordering="insecure")
    def certificate_check(self, site: Site) -> str:
        """In words: a red cross for "skip TLS verification: off" read as a fault, when off is the safe setting."""
        if site.insecure:
            return "Not checked (test server)"
        return "Checked against its CA bundle" if site.ca_bundle else "Checked against the system's CAs"

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in TIMEOUT_BOUNDS:  # the bounds in the form too: min/max on the input, errors by name
            low, high = TIMEOUT_BOUNDS[db_field.name]
            kwargs |= {"min_value": low, "max_value": high}
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        """Saved through the one audited function: a changed address revokes the site's stored tokens."""
        changes = operations.site_changes(obj)
        if "groups" in form.changed_data:  # saved after this, with the form's other many-to-many data
            old = sorted(obj.groups.values_list("name", flat=True)) if change else []
            changes["groups"] = (old, sorted(group.name for group in form.cleaned_data["groups"]))
        revoked = operations.change_site(request.user, obj, changes, via=AuditEvent.Via.ADMIN)
        if revoked:
            self.message_user(request, f"The address changed: {revoked} stored token(s) of operators were revoked.")

    def delete_model(self, request, obj):
        operations.record_site_change(request.user, obj, "Deleted site.")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for site in queryset:
            self.delete_model(request, site)


@admin.register(StoredToken)
class StoredTokenAdmin(admin.ModelAdmin):
    """Who is connected where; the token itself is never shown."""

    list_display = ("user", "site", "arcgis_username", "source", "expires", "invalid_since")
    # Only sites among the rows shown, so a restricted site's name is not offered as a filter either.
    list_filter = (("site", admin.RelatedOnlyFieldListFilter), "source")
    fields = ("user", "site", "arcgis_username", "source", "connected_at", "expires", "invalid_since")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).filter(site__in=visible_sites(request))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        """Removing an operator's token (e.g. someone who left) is a disconnect, audited."""
        operations.disconnect(obj.user, obj.site, via=AuditEvent.Via.ADMIN, by=request.user)

    def delete_queryset(self, request, queryset):
        for stored in queryset.select_related("user", "site"):
            self.delete_model(request, stored)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Append-only: viewable, never added, changed or deleted here."""

    list_display = ("created", "username", "action", "site_slug", "service", "job_id", "outcome", "message")
    list_filter = ("action", "outcome", "via", "site_slug")  # its values come from get_queryset's rows
    search_fields = ("username", "job_id", "service", "message")
    date_hierarchy = "created"

    def get_queryset(self, request):
        """As on the audit page: rows of sites this user may see; rows of deleted sites for superusers."""
        events = super().get_queryset(request)
        return events if request.user.is_superuser else events.filter(site__in=visible_sites(request))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
