"""Alert channels are configured by Site admins here; deliveries are their record (read only). Every change to a
channel is audited, naming where it sends (a webhook's host and a fingerprint of its URL, never its secret path)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.views.decorators.http import require_POST

from jobs import audit
from jobs.admin import visible_sites
from jobs.models import AuditEvent, Site
from policies import alerts
from policies.forms import ChannelForm
from policies.models import AlertChannel, Delivery

AUDITED = ("name", "kind", "destination", "webhook URL", "events", "failure rate", "site", "enabled")
_WEBHOOK_URL = audit.Shown("webhook URL", describe=lambda digest: f"fingerprint {digest}" if digest else "none")
# How the audit trail tells each value: the kind and the events by their labels, a webhook URL by a fingerprint.
SHOWN = audit.shown_fields(
    AlertChannel,
    AUDITED,
    destination=audit.Shown("sends to", quote=False),
    **{
        "webhook URL": audit.Shown("webhook URL", describe=lambda digest: f"fingerprint {digest}" if digest else "none")
    },
    events=audit.Shown("events", choices=AlertChannel.EVENT_NAMES),
    **{"failure rate": audit.Shown("failure rate alert", empty="none", quote=False)},
    site=audit.Shown("site", empty="every site", quote=False),
)


def _snapshot(channel: AlertChannel) -> dict:
    return {
        "name": channel.name,
        "kind": channel.kind,
        "destination": channel.destination,
        "webhook URL": channel.url_fingerprint,
        "events": list(channel.events),
        "failure rate": channel.failure_rate_words,
        "site": channel.site.slug if channel.site else None,
        "enabled": channel.enabled,
    }


def sees_every_site(request) -> bool:
    return not Site.objects.exclude(pk__in=visible_sites(request)).exists()


def visible_channels(request):
    """The channels of the sites this admin may see, and their own. A channel for every site carries the alerts
    of every site its owner may see: only an admin who may see every site sees others' such channels, or may make
    one."""
    if sees_every_site(request):
        return AlertChannel.objects.all()
    return AlertChannel.objects.filter(Q(site__in=visible_sites(request)) | Q(owner=request.user))


def _record(request, channel: AlertChannel, message: str) -> None:
    site = channel.site if channel.site_id else None
    audit.record(request.user, site, AuditEvent.Action.ALERTS_CHANGED, message, via=AuditEvent.Via.ADMIN)


@admin.register(AlertChannel)
class AlertChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ("name", "kind", "destination", "site", "enabled")
    list_filter = ("kind", "enabled")
    actions = ["send_test_alert"]

    def get_queryset(self, request):
        return visible_channels(request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "site":
            kwargs["queryset"] = visible_sites(request)
            kwargs["required"] = not sees_every_site(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        before = _snapshot(AlertChannel.objects.get(pk=obj.pk)) if change else None
        if obj.owner_id is None:  # its maker; or whoever saves one that has no owner any more
            obj.owner = request.user
        super().save_model(request, obj, form, change)
        after = _snapshot(obj)
        name = audit.quoted(obj.name)
        if before is None:
            added = {field: (None, after[field]) for field in AUDITED if after[field] != ""}
            _record(request, obj, f"Added alert channel {name}: {audit.describe_changes(SHOWN, added, True)}.")
        elif changed := {field: (before[field], after[field]) for field in AUDITED if before[field] != after[field]}:
            _record(request, obj, f"Changed alert channel {name}: {audit.describe_changes(SHOWN, changed, False)}.")

    def delete_model(self, request, obj):
        where = f"{obj.get_kind_display()}, {obj.destination}"
        _record(request, obj, f"Deleted alert channel {audit.quoted(obj.name)} ({where}).")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for channel in queryset:
            self.delete_model(request, channel)

    def get_urls(self):
        send_test = self.admin_site.admin_view(require_POST(self.send_test_view))
        return [path("<int:pk>/send-test/", send_test, name="policies_alertchannel_send_test"), *super().get_urls()]

    def send_test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The list's "Send a test alert" action, from a channel's own page, for that one channel."""
        channels = self.get_queryset(request).filter(pk=pk)
        channel = get_object_or_404(channels)
        if not self.has_change_permission(request, channel):
            raise PermissionDenied
        self.send_test_alert(request, channels)
        return redirect("admin:policies_alertchannel_change", pk)

    @admin.action(description="Send a test alert", permissions=["change"])
    def send_test_alert(self, request, queryset):
        refusals = [refusal for channel in queryset if (refusal := alerts.send_test_alert(channel, request.user))]
        for refusal in refusals:
            self.message_user(request, refusal, messages.WARNING)
        if (queued := queryset.count() - len(refusals)) == 1:
            self.message_user(request, "Test alert queued: its delivery says whether it was sent.", messages.INFO)
        elif queued:
            self.message_user(
                request, "Test alerts queued: their deliveries say whether they were sent.", messages.INFO
            )


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """What was sent where, and what failed and why: a record, never changed here."""

    list_display = ("created", "title", "channel", "status", "attempts", "last_error", "sent_at")
    list_filter = ("status", "event", "channel")
    readonly_fields = [field.name for field in Delivery._meta.fields]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(channel__in=visible_channels(request)).select_related("channel")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
