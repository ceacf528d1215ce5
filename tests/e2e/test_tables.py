"""Job tables hold still: at 1440 px names and times stay on one line, and opening a row's details or a long
refusal makes a row taller without moving any column, so a Cancel button stays under the pointer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

import arcgis_client

pytestmark = pytest.mark.e2e

SERVICE_KEY = "Hydrology/Watershed"  # the GP service of the `service` fixture
LONG_REFUSAL = (
    "Unable to cancel job: the GP service's jobs directory on GIS02.EXAMPLE.COM could not be written to, because "
    "the server's disk is full or its permissions changed; ask the ArcGIS Server administrator to check it."
)

LINES = """cell => {
  const range = document.createRange();
  range.selectNodeContents(cell);
  const style = getComputedStyle(cell);
  const lineHeight = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.45;
  return Math.round(range.getBoundingClientRect().height / lineHeight);
}"""


def box(locator) -> tuple[float, float, float]:
    found = locator.bounding_box()
    assert found is not None
    return (round(found["x"]), round(found["y"]), round(found["width"]))


def test_at_1440_names_and_times_keep_one_line_and_columns_hold_still(service, operator_page: Page, simulator):
    simulator.state.add_service("Buffer")
    now = datetime.now(UTC)
    older = simulator.state.add_job(
        SERVICE_KEY, arcgis_client.EXECUTING, username="svc_batch", submitted=now - timedelta(minutes=9)
    )
    newer = simulator.state.add_job(
        "Buffer", arcgis_client.EXECUTING, username="analyst_hydrology", submitted=now - timedelta(minutes=2)
    )
    page = operator_page
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto("/jobs/")
    expect(page.locator("#fleet-progress")).to_contain_text("2 jobs shown")
    first, second = page.locator(f"#job-{newer}"), page.locator(f"#job-{older}")
    for row in (first, second):
        for label in ("Submitted", "User", "Machine"):
            cell = row.locator(f'td[data-label="{label}"]')
            assert cell.evaluate(LINES) == 1, f"{label} of {row.get_attribute('id')} wraps"
    expect(second.locator('td[data-label="User"]')).to_have_text("svc_batch")

    cancel = first.get_by_role("button", name="Cancel", exact=True)
    lower_cancel = second.get_by_role("button", name="Cancel", exact=True)
    before = box(cancel), box(lower_cancel)

    second.locator("summary").click()  # the lower row's details
    expect(second.locator(".job-fields")).to_be_visible()
    assert (box(cancel), box(lower_cancel)) == before

    simulator.faults.set(
        "answer", operation="cancel", body={"status": "error", "messages": [LONG_REFUSAL], "code": 500}
    )
    lower_cancel.click()
    expect(second.get_by_role("status")).to_contain_text("the server's disk is full")
    assert box(cancel) == before[0]
    assert box(lower_cancel)[::2] == before[1][::2]  # the row is taller; its buttons stay in their column
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 1440, f"the page scrolls sideways ({width} px)"
