"""Cancel policies, their runs, alert channels and the alerts delivered on them."""

import hashlib
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, validate_email
from django.db import models
from django.utils import timezone

import arcgis_client
from jobs.crypto import TokenDecryptionError, decrypt_text, encrypt_text
from jobs.models import Site
from jobs.validators import machine_validator, username_validator, validate_service_patterns
from policies import webhooks

# What a policy may ask for: every status ArcGIS can be queried for; none chosen means DEFAULT_STATUSES.
STATUS_CHOICES = [(status, arcgis_client.status_label(status)) for status in arcgis_client.QUERYABLE_STATUSES]
DEFAULT_STATUSES = (
    arcgis_client.NEW,
    arcgis_client.SUBMITTED,
    arcgis_client.WAITING,
    arcgis_client.EXECUTING,
)  # queued or executing
MINUTES = [MinValueValidator(1), MaxValueValidator(7 * 24 * 60)]


def validate_statuses(value) -> None:
    known = {status for status, _ in STATUS_CHOICES}
    if not isinstance(value, list) or not set(value) <= known:
        raise ValidationError("Choose statuses ArcGIS knows.")


class Policy(models.Model):
    """A rule for jobs to cancel or delete: which jobs of which services of a site, acted on by its owner's token,
    by hand after a preview or on a schedule."""

    class Action(models.TextChoices):
        CANCEL = "cancel"
        DELETE = "delete"

    class Mode(models.TextChoices):
        MANUAL = "manual", "Manual: preview, then act"
        SCHEDULED = "scheduled", "Scheduled"

    # What its owner edits, in the order the form and the audit trail show it.
    EDITABLE_FIELDS = (
        "name",
        "site",
        "services",
        "statuses",
        "username",
        "machine",
        "running_minutes",
        "running_long",
        "queued_minutes",
        "action",
        "mode",
        "every_minutes",
        "max_jobs",
        "enabled",
    )

    # Unique on its site only: a name taken on a site someone may not see tells them nothing.
    name = models.CharField(max_length=100, help_text='The audit trail says: via policy "<name>".')
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="policies")
    services = models.CharField(
        "GP services",
        max_length=500,
        default="*",
        validators=[validate_service_patterns],
        help_text="Folder/Name patterns, separated by spaces: Hydrology/* (a folder), */FloodModel (a name in any "
        "folder), Buffer (a service of the root folder), * (every GP service).",
    )
    statuses = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_statuses],
        help_text="None ticked: new, submitted, waiting and executing jobs.",
    )
    username = models.CharField(
        "submitted by", max_length=150, blank=True, validators=[username_validator], help_text="An ArcGIS user name."
    )
    machine = models.CharField(max_length=255, blank=True, validators=[machine_validator])
    running_minutes = models.PositiveIntegerField(
        "running longer than (minutes)", null=True, blank=True, validators=MINUTES
    )
    running_long = models.BooleanField(
        "running long", default=False, help_text="Executing far longer than the service usually takes (its baseline)."
    )
    queued_minutes = models.PositiveIntegerField(
        "queued longer than (minutes)", null=True, blank=True, validators=MINUTES
    )
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.CANCEL)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.MANUAL)
    every_minutes = models.PositiveIntegerField(
        "every (minutes)", default=15, validators=[MinValueValidator(1), MaxValueValidator(24 * 60)]
    )
    max_jobs = models.PositiveIntegerField(
        "at most jobs per run",
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(500)],
        help_text="When more jobs match, a run acts on none of them, records why and alerts.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="policies",
        help_text="The operator whose stored ArcGIS token acts on the schedule.",
    )
    enabled = models.BooleanField(default=False, help_text="Runs on its schedule.")
    paused_reason = models.CharField(max_length=500, blank=True, help_text="Why the policy paused itself.")
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "policies"
        permissions = [("manage_all_policies", "Can manage every operator's cancel policies")]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "name"],
                name="one_policy_name_per_site",
                violation_error_message="This site has a policy of that name already.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        """How the audit trail names it (AuditEvent.via_detail)."""
        return f'policy "{self.name}"'

    @property
    def patterns(self) -> tuple[str, ...]:
        return tuple(self.services.split())

    @property
    def chosen_statuses(self) -> tuple[str, ...]:
        return tuple(self.statuses) or DEFAULT_STATUSES

    @property
    def scheduled(self) -> bool:
        return self.mode == self.Mode.SCHEDULED

    @property
    def action_verb(self) -> str:
        return "Cancel" if self.action == self.Action.CANCEL else "Delete"

    @property
    def matches_text(self) -> str:
        """What it matches, in words: "Submitted jobs of Hydrology/*, submitted by svc_batch, queued longer than 30
        min"."""
        statuses = ", ".join(arcgis_client.status_label(status) for status in self.chosen_statuses)
        parts = [f"{statuses} jobs of {' '.join(self.patterns)}"]
        if self.username:
            parts.append(f"submitted by {self.username}")
        if self.machine:
            parts.append(f"on {self.machine}")
        conditions = [f"running longer than {self.running_minutes} min"] if self.running_minutes else []
        conditions += ["running long by the service's usual time"] if self.running_long else []
        conditions += [f"queued longer than {self.queued_minutes} min"] if self.queued_minutes else []
        if conditions:
            parts.append(" or ".join(conditions))
        return ", ".join(parts)

    @property
    def schedule_text(self) -> str:
        if not self.scheduled:
            return "By hand, after a preview"
        every = f"Every {self.every_minutes} min"
        if self.paused_reason and not self.enabled:
            return f"{every}: paused itself"
        return every if self.enabled else f"{every}: disabled"

    def schedule_from(self, now) -> None:
        """Due at once when enabled on a schedule (the next tick runs it), never otherwise."""
        self.next_run_at = now if self.enabled and self.scheduled else None


