"""The jobs page on a phone (390 × 844): a box that ticks the whole page, check boxes a finger can hit, a sort
menu (a card has no column header to click), and a running-long flag that reads as a line, not a tall blob."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

import arcgis_client

pytestmark = pytest.mark.e2e

SERVICE_KEY = "Hydrology/Watershed"  # the GP service of the `service` fixture
MIN_TARGET_PX = 24  # WCAG 2.2's minimum target size


def test_on_a_phone_the_jobs_page_selects_all_sorts_and_shows_flags_as_lines(operator_page: Page, simulator, jobs_url):
    now = datetime.now(UTC)
    for i in range(8):  # Watershed usually takes five minutes
        start = now - timedelta(hours=2, minutes=i)
        simulator.state.add_job(
            SERVICE_KEY, arcgis_client.SUCCEEDED, submitted=start, end_time=start + timedelta(minutes=5)
        )
    runaway = simulator.state.add_job(
        SERVICE_KEY, arcgis_client.EXECUTING, username="zed", submitted=now - timedelta(hours=1)
    )
    other = simulator.state.add_job(
        SERVICE_KEY, arcgis_client.EXECUTING, username="amy", submitted=now - timedelta(minutes=1)
    )
    page = operator_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{jobs_url}?status={arcgis_client.EXECUTING}")
    expect(page.locator(f"#job-{runaway}")).to_be_attached()

    # Select all: a visible box of its own, since the header (and its box) is hidden on a phone.
    select_all = page.get_by_label("All on this page")
    expect(select_all).to_be_visible()
    select_all.check()
    expect(page.locator('input[name="job_ids"]:checked')).to_have_count(2)
    expect(page.get_by_text("2 selected")).to_be_visible()
    for box in (select_all, page.locator(f"#job-{other}").get_by_role("checkbox")):
        size = box.bounding_box()
        assert size["width"] >= MIN_TARGET_PX and size["height"] >= MIN_TARGET_PX, size

    # Sorting: a menu, applied at once.
    assert page.evaluate("() => [...document.querySelectorAll('tr.job')].map(tr => tr.id)") == [
        f"job-{other}",
        f"job-{runaway}",
    ]
    sort = page.get_by_label("Sort")
    expect(sort).to_be_visible()
    sort.select_option("-user")
    expect(page.locator("#table-summary")).to_contain_text("this page sorted by user, Z–A")
    assert page.evaluate("() => [...document.querySelectorAll('tr.job')].map(tr => tr.id)") == [
        f"job-{runaway}",
        f"job-{other}",
    ]
    assert "sort=-user" in page.url

    # The flag: a line as wide as the card allows, not a narrow tower beside the status.
    flag = page.locator(f"#job-{runaway} .badge.flag")
    expect(flag).to_contain_text("Running long")
    box = flag.bounding_box()
    assert box["width"] > 2 * box["height"], box
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
