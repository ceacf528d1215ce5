"""URLs mirror ArcGIS's own admin paths: …/services/[<folder>/]<name>.GPServer/jobs/<jobId>/."""

from django.urls import include, path, register_converter

from jobs import validators
from jobs.views import (
    actions,
    audit_trail,
    bulk,
    connect,
    fleet_view,
    polling,
    preferences,
    saved_views,
    service_jobs,
    sites,
)


class ArcGISNameConverter:
    """Folder and service names: letters, digits and underscores, at most 120."""

    regex = validators.NAME_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class JobIdConverter(ArcGISNameConverter):
    regex = validators.JOB_ID_PATTERN


register_converter(ArcGISNameConverter, "arcgisname")
register_converter(JobIdConverter, "jobid")

app_name = "jobs"

service_urls = [
    path("jobs/", service_jobs.job_list, name="job_list"),
    path("jobs/export.csv", service_jobs.job_export, name="job_export"),
    path("jobs/counts/", sites.service_counts, name="service_counts"),
    path("jobs/updates/", polling.job_updates, name="job_updates"),
    path("jobs/baseline/", sites.service_baseline, name="service_baseline"),
    path("jobs/purge/", actions.purge_queue, name="purge"),
    path("jobs/bulk/", bulk.bulk_action, name="bulk"),
    path("jobs/<jobid:job_id>/", service_jobs.job_detail, name="job"),
    path("jobs/<jobid:job_id>/facts/", service_jobs.job_facts, name="job_facts"),
    path("jobs/<jobid:job_id>/messages/", polling.job_messages, name="job_messages"),
    path("jobs/<jobid:job_id>/cancel/", actions.cancel_job, name="cancel"),
    path("jobs/<jobid:job_id>/delete/", actions.delete_job, name="delete"),
]

urlpatterns = [
    path("", sites.overview, name="overview"),
    path("overview/stream", sites.sites_stream, name="overview_stream"),
    path("overview/refresh", sites.overview_refresh, name="overview_refresh"),
    path("sites/<slug:slug>/", sites.site_detail, name="site"),
    path("sites/<slug:slug>/stream", sites.sites_stream, name="site_stream"),
    path("sites/<slug:slug>/token/", connect.token, name="token"),
    path("sites/<slug:slug>/services/<arcgisname:name>.GPServer/", include(service_urls)),
    path("sites/<slug:slug>/services/<arcgisname:folder>/<arcgisname:name>.GPServer/", include(service_urls)),
    path("jobs/", fleet_view.fleet_view, name="fleet"),
    path("jobs/stream", fleet_view.fleet_stream, name="fleet_stream"),
    path("jobs/refresh", fleet_view.fleet_refresh, name="fleet_refresh"),
    path("jobs/updates", polling.fleet_updates, name="fleet_updates"),
    path("jobs/export.csv", fleet_view.fleet_export, name="fleet_export"),
    path("jobs/bulk/", bulk.fleet_bulk, name="fleet_bulk"),
    path("jobs/matching", bulk.fleet_matching, name="fleet_matching"),
    path("audit/", audit_trail.audit_trail, name="audit"),
    path("audit.csv", audit_trail.audit_csv, name="audit_csv"),
    path("timezone/", preferences.set_timezone, name="timezone"),
    path("views/", saved_views.saved_view_list, name="saved_views"),
    path("views/<int:pk>/delete/", saved_views.delete_saved_view, name="delete_saved_view"),
]