class PolicyRun(models.Model):
    """One run of a policy: a preview (later acted on, or not), or a scheduled run; what it matched and did."""

    class Kind(models.TextChoices):
        MANUAL = "manual"
        SCHEDULED = "scheduled"

    class Outcome(models.TextChoices):
        PREVIEW = "preview", "previewed"
        RUNNING = "running"
        ACTED = "acted"
        NOTHING = "nothing", "nothing to do"
        HELD = "held", "held back (too many jobs)"
        PAUSED = "paused"
        FAILED = "failed"
        EXPIRED = "expired", "preview expired"

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    scheduled_for = models.DateTimeField(null=True, blank=True, help_text="The schedule's time this run claimed.")
    started = models.DateTimeField(default=timezone.now)
    finished = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, blank=True, help_text="Whose token read and acted.")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RUNNING)
    matched = models.PositiveIntegerField(default=0)
    acted = models.PositiveIntegerField(default=0, help_text="Jobs ArcGIS cancelled or deleted.")
    skipped = models.PositiveIntegerField(default=0, help_text="Listed jobs that no longer matched when acting.")
    refused = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    planned = models.JSONField(default=list, blank=True, help_text="The jobs found: service, job ID, status, why.")
    results = models.JSONField(default=list, blank=True, help_text="What happened to each: outcome and message.")
    reason = models.TextField(blank=True, help_text="Why the run did nothing, or what else happened.")

    class Meta:
        ordering = ["-started", "-id"]
        constraints = [
            # However many workers tick at once, a scheduled time is claimed by one run only.
            models.UniqueConstraint(fields=["policy", "scheduled_for"], name="one_run_per_scheduled_time")
        ]

    def __str__(self) -> str:
        return f"{self.policy} {self.kind} run {self.started:%Y-%m-%d %H:%M}: {self.outcome}"

    PREVIEW_VALID = timedelta(minutes=30)
    UNFINISHED = (Outcome.PREVIEW, Outcome.EXPIRED, Outcome.RUNNING)  # a preview nobody acted on never ran

    @property
    def actable(self) -> bool:
        """A preview that may still be acted on: not acted on yet, recent, and within the policy's limit."""
        return (
            self.outcome == self.Outcome.PREVIEW
            and 0 < len(self.planned) <= self.policy.max_jobs
            and timezone.now() - self.started <= self.PREVIEW_VALID
        )


