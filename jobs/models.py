import contextlib
import hashlib
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

import arcgis_client
from accounts.roles import can_view
from jobs import ca_bundles
from jobs.crypto import decrypt_token, encrypt_token
from jobs.validators import validate_service_key


def validate_admin_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("Enter the site's admin URL, e.g. https://gis.example.com:6443/arcgis/admin.")
    if parts.username or parts.password:
        raise ValidationError("Credentials never belong in the URL; operators connect with their own token.")
    if parts.query or parts.fragment:
        raise ValidationError("The admin URL takes no query string or fragment.")


# Seconds, (lowest, highest): a worker waits at most this long for one upstream answer. Unbounded values
# broke every page of a site (1e10 s overflows the socket's timeout).
TIMEOUT_BOUNDS = {"connect_timeout": (0.5, 10.0), "read_timeout": (1.0, 60.0), "action_timeout": (1.0, 120.0)}


def timeout_validators(field: str) -> list:
    low, high = TIMEOUT_BOUNDS[field]
    return [MinValueValidator(low), MaxValueValidator(high)]


def validate_ca_bundle(value: str) -> None:
    try:
        ca_bundles.certificates(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class SiteQuerySet(models.QuerySet):
    def visible_to(self, user) -> "SiteQuerySet":
        """Sites the user may see: unrestricted ones, and those shared with one of their groups."""
        if not user.is_authenticated or not can_view(user):
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(models.Q(groups__isnull=True) | models.Q(groups__in=user.groups.all())).distinct()


class Site(models.Model):
    """One ArcGIS Server site, reached through its Administrator API."""

    slug = models.SlugField(unique=True, max_length=50, help_text="Short name used in the portal's URLs.")
    name = models.CharField(max_length=200)
    admin_url = models.URLField(
        "admin URL",
        validators=[validate_admin_url],
        help_text="The Administrator API root, e.g. https://gis.example.com:6443/arcgis/admin.",
    )
    token_url = models.URLField(
        "token URL",
        blank=True,
        validators=[validate_admin_url],
        help_text="Token service to use instead of the admin generateToken, e.g. …/arcgis/tokens/generateToken.",
    )
    referer = models.CharField(
        max_length=300,
        blank=True,
        help_text="Referer that tokens are bound to (client=referer). Empty: the portal's default.",
    )
    insecure = models.BooleanField(
        "skip TLS verification",
        default=False,
        help_text="Accept any certificate and plain http. Only for test servers.",
    )
    ca_bundle = models.TextField(
        "CA bundle",
        blank=True,
        validators=[validate_ca_bundle],
        help_text="The PEM certificate(s) of the CA that signed the server's certificate (or of a self-signed "
        "server). Empty: the system's trusted CAs.",
    )
    connect_timeout = models.FloatField(
        "connect timeout",
        default=3.0,
        validators=timeout_validators("connect_timeout"),
        help_text="Seconds to wait for a connection (0.5–10).",
    )
    read_timeout = models.FloatField(
        "read timeout",
        default=10.0,
        validators=timeout_validators("read_timeout"),
        help_text="Seconds to wait for ArcGIS to answer a read (1–60).",
    )
    action_timeout = models.FloatField(
        "action timeout",
        default=30.0,
        validators=timeout_validators("action_timeout"),
        help_text="Seconds to wait for ArcGIS to answer a cancel, delete or purge (1–120).",
    )
    groups = models.ManyToManyField(
        Group,
        blank=True,
        help_text="Only these groups see the site. Empty: everyone with a role.",
    )
    # When a job is flagged (the fleet view, the jobs pages); each can be set again per service.
    running_long_factor = models.FloatField(
        "running long: times its usual",
        default=3.0,
        validators=[MinValueValidator(1.0), MaxValueValidator(100.0)],
        help_text="An executing job is running long past this many times its service's usual duration…",
    )
    running_long_margin = models.PositiveIntegerField(
        "running long: minutes over its usual",
        default=10,
        validators=[MaxValueValidator(7 * 24 * 60)],
        help_text="…and past its usual duration plus these minutes (both must hold).",
    )
    queued_long_minutes = models.PositiveIntegerField(
        "queued long after (minutes)",
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 60)],
        help_text="A new, submitted or waiting job is queued long after this many minutes.",
    )
    cancel_stuck_minutes = models.PositiveIntegerField(
        "cancel stuck after (minutes)",
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="A job still cancelling after this many minutes is stuck.",
    )
    connection_changed = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When where or how the site is reached last changed; every stored token was revoked then.",
    )

    # Where and how the site is reached. Changing any of them revokes every stored token of the site
    # (jobs.operations.change_site): a token, or the next operator's password, must never follow a new
    # address that its owner did not choose.
    CONNECTION_FIELDS = ("admin_url", "token_url", "referer", "ca_bundle", "insecure")

    objects = SiteQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [
            ("view_jobs", "Can see the GP jobs of sites"),
            ("operate_jobs", "Can cancel, delete and purge GP jobs"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(**{f"{field}__gte": low, f"{field}__lte": high}), name=f"site_{field}_bounds"
            )
            for field, (low, high) in TIMEOUT_BOUNDS.items()
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        for field in ("admin_url", "token_url"):
            url = getattr(self, field)
            if url and urlsplit(url).scheme != "https" and not self.insecure:
                raise ValidationError({field: "Use https, or tick “skip TLS verification” for a test server."})
        if self.insecure and self.ca_bundle:
            raise ValidationError({"ca_bundle": "A CA bundle and skipping verification exclude each other."})

    @property
    def address_fingerprint(self) -> str:
        """Short digest of the connection settings: a connect form carries the one it was shown with."""
        settings_text = "\n".join(str(getattr(self, field)) for field in self.CONNECTION_FIELDS)
        return hashlib.sha256(settings_text.encode()).hexdigest()[:16]

    @property
    def password_origin(self) -> str:
        """Where the connect form sends an operator's password: the token URL's origin when set, otherwise the
        admin URL's (a token service named by /rest/info is used only on that same origin)."""
        parts = urlsplit(self.token_url or self.admin_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def effective_referer(self) -> str:
        return self.referer or settings.ARCGIS_DEFAULT_REFERER

    @property
    def tls_verify(self) -> bool | str:
        """What requests' `verify=` gets: off, the site's CA bundle (as a private file), or the system's CAs."""
        if self.insecure:
            return False
        return ca_bundles.path_for(self.ca_bundle) if self.ca_bundle else True


THRESHOLDS = ("running_long_factor", "running_long_margin", "queued_long_minutes", "cancel_stuck_minutes")


class ServiceThresholds(models.Model):
    """One GP service's own flag thresholds; blank ones are the site's."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="service_thresholds")
    service = models.CharField(
        max_length=241,
        validators=[validate_service_key],
        help_text="Folder/Name, or Name for a service in the root folder.",
    )
    running_long_factor = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(1.0), MaxValueValidator(100.0)]
    )
    running_long_margin = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(10080)])
    queued_long_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(10080)]
    )
    cancel_stuck_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(1440)]
    )

    class Meta:
        verbose_name_plural = "service thresholds"
        constraints = [models.UniqueConstraint(fields=["site", "service"], name="one_threshold_set_per_service")]

    def __str__(self) -> str:
        return f"{self.service} on {self.site}"

    def clean(self) -> None:
        # As the portal names it (Folder/Name, whatever form it was entered in), so that it is found.
        with contextlib.suppress(arcgis_client.InvalidName):
            self.service = arcgis_client.ServiceRef.parse(self.service).key


class StoredTokenQuerySet(models.QuerySet):
    def usable(self) -> "StoredTokenQuerySet":
        return self.filter(invalid_since__isnull=True).filter(
            models.Q(expires__isnull=True) | models.Q(expires__gt=timezone.now())
        )


class StoredToken(models.Model):
    """An operator's own ArcGIS token for one site, encrypted at rest."""

    GENERATED = "generated"
    PASTED = "pasted"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="arcgis_tokens")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="tokens")
    ciphertext = models.BinaryField(editable=False)
    arcgis_username = models.CharField(max_length=150, blank=True)
    source = models.CharField(max_length=10, choices=[(GENERATED, "generated"), (PASTED, "pasted")])
    expires = models.DateTimeField(null=True, blank=True)
    connected_at = models.DateTimeField(default=timezone.now)
    invalid_since = models.DateTimeField(
        null=True, blank=True, help_text="Set when ArcGIS rejected the token (498/499)."
    )

    objects = StoredTokenQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "site"], name="one_token_per_user_and_site")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.site.slug}"

    def __repr__(self) -> str:
        return f"<StoredToken user={self.user_id} site={self.site_id}>"

    @property
    def token(self) -> str:
        return decrypt_token(bytes(self.ciphertext))

    @token.setter
    def token(self, value: str) -> None:
        self.ciphertext = encrypt_token(value)

    @property
    def is_usable(self) -> bool:
        return self.invalid_since is None and not self.is_expired

    @property
    def is_expired(self) -> bool:
        return self.expires is not None and self.expires <= timezone.now()

    @property
    def expires_soon(self) -> bool:
        return self.expires is not None and self.expires - timezone.now() < timedelta(hours=1)


