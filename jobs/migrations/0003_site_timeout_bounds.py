"""Bounded timeouts (security review, finding 3): existing values are brought within the bounds before the
database enforces them, and sites get a timeout of their own for cancel, delete and purge."""

import django.core.validators
from django.db import migrations, models

BOUNDS = {"connect_timeout": (0.5, 10.0), "read_timeout": (1.0, 60.0)}


def clamp_timeouts(apps, schema_editor):
    Site = apps.get_model("jobs", "Site")
    for site in Site.objects.all():
        for field, (low, high) in BOUNDS.items():
            value = getattr(site, field)
            # NaN compares false with everything: min/max would keep it, so it becomes the lower bound.
            setattr(site, field, min(max(value, low), high) if value == value else low)
        site.save(update_fields=list(BOUNDS))


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0002_roles"),
    ]

    operations = [
        migrations.AddField(
            model_name="site",
            name="action_timeout",
            field=models.FloatField(
                default=30.0,
                help_text="Seconds to wait for ArcGIS to answer a cancel, delete or purge (1–120).",
                validators=[
                    django.core.validators.MinValueValidator(1.0),
                    django.core.validators.MaxValueValidator(120.0),
                ],
                verbose_name="action timeout",
            ),
        ),
        migrations.AlterField(
            model_name="site",
            name="connect_timeout",
            field=models.FloatField(
                default=3.0,
                help_text="Seconds to wait for a connection (0.5–10).",
                validators=[
                    django.core.validators.MinValueValidator(0.5),
                    django.core.validators.MaxValueValidator(10.0),
                ],
                verbose_name="connect timeout",
            ),
        ),
        migrations.AlterField(
            model_name="site",
            name="read_timeout",
            field=models.FloatField(
                default=10.0,
                help_text="Seconds to wait for ArcGIS to answer a read (1–60).",
                validators=[
                    django.core.validators.MinValueValidator(1.0),
                    django.core.validators.MaxValueValidator(60.0),
                ],
                verbose_name="read timeout",
            ),
        ),
        migrations.RunPython(clamp_timeouts, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="site",
            constraint=models.CheckConstraint(
                condition=models.Q(("connect_timeout__gte", 0.5), ("connect_timeout__lte", 10.0)),
                name="site_connect_timeout_bounds",
            ),
        ),
        migrations.AddConstraint(
            model_name="site",
            constraint=models.CheckConstraint(
                condition=models.Q(("read_timeout__gte", 1.0), ("read_timeout__lte", 60.0)),
                name="site_read_timeout_bounds",
            ),
        ),
        migrations.AddConstraint(
            model_name="site",
            constraint=models.CheckConstraint(
                condition=models.Q(("action_timeout__gte", 1.0), ("action_timeout__lte", 120.0)),
                name="site_action_timeout_bounds",
            ),
        ),
    ]
