"""Cancel, delete, bulk cancel and purge on the jobs page, as an operator does them in the browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

import arcgis_client

pytestmark = pytest.mark.e2e

SERVICE_KEY = "Hydrology/Watershed"  # the GP service of the `service` fixture


def add_job(simulator, status: str) -> str:
    return simulator.state.add_job(SERVICE_KEY, status)


def row(page: Page, job_id: str):
    return page.locator(f"#job-{job_id}")


def in_status(page: Page, job_id: str, status: str):
    """The row, only while it shows `status`: checks on it see one consistent version of the row."""
    return page.locator(f'#job-{job_id}[data-status="{status}"]')


def upstream(simulator, operation: str) -> list:
    return [r for r in simulator.requests if r.operation == operation]


def wait_for_refresh(page: Page, simulator, job_id: str, status: str) -> None:
    """Change the job on the server, then wait until the page's poll has swapped its row for a fresh copy."""
    row(page, job_id).evaluate("tr => { tr.dataset.stale = '1'; }")
    simulator.state.set_status(SERVICE_KEY, job_id, status)
    expect(page.locator(f'#job-{job_id}[data-status="{status}"]:not([data-stale])')).to_be_attached()


def test_cancel_updates_the_row_in_place_until_the_job_is_cancelled(operator_page: Page, simulator, jobs_url):
    job_id = add_job(simulator, arcgis_client.EXECUTING)
    page = operator_page
    page.goto(jobs_url)
    expect(row(page, job_id)).to_have_attribute("data-status", arcgis_client.EXECUTING)
    page.evaluate("window.__marker = 1")

    row(page, job_id).get_by_role("button", name="Cancel").click()

    cancelling = in_status(page, job_id, arcgis_client.CANCELLING)
    expect(cancelling.get_by_role("status")).to_have_text("Cancel requested")  # the outcome of the action
    expect(cancelling.locator(".badge")).to_have_text("Cancelling")  # the status, in its own word
    # The page polls: the simulator finishes the cancel 1.5 s later, and the outcome stays.
    cancelled = in_status(page, job_id, arcgis_client.CANCELLED)
    expect(cancelled).to_be_attached()
    expect(cancelled.get_by_role("status")).to_have_text("Cancel requested")
    expect(cancelled.get_by_role("button", name="Cancel")).to_be_disabled()
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
    assert [r.service for r in upstream(simulator, "cancel")] == [SERVICE_KEY]


def test_a_refused_cancel_shows_the_servers_message_verbatim(operator_page: Page, simulator, jobs_url):
    job_id = add_job(simulator, arcgis_client.EXECUTING)
    page = operator_page
    refreshes = []

    def hold_refresh(route) -> None:
        # The row keeps showing what the page was rendered with, as if the page's next poll were still due.
        refreshes.append(route.request.url)
        route.fulfill(status=204)

    page.route("**/jobs/updates/**", hold_refresh)
    page.goto(jobs_url)
    cancel = row(page, job_id).get_by_role("button", name="Cancel")
    expect(cancel).to_be_enabled()
    # The job finishes on the server between the page's rendering and the operator's click.
    simulator.state.set_status(SERVICE_KEY, job_id, arcgis_client.SUCCEEDED)

    cancel.click()

    # ArcGIS's words verbatim, then what re-reading the job found; the row shows that real state.
    expect(row(page, job_id).get_by_role("status")).to_have_text(
        f"Unable to cancel job :[{job_id}] — it is already Succeeded."
    )
    expect(row(page, job_id)).to_have_attribute("data-status", arcgis_client.SUCCEEDED)
    expect(row(page, job_id).get_by_role("button", name="Cancel")).to_be_disabled()
    assert len(upstream(simulator, "cancel")) == 1


