"""The activity charts: their numbers against a fixture counted by hand, on the page as figures that hold a picture
and a table of the same numbers, only of the sites the user may see, and a service's page's own small charts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import arcgis_client
from history import activity
from history.forms import HistoryFilterForm
from jobs.models import Site
from tests.history.factory import indexed

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture
def day_a() -> datetime:
    """Midnight (UTC, the tests' time zone), ten days ago."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - 10 * DAY


@pytest.fixture
def secret_site(db):
    hidden = Site.objects.create(slug="secret", name="Secret Site", admin_url="https://secret.example.com/arcgis/admin")
    hidden.groups.add(Group.objects.create(name="Secret team"))
    return hidden


@pytest.fixture
def counted(site, secret_site, day_a):
    """Day A: Watershed 3 succeeded (60, 120, 300 s) and 1 failed on GIS02; FloodModel 1 succeeded (600 s), 2 failed
    on GIS02 (50 s each), 1 timed out (3600 s). Day B: Watershed 1 succeeded (100 s), 1 cancelled (60 s); FloodModel 1
    executing, 1 gone while executing. Day C: nothing. The secret site's jobs count nowhere."""
    at = day_a + timedelta(hours=9)
    ok, failed = arcgis_client.SUCCEEDED, arcgis_client.FAILED
    water, flood = "Hydrology/Watershed", "Hydrology/FloodModel"
    for seconds in (60, 120, 300):
        indexed(site, water, ok, submitted=at, seconds=seconds)
    indexed(site, water, failed, submitted=at, seconds=30, machine="GIS02")
    indexed(site, flood, ok, submitted=at, seconds=600, user="svc_batch")
    indexed(site, flood, failed, submitted=at, seconds=50, machine="GIS02", user="svc_batch")
    indexed(site, flood, failed, submitted=at, seconds=50, machine="GIS02", user="svc_batch")
    indexed(site, flood, arcgis_client.TIMED_OUT, submitted=at, seconds=3600, user="svc_batch")
    at += DAY
    indexed(site, water, ok, submitted=at, seconds=100)
    indexed(site, water, arcgis_client.CANCELLED, submitted=at, seconds=60)
    indexed(site, flood, arcgis_client.EXECUTING, submitted=at, seconds=None)
    indexed(site, flood, arcgis_client.EXECUTING, submitted=at, seconds=None, gone_while=arcgis_client.EXECUTING)
    for _ in range(5):
        indexed(secret_site, flood, failed, submitted=at, seconds=9999, machine="GIS09", user="intruder")
    return day_a


def activity_for(sites, day_a, text: str = "") -> activity.Activity:
    until = day_a + 3 * DAY - timedelta(minutes=1)
    form = HistoryFilterForm(
        QueryDict(f"since={day_a:%Y-%m-%d %H:%M}&until={until:%Y-%m-%d %H:%M}&{text}"), sites=sites
    )
    assert form.is_valid(), form.errors
    query = form.query()
    return activity.Activity(query.jobs(sites), activity.span_of(*query.span()), query.sites_of(sites))


def by_label(table: activity.Table) -> dict[str, dict[str, object]]:
    return {row.label: dict(zip(table.series, row.values, strict=True)) for row in table.rows}


def test_jobs_per_day_by_outcome(counted, site):
    table = activity_for([site], counted).jobs_per_period
    assert table.first == "Day"
    assert table.series == ["Succeeded", "Failed", "Cancelled", "Timed out", "Active", "Gone"]
    day_a, day_b, day_c = (f"{counted + n * DAY:%Y-%m-%d}" for n in range(3))
    assert by_label(table) == {
        day_a: {"Succeeded": 4, "Failed": 3, "Cancelled": 0, "Timed out": 1, "Active": 0, "Gone": 0},
        day_b: {"Succeeded": 1, "Failed": 0, "Cancelled": 1, "Timed out": 0, "Active": 1, "Gone": 1},
        day_c: {"Succeeded": 0, "Failed": 0, "Cancelled": 0, "Timed out": 0, "Active": 0, "Gone": 0},
    }


def test_duration_percentiles_per_day(counted, site):
    table = activity_for([site], counted).duration_percentiles
    day_a, day_b, day_c = (f"{counted + n * DAY:%Y-%m-%d}" for n in range(3))
    found = by_label(table)
    # day A's succeeded: 60, 120, 300, 600 s; p50 between 120 and 300, p95 at 85 % of the way from 300 to 600
    assert found[day_a] == pytest.approx({"p50": 210.0, "p95": 555.0, "Max": 600.0})
    assert found[day_b] == pytest.approx({"p50": 100.0, "p95": 100.0, "Max": 100.0})
    assert found[day_c] == {"p50": None, "p95": None, "Max": None}


def test_top_failing_services_and_running_time(counted, site):
    charts = activity_for([site], counted)
    assert by_label(charts.top_failing_services) == {
        "Hydrology/FloodModel": {"Failed": 2, "Timed out": 1, "Jobs": 6},
        "Hydrology/Watershed": {"Failed": 1, "Timed out": 0, "Jobs": 6},
    }
    assert [row.label for row in charts.top_failing_services.rows] == ["Hydrology/FloodModel", "Hydrology/Watershed"]
    # FloodModel 600 + 50 + 50 + 3600 s; Watershed 60 + 120 + 300 + 30 + 100 + 60 s
    assert by_label(charts.running_time_by_service) == {
        "Hydrology/FloodModel": {"Running time": 1.19, "Jobs": 6},
        "Hydrology/Watershed": {"Running time": 0.19, "Jobs": 6},
    }


def test_per_machine_and_per_user(counted, site):
    charts = activity_for([site], counted)
    machines = by_label(charts.by_machine)
    assert list(machines) == ["GIS01", "GIS02"]
    assert machines["GIS02"] == {"Succeeded": 0, "Failed": 3, "Cancelled": 0, "Timed out": 0, "Active": 0, "Gone": 0}
    assert machines["GIS01"] == {"Succeeded": 5, "Failed": 0, "Cancelled": 1, "Timed out": 1, "Active": 1, "Gone": 1}
    users = by_label(charts.by_user)
    assert users["svc_batch"] == {"Succeeded": 1, "Failed": 2, "Cancelled": 0, "Timed out": 1, "Active": 0, "Gone": 0}
    assert sum(users["analyst1"].values()) == 8


def test_the_charts_follow_the_filters(counted, site):
    charts = activity_for([site], counted, "service=FLOODMODEL&status=esriJobFailed")
    assert sum(row.values[1] for row in charts.jobs_per_period.rows) == 2
    assert [row.label for row in charts.top_failing_services.rows] == ["Hydrology/FloodModel"]


def test_several_sites_label_their_services(counted, site, secret_site):
    charts = activity_for([site, secret_site], counted)
    labels = [row.label for row in charts.top_failing_services.rows]
    assert labels[0] == "Hydrology/FloodModel · Secret Site"
    assert "Hydrology/FloodModel · Main site" in labels


def test_a_day_or_less_is_counted_by_hour(site):
    now = timezone.now()
    indexed(site, submitted=now - timedelta(minutes=30))
    indexed(site, submitted=now - timedelta(hours=3, minutes=10), status=arcgis_client.FAILED)
    form = HistoryFilterForm(QueryDict("within=24h"), sites=[site])
    assert form.is_valid()
    query = form.query()
    table = activity.Activity(query.jobs([site]), activity.span_of(*query.span()), [site]).jobs_per_period
    assert table.first == "Hour"
    assert len(table.rows) in (24, 25)
    assert sum(row.values[0] for row in table.rows) == 1 and sum(row.values[1] for row in table.rows) == 1
    assert table.rows[-1].values[0] == 1 or table.rows[-2].values[0] == 1


def test_percentiles_as_postgresql_computes_them():
    assert activity.percentile([60, 120, 300, 600], 0.5) == 210
    assert activity.percentile([60, 120, 300, 600], 0.95) == pytest.approx(555)
    assert activity.percentile([7], 0.95) == 7


def test_the_charts_are_a_few_queries(counted, site, django_assert_max_num_queries):
    charts = activity_for([site], counted)
    with django_assert_max_num_queries(5):
        for table in charts.tables():
            assert table.rows


# --- on the page -------------------------------------------------------------------------------------------


def figures(html: str) -> dict[str, str]:
    """Each chart's figure, by name (each once)."""
    found = [
        (m.group(1), m.group(0))
        for m in re.finditer(r'<figure class="chart[^"]*" data-chart="([a-z-]+)">.*?</figure>', html, re.S)
    ]
    assert len(found) == len(dict(found)), "a chart is drawn twice"
    return dict(found)


def table_of(figure: str) -> list[list[str]]:
    """The figure's table: its header, then a list per row (the cells' text)."""
    rows = re.findall(r"<tr>(.*?)</tr>", figure, re.S)
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)] for row in rows
    ]


