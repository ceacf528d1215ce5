"""URLs mirror ArcGIS's own admin paths: …/services/[<folder>/]<name>.GPServer/jobs/<jobId>/."""

from django.urls import include, path, register_converter

import arcgis_client
from jobs import views


class ArcGISNameConverter:
    """Folder and service names: letters, digits and underscores, at most 120."""

    regex = arcgis_client.NAME_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class JobIdConverter(ArcGISNameConverter):
    regex = arcgis_client.JOB_ID_PATTERN


register_converter(ArcGISNameConverter, "arcgisname")
register_converter(JobIdConverter, "jobid")

app_name = "jobs"

service_urls = [
    path("jobs/", views.job_list, name="job_list"),
    path("jobs/counts/", views.service_counts, name="service_counts"),
    path("jobs/updates/", views.job_updates, name="job_updates"),
    path("jobs/baseline/", views.service_baseline, name="service_baseline"),
    path("jobs/purge/", views.purge_queue, name="purge"),
    path("jobs/bulk/", views.bulk_action, name="bulk"),
    path("jobs/<jobid:job_id>/", views.job_detail, name="job"),
    path("jobs/<jobid:job_id>/facts/", views.job_facts, name="job_facts"),
    path("jobs/<jobid:job_id>/messages/", views.job_messages, name="job_messages"),
    path("jobs/<jobid:job_id>/cancel/", views.cancel_job, name="cancel"),
    path("jobs/<jobid:job_id>/delete/", views.delete_job, name="delete"),
]

urlpatterns = [
    path("", views.overview, name="overview"),
    path("overview/stream", views.sites_stream, name="overview_stream"),
    path("overview/refresh", views.overview_refresh, name="overview_refresh"),
    path("sites/<slug:slug>/", views.site_detail, name="site"),
    path("sites/<slug:slug>/stream", views.sites_stream, name="site_stream"),
    path("sites/<slug:slug>/token/", views.token, name="token"),
    path("sites/<slug:slug>/services/<arcgisname:name>.GPServer/", include(service_urls)),
    path("sites/<slug:slug>/services/<arcgisname:folder>/<arcgisname:name>.GPServer/", include(service_urls)),
    path("jobs/", views.fleet_view, name="fleet"),
    path("jobs/stream", views.fleet_stream, name="fleet_stream"),
    path("jobs/refresh", views.fleet_refresh, name="fleet_refresh"),
    path("jobs/bulk/", views.fleet_bulk, name="fleet_bulk"),
    path("audit/", views.audit_trail, name="audit"),
    path("audit.csv", views.audit_csv, name="audit_csv"),
    path("timezone/", views.set_timezone, name="timezone"),
    path("healthz", views.healthz, name="healthz"),
]
