from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "Cancel policies and alerts"

    def ready(self) -> None:
        from accounts import signals
        from jobs import crypto
        from policies.models import AlertChannel

        crypto.register(AlertChannel, "url_ciphertext", "webhook URL")  # rotate_token_keys re-encrypts them too
        signals.roles_lost.connect(_pause_their_policies, dispatch_uid="pause-policies-of-roles-lost")


def _pause_their_policies(sender, user, reason: str, **kwargs) -> None:
    """Whoever lost their roles at the identity provider: their scheduled policies stop at once (audited, alerted)."""
    from policies import runs

    runs.pause_owned_by(user, f"Its owner {user.get_username()} lost their roles: {reason}")
