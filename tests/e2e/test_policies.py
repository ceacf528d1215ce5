"""A cancel policy in the browser: an operator creates it, previews what it matches and why, and acts on exactly
that list after confirming."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

import arcgis_client
from policies.models import Policy

pytestmark = pytest.mark.e2e

SERVICE_KEY = "Hydrology/Watershed"  # the GP service of the `service` fixture
WHY = re.compile(r"Queued 4[01] min, over 30 min · user svc_batch")  # 40 min, and the seconds the test takes


def test_an_operator_creates_a_policy_previews_it_and_cancels_what_it_listed(
    operator_page: Page, simulator, service, site
):
    long_ago = simulator.clock.now() - timedelta(minutes=40)
    stuck = [
        simulator.state.add_job(SERVICE_KEY, status=arcgis_client.SUBMITTED, username="svc_batch", submitted=long_ago)
        for _ in range(2)
    ]
    fresh = simulator.state.add_job(SERVICE_KEY, status=arcgis_client.SUBMITTED, username="svc_batch")
    page = operator_page
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Policies").click()
    page.get_by_role("link", name="New policy").click()

    page.get_by_label("Name").fill("Batch queue")
    page.get_by_label("GP services").fill("Hydrology/*")
    page.get_by_label("Submitted", exact=True).check()
    page.get_by_label("Submitted by").fill("svc_batch")
    page.get_by_label("Queued longer than (minutes)").fill("30")
    page.get_by_role("button", name="Create policy").click()

    expect(page.get_by_role("heading", name="Batch queue")).to_be_visible()
    page.get_by_role("button", name="Preview").click()

    expect(page.get_by_role("heading", name="Preview of Batch queue")).to_be_visible()
    for job_id in stuck:
        expect(page.locator(f"#planned-{job_id}")).to_contain_text(WHY)
    expect(page.locator(f"#planned-{fresh}")).to_have_count(0)
    page.get_by_role("button", name="Cancel these 2").click()

    expect(page.get_by_role("heading", name="Cancel these 2 jobs?")).to_be_visible()
    page.get_by_role("button", name="Yes, cancel these 2").click()

    expect(page.locator("#messages")).to_have_text("2 cancelled.")
    for job_id in stuck:
        result = page.locator(f'#result-{job_id}[data-outcome="success"]')
        expect(result.get_by_role("status")).to_have_text("Cancel requested")
    assert {simulator.state.get_job(SERVICE_KEY, job_id)["status"] for job_id in stuck} <= {
        arcgis_client.CANCELLING,
        arcgis_client.CANCELLED,
    }
    assert simulator.state.get_job(SERVICE_KEY, fresh)["status"] == arcgis_client.SUBMITTED
    # The policy's page lists the run; the audit trail names olivia and the policy for each job.
    page.get_by_role("link", name="Batch queue").click()
    expect(page.locator('tr[data-outcome="acted"]')).to_have_count(1)
    page.goto("/audit/?action=cancel")
    rows = page.locator("table.audit tbody tr")
    expect(rows).to_have_count(2)
    for job_id in stuck:
        row = rows.filter(has_text=job_id)
        expect(row.locator('td[data-label="Action"]')).to_have_text('Cancel (policy "Batch queue")')
        expect(row.locator('td[data-label="Who"]')).to_have_text("olivia")


@pytest.fixture
def batch_policy(site, operator) -> Policy:
    """Made before the browser starts, as the database fixtures are (see conftest.py)."""
    return Policy.objects.create(name="Batch queue", site=site, services="*", queued_minutes=30, owner=operator)


def test_a_preview_fits_a_phone(batch_policy, operator_page: Page, simulator, service):
    long_ago = simulator.clock.now() - timedelta(minutes=40)
    simulator.state.add_job(SERVICE_KEY, status=arcgis_client.SUBMITTED, username="svc_batch", submitted=long_ago)
    page = operator_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/policies/")
    page.get_by_role("link", name="Batch queue").click()
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("button", name="Cancel this job")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
