"""The history: every indexed job, also those ArcGIS forgot, filtered as the fleet view is, on the sites the user
may see, a page at a time by a cursor over the index; its CSV; and a forgotten job's own page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.http import QueryDict
from django.utils import timezone

import arcgis_client
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
