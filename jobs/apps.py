from django.apps import AppConfig


class JobsConfig(AppConfig):
    default = True
    name = "jobs"
    verbose_name = "GP jobs"

    def ready(self) -> None:
        from accounts import signals
        from accounts.models import ProviderAccount
        from jobs import (
            checks,  # noqa: F401  (registers the system checks)
            crypto,
            saved_views,
            site_directory,
            stored_tokens,
        )
        from jobs.models import StoredToken

        site_directory.connect_signals()
        stored_tokens.connect_signals()
        saved_views.connect_signals()
        crypto.register(StoredToken, "ciphertext", "token")
        crypto.register(ProviderAccount, "refresh_ciphertext", "single sign-on refresh token")
        signals.identity_linked.connect(_audit_link, dispatch_uid="audit-identity-linked")
        signals.roles_lost.connect(_audit_roles_lost, dispatch_uid="audit-roles-lost")


def _audit_link(sender, user, issuer: str, subject: str, how: str, via: str, **kwargs) -> None:
    """Single sign-on linked an account: the audit trail says to which identity, and how (superusers see it)."""
    from jobs import audit
    from jobs.models import AuditEvent

    if subject:
        message = f"Linked to single sign-on: subject {subject!r} at {issuer}, by {how}."
    else:
        message = f"To be linked to single sign-on by {how}."
    audit.record(user, None, AuditEvent.Action.ACCOUNT_LINKED, message, via=via)


def _audit_roles_lost(sender, user, reason: str, **kwargs) -> None:
    from jobs import audit
    from jobs.models import AuditEvent

    message = f"Roles removed: {reason}"
    audit.record(user, None, AuditEvent.Action.ROLES_REMOVED, message, via=AuditEvent.Via.WEB)
