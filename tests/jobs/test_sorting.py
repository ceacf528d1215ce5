"""Sorting by any column: by submission ArcGIS orders every page (oldest first reads its last page first); any
other column sorts the page shown, and the page says so; the same on the fleet view and in a menu for phones."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

import arcgis_client
from jobs import sorting
from jobs.targets import JobEntry
from tests.helpers import jobs_table_html, row_ids, text

EXECUTING, SUCCEEDED = arcgis_client.EXECUTING, arcgis_client.SUCCEEDED
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def entry(target, job_id: str, **fields) -> JobEntry:
    return JobEntry(target, job_id, arcgis_client.Job(job_id, fields.pop("status", EXECUTING), **fields))


def test_any_column_sorts_either_way_with_what_is_not_known_last(target):
    rows = [
        entry(target, "j1", username="Zoe", submitted=T0, ended=T0 + timedelta(minutes=5)),
        entry(target, "j2", username=None, submitted=T0 + timedelta(minutes=1)),
        entry(target, "j3", username="adam", submitted=T0 + timedelta(minutes=2), ended=T0 + timedelta(minutes=3)),
    ]
    assert [r.job_id for r in sorting.sort_entries(rows, "user")] == ["j3", "j1", "j2"]
    assert [r.job_id for r in sorting.sort_entries(rows, "-user")] == ["j1", "j3", "j2"]
    assert [r.job_id for r in sorting.sort_entries(rows, "-ended")] == ["j1", "j3", "j2"]
    assert [r.job_id for r in sorting.sort_entries(rows, "job")] == ["j1", "j2", "j3"]
    assert (
        sorting.describe("-duration") == "duration, longest first" and sorting.describe("submitted") == "oldest first"
    )


def test_headers_sort_by_each_column_and_say_which_order_is_shown(simulator, service, target, olivia):
    simulator.state.add_job(service.key)
    html = jobs_table_html(olivia, target, {"sort": "user", "page": 1})
    header = re.search(r"<thead>.*?</thead>", html, re.S).group(0)
    assert re.search(r'<th scope="col" class="user" aria-sort="ascending"><a href="\?sort=-user&amp;page=1"', header)
    # By submission: every page, from the first; any other column: this page.
    assert 'href="?sort=-submitted"' in header and 'href="?sort=machine&amp;page=1"' in header
    assert header.count("aria-sort") == 1 and 'title="Sorts the jobs of this page"' in header
    assert "newest first; this page sorted by user, A–Z." in text(html)
    menu = re.search(r'<form method="get"[^>]*data-sort-menu.*?</form>', html, re.S).group(0)
    assert '<option value="user" selected>User, A–Z (this page)</option>' in menu
    assert '<option value="submitted">Submitted, oldest first</option>' in menu


def test_oldest_first_is_across_pages(simulator, service, target, olivia):
    jobs = [simulator.state.add_job(service.key, submitted=T0 + timedelta(minutes=i)) for i in range(30)]
    first = jobs_table_html(olivia, target, {"sort": "submitted", "per_page": 25})
    assert row_ids(first) == jobs[:25] and "Jobs 1–25 of 30, oldest first." in text(first)
    assert "Newer →" in first
    second = jobs_table_html(olivia, target, {"sort": "submitted", "per_page": 25, "page": 2})
    assert row_ids(second) == jobs[25:]


@pytest.mark.parametrize(("sort", "order"), [("user", ["j" + "a" * 32, "j" + "b" * 32]), ("-user", None)])
def test_the_fleet_sorts_its_page_by_any_column(simulator, site, service, olivia, sort, order):
    simulator.state.add_job(service.key, username="bea", job_id="j" + "b" * 32, submitted=T0)
    simulator.state.add_job(service.key, username="al", job_id="j" + "a" * 32, submitted=T0 + timedelta(minutes=1))
    html = olivia.get(reverse("jobs:fleet"), {"sort": sort, "inline": "1"}).content.decode()
    expected = order or ["j" + "b" * 32, "j" + "a" * 32]
    assert row_ids(html) == expected
    assert f"this page sorted by user, {'A–Z' if sort == 'user' else 'Z–A'}." in text(html)


def test_the_fleets_oldest_first_is_its_longest_running_order(simulator, site, service, olivia):
    old = simulator.state.add_job(service.key, submitted=T0)
    new = simulator.state.add_job(service.key, submitted=T0 + timedelta(hours=1))
    html = olivia.get(reverse("jobs:fleet"), {"sort": "submitted", "inline": "1"}).content.decode()
    assert row_ids(html) == [old, new] and "oldest first." in text(html)
    assert row_ids(olivia.get(reverse("jobs:fleet"), {"order": "longest", "inline": "1"}).content.decode()) == [
        old,
        new,
    ]
