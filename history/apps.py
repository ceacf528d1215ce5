from django.apps import AppConfig


class HistoryConfig(AppConfig):
    default = True
    name = "history"
    verbose_name = "Job history"

    def ready(self) -> None:
        from history import monitoring
        from history.management import addsite_options
        from history.models import MonitoringAccount
        from jobs import crypto, extensions, signals

        crypto.register(MonitoringAccount, "secret_ciphertext", "monitoring account's password or token")
        crypto.register(MonitoringAccount, "token_ciphertext", "monitoring account's current token")
        signals.site_moved.connect(monitoring.forget_on_move, dispatch_uid="monitoring-account-stays-behind")
        extensions.add_addsite_options(addsite_options.OPTIONS)