class AuditEvent(models.Model):
    """One attempted action, written before the upstream call and completed after it.

    Rows are only ever added and completed by jobs.operations; the admin and the
    UI cannot change or delete them.
    """

    class Action(models.TextChoices):
        # What a person did, as a verb the way the buttons say it.
        CANCEL = "cancel", "Cancel"
        DELETE = "delete", "Delete"
        PURGE = "purge", "Purge queue"
        CONNECT = "connect", "Connect"
        DISCONNECT = "disconnect", "Disconnect"
        SITE_CHANGE = "site_change", "Change site"
        API_TOKEN_CREATED = "api_token_created", "Create API token"
        API_TOKEN_REVOKED = "api_token_revoked", "Revoke API token"
        API_TOKEN_REFUSED = "api_token_refused", "Use an expired or revoked API token"
        POLICY_CREATED = "policy_created", "Create policy"
        POLICY_CHANGED = "policy_changed", "Change policy"
        POLICY_DELETED = "policy_deleted", "Delete policy"
        ALERTS_CHANGED = "alerts_changed", "Change alert channels"
        VIEW_SHARED = "view_shared", "Share a saved view"
        VIEW_UNSHARED = "view_unshared", "Delete a shared view"
        ACCOUNT_LINKED = "account_linked", "Link account to single sign-on"
        ROLES_REMOVED = "roles_removed", "Remove roles at single sign-on"

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCESS = "success", "Success"
        REFUSED = "refused", "Refused"
        FAILED = "failed", "Failed"

    class Via(models.TextChoices):
        WEB = "web", "Web page"
        BULK = "bulk", "Bulk action"
        CLI = "cli", "Command line"
        ADMIN = "admin", "Django admin"
        API = "api", "API"
        POLICY = "policy", "Policy"

    created = models.DateTimeField(default=timezone.now, db_index=True)
    finished = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, help_text="Kept when the user is deleted.")
    # Who may see a row follows the site itself; null once the site is deleted (superusers only then).
    site = models.ForeignKey(Site, null=True, on_delete=models.SET_NULL, related_name="+")
    site_slug = models.CharField(max_length=50, help_text="The site's slug at the time.")
    site_name = models.CharField(max_length=200, blank=True, help_text="The site's name at the time.")
    service = models.CharField(max_length=250, blank=True, help_text="folder/name.GPServer")
    job_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    via = models.CharField(max_length=10, choices=Via.choices, default=Via.WEB)
    via_detail = models.CharField(
        max_length=200, blank=True, help_text='Which API token or policy acted, e.g. token "deploy-script".'
    )
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    message = models.TextField(blank=True)
    upstream_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["site", "job_id", "-created"], name="audit_site_job_latest_any_case")]

    def __str__(self) -> str:
        target = self.job_id or self.service or self.site_slug
        return f"{self.username} {self.action} {target}: {self.outcome}"

    @property
    def how(self) -> str:
        """How the action came, when not from a page: "bulk action", "command line", 'API, token "deploy"',
        'policy "Night cleanup"' (a policy's detail names it already)."""
        if self.via == self.Via.WEB:
            return ""
        if self.via == self.Via.POLICY and self.via_detail:
            return self.via_detail
        words: dict[str, str] = {self.Via.BULK: "bulk action", self.Via.CLI: "command line", self.Via.POLICY: "policy"}
        label = words.get(self.via, self.get_via_display())
        return f"{label}, {self.via_detail}" if self.via_detail else label


