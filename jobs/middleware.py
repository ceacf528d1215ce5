import zoneinfo
from urllib.parse import unquote

from django.utils import timezone

TIMEZONE_COOKIE = "tz"


def valid_timezone(name: str | None) -> zoneinfo.ZoneInfo | None:
    if not name or len(name) > 64:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


class OperatorTimezoneMiddleware:
    """Shows times in the operator's own time zone, chosen in the browser (cookie `tz`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Browsers may send the zone percent-encoded (Europe%2FAmsterdam).
        zone = valid_timezone(unquote(request.COOKIES.get(TIMEZONE_COOKIE, "")))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        return self.get_response(request)
