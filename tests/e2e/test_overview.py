"""The overview: every GP service of the site, each one's job counts loaded on its own by htmx."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

import arcgis_client

pytestmark = pytest.mark.e2e


def service_row(page: Page, name: str):
    return page.locator("table.services tr").filter(has=page.get_by_role("link", name=name, exact=True))


def test_counts_load_per_service_and_a_broken_one_fails_in_place(operator_page: Page, simulator, service):
    simulator.state.add_service("Broken", folder="Hydrology")
    simulator.state.add_service("Buffer")
    for status in (arcgis_client.EXECUTING, arcgis_client.SUBMITTED, arcgis_client.SUCCEEDED):
        simulator.state.add_job("Hydrology/Watershed", status)
    simulator.state.add_job("Buffer", arcgis_client.FAILED)
    simulator.faults.set("html_502", service="Hydrology/Broken", operation="statistics")

    operator_page.goto("/")

    watershed = service_row(operator_page, "Watershed").locator("td.counts")
    expect(watershed).to_contain_text("3 total")
    expect(watershed).to_contain_text("2 active")
    expect(watershed).to_contain_text("1 succeeded")
    buffer = service_row(operator_page, "Buffer").locator("td.counts")
    expect(buffer).to_contain_text("1 total")
    expect(buffer).to_contain_text("1 failed")
    broken = service_row(operator_page, "Broken").locator("td.counts")
    expect(broken.get_by_role("alert")).to_contain_text("HTTP 502")
    expect(broken).not_to_contain_text("total")
    # Only GP services are listed: the map service next to Watershed has no jobs to show.
    expect(operator_page.get_by_role("link", name="Rivers", exact=True)).to_have_count(0)
    # Every GP service, and nothing else, was asked (a browser that reconnected its stream may ask again).
    statistics = {r.service for r in simulator.requests if r.operation == "statistics"}
    assert statistics == {"Buffer", "Hydrology/Broken", "Hydrology/Watershed"}
