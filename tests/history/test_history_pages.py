"""The history: every indexed job, also those ArcGIS forgot, filtered as the fleet view is, on the sites the user
may see, a page at a time by a cursor over the index; its CSV; and a forgotten job's own page."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.http import QueryDict
from django.utils import timezone

import arcgis_client
from history import exports
from history.forms import HistoryFilterForm
from history.queries import HistoryQuery
from jobs.models import Site
from tests.history.factory import indexed

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_site(db):
    return Site.objects.create(slug="other", name="Other site", admin_url="https://other.example.com/arcgis/admin")


@pytest.fixture
def secret_site(db):
    hidden = Site.objects.create(slug="secret", name="Secret Site", admin_url="https://secret.example.com/arcgis/admin")
    hidden.groups.add(Group.objects.create(name="Secret team"))
    return hidden


def query(sites, text: str = "") -> HistoryQuery:
    form = HistoryFilterForm(QueryDict(text), sites=sites)
    assert form.is_valid(), form.errors
    return form.query()


def ids(rows) -> list[str]:
    return [row.job_id for row in rows]


# --- the query ---------------------------------------------------------------------------------------------


def test_no_status_ticked_is_every_status_and_the_last_7_days_by_default(site):
    now = timezone.now()
    for status in (arcgis_client.SUCCEEDED, arcgis_client.FAILED, arcgis_client.EXECUTING):
        indexed(site, status=status, job_id=f"j{status[7:]}", submitted=now - timedelta(days=1))
    indexed(site, job_id="jold", submitted=now - timedelta(days=8))
    assert sorted(ids(query([site]).page([site]).rows)) == ["jExecuting", "jFailed", "jSucceeded"]
    assert "jold" in ids(query([site], "within=30d").page([site]).rows)
    assert "jold" in ids(query([site], "within=all").page([site]).rows)
    failed = query([site], "status=esriJobFailed&status=esriJobExecuting").page([site]).rows
    assert sorted(ids(failed)) == ["jExecuting", "jFailed"]


def test_the_service_filter_matches_folder_and_name_in_any_case(site):
    indexed(site, "Hydrology/FloodModel", job_id="jflood")
    indexed(site, "Other/FloodModel", job_id="jother")
    indexed(site, "FloodModel", job_id="jroot")
    indexed(site, "Hydrology/Watershed", job_id="jwater")
    assert sorted(ids(query([site], "service=floodmodel").page([site]).rows)) == ["jflood", "jother", "jroot"]
    assert ids(query([site], "folder=HYDROLOGY&service=FLOODMODEL").page([site]).rows) == ["jflood"]
    assert sorted(ids(query([site], "folder=hydrology").page([site]).rows)) == ["jflood", "jwater"]


def test_user_machine_job_and_site_filters(site, other_site):
    indexed(site, job_id="ja", user="svc_batch", machine="GIS02")
    indexed(site, job_id="jb", user="analyst1", machine="GIS01")
    indexed(other_site, job_id="jc", user="svc_batch", machine="GIS02")
    sites = [site, other_site]
    assert sorted(ids(query(sites, "user=svc_batch").page(sites).rows)) == ["ja", "jc"]
    assert ids(query(sites, "user=svc_batch&site=main").page(sites).rows) == ["ja"]
    assert ids(query(sites, "machine=GIS01").page(sites).rows) == ["jb"]
    assert ids(query(sites, "job=jc").page(sites).rows) == ["jc"]


def test_a_site_the_user_may_not_see_is_not_a_choice(site, secret_site):
    form = HistoryFilterForm(QueryDict("site=secret"), sites=[site])
    assert not form.is_valid()
    assert "site" in form.errors


def test_the_cursor_pages_newest_first_through_equal_submitted_times(site):
    at = timezone.now() - timedelta(hours=2)
    made = [indexed(site, job_id=f"j{n:02d}", submitted=at - timedelta(minutes=n // 3)) for n in range(10)]
    expected = [job.job_id for job in sorted(made, key=lambda job: (job.submitted, job.pk), reverse=True)]
    seen, before = [], ""
    for _ in range(5):
        page = query([site], f"per_page=3{'&before=' + before if before else ''}").page([site])
        seen += ids(page.rows)
        before = page.next_cursor
        if not before:
            break
    assert seen == expected
    assert not before


def test_the_page_is_one_query(site, django_assert_num_queries):
    for n in range(5):
        indexed(site, job_id=f"j{n}")
    history = query([site])
    with django_assert_num_queries(1):
        page = history.page([site])
        assert [row.site.slug for row in page.rows] == ["main"] * 5


# --- the page ----------------------------------------------------------------------------------------------


def rows_of(html: str) -> dict[str, str]:
    """Each job row's opening tag, by job ID."""
    return {found.group(1): found.group(0) for found in re.finditer(r'<tr id="job-([A-Za-z0-9]+)"[^>]*>', html)}


