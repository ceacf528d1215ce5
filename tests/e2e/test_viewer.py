"""A Viewer on the jobs page: the jobs, but no way to act on them."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

import arcgis_client

pytestmark = pytest.mark.e2e

SERVICE_KEY = "Hydrology/Watershed"  # the GP service of the `service` fixture


@pytest.fixture
def connected_viewer(viewer, site, connect):
    connect(viewer, site)
    return viewer


def test_a_viewer_sees_the_jobs_but_no_actions(connected_viewer, portal, simulator, jobs_url):
    running = simulator.state.add_job(SERVICE_KEY, arcgis_client.EXECUTING)
    finished = simulator.state.add_job(SERVICE_KEY, arcgis_client.SUCCEEDED)
    page = portal.open(connected_viewer)
    page.goto(jobs_url)

    expect(page.locator(f"#job-{running}")).to_have_attribute("data-status", arcgis_client.EXECUTING)
    expect(page.locator(f"#job-{finished}")).to_have_attribute("data-status", arcgis_client.SUCCEEDED)
    expect(page.locator("#table-summary")).to_contain_text("of 2")
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    expect(page.get_by_role("button", name="Purge queue…")).to_have_count(0)
    expect(page.get_by_role("columnheader", name="Actions")).to_have_count(0)  # no empty column either
    expect(page.get_by_role("button", name="Cancel selected")).to_have_count(0)
    expect(page.locator("[data-select-all], input[name='job_ids']")).to_have_count(0)