class AlertChannel(models.Model):
    """Where alerts go: a webhook (a generic JSON body, or Slack's or Teams' message format) or e-mail."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook (JSON)"
        SLACK = "slack", "Slack incoming webhook"
        TEAMS = "teams", "Microsoft Teams workflow webhook"
        EMAIL = "email", "E-mail"

    class Event(models.TextChoices):
        RUNNING_LONG = "running_long", "A job starts running long"
        QUEUED_LONG = "queued_long", "A job waits in the queue too long"
        CANCEL_STUCK = "cancel_stuck", "A job is stuck cancelling"
        POLICY_ACTED = "policy_acted", "A scheduled policy run acted"
        POLICY_STOPPED = "policy_stopped", "A policy paused itself or held back a run"
        SITE_DOWN = "site_down", "A site stopped answering, and came back"
        FAILURE_RATE = "failure_rate", "A service's failure rate over the last hour is above this channel's threshold"
        MONITORING = "monitoring", "A site's monitoring account failed, and works again"

    # Each event in a few words, for a list of them in the audit trail.
    EVENT_NAMES: dict[str, str] = {
        Event.RUNNING_LONG: "job running long",
        Event.QUEUED_LONG: "job queued long",
        Event.CANCEL_STUCK: "job stuck cancelling",
        Event.POLICY_ACTED: "policy acted",
        Event.POLICY_STOPPED: "policy stopped",
        Event.SITE_DOWN: "site down or back",
        Event.FAILURE_RATE: "failure rate",
        Event.MONITORING: "monitoring account failing or back",
    }
    FAILURE_RATE_PERCENT = 20
    FAILURE_RATE_MIN_JOBS = 10

    name = models.CharField(max_length=100)  # unique on its site (or among channels for every site)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The webhook URL, encrypted like operators' tokens: for Slack and Teams its path is the secret (see `url`).
    url_ciphertext = models.BinaryField(editable=False, default=b"")
    recipients = models.TextField(blank=True, help_text="E-mail addresses, separated by commas or new lines.")
    events = models.JSONField(default=list, help_text="What this channel is told about.")
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.CASCADE, help_text="Only this site's alerts. Empty: every site."
    )
    enabled = models.BooleanField(default=True)
    # The failure-rate event: a service whose jobs that ended in the last hour failed (or timed out) more often than
    # this, counted once it had at least this many of them.
    failure_rate_percent = models.PositiveSmallIntegerField(
        "failure rate threshold",
        default=FAILURE_RATE_PERCENT,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text="Failure rate: more than this % of a service's jobs that ended in the last hour failed.",
    )
    failure_rate_min_jobs = models.PositiveIntegerField(
        "failure rate minimum jobs",
        default=FAILURE_RATE_MIN_JOBS,
        validators=[MinValueValidator(1), MaxValueValidator(100_000)],
        help_text="Failure rate: counted once a service had this many jobs end in the last hour.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The Site admin who made it: it carries the alerts of the sites they may see now.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "name"],
                name="one_channel_name_per_site",
                violation_error_message="This site has an alert channel of that name already.",
            ),
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(site__isnull=True),
                name="one_channel_name_for_every_site",
                violation_error_message="There is an alert channel of that name for every site already.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def may_carry(self, site: Site | None) -> bool:
        """Whether an alert about this site may go out here: its owner may see the site now (a site restricted
        later to groups they are not in is not theirs to hear about). A channel without an owner (made before
        channels had one, or whose owner was deleted) carries alerts of unrestricted sites only."""
        if site is None:
            return True
        if self.owner is None:
            return not site.groups.exists()
        return Site.objects.visible_to(self.owner).filter(pk=site.pk).exists()

    @property
    def is_webhook(self) -> bool:
        return self.kind != self.Kind.EMAIL

    @property
    def url(self) -> str:
        """The webhook URL (raises TokenDecryptionError when no configured key decrypts it)."""
        return decrypt_text(bytes(self.url_ciphertext), "webhook URL") if self.url_ciphertext else ""

    @url.setter
    def url(self, value: str) -> None:
        self.url_ciphertext = encrypt_text(value) if value else b""

    def _readable_url(self) -> str:
        try:
            return self.url
        except TokenDecryptionError:
            return ""

    @property
    def recipient_list(self) -> list[str]:
        return [item.strip() for item in self.recipients.replace("\n", ",").split(",") if item.strip()]

    @property
    def failure_rate_words(self) -> str:
        """Its failure-rate threshold in words, when it wants that event ("" otherwise)."""
        if self.Event.FAILURE_RATE not in self.events:
            return ""
        return f"above {self.failure_rate_percent} % of at least {self.failure_rate_min_jobs} jobs an hour"

    def wants(self, event: str, site: Site | None) -> bool:
        return (
            self.enabled and event in self.events and (self.site_id is None or site is None or self.site_id == site.pk)
        )

    @property
    def destination(self) -> str:
        """Where it sends, safe to show and audit: a webhook's host only (its path is often its secret)."""
        if self.is_webhook:
            return urlsplit(self._readable_url()).hostname or "(its URL cannot be decrypted)"
        return ", ".join(self.recipient_list)

    @property
    def url_fingerprint(self) -> str:
        """Tells one webhook URL from another in the audit trail without revealing it."""
        url = self._readable_url()
        return hashlib.sha256(url.encode()).hexdigest()[:12] if url else ""

    def clean(self) -> None:
        known = {event for event, _ in self.Event.choices}
        if not isinstance(self.events, list) or not self.events or not set(self.events) <= known:
            raise ValidationError({"events": "Choose at least one event."})
        if self.is_webhook:
            parts = urlsplit(self._readable_url())
            if not parts.geturl():
                raise ValidationError({"url": "A webhook channel needs its URL."})
            if parts.scheme != "https" and not (parts.scheme == "http" and settings.ALERT_WEBHOOKS_ALLOW_HTTP):
                raise ValidationError({"url": "Webhook URLs must use https."})
            if parts.username or parts.password:
                raise ValidationError({"url": "Credentials never belong in the URL."})
            if problem := webhooks.problem_with(self.url):
                raise ValidationError({"url": problem})
        else:
            self.url = ""  # an e-mail channel keeps no webhook URL
            if not self.recipient_list:
                raise ValidationError({"recipients": "An e-mail channel needs at least one address."})
            for address in self.recipient_list:
                try:
                    validate_email(address)
                except ValidationError:
                    raise ValidationError({"recipients": f"{address!r} is not an e-mail address."}) from None


