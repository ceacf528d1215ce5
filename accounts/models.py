"""The link between a single sign-on identity and a portal account."""

from django.conf import settings
from django.db import models


class ProviderAccount(models.Model):
    """The portal account a single sign-on identity (its provider's issuer and subject) signs in as. Accounts
    made by signing in are linked; no other account is reached through the provider unless an administrator
    marks it for linking (`manage.py sso_link`): blank issuer and subject, bound at its next sign-in by name."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_account")
    issuer = models.CharField(max_length=500, blank=True)
    subject = models.CharField(max_length=255, blank=True)

    class Meta:
        # Its table, permissions and migrations stay the jobs app's, where it was first defined: only its code
        # lives here, beside single sign-on.
        app_label = "jobs"
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"], condition=~models.Q(subject=""), name="one_account_per_identity"
            )
        ]

    def __str__(self) -> str:
        if not self.subject:
            return f"{self.user} (awaiting its next sign-in)"
        return f"{self.user} ({self.subject} at {self.issuer})"
