"""The audit trail as a person reads it in Chromium: each time on one line at 1440 px, however long the message
beside it, and every column in sight (ArcGIS's long "Unable to cancel job :[j…]" wraps in its cell); actions named
alike; how long a call took in words."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from jobs import audit, operations
from jobs.models import AuditEvent

pytestmark = pytest.mark.e2e

LINES = "(element) => element.getClientRects().length"


def test_times_stay_on_one_line_and_actions_read_alike(site, operator, portal):
    long_message = "Changed site “Main site”: " + "; ".join(f"read timeout: {n} s → {n + 1} s" for n in range(12))
    operations.record_site_change(operator, site, long_message)
    [event] = audit.begin(
        operator, site, AuditEvent.Action.CANCEL, AuditEvent.Via.BULK, [("Hydrology/Watershed", "j1")]
    )
    audit.complete([event], [audit.Completion(AuditEvent.Outcome.SUCCESS, "Cancel requested", None, 0.048)])
    job_id = "jc93d3d7b7c1351f2eced15422a6cf0dd"
    [refused] = audit.begin(
        operator, site, AuditEvent.Action.CANCEL, AuditEvent.Via.WEB, [("Hydrology/Watershed", job_id)]
    )
    # ArcGIS's words verbatim, with a path in one piece as its messages have them.
    path = f"C:\\arcgisserver\\directories\\arcgisjobs\\hydrology\\watershed_gpserver\\{job_id}\\scratch"
    refusal = f"Unable to cancel job :[{job_id}] ({path})"
    audit.complete([refused], [audit.Completion(AuditEvent.Outcome.REFUSED, refusal, 500, 0.121)])
    page = portal.open(operator)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto("/audit/")
    times = page.locator('td[data-label="When"] time')
    expect(times).to_have_count(3)
    wrap = page.locator("div.table-wrap")
    assert wrap.evaluate("(box) => box.scrollWidth <= box.clientWidth"), "the trail scrolls sideways at 1440 px"
    expect(page.locator('td[data-label="Took"]').first).to_be_in_viewport()
    for time in times.all():
        assert time.evaluate(LINES) == 1, "a time wraps onto several lines"
    expect(page.get_by_role("columnheader", name="Took")).to_be_visible()
    expect(page.locator('td[data-label="Took"]')).to_have_text(["121 ms", "48 ms", ""])
    expect(page.locator('td[data-label="Action"]')).to_have_text(
        ["Cancel", "Cancel (bulk action)", "Change site (Django admin)"]
    )
