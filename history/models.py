"""The job index: one row per job the collector has seen (kept after ArcGIS forgets it), the transitions it saw,
each service's collection state (its lease and how far it has read), and each site's monitoring account."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

import arcgis_client
from jobs.crypto import decrypt_text, encrypt_text
from jobs.models import Site


class MonitoringAccount(models.Model):
    """A site's read-only ArcGIS account for the collector: a username and password (traded for tokens as needed)
    or a long-lived token, encrypted at rest with the token keys. Used for reads only, never for an action, never
    lent to a person."""

    PASSWORD = "password"
    TOKEN = "token"

    # Why it fails (problem_kind): ArcGIS refused it, its token ran out, or the site could not be reached.
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNREACHABLE = "unreachable"

    site = models.OneToOneField(Site, on_delete=models.CASCADE, related_name="monitoring")
    kind = models.CharField(max_length=10, choices=[(PASSWORD, "username and password"), (TOKEN, "token")])
    username = models.CharField(max_length=150, blank=True)
    secret_ciphertext = models.BinaryField(editable=False)
    # the token last traded for the password, and when it expires (a pasted token: its expiry if known)
    token_ciphertext = models.BinaryField(editable=False, null=True)
    token_expires = models.DateTimeField(null=True, blank=True)
    # the outcome of its last use: shown on the site's overview, alerted when it starts failing
    last_ok = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    problem = models.CharField(max_length=300, blank=True)
    problem_kind = models.CharField(
        max_length=12,
        blank=True,
        choices=[(REJECTED, "rejected"), (EXPIRED, "expired"), (UNREACHABLE, "site unreachable")],
    )
    # The failing_since of the failure last alerted (policies.alerts.watch): each failure is alerted once, and so is
    # its end.
    alerted_failure = models.DateTimeField(null=True, blank=True, editable=False)
    changed = models.DateTimeField(default=timezone.now)
    # The collector's last complete pass over the site, and how long it took (/metrics: its lag and duration).
    last_pass = models.DateTimeField(null=True, blank=True, editable=False)
    last_pass_seconds = models.FloatField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "monitoring account"

    def __str__(self) -> str:
        return f"monitoring account of {self.site.slug}"

    def __repr__(self) -> str:  # never the secret
        return f"<MonitoringAccount site={self.site_id} kind={self.kind}>"

    @property
    def has_secret(self) -> bool:
        """False once the site's address changed: the account must be entered again (history.monitoring)."""
        return bool(self.secret_ciphertext)

    def set_secret(self, secret: str) -> None:
        self.secret_ciphertext = encrypt_text(secret)
        self.token_ciphertext = None
        self.token_expires = None
        self.changed = timezone.now()

    @property
    def secret(self) -> str:
        return decrypt_text(bytes(self.secret_ciphertext), "monitoring account's secret")


class ServiceCollection(models.Model):
    """How far the collector has read one GP service, and who holds its lease (several workers share the work
    without collecting a service twice at once)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="collections")
    folder = models.CharField(max_length=120, blank=True)
    service = models.CharField(max_length=120)
    service_key = models.CharField(max_length=241, help_text="'folder/name' in lower case: ArcGIS's own matching.")
    newest_submitted = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=100, blank=True)
    last_pass = models.DateTimeField(null=True, blank=True)
    last_pass_seconds = models.FloatField(null=True, blank=True)
    problem = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "service_key"], name="history_one_collection")]

    def __str__(self) -> str:
        return f"{self.site_id}:{self.service_key}"


# A job the collector reads again each pass: not finished, not gone. Its own (partial) index finds them at once.
ACTIVE_JOB = models.Q(gone_while="") & ~models.Q(status__in=sorted(arcgis_client.TERMINAL_STATUSES))


class IndexedJob(models.Model):
    """One GP job as the collector last saw it; kept after ArcGIS forgets it, until HISTORY_RETENTION_DAYS."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="indexed_jobs")
    folder = models.CharField(max_length=120, blank=True)
    service = models.CharField(max_length=120)
    service_key = models.CharField(max_length=241, help_text="'folder/name' in lower case: ArcGIS's own matching.")
    job_id = models.CharField(max_length=100)
    status = models.CharField(max_length=40)
    submitted = models.DateTimeField(null=True, blank=True)
    ended = models.DateTimeField(null=True, blank=True)
    duration_ms = models.BigIntegerField(null=True, blank=True, help_text="From submitted to ended, queue included.")
    username = models.CharField(max_length=150, blank=True)
    machine = models.CharField(max_length=150, blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    # the status it had when it vanished from ArcGIS while still active ("gone while Executing"); never guessed
    gone_while = models.CharField(max_length=40, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "service_key", "job_id"], name="history_one_row_per_job")
        ]
        indexes = [
            models.Index(fields=["-submitted", "-id"], name="history_newest"),
            models.Index(fields=["site", "service_key", "-submitted"], name="history_service_newest"),
            models.Index(fields=["job_id"], name="history_job_id"),
            # the failure-rate watch (history.failure_rates): the last hour's outcomes per service, from the index alone
            models.Index(fields=["ended", "site", "service_key", "status"], name="history_ended_outcomes"),
            # the fleet view from the index (history.fleet_index): the newest active jobs, few among millions
            models.Index(
                fields=["-submitted", "-job_id"],
                condition=models.Q(status__in=arcgis_client.ACTIVE_STATUSES),
                name="history_active_newest",
            ),
            # the runaway baselines (history.baselines): a service's recent succeeded durations, read from the index
            models.Index(
                fields=["site", "service_key", "submitted", "duration_ms"],
                condition=models.Q(status="esriJobSucceeded"),
                name="history_succeeded_durations",
            ),
            # the collector (history.collector): a service's jobs still to read again, found at once
            models.Index(fields=["site", "service_key"], condition=ACTIVE_JOB, name="history_active"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} ({self.status})"


class Transition(models.Model):
    """A status the collector saw a job take, and when it first saw it (for time spent queued)."""

    job = models.ForeignKey(IndexedJob, on_delete=models.CASCADE, related_name="transitions")
    status = models.CharField(max_length=40)
    seen = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["job", "seen"], name="history_transition_order")]

    def __str__(self) -> str:
        return f"{self.status} at {self.seen:%Y-%m-%d %H:%M:%S}"
