"""Cancel policies and their runs; alert channels, their deliveries, and what was alerted once."""

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import jobs.validators
import policies.models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("jobs", "0009_policy_and_alert_actions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AlertChannel",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100, unique=True)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("webhook", "Webhook (JSON)"),
                            ("slack", "Slack incoming webhook"),
                            ("teams", "Microsoft Teams workflow webhook"),
                            ("email", "E-mail"),
                        ],
                        max_length=10,
                    ),
                ),
                (
                    "url",
                    models.URLField(
                        blank=True,
                        help_text="https only; redirects are never followed.",
                        max_length=1000,
                        verbose_name="webhook URL",
                    ),
                ),
                (
                    "recipients",
                    models.TextField(blank=True, help_text="E-mail addresses, separated by commas or new lines."),
                ),
                ("events", models.JSONField(default=list, help_text="What this channel is told about.")),
                ("enabled", models.BooleanField(default=True)),
                (
                    "site",
                    models.ForeignKey(
                        blank=True,
                        help_text="Only this site's alerts. Empty: every site.",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        to="jobs.site",
                    ),
                ),
            ],
            options={
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="Policy",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "name",
                    models.CharField(
                        help_text='The audit trail says: via policy "<name>".', max_length=100, unique=True
                    ),
                ),
                (
                    "services",
                    models.CharField(
                        default="*",
                        help_text="Folder/Name patterns, separated by spaces: Hydrology/* (a folder), "
                        "*/FloodModel (a name in any folder), Buffer (a service of the root folder), "
                        "* (every GP service).",
                        max_length=500,
                        validators=[jobs.validators.validate_service_patterns],
                        verbose_name="GP services",
                    ),
                ),
                (
                    "statuses",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text="None ticked: new, submitted, waiting and executing jobs.",
                        validators=[policies.models.validate_statuses],
                    ),
                ),
                (
                    "username",
                    models.CharField(
                        blank=True,
                        help_text="An ArcGIS user name.",
                        max_length=150,
                        validators=[
                            django.core.validators.RegexValidator(
                                "\\A[\\w.@\\\\-]{1,150}\\Z", "Letters, digits and . _ - @ \\ only."
                            )
                        ],
                        verbose_name="submitted by",
                    ),
                ),
                (
                    "machine",
                    models.CharField(
                        blank=True,
                        max_length=255,
                        validators=[
                            django.core.validators.RegexValidator(
                                "\\A[A-Za-z0-9._-]{1,255}\\Z", "A host name: letters, digits, dots and hyphens."
                            )
                        ],
                    ),
                ),
                (
                    "running_minutes",
                    models.PositiveIntegerField(
                        blank=True,
                        null=True,
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(10080),
                        ],
                        verbose_name="running longer than (minutes)",
                    ),
                ),
                (
                    "running_long",
                    models.BooleanField(
                        default=False,
                        help_text="Executing far longer than the service usually takes (its baseline).",
                        verbose_name="running long",
                    ),
                ),
                (
                    "queued_minutes",
                    models.PositiveIntegerField(
                        blank=True,
                        null=True,
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(10080),
                        ],
                        verbose_name="queued longer than (minutes)",
                    ),
                ),
                (
                    "action",
                    models.CharField(
                        choices=[("cancel", "Cancel"), ("delete", "Delete")], default="cancel", max_length=10
                    ),
                ),
                (
                    "mode",
                    models.CharField(
                        choices=[("manual", "Manual: preview, then act"), ("scheduled", "Scheduled")],
                        default="manual",
                        max_length=10,
                    ),
                ),
                (
                    "every_minutes",
                    models.PositiveIntegerField(
                        default=15,
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(1440),
                        ],
                        verbose_name="every (minutes)",
                    ),
                ),
                (
                    "max_jobs",
                    models.PositiveIntegerField(
                        default=50,
                        help_text="When more jobs match, a run acts on none of them, records why and alerts.",
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(500),
                        ],
                        verbose_name="at most jobs per run",
                    ),
                ),
                ("enabled", models.BooleanField(default=False, help_text="Runs on its schedule.")),
                (
                    "paused_reason",
                    models.CharField(blank=True, help_text="Why the policy paused itself.", max_length=500),
                ),
                ("next_run_at", models.DateTimeField(blank=True, db_index=True, editable=False, null=True)),
                ("created", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                (
                    "owner",
                    models.ForeignKey(
                        help_text="The operator whose stored ArcGIS token acts on the schedule.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="policies",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "site",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="policies", to="jobs.site"
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "policies",
                "ordering": ["name"],
                "permissions": [("manage_all_policies", "Can manage every operator's cancel policies")],
            },
        ),
        migrations.CreateModel(
            name="AlertedJob",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("service", models.CharField(max_length=250)),
                ("job_id", models.CharField(max_length=64)),
                ("created", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                (
                    "site",
                    models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="jobs.site"),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("site", "service", "job_id"), name="one_alert_per_job")
                ],
            },
        ),
        migrations.CreateModel(
            name="Delivery",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "event",
                    models.CharField(
                        choices=[
                            ("running_long", "A job starts running long"),
                            ("policy_acted", "A scheduled policy run acted"),
                            ("policy_stopped", "A policy paused itself or held back a run"),
                            ("site_down", "A site stopped answering, and came back"),
                        ],
                        max_length=20,
                    ),
                ),
                ("title", models.CharField(max_length=300)),
                ("text", models.TextField()),
                ("link", models.URLField(blank=True, max_length=1000)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("sending", "Sending"),
                            ("sent", "Sent"),
                            ("failed", "Failed"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("last_error", models.TextField(blank=True)),
                ("created", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                (
                    "due_at",
                    models.DateTimeField(default=django.utils.timezone.now, help_text="When the next attempt is due."),
                ),
                ("claimed_at", models.DateTimeField(blank=True, null=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                (
                    "channel",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="policies.alertchannel",
                    ),
                ),
                (
                    "site",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="jobs.site",
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "deliveries",
                "ordering": ["-created", "-id"],
                "indexes": [models.Index(fields=["status", "due_at"], name="delivery_due")],
            },
        ),
        migrations.CreateModel(
            name="PolicyRun",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("manual", "Manual"), ("scheduled", "Scheduled")], max_length=10)),
                (
                    "scheduled_for",
                    models.DateTimeField(blank=True, help_text="The schedule's time this run claimed.", null=True),
                ),
                ("started", models.DateTimeField(default=django.utils.timezone.now)),
                ("finished", models.DateTimeField(blank=True, null=True)),
                ("username", models.CharField(blank=True, help_text="Whose token read and acted.", max_length=150)),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("preview", "previewed"),
                            ("running", "Running"),
                            ("acted", "Acted"),
                            ("nothing", "nothing to do"),
                            ("held", "held back (too many jobs)"),
                            ("paused", "Paused"),
                            ("failed", "Failed"),
                            ("expired", "preview expired"),
                        ],
                        default="running",
                        max_length=10,
                    ),
                ),
                ("matched", models.PositiveIntegerField(default=0)),
                ("acted", models.PositiveIntegerField(default=0, help_text="Jobs ArcGIS cancelled or deleted.")),
                (
                    "skipped",
                    models.PositiveIntegerField(default=0, help_text="Listed jobs that no longer matched when acting."),
                ),
                ("refused", models.PositiveIntegerField(default=0)),
                ("failed", models.PositiveIntegerField(default=0)),
                (
                    "planned",
                    models.JSONField(
                        blank=True, default=list, help_text="The jobs found: service, job ID, status, why."
                    ),
                ),
                (
                    "results",
                    models.JSONField(blank=True, default=list, help_text="What happened to each: outcome and message."),
                ),
                ("reason", models.TextField(blank=True, help_text="Why the run did nothing, or what else happened.")),
                (
                    "policy",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="runs", to="policies.policy"
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-started", "-id"],
                "constraints": [
                    models.UniqueConstraint(fields=("policy", "scheduled_for"), name="one_run_per_scheduled_time")
                ],
            },
        ),
        migrations.CreateModel(
            name="SiteOutage",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("since", models.DateTimeField(help_text="Its first failure, as the circuit breaker counted it.")),
                ("alerted", models.DateTimeField(default=django.utils.timezone.now)),
                ("ended", models.DateTimeField(blank=True, null=True)),
                (
                    "site",
                    models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="jobs.site"),
                ),
            ],
            options={
                "ordering": ["-since"],
                "constraints": [models.UniqueConstraint(fields=("site", "since"), name="one_outage_per_start")],
            },
        ),
    ]
