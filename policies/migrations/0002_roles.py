"""Operators manage their own cancel policies; Site admins manage everyone's, and the alert channels (Django admin)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

OPERATOR = ["view_policy", "add_policy", "change_policy", "delete_policy"]
SITE_ADMIN = [
    *OPERATOR,
    "manage_all_policies",
    "view_alertchannel",
    "add_alertchannel",
    "change_alertchannel",
    "delete_alertchannel",
    "view_delivery",
]
ROLES = {"Operator": OPERATOR, "Site admin": SITE_ADMIN}


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(
                *Permission.objects.filter(content_type__app_label="policies", codename__in=codenames)
            )


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=ROLES):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="policies"))


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0001_policies_and_alerts"),
        ("jobs", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
