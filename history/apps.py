from django.apps import AppConfig


class HistoryConfig(AppConfig):
    default = True
    name = "history"
    verbose_name = "Job history"

    def ready(self) -> None:
        from history import baselines, fleet_index, monitoring, queries, views
        from history.management import addsite_options
        from history.models import MonitoringAccount
        from jobs import crypto, extensions, fleet, hooks, running_long, signals

        crypto.register(MonitoringAccount, "secret_ciphertext", "monitoring account's password or token")
        crypto.register(MonitoringAccount, "token_ciphertext", "monitoring account's current token")
        signals.site_moved.connect(monitoring.forget_on_move, dispatch_uid="monitoring-account-stays-behind")
        # jobs never imports history: the index reaches it through these hooks
        hooks.register(hooks.forgotten_job_lookups, queries.remembered_job)
        hooks.register(hooks.service_panels, views.service_activity_panel)
        running_long.register_index_baselines(baselines.index_baselines)
        fleet.register_index_fleet(fleet_index.indexed_fleet)
        extensions.add_addsite_options(addsite_options.OPTIONS)
