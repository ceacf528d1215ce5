# The Celery app is loaded with Django, so tasks queued by the portal go to the configured broker.
from dashboard.celery import app as celery_app

__all__ = ["celery_app"]
