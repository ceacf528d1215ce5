"""The history in the API: /api/v1/history/jobs/ (the page's filters, a cursor) and /api/v1/history/activity/ (the
charts' numbers), on the sites the token's owner may see, without an ArcGIS connection of their own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

import arcgis_client
from api import personal_tokens
from jobs.models import Site
from tests.api.test_v1 import ApiClient, error
from tests.history.factory import indexed

pytestmark = pytest.mark.django_db


@pytest.fixture
def secret_site(db):
    hidden = Site.objects.create(slug="secret", name="Secret Site", admin_url="https://secret.example.com/arcgis/admin")
    hidden.groups.add(Group.objects.create(name="Secret team"))
    return hidden


def api_as(user) -> ApiClient:
    _, token = personal_tokens.issue(user, "history-script", 30)
    return ApiClient(token)


@pytest.fixture
def script(viewer):
    """A viewer's script: no ArcGIS token for any site."""
    return api_as(viewer)


def test_the_jobs_page_by_page_with_the_pages_filters(script, site, secret_site):
    now = timezone.now()
    for n in range(5):
        indexed(site, "Hydrology/FloodModel", job_id=f"j{n}", submitted=now - timedelta(minutes=n + 1), seconds=90)
    indexed(site, "Buffer", job_id="jbuffer")
    indexed(secret_site, "Hydrology/FloodModel", job_id="jsecret")
    seen, cursor = [], None
    while True:
        params = {"service": "floodmodel", "per_page": 2, **({"before": cursor} if cursor else {})}
        response = script.get("/api/v1/history/jobs/", params)
        assert response.status_code == 200, response.content
        body = response.json()
        seen += [job["job_id"] for job in body["jobs"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == ["j0", "j1", "j2", "j3", "j4"]
    first = script.get("/api/v1/history/jobs/", {"job": "j0"}).json()["jobs"][0]
    assert first["site"] == "main" and first["service"] == "Hydrology/FloodModel"
    assert first["status"] == arcgis_client.SUCCEEDED and first["status_label"] == "Succeeded"
    assert first["duration_seconds"] == 90
    assert first["portal_url"] == "/sites/main/services/Hydrology/FloodModel.GPServer/jobs/j0/"


def test_a_gone_job_says_so(script, site):
    indexed(site, job_id="jgone", status=arcgis_client.EXECUTING, seconds=None, gone_while=arcgis_client.EXECUTING)
    job = script.get("/api/v1/history/jobs/").json()["jobs"][0]
    assert job["gone_while"] == arcgis_client.EXECUTING and job["status_label"] == "Gone while Executing"


def test_restricted_sites_are_not_in_the_api(script, site, secret_site):
    indexed(secret_site, job_id="jsecret", machine="GIS09")
    assert script.get("/api/v1/history/jobs/").json()["jobs"] == []
    assert error(script.get("/api/v1/history/jobs/", {"site": "secret"}), 400, "bad_request").startswith("site:")
    charts = script.get("/api/v1/history/activity/").json()["charts"]
    machines = next(chart for chart in charts if chart["name"] == "by-machine")
    assert machines["rows"] == []
    per_period = next(chart for chart in charts if chart["name"] == "jobs-per-period")
    assert sum(sum(row["values"]) for row in per_period["rows"]) == 0


def test_the_activity_is_the_charts_numbers(script, site):
    now = timezone.now()
    indexed(site, "Hydrology/FloodModel", arcgis_client.FAILED, submitted=now - timedelta(hours=2))
    indexed(site, "Hydrology/FloodModel", arcgis_client.SUCCEEDED, submitted=now - timedelta(hours=2), seconds=120)
    response = script.get("/api/v1/history/activity/", {"within": "24h"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["period"] == "hour" and body["timezone"] == "UTC"
    charts = {chart["name"]: chart for chart in body["charts"]}
    assert set(charts) >= {"jobs-per-period", "duration-percentiles", "top-failing-services"}
    per_hour = charts["jobs-per-period"]
    assert per_hour["first"] == "Hour" and per_hour["series"][:4] == ["Succeeded", "Failed", "Cancelled", "Timed out"]
    assert [sum(column) for column in zip(*(row["values"] for row in per_hour["rows"]), strict=True)][:2] == [1, 1]
    failing = charts["top-failing-services"]
    assert failing["rows"][0]["label"] == "Hydrology/FloodModel" and failing["rows"][0]["values"] == [1, 0, 2]
    durations = [row["values"] for row in charts["duration-percentiles"]["rows"] if row["values"][0] is not None]
    assert durations == [[120, 120, 120]]


def test_bad_or_unknown_filters_are_refused(script, site):
    assert "within" in error(script.get("/api/v1/history/jobs/", {"within": "2y"}), 400, "bad_request")
    assert "Unknown parameter: running_long" in error(
        script.get("/api/v1/history/jobs/", {"running_long": "true"}), 400, "bad_request"
    )
    assert "before" in error(script.get("/api/v1/history/activity/", {"before": "x"}), 400, "bad_request")


def test_the_history_needs_a_token_and_a_role(site, outsider):
    error(ApiClient(None).get("/api/v1/history/jobs/"), 401, "unauthorized")
    error(api_as(outsider).get("/api/v1/history/activity/"), 403, "forbidden")


def test_the_charts_span_no_further_back_than_the_index_keeps(script, site, settings):
    """A 'from' decades ago draws the days the index can hold (HISTORY_RETENTION_DAYS), not thousands of empty ones."""
    settings.HISTORY_RETENTION_DAYS = 90
    indexed(site, "Hydrology/FloodModel")
    response = script.get("/api/v1/history/activity/", {"within": "all", "since": "1990-01-01T00:00:00Z"})
    assert response.status_code == 200
    body = response.json()
    per_day = next(chart for chart in body["charts"] if chart["name"] == "jobs-per-period")
    assert body["period"] == "day" and len(per_day["rows"]) <= 92
    assert sum(sum(row["values"]) for row in per_day["rows"]) == 1
