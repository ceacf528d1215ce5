"""What every page needs to know about the portal itself: whether it is working without its shared cache."""

from django.core.cache import caches
from django.http import HttpRequest

from dashboard.cache import PortalRedisCache


def shared_cache(request: HttpRequest) -> dict[str, bool]:
    """Live updates are degraded while this process works without Redis (per-process reads and breakers)."""
    cache = caches["default"]
    return {"live_updates_degraded": isinstance(cache, PortalRedisCache) and not cache.shared}
