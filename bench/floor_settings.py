"""The portal's own settings (its middleware, sessions, CSRF, signing in, caches), serving only bench/floor_urls.py:
what the required stack costs before the portal does any work of its own (bench/stack_floor.py)."""

from dashboard.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor_urls"
