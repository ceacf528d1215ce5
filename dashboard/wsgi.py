"""The WSGI application gunicorn serves.

Once Django is set up, everything it loaded (modules, settings, URL patterns, compiled templates as they come) is
kept out of the garbage collector's way: gc.freeze() moves it to a generation no collection scans again, and a
young collection runs every 20,000 allocations net instead of every 700. A jobs table of fifty rows ran three young
collections, every tenth of them an older one, and now and then a full one that walked every object Django had
loaded. Reference counting frees nearly all of a request's objects anyway; the collector is for cycles, which
still go at the next collection.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
application = get_wsgi_application()

gc.collect()
gc.freeze()
gc.set_threshold(20_000, 10, 10)
