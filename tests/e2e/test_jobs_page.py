"""What a new operator meets in the first hour, in a real browser: the whole row in view, their own time
zone, new jobs announced, a phone layout, the keyboard, and one poll per page however many rows run."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

import arcgis_client

pytestmark = pytest.mark.e2e

SERVICE_KEY = "Hydrology/Watershed"  # the GP service of the `service` fixture


def inside(page: Page, locator) -> bool:
    """The element is wholly inside the viewport as it is scrolled now."""
    box = locator.bounding_box()
    size = page.viewport_size
    return (
        box is not None
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= size["width"]
        and (box["y"] + box["height"] <= size["height"])
    )


def no_horizontal_scroll(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def hold_polls(page: Page) -> None:
    """The page's poll gets no answer: the rows stay as they were rendered."""
    page.route("**/jobs/updates/**", lambda route: route.fulfill(status=204))


def test_at_1280_the_whole_row_with_its_outcome_is_in_view(operator_page: Page, simulator, jobs_url):
    job_id = simulator.state.add_job(SERVICE_KEY, arcgis_client.EXECUTING, machinename="GIS-WORKER-017.EXAMPLE.COM")
    for _ in range(5):
        simulator.state.add_job(SERVICE_KEY, arcgis_client.SUCCEEDED, username="a_rather_long_service_account")
    page = operator_page
    page.set_viewport_size({"width": 1280, "height": 800})
    hold_polls(page)
    page.goto(jobs_url)
    row = page.locator(f"#job-{job_id}")
    expect(row.get_by_role("button", name="Cancel")).to_be_enabled()
    simulator.state.set_status(SERVICE_KEY, job_id, arcgis_client.SUCCEEDED)  # the refusal is the longest outcome

    row.get_by_role("button", name="Cancel").click()

    outcome = row.get_by_role("status")
    expect(outcome).to_contain_text(f"Unable to cancel job :[{job_id}]")
    row.scroll_into_view_if_needed()
    for part in (row.get_by_role("button", name="Cancel"), row.get_by_role("button", name="Delete"), outcome):
        assert inside(page, part), part.bounding_box()
    assert no_horizontal_scroll(page)


@pytest.mark.browser_context_args(timezone_id="Europe/Amsterdam")
def test_times_are_shown_in_the_browsers_own_time_zone(operator_page: Page, simulator, jobs_url):
    submitted = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    simulator.state.add_job(SERVICE_KEY, arcgis_client.SUCCEEDED, submitted=submitted, end_time=submitted)
    amsterdam = submitted.astimezone(ZoneInfo("Europe/Amsterdam"))
    assert amsterdam.utcoffset() != timedelta(0)
    page = operator_page  # signed in without ever choosing a zone
    page.goto(jobs_url)
    expect(page.locator("td time").first).to_have_text(f"{amsterdam:%Y-%m-%d %H:%M:%S}")
    expect(page.locator("td time").first).to_have_attribute("title", f"{submitted:%Y-%m-%d %H:%M:%S} UTC")
    expect(page.locator(".account .tz")).to_have_text("Europe/Amsterdam")


def test_new_jobs_are_announced_without_moving_the_rows(operator_page: Page, simulator, jobs_url):
    shown = simulator.state.add_job(SERVICE_KEY, arcgis_client.SUCCEEDED)
    page = operator_page
    page.goto(jobs_url)
    expect(page.locator("tbody tr").first).to_have_attribute("id", f"job-{shown}")
    newer = [simulator.state.add_job(SERVICE_KEY, arcgis_client.SUBMITTED) for _ in range(2)]

    announcement = page.get_by_role("link", name="2 new jobs — show them")
    expect(announcement).to_be_visible(timeout=15_000)  # the first page looks every 10 s
    expect(page.locator("tbody tr")).to_have_count(1)  # nothing moved under the operator's eyes
    announcement.click()

    expect(page.locator("tbody tr")).to_have_count(3)
    assert {page.locator("tbody tr").nth(i).get_attribute("id") for i in (0, 1)} == {f"job-{j}" for j in newer}


def test_overview_counts_say_how_fresh_they_are(operator_page: Page, simulator, service):
    simulator.state.add_job(SERVICE_KEY, arcgis_client.EXECUTING)
    page = operator_page
    page.goto("/")
    expect(page.locator("td.counts").first).to_contain_text("1 total")
    expect(page.locator("[data-updated-at]")).to_have_text(re.compile(r"^[2-9] s ago$"))
    expect(page.get_by_text("Counts updated")).to_be_visible()


