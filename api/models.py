"""Personal API tokens: a user's scripts act as that user, with their role and their stored ArcGIS tokens."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> "ApiTokenQuerySet":
        return self.filter(revoked__isnull=True, expires__gt=timezone.now())


class ApiToken(models.Model):
    """Only a SHA-256 digest of the token is kept; its short public prefix finds the row.

    The token itself is `gpj_<prefix>_<secret>`, shown to its owner once, when it is created.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What uses it, e.g. deploy-script.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False, help_text="SHA-256 of the whole token, hex.")
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField()
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"

    def __repr__(self) -> str:
        return f"<ApiToken {self.prefix} user={self.user_id}>"

    @property
    def is_expired(self) -> bool:
        return self.expires <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked is None and not self.is_expired

    @property
    def state(self) -> str:
        if self.revoked is not None:
            return "revoked"
        return "expired" if self.is_expired else "active"

    @property
    def label(self) -> str:
        """How the audit trail names it: token "deploy-script" (gpj_1a2b3c4d)."""
        return f'token "{self.name}" (gpj_{self.prefix})'
