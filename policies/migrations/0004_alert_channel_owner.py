"""An alert channel has an owner, the Site admin who made it: it carries the alerts of the sites they may see. For
channels made before, the owner is whoever the audit trail says added it."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def owners_from_the_audit_trail(apps, schema_editor):
    AlertChannel = apps.get_model("policies", "AlertChannel")
    AuditEvent = apps.get_model("jobs", "AuditEvent")
    for channel in AlertChannel.objects.filter(owner__isnull=True):
        added = (
            AuditEvent.objects.filter(
                action="alerts_changed", message__startswith=f"Added alert channel {channel.name!r}:"
            )
            .exclude(user__isnull=True)
            .order_by("created")
            .first()
        )
        if added is not None:
            AlertChannel.objects.filter(pk=channel.pk).update(owner_id=added.user_id)


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0003_webhook_url_encrypted_at_rest"),
        ("jobs", "0011_provider_account_renewal_and_link_audit"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="alertchannel",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                help_text="The Site admin who made it: it carries the alerts of the sites they may see now.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(owners_from_the_audit_trail, migrations.RunPython.noop),
    ]
