"""The Django admin, as the portal's site admins use it."""

from django.contrib import admin
from django.contrib.admin import apps as admin_apps

from accounts import roles


class PortalAdminSite(admin.AdminSite):
    site_header = "GP Jobs Portal administration"
    site_title = "GP Jobs Portal"

    def has_permission(self, request):
        """Superusers and staff as usual, and Site admins (who may change sites) without the staff flag."""
        user = request.user
        return user.is_active and (user.is_staff or user.has_perm(roles.CHANGE_SITE))


class PortalAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "dashboard.admin_site.PortalAdminSite"