def test_bulk_cancel_reports_each_row_and_a_summary(operator_page: Page, simulator, jobs_url):
    active = [
        add_job(simulator, status)
        for status in (arcgis_client.SUBMITTED, arcgis_client.EXECUTING, arcgis_client.SUBMITTED)
    ]
    done = add_job(simulator, arcgis_client.SUCCEEDED)
    changing = add_job(simulator, arcgis_client.SUBMITTED)
    # Slow enough cancels that the page's progress indicator can be seen while they run.
    simulator.faults.set("latency", operation="cancel", ms=1000)
    page = operator_page
    page.goto(jobs_url)

    page.get_by_label("Select all jobs on this page").check()
    boxes = page.locator('input[name="job_ids"]')
    expect(boxes).to_have_count(5)
    # A row the page's poll swaps in keeps its ticked box.
    wait_for_refresh(page, simulator, changing, arcgis_client.SUCCEEDED)
    for box in boxes.all():
        expect(box).to_be_checked()

    cancel_selected = page.get_by_role("button", name="Cancel selected")
    cancel_selected.click()
    question = page.get_by_role("alertdialog")
    expect(question).to_contain_text("Cancel 5 jobs of Hydrology/Watershed on Main site?")
    expect(question).to_contain_text("2 of them have already finished: the portal does not send them a cancel.")
    question.get_by_role("button", name="Cancel 5 jobs").click()

    expect(page.locator("#bulk-progress-text")).to_contain_text("of 5 done")
    expect(cancel_selected).to_be_disabled()
    expect(page.get_by_role("button", name="Delete selected")).to_be_disabled()

    # Finished jobs are not sent: no flood of refusals for what "select all" happened to tick.
    expect(page.locator("#bulk-summary")).to_have_text("3 cancellations requested, 2 skipped (already finished)")
    expect(page.locator("#bulk-progress-text")).to_have_text("5 of 5 done")
    expect(cancel_selected).to_be_enabled()
    for job_id in active:
        expect(row(page, job_id).get_by_role("status")).to_have_text("Cancel requested")
    for job_id in (done, changing):
        expect(row(page, job_id).get_by_role("status")).to_have_text("")
        expect(row(page, job_id)).to_have_attribute("data-status", arcgis_client.SUCCEEDED)
    assert sorted(r.path.split("/")[-2] for r in upstream(simulator, "cancel")) == sorted(active)


def test_delete_asks_first_and_sends_nothing_unless_confirmed(operator_page: Page, simulator, jobs_url):
    kept, deleted = add_job(simulator, arcgis_client.EXECUTING), add_job(simulator, arcgis_client.SUCCEEDED)
    page = operator_page
    page.goto(jobs_url)
    sent = []
    page.on("request", lambda request: sent.append((request.method, request.url)))
    questions = []

    def answer(accept: bool):
        def handle(dialog) -> None:
            questions.append((dialog.type, dialog.message))
            dialog.accept() if accept else dialog.dismiss()

        return handle

    page.once("dialog", answer(accept=False))
    row(page, kept).get_by_role("button", name="Delete").click()
    page.once("dialog", answer(accept=True))
    row(page, deleted).get_by_role("button", name="Delete").click()

    expect(row(page, deleted).get_by_role("status")).to_have_text("Deleted")
    expect(row(page, deleted)).to_have_attribute("data-status", arcgis_client.DELETED)
    expect(row(page, deleted).get_by_role("button", name="Delete")).to_have_count(0)
    assert [kind for kind, _ in questions] == ["confirm", "confirm"]
    assert f"Delete job {kept} of {SERVICE_KEY} on Main site?" in questions[0][1]
    assert f"Delete job {deleted} of {SERVICE_KEY} on Main site?" in questions[1][1]
    # The dismissed delete would have gone out before the confirmed one, whose answer is in.
    assert [url for method, url in sent if method == "POST" and "/delete/" in url] == [page.url + f"{deleted}/delete/"]
    assert [r.path.split("/")[-2] for r in upstream(simulator, "delete")] == [deleted]
    assert simulator.state.get_job(SERVICE_KEY, deleted) is None
    assert simulator.state.get_job(SERVICE_KEY, kept)["status"] == arcgis_client.EXECUTING
    expect(row(page, kept).get_by_role("button", name="Delete")).to_be_enabled()


