"""The fleet view in a browser: the table fills in as services answer, a job that runs far too long is
flagged, and one bulk cancels jobs of two services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

import arcgis_client

pytestmark = pytest.mark.e2e

SERVICE_KEY = "Hydrology/Watershed"  # the GP service of the `service` fixture


def test_the_fleet_fills_in_flags_a_runaway_and_cancels_across_services(service, operator_page: Page, simulator):
    simulator.state.add_service("Buffer")
    simulator.state.add_service("Slow", folder="Hydrology")
    now = datetime.now(UTC)
    for i in range(8):  # Watershed usually takes five minutes
        start = now - timedelta(hours=3, minutes=i)
        simulator.state.add_job(
            SERVICE_KEY, arcgis_client.SUCCEEDED, submitted=start, end_time=start + timedelta(minutes=5)
        )
    runaway = simulator.state.add_job(SERVICE_KEY, arcgis_client.EXECUTING, submitted=now - timedelta(hours=1))
    buffered = simulator.state.add_job("Buffer", arcgis_client.EXECUTING, submitted=now - timedelta(minutes=2))
    late = simulator.state.add_job("Hydrology/Slow", arcgis_client.EXECUTING, submitted=now - timedelta(minutes=1))
    # One service answers slowly: the others' rows must not wait for it.
    simulator.faults.set("latency", service="Hydrology/Slow", ms=2500)
    page = operator_page
    page.goto("/")
    page.get_by_role("link", name="Jobs", exact=True).click()

    expect(page.locator(f"#job-{buffered}")).to_be_attached()
    expect(page.locator("#fleet-progress")).to_contain_text("GP services answered…")  # still waiting for Slow
    expect(page.locator(f"#job-{late}")).to_have_count(0)
    expect(page.locator(f"#job-{late}")).to_be_attached(timeout=15_000)
    expect(page.locator("#fleet-progress")).to_contain_text("3 jobs shown, from 3 GP services")

    flagged = page.locator(f"#job-{runaway}")
    expect(flagged).to_have_attribute("data-running-long", "true")
    expect(flagged).to_have_attribute("data-site", "main")
    expect(flagged).to_have_attribute("data-service", SERVICE_KEY)
    expect(flagged.locator(".badge.flag")).to_contain_text("Running long: 12.")
    expect(page.locator(f"#job-{buffered}")).not_to_have_attribute("data-running-long", "true")

    page.locator(f"#job-{runaway}").get_by_role("checkbox").check()
    page.locator(f"#job-{buffered}").get_by_role("checkbox").check()
    page.get_by_role("button", name="Cancel selected").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Cancel 2 jobs").click()

    expect(page.locator("#bulk-summary")).to_have_text("2 cancellations requested")
    for job_id in (runaway, buffered):
        expect(page.locator(f"#job-{job_id}").get_by_role("status")).to_have_text("Cancel requested")
        expect(page.locator(f"#job-{job_id}")).to_have_attribute("data-status", arcgis_client.CANCELLING)
    expect(page.locator(f"#job-{late}")).to_have_attribute("data-status", arcgis_client.EXECUTING)
    cancels = sorted(r.service for r in simulator.requests if r.operation == "cancel")
    assert cancels == ["Buffer", SERVICE_KEY]
