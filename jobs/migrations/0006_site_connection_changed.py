"""When a site's address or TLS settings last changed (security review, finding 1): stored tokens are revoked
at that moment, and operators are told why they must reconnect."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0005_ca_bundle_pem"),
    ]

    operations = [
        migrations.AddField(
            model_name="site",
            name="connection_changed",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="When where or how the site is reached last changed; every stored token was revoked then.",
                null=True,
            ),
        ),
    ]
