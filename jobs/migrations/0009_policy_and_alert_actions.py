"""Audit actions for cancel policies (created, changed, deleted) and alert channels."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0008_runaway_thresholds"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("cancel", "Cancel"),
                    ("delete", "Delete"),
                    ("purge", "Purge"),
                    ("connect", "Connect"),
                    ("disconnect", "Disconnect"),
                    ("site_change", "site change"),
                    ("api_token_created", "API token created"),
                    ("api_token_revoked", "API token revoked"),
                    ("api_token_refused", "API token refused"),
                    ("policy_created", "policy created"),
                    ("policy_changed", "policy changed"),
                    ("policy_deleted", "policy deleted"),
                    ("alerts_changed", "alert channel changed"),
                ],
                max_length=20,
            ),
        ),
    ]
