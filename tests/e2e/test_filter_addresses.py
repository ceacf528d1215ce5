"""What a person sees in the address bar and the admin's lists: a filtered fleet view or jobs page carries only the
filters asked for (with JavaScript and without), and the Sites list says in words how each site's certificate is
checked, never a red cross for the safe setting."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


@pytest.mark.parametrize("javascript", [True, False])
def test_a_filtered_fleet_address_carries_only_the_filters_asked_for(service, connected_operator, portal, javascript):
    page = portal.open(connected_operator, javascript=javascript)
    page.goto("/jobs/")
    page.get_by_label("User").fill("svc_batch")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_label("User")).to_have_value("svc_batch")
    query = query_of(page.url)
    assert query["user"] == ["svc_batch"] and "folder" not in query and "site" not in query, page.url
    assert all(value != "" for values in query.values() for value in values), page.url


def test_a_filtered_jobs_page_address_carries_only_the_filters_asked_for(operator_page, jobs_url):
    page = operator_page
    page.goto(jobs_url)
    page.get_by_label("Machine").fill("GIS01")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(f"{page.url.split('?')[0]}?machine=GIS01&per_page=50")  # no user=, job=, within=…


def test_the_sites_list_says_how_certificates_are_checked(site, simulator, site_admin, portal):
    site.insecure, site.admin_url = False, simulator.admin_url.replace("http:", "https:")
    site.save()
    page = portal.open(site_admin)
    page.goto(reverse("admin:jobs_site_changelist"))
    row = page.get_by_role("row", name="Main site")
    expect(row).to_contain_text("Checked against the system's CAs")
    expect(row.locator('img[alt="False"], img[alt="True"]')).to_have_count(0)  # no ✗ or ✓ icon
    expect(page.get_by_role("columnheader", name="TLS certificate")).to_be_visible()