def charts_page(client, day_a, text: str = "") -> str:
    until = day_a + 3 * DAY - timedelta(minutes=1)
    query = f"since={day_a:%Y-%m-%d %H:%M}&until={until:%Y-%m-%d %H:%M}&{text}"
    response = client.get(f"/history/activity/?{query}")
    assert response.status_code == 200
    return response.content.decode()


def test_each_chart_is_a_figure_with_its_picture_and_a_table_of_the_same_numbers(client_as, viewer, counted):
    html = charts_page(client_as(viewer), counted)
    found = figures(html)
    assert set(found) == {
        "jobs-per-period",
        "duration-percentiles",
        "top-failing-services",
        "running-time-by-service",
        "by-machine",
        "by-user",
    }
    per_day = table_of(found["jobs-per-period"])
    assert per_day[0] == ["Day", "Succeeded", "Failed", "Cancelled", "Timed out", "Active", "Gone"]
    assert per_day[1] == [f"{counted:%Y-%m-%d}", "4", "3", "0", "1", "0", "0"]
    assert per_day[2] == [f"{counted + DAY:%Y-%m-%d}", "1", "0", "1", "0", "1", "1"]
    assert "<svg" in found["jobs-per-period"] and 'class="bar s-failed"' in found["jobs-per-period"]
    percentiles = table_of(found["duration-percentiles"])
    assert percentiles[0] == ["Day", "p50", "p95", "Max"]
    assert percentiles[1][1:] == ["3 min 30 s", "9 min 15 s", "10 min 00 s"]
    assert percentiles[3][1:] == ["—", "—", "—"]
    assert 'class="line s-p95"' in found["duration-percentiles"]
    failing = table_of(found["top-failing-services"])
    assert failing[0] == ["Service", "Failed", "Timed out", "Jobs"]
    assert failing[1] == ["Hydrology/FloodModel", "2", "1", "6"]
    assert table_of(found["running-time-by-service"])[1] == ["Hydrology/FloodModel", "1.19 h", "6"]
    assert table_of(found["by-machine"])[2][:3] == ["GIS02", "0", "3"]


