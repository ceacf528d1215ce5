from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "Cancel policies and alerts"

    def ready(self) -> None:
        from jobs import crypto
        from policies.models import AlertChannel

        crypto.register(AlertChannel, "url_ciphertext", "webhook URL")  # rotate_token_keys re-encrypts them too