def test_the_page_shows_the_rows_with_the_fleet_views_hooks(client_as, viewer, site, secret_site):
    indexed(site, "Hydrology/FloodModel", arcgis_client.FAILED, job_id="jflood", user="svc_batch")
    indexed(site, "Buffer", arcgis_client.EXECUTING, job_id="jbuffer", gone_while=arcgis_client.EXECUTING, seconds=None)
    indexed(secret_site, "Hydrology/FloodModel", job_id="jsecret")
    response = client_as(viewer).get("/history/")  # a viewer without any ArcGIS connection
    assert response.status_code == 200
    html = response.content.decode()
    found = rows_of(html)
    assert set(found) == {"jflood", "jbuffer"}
    assert 'data-status="esriJobFailed"' in found["jflood"]
    assert 'data-site="main"' in found["jflood"]
    assert 'data-service="Hydrology/FloodModel"' in found["jflood"]
    assert 'data-service="Buffer"' in found["jbuffer"]
    assert "Gone while Executing" in html
    assert ">Failed<" in html
    assert 'href="/sites/main/services/Hydrology/FloodModel.GPServer/jobs/jflood/"' in html
    assert "Secret" not in html and "jsecret" not in html


def test_the_top_navigation_links_to_the_history(client_as, viewer, site):
    html = client_as(viewer).get("/history/").content.decode()
    assert '<a href="/history/" aria-current="page">History</a>' in html
    assert '<a href="/history/">History</a>' in client_as(viewer).get("/jobs/").content.decode()


def test_the_next_page_link_carries_the_filters_and_the_cursor(client_as, viewer, site):
    for n in range(4):
        indexed(site, job_id=f"j{n}", submitted=timezone.now() - timedelta(minutes=n + 1))
    client = client_as(viewer)
    html = client.get("/history/?per_page=3&user=analyst1").content.decode()
    assert list(rows_of(html)) == ["j0", "j1", "j2"]
    link = re.search(r'<a href="([^"]+)" rel="next">', html)
    assert link is not None
    url = link.group(1).replace("&amp;", "&")
    assert "user=analyst1" in url and "before=" in url
    older = client.get(url).content.decode()
    assert list(rows_of(older)) == ["j3"]
    assert 'rel="next"' not in older


def test_a_filter_that_needs_a_correction_says_so(client_as, viewer, site):
    indexed(site, job_id="jshown")
    html = client_as(viewer).get("/history/?job=not-an-id").content.decode()
    assert "The filters need a correction" in html
    assert rows_of(html) == {}


def test_the_page_renders_whole_with_inline(client_as, viewer, site):
    indexed(site, job_id="jinline")
    response = client_as(viewer).get("/history/?inline=1")
    assert response.status_code == 200
    assert "jinline" in rows_of(response.content.decode())


def test_someone_without_a_role_may_not_see_the_history(client_as, outsider):
    assert client_as(outsider).get("/history/").status_code == 403


# --- a forgotten job's own page ----------------------------------------------------------------------------


