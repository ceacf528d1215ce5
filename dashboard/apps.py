from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The project itself, as an app for what wires every other one together (the demo command)."""

    name = "dashboard"
    verbose_name = "GP Jobs Portal"
