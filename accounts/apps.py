from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        from django.contrib.auth.models import Group, Permission, User
        from django.db.models import signals

        from accounts.models import ProviderAccount
        from accounts.permission_cache import new_generation

        # Who holds which permission or group changed, or an account was linked: every cached Holdings is stale
        # (accounts/permission_cache.py).
        for through in (User.groups.through, User.user_permissions.through, Group.permissions.through):
            signals.m2m_changed.connect(new_generation, sender=through, dispatch_uid=f"permissions-{through.__name__}")
        for model in (Group, Permission, ProviderAccount):
            signals.post_save.connect(new_generation, sender=model, dispatch_uid=f"permissions-save-{model.__name__}")
            signals.post_delete.connect(new_generation, sender=model, dispatch_uid=f"permissions-del-{model.__name__}")
        signals.post_migrate.connect(new_generation, dispatch_uid="permissions-migrate")
