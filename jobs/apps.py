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
        from django.contrib.auth.models import Group, Permission, User
        from django.db.models import signals

        from jobs import checks  # noqa: F401  (registers the system checks)
        from jobs.permissions import new_generation

        # Who holds which permission changed: every cached permission set is stale (jobs/permissions.py).
        for through in (User.groups.through, User.user_permissions.through, Group.permissions.through):
            signals.m2m_changed.connect(new_generation, sender=through, dispatch_uid=f"permissions-{through.__name__}")
        for model in (Group, Permission):
            signals.post_save.connect(new_generation, sender=model, dispatch_uid=f"permissions-save-{model.__name__}")
            signals.post_delete.connect(new_generation, sender=model, dispatch_uid=f"permissions-del-{model.__name__}")
        signals.post_migrate.connect(new_generation, dispatch_uid="permissions-migrate")
