"""The portal's own settings, with what tests need: static files served without
collectstatic, and a fast password hasher."""

import os
import tempfile
from pathlib import Path

from dashboard.settings import *  # noqa: F403

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests change the simulator's jobs and read them again at once: each read goes upstream,
# unless a test turns sharing on to check it.
SHARED_READ_SECONDS = 0
SERVICES_CACHE_SECONDS = 0

# Celery tasks run in the test's own process, at once (a test that needs a real worker starts one): nothing is
# ever sent to a broker from the suite.
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_TASK_ALWAYS_EAGER = True

# SQLite: the test database in a file, not in shared memory, so that several connections (threads that tick at the
# same moment, say) wait for each other's writes as in production (WAL, busy_timeout) instead of failing at once.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # One per run (by process), so that two runs in one checkout never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"gpjobs-test-{os.getpid()}.sqlite3")}  # noqa: F405
