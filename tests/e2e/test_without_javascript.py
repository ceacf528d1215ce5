"""Without JavaScript the jobs page still works: plain form posts, a redirect back, and a message."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

import arcgis_client

pytestmark = pytest.mark.e2e

SERVICE_KEY = "Hydrology/Watershed"  # the GP service of the `service` fixture


def test_cancel_and_delete_work_as_plain_forms(connected_operator, portal, simulator, jobs_url):
    running = simulator.state.add_job(SERVICE_KEY, arcgis_client.EXECUTING)
    finished = simulator.state.add_job(SERVICE_KEY, arcgis_client.SUCCEEDED)
    page = portal.open(connected_operator, javascript=False)
    page.goto(jobs_url)
    # Without JavaScript the page asks for itself rendered in one go (a <noscript> refresh).
    back_on_the_jobs_page = re.compile(re.escape(jobs_url) + r"\?inline=1$")
    expect(page).to_have_url(back_on_the_jobs_page)

    page.locator(f"#job-{running}").get_by_role("button", name="Cancel").click()

    expect(page).to_have_url(back_on_the_jobs_page)
    expect(page.locator("#messages")).to_contain_text(f"Job {running}: Cancel requested")
    expect(page.locator(f"#job-{running}").get_by_role("status")).to_have_text("Cancel requested")
    assert page.locator(f"#job-{running}").get_attribute("data-status") in (
        arcgis_client.CANCELLING,
        arcgis_client.CANCELLED,
    )

    # Delete is destructive: without JavaScript's confirm() the portal asks on a page of its own.
    page.locator(f"#job-{finished}").get_by_role("button", name="Delete").click()

    expect(
        page.get_by_role("heading", name=f"Delete job {finished} of Hydrology/Watershed on Main site?")
    ).to_be_visible()
    assert simulator.state.get_job(SERVICE_KEY, finished) is not None
    assert not [r for r in simulator.requests if r.operation == "delete"]

    page.get_by_role("button", name="Delete").click()

    expect(page).to_have_url(back_on_the_jobs_page)
    expect(page.locator("#messages")).to_contain_text(f"Job {finished}: Deleted")
    expect(page.locator(f"#job-{finished}")).to_have_count(0)
    expect(page.locator(f"#job-{running}")).to_have_count(1)
    assert simulator.state.get_job(SERVICE_KEY, finished) is None
