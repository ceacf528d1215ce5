from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0011_provider_account_renewal_and_link_audit"),
        ("policies", "0004_alert_channel_owner"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="alertchannel",
            name="name",
            field=models.CharField(max_length=100),
        ),
        migrations.AlterField(
            model_name="policy",
            name="name",
            field=models.CharField(help_text='The audit trail says: via policy "<name>".', max_length=100),
        ),
        migrations.AddConstraint(
            model_name="alertchannel",
            constraint=models.UniqueConstraint(
                fields=("site", "name"),
                name="one_channel_name_per_site",
                violation_error_message="This site has an alert channel of that name already.",
            ),
        ),
        migrations.AddConstraint(
            model_name="alertchannel",
            constraint=models.UniqueConstraint(
                condition=models.Q(("site__isnull", True)),
                fields=("name",),
                name="one_channel_name_for_every_site",
                violation_error_message="There is an alert channel of that name for every site already.",
            ),
        ),
        migrations.AddConstraint(
            model_name="policy",
            constraint=models.UniqueConstraint(
                fields=("site", "name"),
                name="one_policy_name_per_site",
                violation_error_message="This site has a policy of that name already.",
            ),
        ),
    ]
