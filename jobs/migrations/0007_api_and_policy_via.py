"""Actions by the JSON API (personal API tokens) and by cancel policies: `via` api/policy, `via_detail` naming
the token or policy, and the audited life of an API token (created, revoked, refused)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0006_site_connection_changed"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="via_detail",
            field=models.CharField(
                blank=True, help_text='Which API token or policy acted, e.g. token "deploy-script".', max_length=200
            ),
        ),
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
                ],
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="via",
            field=models.CharField(
                choices=[
                    ("web", "Web"),
                    ("bulk", "Bulk"),
                    ("cli", "Cli"),
                    ("admin", "Admin"),
                    ("api", "API"),
                    ("policy", "Policy"),
                ],
                default="web",
                max_length=10,
            ),
        ),
    ]
