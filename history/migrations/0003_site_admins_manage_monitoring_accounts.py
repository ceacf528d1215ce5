"""Site admins set, replace and remove each site's monitoring account (the Django admin), as they manage sites."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SITE_ADMIN = ["view_monitoringaccount", "add_monitoringaccount", "change_monitoringaccount", "delete_monitoringaccount"]


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    group = apps.get_model("auth", "Group").objects.filter(name="Site admin").first()
    if group is not None:
        group.permissions.add(*Permission.objects.filter(content_type__app_label="history", codename__in=SITE_ADMIN))


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    group = apps.get_model("auth", "Group").objects.filter(name="Site admin").first()
    if group is not None:
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="history", codename__in=SITE_ADMIN))


class Migration(migrations.Migration):
    dependencies = [
        ("history", "0002_monitoring_account_pass_and_alert_state"),
        ("jobs", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
