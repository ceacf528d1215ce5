"""The link between a single sign-on identity and a portal account."""

from django.conf import settings
from django.db import models

from accounts.crypto import decrypt_text, encrypt_text


class ProviderAccount(models.Model):
    """The portal account a single sign-on identity (its provider's issuer and subject) signs in as. Accounts
    made by signing in are linked; no other account is reached through the provider unless an administrator links
    it (`manage.py sso_link`): to a subject at once, or to the next sign-in with an e-mail address the administrator
    confirmed and the provider marks verified (`email`, while issuer and subject are blank).

    What the provider last confirmed is kept too: when (`roles_checked`) and its refresh token (encrypted), with
    which the portal asks again at least every OIDC_RENEW_SECONDS whether the account still has its roles."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_account")
    issuer = models.CharField(max_length=500, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    email = models.EmailField(
        blank=True, help_text="Awaiting its sign-in: the verified e-mail address an administrator confirmed."
    )
    refresh_ciphertext = models.BinaryField(editable=False, default=b"")
    roles_checked = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the provider last confirmed the account's roles."
    )

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
            return f"{self.user} (awaiting a sign-in with {self.email})" if self.email else f"{self.user} (not linked)"
        return f"{self.user} ({self.subject} at {self.issuer})"

    @property
    def linked(self) -> bool:
        return bool(self.subject)

    @property
    def refresh_token(self) -> str:
        return decrypt_text(bytes(self.refresh_ciphertext), "refresh token") if self.refresh_ciphertext else ""

    @refresh_token.setter
    def refresh_token(self, value: str) -> None:
        self.refresh_ciphertext = encrypt_text(value) if value else b""
