from django.apps import AppConfig


class JobsConfig(AppConfig):
    default = True
    name = "jobs"
    verbose_name = "GP jobs"

    def ready(self) -> None:
        from jobs import (
            checks,  # noqa: F401  (registers the system checks)
            crypto,
        )
        from jobs.models import StoredToken

        crypto.register(StoredToken, "ciphertext", "token")
