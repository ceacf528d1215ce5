"""The Celery application: `celery -A dashboard worker` runs the portal's background tasks (policies/tasks.py),
`celery -A dashboard beat` sends their schedule. Its settings are the CELERY_* ones in dashboard/settings.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("dashboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
