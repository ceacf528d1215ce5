"""The portal's three roles, as groups with their permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWER = ["jobs.view_jobs", "jobs.view_site", "jobs.view_auditevent"]
OPERATOR = [*VIEWER, "jobs.operate_jobs"]
SITE_ADMIN = [*OPERATOR, "jobs.add_site", "jobs.change_site", "jobs.delete_site", "jobs.view_storedtoken"]
ROLES = {"Viewer": VIEWER, "Operator": OPERATOR, "Site admin": SITE_ADMIN}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; the roles need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = [
            Permission.objects.get(content_type__app_label=app, codename=codename)
            for app, codename in (perm.split(".") for perm in codenames)
        ]
        group.permissions.set(permissions)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