class SavedViewQuerySet(models.QuerySet):
    def visible_to(self, user, sites: list[Site] | None = None) -> "SavedViewQuerySet":
        """A user's own views and those shared with the team; either only while they may see its site (a view of
        no one site, such as the fleet view over all sites, follows its owner's choice to share it). `sites`: the
        sites the user may see, when the caller knows them (jobs.site_directory)."""
        if not user.is_authenticated or not can_view(user):
            return self.none()
        mine_or_shared = models.Q(owner=user) | models.Q(shared=True)
        if sites is not None:
            seen = models.Q(site__isnull=True) | models.Q(site_id__in=[site.pk for site in sites])
            return self.filter(mine_or_shared).filter(seen)
        seen = models.Q(site__isnull=True) | models.Q(site__in=Site.objects.visible_to(user))
        return self.filter(mine_or_shared).filter(seen).distinct()


class SavedView(models.Model):
    """A named filter of a job list (the fleet view, or a service's jobs page): its path and query string, checked
    against that page's filters when saved; its owner's alone, or shared with the team."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=100)
    path = models.CharField(max_length=500, help_text="The page: /jobs/ or a service's …/jobs/.")
    query = models.CharField(max_length=2000, blank=True, help_text="Its filters, as the page's address has them.")
    site = models.ForeignKey(
        Site,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="saved_views",
        help_text="The site it shows, if one: only those who may see it see the view.",
    )
    shared = models.BooleanField(default=False, help_text="Shown to the team, not only to its owner.")
    created = models.DateTimeField(default=timezone.now)

    objects = SavedViewQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="one_saved_view_name_per_owner")]

    def __str__(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path