class Delivery(models.Model):
    """One alert on one channel: queued, retried with backoff, and recorded (sent, failed, why)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"

    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=20, choices=AlertChannel.Event.choices)
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(max_length=300)
    text = models.TextField()
    link = models.URLField(max_length=1000, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)
    due_at = models.DateTimeField(default=timezone.now, help_text="When the next attempt is due.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "due_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"{self.title} → {self.channel}: {self.status}"


class AlertedJob(models.Model):
    """A job that was alerted as running long, queued long or stuck cancelling: once per job and kind."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    service = models.CharField(max_length=250)
    job_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=20, choices=AlertChannel.Event.choices, default=AlertChannel.Event.RUNNING_LONG)
    created = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "service", "job_id", "kind"], name="one_alert_per_job_and_kind")
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.job_id} ({self.kind})"


class SiteOutage(models.Model):
    """A site that stopped answering long enough to alert, and when it came back."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    since = models.DateTimeField(help_text="Its first failure, as the circuit breaker counted it.")
    alerted = models.DateTimeField(default=timezone.now)
    ended = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-since"]
        constraints = [models.UniqueConstraint(fields=["site", "since"], name="one_outage_per_start")]

    def __str__(self) -> str:
        return f"{self.site} since {self.since:%Y-%m-%d %H:%M}"


class FailureRateBreach(models.Model):
    """A service whose failure rate went over a channel's threshold: alerted on that channel once, when it went over;
    ended when it no longer is (a later breach alerts again)."""

    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    service_key = models.CharField(max_length=241, help_text="'folder/name' in lower case: ArcGIS's own matching.")
    started = models.DateTimeField(default=timezone.now)
    ended = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "site", "service_key"],
                condition=models.Q(ended__isnull=True),
                name="one_open_breach_per_channel_and_service",
            )
        ]

    def __str__(self) -> str:
        return f"{self.service_key} on site {self.site_id}, channel {self.channel_id}, since {self.started:%H:%M}"
