from django.conf import settings
from django.utils import timezone

from accounts.roles import role_of


def portal(request):
    """The signed-in user's role, for the header; the single sign-on provider, for the login page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"sso_provider": settings.OIDC_PROVIDER_NAME if settings.OIDC_ENABLED else None}
    return {"user_role": lambda: role_of(user), "current_timezone": timezone.get_current_timezone_name}
