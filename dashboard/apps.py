from django.apps import AppConfig
from django.db.backends.signals import connection_created


class DashboardConfig(AppConfig):
    """The project itself, as an app for what wires every other one together (the demo command)."""

    name = "dashboard"
    verbose_name = "GP Jobs Portal"

    def ready(self) -> None:
        from dashboard.error_pages import database_answers

        # The first connection after a database outage ends it (logged once, dashboard.outages).
        connection_created.connect(database_answers, dispatch_uid="dashboard.database_answers")