def test_purge_cancels_the_queue_and_the_table_reloads_itself(operator_page: Page, simulator, jobs_url):
    queued = [
        add_job(simulator, status) for status in (arcgis_client.NEW, arcgis_client.SUBMITTED, arcgis_client.WAITING)
    ]
    running = add_job(simulator, arcgis_client.EXECUTING)
    page = operator_page
    page.goto(jobs_url)
    expect(row(page, running)).to_be_attached()  # the table has loaded: mark that one
    page.evaluate("window.__marker = 1; document.getElementById('job-table').dataset.stale = '1'")
    page.get_by_role("button", name="Purge queue…").click()
    question = page.locator("#purge-confirm")  # asked in the page, with what a purge would cancel now
    expect(question).to_contain_text("Purge the queue of Hydrology/Watershed on Main site?")
    expect(question).to_contain_text("3 jobs are queued now: 1 new, 1 submitted, 1 waiting.")
    question.get_by_role("button", name="Purge queue").click()

    expect(page.locator("#action-result")).to_contain_text("Queue purged")
    # The answer tells the table to reload itself: a fresh #job-table replaces the marked one.
    expect(page.locator("#job-table:not([data-stale])")).to_be_attached()
    for job_id in queued:
        expect(row(page, job_id)).to_have_attribute("data-status", arcgis_client.CANCELLED)
    expect(row(page, running)).to_have_attribute("data-status", arcgis_client.EXECUTING)
    expect(row(page, running).get_by_role("button", name="Cancel")).to_be_enabled()
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
    assert simulator.state.get_job(SERVICE_KEY, running)["status"] == arcgis_client.EXECUTING
    assert len(upstream(simulator, "purgeQueue")) == 1


def test_cancel_from_the_keyboard(operator_page: Page, simulator, jobs_url):
    job_id = add_job(simulator, arcgis_client.SUBMITTED)
    page = operator_page
    page.goto(jobs_url)
    page.evaluate("window.__marker = 1")

    row(page, job_id).locator("summary").focus()
    page.keyboard.press("Tab")
    cancel = row(page, job_id).get_by_role("button", name="Cancel")
    expect(cancel).to_be_focused()
    # The page's poll swaps the row in when its job changes; keyboard focus must survive that.
    wait_for_refresh(page, simulator, job_id, arcgis_client.EXECUTING)
    expect(cancel).to_be_focused()
    page.keyboard.press("Enter")

    expect(in_status(page, job_id, arcgis_client.CANCELLING).get_by_role("status")).to_have_text("Cancel requested")
    expect(in_status(page, job_id, arcgis_client.CANCELLED)).to_be_attached()
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
    assert len(upstream(simulator, "cancel")) == 1


def test_a_click_on_a_row_that_just_refreshed_still_cancels_in_place(operator_page: Page, simulator, jobs_url):
    job_id = add_job(simulator, arcgis_client.SUBMITTED)
    page = operator_page
    page.goto(jobs_url)
    expect(row(page, job_id)).to_be_attached()  # the table loads after the page
    page.evaluate("window.__marker = 1")

    # Click Cancel in the refreshed row as soon as it is in the page: before anything else can run.
    page.evaluate(
        """(jobId) => {
            const stale = document.getElementById("job-" + jobId);
            stale.dataset.stale = "1";
            new MutationObserver((mutations, observer) => {
                const row = document.getElementById("job-" + jobId);
                if (!row || row.dataset.stale) { return; }
                observer.disconnect();
                [...row.querySelectorAll("button")].find((b) => b.textContent.trim() === "Cancel").click();
            }).observe(stale.parentNode, { childList: true });
        }""",
        job_id,
    )
    simulator.state.set_status(SERVICE_KEY, job_id, arcgis_client.EXECUTING)  # the next poll swaps the row in

    expect(in_status(page, job_id, arcgis_client.CANCELLING).get_by_role("status")).to_have_text("Cancel requested")
    assert page.evaluate("window.__marker") == 1, "the click posted the form without htmx: the page was reloaded"
    assert len(upstream(simulator, "cancel")) == 1