def test_the_pictures_name_their_axes_and_series(client_as, viewer, counted):
    found = figures(charts_page(client_as(viewer), counted))
    per_day = found["jobs-per-period"]
    assert ">Jobs</text>" in per_day and "Day submitted (UTC)" in per_day
    assert '<span class="swatch s-timed-out" aria-hidden="true"></span>Timed out</li>' in per_day
    assert "Duration (min)" in found["duration-percentiles"]
    assert "Running time (hours)" in found["running-time-by-service"]
    assert 'viewBox="0 0 600 ' in per_day and 'width="100%"' in per_day
    assert "style=" not in "".join(found.values())  # the CSP allows no inline style


def test_the_charts_count_only_the_sites_the_user_may_see(client_as, viewer, counted):
    html = charts_page(client_as(viewer), counted)
    assert "Secret" not in html and "GIS09" not in html and "intruder" not in html
    per_day = table_of(figures(html)["jobs-per-period"])
    assert per_day[2][2] == "0"  # the secret site's 5 failures of day B


def test_the_history_page_inline_holds_the_charts_and_the_range_links(client_as, viewer, site):
    indexed(site, "Hydrology/FloodModel", arcgis_client.FAILED)
    client = client_as(viewer)
    html = client.get("/history/?inline=1&service=FloodModel").content.decode()
    assert set(figures(html)) >= {"jobs-per-period", "duration-percentiles", "top-failing-services"}
    assert '<a href="/history/?service=FloodModel&amp;within=30d">30 d</a>' in html
    assert 'aria-current="true">7 d</a>' in html
    lazy = client.get("/history/?service=FloodModel").content.decode()
    assert figures(lazy) == {}
    assert 'hx-get="/history/activity/?service=FloodModel"' in lazy


