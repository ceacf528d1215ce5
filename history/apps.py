from django.apps import AppConfig


class HistoryConfig(AppConfig):
    default = True
    name = "history"
    verbose_name = "Job history"

    def ready(self) -> None:
        from history.models import MonitoringAccount
        from jobs import crypto

        crypto.register(MonitoringAccount, "secret_ciphertext", "monitoring account's password or token")
        crypto.register(MonitoringAccount, "token_ciphertext", "monitoring account's current token")

        from history import queries, views
        from jobs import hooks

        hooks.register(hooks.forgotten_job_lookups, queries.remembered_job)
        hooks.register(hooks.service_panels, views.service_activity_panel)
