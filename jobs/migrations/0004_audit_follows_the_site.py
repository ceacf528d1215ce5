"""Audit rows follow the site itself (security review, finding 6): who may see a row is decided by its site
foreign key, no longer by the slug text, which a new site may reuse. Rows keep the slug and now also the
site's name as they were at the time.

Existing rows keep working: every row the portal wrote carries its site (set when the row was written, null
once that site was deleted). Rows are deliberately not matched to a site by slug: a site with that slug today
may not be the one the row is about.
"""

from django.db import migrations, models


def snapshot_site_names(apps, schema_editor):
    AuditEvent = apps.get_model("jobs", "AuditEvent")
    Site = apps.get_model("jobs", "Site")
    for site in Site.objects.all():
        AuditEvent.objects.filter(site=site, site_name="").update(site_name=site.name)


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0003_site_timeout_bounds"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="site_name",
            field=models.CharField(blank=True, help_text="The site's name at the time.", max_length=200),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="site_slug",
            field=models.CharField(help_text="The site's slug at the time.", max_length=50),
        ),
        migrations.RunPython(snapshot_site_names, migrations.RunPython.noop),
        # The jobs page looks up the last action on each job by site, service and job.
        migrations.RemoveIndex(model_name="auditevent", name="audit_job_latest"),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["site", "service", "job_id", "-created"], name="audit_site_job_latest"),
        ),
    ]
