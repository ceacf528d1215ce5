from django.conf import settings
from django.utils import timezone

ROLE_NAMES = ("Site admin", "Operator", "Viewer")


def portal(request):
    """The signed-in user's role, for the header; the single sign-on provider, for the login page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"sso_provider": settings.OIDC_PROVIDER_NAME if settings.OIDC_ENABLED else None}

    def role() -> str:
        if user.is_superuser:
            return "Superuser"
        names = {group.name for group in user.groups.all()}
        return next((name for name in ROLE_NAMES if name in names), "No role")

    return {"user_role": role, "current_timezone": timezone.get_current_timezone_name}