def test_on_a_phone_each_job_is_a_card_with_its_id_and_cancel_in_view(operator_page: Page, simulator, jobs_url):
    job_id = simulator.state.add_job(SERVICE_KEY, arcgis_client.EXECUTING)
    for _ in range(3):
        simulator.state.add_job(
            SERVICE_KEY, arcgis_client.SUCCEEDED, submitted=datetime.now(UTC) - timedelta(minutes=5)
        )
    page = operator_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(jobs_url)
    row = page.locator(f"#job-{job_id}")
    job_label = row.locator("summary code")
    cancel = row.get_by_role("button", name="Cancel")
    expect(cancel).to_be_enabled()
    row.scroll_into_view_if_needed()
    assert inside(page, job_label) and inside(page, cancel)
    assert no_horizontal_scroll(page)
    # The Purge queue button is not the most prominent thing on the screen: it is smaller than Cancel selected.
    purge = page.get_by_role("button", name="Purge queue…").bounding_box()
    selected = page.get_by_role("button", name="Cancel selected").bounding_box()
    assert purge["height"] < selected["height"]

    cancel.click()
    expect(row.get_by_role("status")).to_have_text("Cancel requested")
    assert no_horizontal_scroll(page)


def test_the_keyboard_reaches_the_first_cancel_in_a_few_presses(operator_page: Page, simulator, jobs_url):
    job_id = simulator.state.add_job(SERVICE_KEY, arcgis_client.EXECUTING)
    page = operator_page
    page.goto(jobs_url)
    expect(page.locator(f"#job-{job_id}")).to_be_attached()
    page.evaluate("document.activeElement && document.activeElement.blur()")

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to jobs")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    cancel = page.locator(f"#job-{job_id}").get_by_role("button", name="Cancel")
    presses = 0
    while presses < 5 and not cancel.evaluate("button => button === document.activeElement"):
        page.keyboard.press("Tab")
        presses += 1
    expect(cancel).to_be_focused()  # skip link, Enter, then the row's box, its details, Cancel
    assert presses <= 4
    # What has the focus is visibly marked.
    assert cancel.evaluate("b => getComputedStyle(b).outlineStyle") != "none"
    page.keyboard.press("Enter")
    expect(page.locator(f"#job-{job_id}").get_by_role("status")).to_have_text("Cancel requested")


def test_a_page_of_twenty_running_jobs_makes_one_request_per_interval(operator_page: Page, simulator, jobs_url):
    running = [simulator.state.add_job(SERVICE_KEY, arcgis_client.EXECUTING) for _ in range(20)]
    page = operator_page
    page.goto(jobs_url)
    expect(page.locator('tr[data-status="esriJobExecuting"]')).to_have_count(20)
    polls, others = [], []
    page.on(
        "request",
        lambda request: (polls if "/jobs/updates/" in request.url else others).append(request.url),
    )
    simulator.requests.clear()
    started = time.monotonic()
    page.wait_for_timeout(4_000)
    seconds = time.monotonic() - started

    assert others == []  # no row asks on its own
    assert 2 <= len(polls) <= seconds + 1  # once a second, for the whole page
    upstream = [r for r in simulator.requests if r.operation in ("query", "job")]
    assert len(upstream) <= len(polls)  # one read of the page's window per poll

    # Rows still turn Cancelled by themselves.
    for job_id in running[:2]:
        page.locator(f"#job-{job_id}").get_by_role("button", name="Cancel").click()
    for job_id in running[:2]:
        expect(page.locator(f"#job-{job_id}")).to_have_attribute("data-status", arcgis_client.CANCELLED)
        expect(page.locator(f"#job-{job_id}").get_by_role("status")).to_have_text("Cancel requested")


def set_hidden(page: Page, hidden: bool) -> None:
    """As when the operator switches to another tab and back (the browser fires visibilitychange)."""
    page.evaluate(
        """hidden => {
            Object.defineProperty(document, "hidden", {configurable: true, get: () => hidden});
            const state = hidden ? "hidden" : "visible";
            Object.defineProperty(document, "visibilityState", {configurable: true, get: () => state});
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


def test_a_hidden_tab_does_not_poll_until_it_is_shown_again(operator_page: Page, simulator, jobs_url):
    simulator.state.add_job(SERVICE_KEY, arcgis_client.EXECUTING)
    page = operator_page
    page.goto(jobs_url)
    expect(page.locator('tr[data-status="esriJobExecuting"]')).to_have_count(1)
    polls = []
    page.on("request", lambda request: polls.append(request.url) if "/jobs/updates/" in request.url else None)
    page.wait_for_timeout(2_500)
    assert polls, "a visible page polls"
    set_hidden(page, True)
    page.wait_for_timeout(500)  # a poll already on its way may still land
    polls.clear()
    page.wait_for_timeout(3_500)
    assert polls == []
    set_hidden(page, False)
    page.wait_for_timeout(1_500)
    assert polls, "shown again, the page polls at once"