def test_a_job_arcgis_forgot_opens_its_page_from_the_index(olivia, site, service):
    indexed(site, "Hydrology/Watershed", arcgis_client.SUCCEEDED, job_id="jforgotten", user="svc_batch")
    response = olivia.get("/sites/main/services/Hydrology/Watershed.GPServer/jobs/jforgotten/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "ArcGIS no longer holds this job; its messages are gone with it" in html
    assert 'data-status="esriJobSucceeded"' in rows_of(html)["jforgotten"]
    assert "svc_batch" in html
    assert "no longer exists on the server" not in html
    assert ">Delete<" not in html  # nothing to act on


def test_the_index_answers_for_the_folder_and_name_in_any_case(olivia, site, service):
    indexed(site, "Hydrology/Watershed", arcgis_client.EXECUTING, job_id="jgone", gone_while=arcgis_client.EXECUTING)
    html = olivia.get("/sites/main/services/hydrology/WATERSHED.GPServer/jobs/jgone/").content.decode()
    assert "ArcGIS no longer holds this job" in html
    assert "it vanished while Executing, so how it ended is not known" in html


def test_a_job_neither_arcgis_nor_the_index_knows_is_gone_as_before(olivia, site, service):
    html = olivia.get("/sites/main/services/Hydrology/Watershed.GPServer/jobs/jnowhere/").content.decode()
    assert "This job no longer exists on the server." in html
    assert "ArcGIS no longer holds this job" not in html


def test_a_viewer_without_a_connection_sees_the_job_as_last_indexed(client_as, viewer, site, service):
    indexed(site, "Hydrology/Watershed", arcgis_client.FAILED, job_id="jfailed")
    html = client_as(viewer).get("/sites/main/services/Hydrology/Watershed.GPServer/jobs/jfailed/").content.decode()
    assert "Could not read the job" in html
    assert "Shown as the portal's job history last saw it" in html
    assert 'data-status="esriJobFailed"' in rows_of(html)["jfailed"]


# --- the CSV -----------------------------------------------------------------------------------------------


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text, newline="")))


def test_the_csv_is_the_filtered_list_streamed_from_the_database(client_as, viewer, site, secret_site, monkeypatch):
    monkeypatch.setattr(exports, "CHUNK", 2)  # several chunks
    now = timezone.now()
    for n in range(5):
        indexed(site, "Hydrology/FloodModel", job_id=f"jflood{n}", submitted=now - timedelta(minutes=n + 1), seconds=90)
    indexed(site, "Buffer", job_id="jbuffer")
    indexed(secret_site, "Hydrology/FloodModel", job_id="jsecret")
    page = client_as(viewer).get("/history/?service=floodmodel").content.decode()
    assert 'href="/history/export.csv?service=floodmodel"' in page
    response = client_as(viewer).get("/history/export.csv?service=floodmodel")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="gp-jobs-history.csv"' in response["Content-Disposition"]
    indexed(site, "Hydrology/FloodModel", job_id="jlate", submitted=now)  # read as the file is sent, not before
    header, *lines = csv_rows(response)
    assert header[:5] == ["site", "service", "job_id", "status", "status_label"]
    assert [line[2] for line in lines] == ["jlate", "jflood0", "jflood1", "jflood2", "jflood3", "jflood4"]
    first = dict(zip(header, lines[1], strict=True))
    assert first["site"] == "main" and first["service"] == "Hydrology/FloodModel"
    assert first["status_label"] == "Succeeded" and first["duration_seconds"] == "90"
    assert first["submitted"].endswith("+00:00")


def test_the_csv_neutralises_what_a_spreadsheet_would_run(client_as, viewer, site):
    for n, user in enumerate(["=HYPERLINK(1)", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx", " =1", "plain"]):
        indexed(site, job_id=f"j{n}", user=user, submitted=timezone.now() - timedelta(minutes=n + 1))
    header, *lines = csv_rows(client_as(viewer).get("/history/export.csv"))
    users = [line[header.index("user")] for line in lines]
    assert users == ["'=HYPERLINK(1)", "'+1", "'-1+2", "'@SUM(A1)", "'\tx", "'\rx", "' =1", "plain"]


def test_a_csv_with_bad_filters_says_so(client_as, viewer, site):
    response = client_as(viewer).get("/history/export.csv?site=secret")
    assert response.status_code == 400
    assert "The filters need a correction" in response.content.decode()