# --- a service's page ----------------------------------------------------------------------------------------


def test_a_services_page_gains_its_last_7_days(client_as, viewer, site, service):
    now = timezone.now()
    for n in range(40):
        status = arcgis_client.FAILED if n < 2 else arcgis_client.SUCCEEDED
        indexed(site, "Hydrology/Watershed", status, submitted=now - timedelta(hours=3 * n + 1), seconds=60 * (n + 1))
    indexed(site, "Hydrology/Watershed", submitted=now - timedelta(days=8))  # older than the last 7 days
    indexed(site, "Hydrology/Other", arcgis_client.FAILED)  # another service
    response = client_as(viewer).get("/sites/main/services/Hydrology/Watershed.GPServer/jobs/")
    assert response.status_code == 200
    html = response.content.decode()
    # the 38 succeeded took 3 to 40 min: p95 at 95 % of the way through them
    assert "Last 7 days: 40 jobs, 5 % failed, p95 38 min." in html
    found = figures(html)
    assert set(found) == {"jobs-per-period", "duration-percentiles"}
    per_day = table_of(found["jobs-per-period"])
    assert sum(int(row[1]) for row in per_day[1:]) == 38 and sum(int(row[2]) for row in per_day[1:]) == 2
    assert 'href="/history/?site=main&amp;folder=Hydrology&amp;service=Watershed"' in html


def test_a_service_the_history_has_no_job_of_shows_no_panel(client_as, viewer, site, service):
    indexed(site, "Hydrology/Other")
    html = client_as(viewer).get("/sites/main/services/Hydrology/Watershed.GPServer/jobs/").content.decode()
    assert "service-activity" not in html
    assert figures(html) == {}


def test_the_summary_in_words():
    assert activity.Summary(7, 1204, 36, 660).text == "Last 7 days: 1,204 jobs, 3 % failed, p95 11 min"
    assert activity.Summary(7, 1000, 4, 45).text == "Last 7 days: 1,000 jobs, 0.4 % failed, p95 45 s"
    assert activity.Summary(7, 1, 0, None).text == "Last 7 days: 1 job, 0 % failed"


def test_days_are_the_users_days(site, day_a):
    """23:30 UTC is already the next day in Zurich (UTC+1 in winter, +2 in summer)."""
    indexed(site, submitted=day_a + timedelta(hours=23, minutes=30))
    with timezone.override("Europe/Zurich"):
        charts = activity_for([site], day_a)
        counts = {row.label: row.values[0] for row in charts.jobs_per_period.rows}
        assert charts.jobs_per_period.rows[0].at.tzinfo is not None
    assert counts[f"{day_a + DAY:%Y-%m-%d}"] == 1
    assert sum(counts.values()) == 1


def test_a_root_folder_services_panel_counts_only_its_own_jobs(client_as, viewer, site, service):
    """A service of the root folder is not its namesakes in other folders: its panel counts its jobs alone."""
    for _ in range(3):
        indexed(site, "Watershed")
    for _ in range(5):
        indexed(site, "Hydrology/Watershed", arcgis_client.FAILED)
    html = client_as(viewer).get("/sites/main/services/Watershed.GPServer/jobs/").content.decode()
    assert "Last 7 days: 3 jobs, 0 % failed" in html


def test_a_services_panel_is_counted_once_a_minute_for_everyone_who_sees_it(client_as, viewer, operator, site):
    """Two index queries a load were a tenth of the page's cost: the panel is kept a minute per service and zone."""
    for _ in range(3):
        indexed(site, "Hydrology/Watershed")
    page = "/sites/main/services/hydrology/WATERSHED.GPServer/jobs/"
    assert "Last 7 days: 3 jobs" in client_as(viewer).get(page).content.decode()
    indexed(site, "Hydrology/Watershed")
    with CaptureQueriesContext(connection) as asked:
        html = client_as(operator).get("/sites/main/services/Hydrology/Watershed.GPServer/jobs/").content.decode()
    assert "Last 7 days: 3 jobs" in html  # the minute's figures, whatever the spelling
    assert not [q for q in asked.captured_queries if "history_indexedjob" in q["sql"]]
