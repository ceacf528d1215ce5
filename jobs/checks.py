from django.conf import settings
from django.core.checks import Warning, register


@register()
def development_keys(app_configs, **kwargs):
    """Warn on every start that uses a generated development key instead of a configured one."""
    return [
        Warning(
            f"{name} is not set: using a development key generated in {settings.VAR_DIR}.",
            hint=f"Set {name} (or {name}_FILE) for any shared or production use.",
            id="portal.W001",
        )
        for name in settings.DEVELOPMENT_FALLBACKS
    ]
