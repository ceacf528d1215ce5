from django.apps import AppConfig
from django.contrib import admin
from django.contrib.admin import apps as admin_apps


class PortalAdminSite(admin.AdminSite):
    site_header = "GP Jobs Portal administration"
    site_title = "GP Jobs Portal"

    def has_permission(self, request):
        """Superusers and staff as usual, and Site admins (who may change sites) without the staff flag."""
        user = request.user
        return user.is_active and (user.is_staff or user.has_perm("jobs.change_site"))


class PortalAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "jobs.apps.PortalAdminSite"


class JobsConfig(AppConfig):
    default = True
    name = "jobs"
    verbose_name = "GP jobs"

    def ready(self) -> None:
        from jobs import checks  # noqa: F401  (registers the system checks)
