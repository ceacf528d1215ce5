"""Why did this job fail? A job's page shows the messages, inputs and results of its Services Directory page;
a running job's messages arrive by themselves; a failed row's details show its last error. Everything
ArcGIS sends is escaped, a huge log stays quick, and upstream failures are explained in place."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth.models import Group

import arcgis_client
from jobs import reads
from jobs.models import StoredToken
from tests.helpers import jobs_table_html, row_html, text

FAILED, SUCCEEDED, EXECUTING, CANCELLED = "esriJobFailed", "esriJobSucceeded", "esriJobExecuting", "esriJobCancelled"
INFO, ERROR, WARNING = "esriJobMessageTypeInformative", "esriJobMessageTypeError", "esriJobMessageTypeWarning"
ABORT = "esriJobMessageTypeAbort"
REST = ("restJob", "restJobParam")

FAILED_LOG = [
    {"type": INFO, "description": "Start Time: Monday, April 2, 2018 4:57:04 PM"},
    {"type": INFO, "description": "Running script Buffer..."},
    {"type": WARNING, "description": "WARNING 000117: Warning empty output generated."},
    {"type": ERROR, "description": "ERROR 000735: Input Features: Value is required"},
    {"type": ERROR, "description": "Failed to execute (Watershed)."},
    {"type": INFO, "description": "Failed at Monday, April 2, 2018 4:57:06 PM (Elapsed Time: 2.03 seconds)"},
]


def messages_html(html: str) -> str:
    """Every <ol class="job-messages"> of the page, one after the other."""
    return "".join(re.findall(r'<ol class="job-messages"[^>]*>.*?</ol>', html, re.S))


def items(html: str) -> list[tuple[str, str]]:
    """(data-type, visible text) of each message shown."""
    return [(kind, text(body)) for kind, body in re.findall(r'<li data-type="([^"]*)"[^>]*>(.*?)</li>', html, re.S)]


def rest_calls(simulator) -> list:
    return [r for r in simulator.requests if r.operation in REST]


def page(client, target, job_id, **query) -> str:
    response = client.get(target.url("job", job_id), query)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def poll(client, target, job_id, after: int, **query):
    return client.htmx_get(f"{target.job_url(job_id)}messages/", {"after": after, **query})


# --- what a finished job's page shows --------------------------------------------------------------------


def test_a_failed_jobs_page_shows_its_messages_with_errors_marked_in_words(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=FAILED, messages=FAILED_LOG)
    html = page(olivia, target, job_id)

    assert items(messages_html(html)) == [
        (INFO, "Start Time: Monday, April 2, 2018 4:57:04 PM"),
        (INFO, "Running script Buffer..."),
        (WARNING, "Warning WARNING 000117: Warning empty output generated."),
        (ERROR, "Error ERROR 000735: Input Features: Value is required"),
        (ERROR, "Error Failed to execute (Watershed)."),
        (INFO, "Failed at Monday, April 2, 2018 4:57:06 PM (Elapsed Time: 2.03 seconds)"),
    ]
    assert (
        '<li data-type="esriJobMessageTypeError" class="msg-error" id="message-4">'
        '<strong class="msg-label">Error</strong> '
        '<span class="msg-text">ERROR 000735: Input Features: Value is required</span></li>'
    ) in html
    assert 'class="msg-warning" id="message-3"><strong class="msg-label">Warning</strong>' in html
    assert "6 messages" in text(html)
    assert 'id="message-poller"' not in html  # it has ended: nothing to wait for
    # the row with its times and duration is still there
    row = row_html(html, job_id)
    assert 'data-status="esriJobFailed"' in row and 'data-label="Duration"' in row


def test_the_services_directory_link_is_the_checked_page_on_the_sites_origin(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=FAILED)
    html = page(olivia, target, job_id)
    expected = f"{simulator.base_url}/rest/services/Hydrology/Watershed/GPServer/Watershed/jobs/{job_id}"
    link = re.search(r'<a class="directory-link" href="([^"]+)"[^>]*>Open in the Services Directory</a>', html)
    assert link and link.group(1) == expected


def test_inputs_are_shown_with_their_values_summarised(simulator, service, target, olivia):
    inputs = {
        "Input_Features": {
            "dataType": "GPFeatureRecordSetLayer",
            "value": {"geometryType": "esriGeometryPolygon", "features": [{"attributes": {}}] * 3},
        },
        "Distance": {"dataType": "GPLinearUnit", "value": {"distance": 100, "units": "esriMeters"}},
        "Output_Name": {"dataType": "GPString", "value": "flood_extent"},
        "Dissolve": {"dataType": "GPBoolean", "value": False},
        "Reference_Date": {"dataType": "GPDate", "value": 1523033824000},
        "Names": {"dataType": "GPMultiValue:GPString", "value": ["a", "b"]},
        "Nothing": {"dataType": "GPString", "value": None},
    }
    job_id = simulator.state.add_job(service.key, status=FAILED, inputs=inputs)
    html = page(olivia, target, job_id)
    shown = text(html)
    assert "Input_Features GPFeatureRecordSetLayer Feature set: 3 features, esriGeometryPolygon show" in shown
    assert "Distance GPLinearUnit 100 esriMeters show" in shown
    assert "Output_Name GPString flood_extent" in shown
    assert "Dissolve GPBoolean false" in shown
    assert '<time datetime="2018-04-06T16:57:04Z"' in html
    assert "Names GPMultiValue:GPString List of 2 values" in shown
    assert "Nothing GPString No value" in shown
    # the whole value, pretty-printed, behind a disclosure
    assert '<details class="value"><summary>show</summary><pre>{\n  &quot;distance&quot;: 100,' in html
    assert "None: a job has results once it has succeeded." in shown


def test_a_succeeded_job_shows_its_results_and_links_only_on_the_sites_origin(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=SUCCEEDED)
    html = page(olivia, target, job_id)
    shown = text(html)
    assert re.search(r"Output_Features GPFeatureRecordSetLayer Feature set: \d features?, esriGeometryPolygon", shown)
    assert re.search(r"Feature_Count GPLong \d", shown)
    job_url = f"{simulator.base_url}/rest/services/Hydrology/Watershed/GPServer/Watershed/jobs/{job_id}"
    assert f'<a href="{job_url}/scratch/out.zip" rel="noopener noreferrer">{job_url}/scratch/out.zip</a>' in html
    assert f">{job_url}/scratch/out.tif (tif)</a>" in html


def test_addresses_elsewhere_are_plain_text(simulator, service, target, olivia):
    results = {
        "Elsewhere": {"dataType": "GPDataFile", "value": {"url": "https://evil.example.com/out.zip"}},
        "Script": {"dataType": "GPString", "value": "javascript:alert(1)"},
        "Other_Port": {"dataType": "GPString", "value": simulator.base_url.replace(":", ":1", 2) + "/x"},
        "Credentials": {"dataType": "GPString", "value": simulator.base_url.replace("//", "//u:p@") + "/x"},
        "Here": {"dataType": "GPString", "value": f"{simulator.base_url}/rest/services"},
    }
    job_id = simulator.state.add_job(service.key, status=SUCCEEDED, results=results)
    html = page(olivia, target, job_id)
    assert "https://evil.example.com/out.zip" in html and 'href="https://evil' not in html
    assert 'href="javascript' not in html
    assert 'href="http://u:p@' not in html
    links = re.findall(r'<span class="value-summary"><a href="([^"]+)"', html)
    assert links == [f"{simulator.base_url}/rest/services"]


def test_a_cancelled_jobs_abort_line_is_marked(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    simulator.clock.advance(30)
    olivia.action(target.url("cancel", job_id))
    simulator.clock.advance(5)
    html = page(olivia, target, job_id)
    shown = items(messages_html(html))
    assert shown[-1] == (ABORT, "Cancelled Cancelled by user.")
    assert 'class="msg-abort"' in html


# --- a running job -----------------------------------------------------------------------------------


def test_a_running_job_shows_progress_and_polls_for_new_messages(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    simulator.clock.advance(20)
    html = page(olivia, target, job_id)
    shown = items(messages_html(html))
    count = len(shown)
    assert "Progress: " in text(html)
    poller = re.search(r'<div id="message-poller"[^>]*>', html).group(0)
    assert f'hx-get="{target.job_url(job_id)}messages/?after={count}"' in poller
    assert 'hx-trigger="every 2s"' in poller and "data-poll" in poller
    assert 'id="job-messages"' in html

    simulator.clock.advance(60)
    response = poll(olivia, target, job_id, count)
    assert response.status_code == 200
    answer = response.content.decode()
    appended = re.search(r'<div hx-swap-oob="beforeend:#job-messages">(.*?)</div>', answer, re.S).group(1)
    new = items(appended)
    assert new and len(new) < 60
    full = items(messages_html(page(olivia, target, job_id)))
    assert full[:count] == shown and full[count:] == new  # only the messages after those shown
    assert f"messages/?after={count + len(new)}" in answer  # the next poll asks for the ones after these
    assert f"{count + len(new)} messages</span>" in answer
    assert "Progress: " in answer


def test_a_poll_without_new_messages_leaves_the_poller_alone(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    count = len(items(messages_html(page(olivia, target, job_id))))
    answer = poll(olivia, target, job_id, count).content.decode()
    assert "beforeend" not in answer and 'id="message-poller"' not in answer


def test_the_poll_stops_with_286_and_the_row_once_the_job_has_ended(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    count = len(items(messages_html(page(olivia, target, job_id))))
    simulator.state.set_status(service.key, job_id, FAILED)
    response = poll(olivia, target, job_id, count)
    assert response.status_code == 286
    answer = response.content.decode()
    assert "Failed to execute (Watershed)." in answer
    assert '<div id="message-poller" hidden hx-swap-oob="true"></div>' in answer
    assert f'<tr id="job-{job_id}" data-status="esriJobFailed"' in answer and 'hx-swap-oob="true"' in answer
    assert "The job has ended: Failed." in text(answer)


def cells(row: str) -> list[str]:
    """The class (or label) of each cell of a row: what lines it up with its table's header."""
    return re.findall(r'<td (?:class|data-label)="([^"]+)"', row)


def test_the_row_keeps_the_job_pages_layout_after_a_cancel_and_a_poll(simulator, service, target, olivia):
    """A job's page has one row, without a box to tick or a disclosure: so have the rows that replace it."""
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    shown = row_html(page(olivia, target, job_id), job_id)
    assert "<details>" not in shown and 'name="job_ids"' not in shown
    assert 'name="single" value="1"' in shown  # so the proxy answers in the same layout
    answer = olivia.action(target.url("cancel", job_id), {"single": "1"}).content.decode()
    assert cells(answer) == cells(shown) and "<details>" not in answer
    simulator.state.set_status(service.key, job_id, FAILED)
    polled = row_html(poll(olivia, target, job_id, 0).content.decode(), job_id)
    assert cells(polled) == cells(shown) and "<details>" not in polled


def test_the_poll_of_a_deleted_job_stops_and_says_so(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    page(olivia, target, job_id)
    olivia.action(target.url("delete", job_id), {"confirmed": "yes"})
    response = poll(olivia, target, job_id, 3)
    assert response.status_code == 286
    assert "This job no longer exists on the server." in text(response.content.decode())


def test_the_poll_costs_one_read_of_the_jobs_page(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    page(olivia, target, job_id)  # remembers the job, with its address
    simulator.requests.clear()
    poll(olivia, target, job_id, 0)
    assert [r.operation for r in simulator.requests] == ["restJob"]


def test_a_poll_that_fails_says_so_and_slows_down(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    page(olivia, target, job_id)
    simulator.faults.set("html_502", operation="restJob")
    response = poll(olivia, target, job_id, 2)
    assert response.status_code == 200
    answer = response.content.decode()
    assert "Could not read new messages:" in text(answer) and "502 Bad Gateway" in text(answer)
    assert 'id="job-progress"' not in answer  # the last progress stays
    assert "messages/?after=2&amp;failures=1" in answer and 'hx-trigger="every 4s"' in answer


@pytest.mark.parametrize("after", ["abc", "-5", "", "99999999999999"])
def test_an_odd_after_is_read_as_a_number_in_range(simulator, service, target, olivia, after):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    response = olivia.htmx_get(f"{target.job_url(job_id)}messages/", {"after": after})
    assert response.status_code == 200


def test_the_poll_without_htmx_goes_to_the_jobs_page(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    response = olivia.get(f"{target.job_url(job_id)}messages/")
    assert response.status_code == 302 and response.url == target.job_url(job_id)


# --- jobs without a page to read ---------------------------------------------------------------------


def test_a_deleted_job_is_explained_not_an_error(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=FAILED)
    olivia.action(target.url("delete", job_id), {"confirmed": "yes"})
    html = page(olivia, target, job_id)
    assert "This job no longer exists on the server, so it has no messages, inputs or results to show." in text(html)
    assert 'class="job-messages"' not in html


def test_a_job_without_a_url_explains_why_no_messages_are_shown(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=FAILED)
    simulator.faults.set("answer", operation="job", count=1, body={"jobId": job_id, "status": FAILED, "url": None})
    html = page(olivia, target, job_id)
    assert f'<tr id="job-{job_id}" data-status="esriJobFailed"' in html
    assert "Its messages, inputs and results are not shown: ArcGIS names no Services Directory page" in text(html)
    assert rest_calls(simulator) == []


def test_a_job_whose_url_points_elsewhere_is_shown_without_following_it(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=FAILED)
    url = f"https://evil.example.com/arcgis/rest/services/Hydrology/Watershed/GPServer/Watershed/jobs/{job_id}"
    simulator.faults.set("answer", operation="job", count=1, body={"jobId": job_id, "status": FAILED, "url": url})
    html = page(olivia, target, job_id)
    assert f'<tr id="job-{job_id}" data-status="esriJobFailed"' in html
    shown = text(html)
    assert "Its messages, inputs and results are not shown: ArcGIS gave job" in shown
    assert "another address (https://evil.example.com:443)" in shown
    assert "evil.example.com/arcgis" not in html and "Open in the Services Directory" not in html
    assert rest_calls(simulator) == []


# --- everything from ArcGIS is text ------------------------------------------------------------------------


def test_markup_in_messages_and_values_is_escaped(simulator, service, target, olivia):
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    messages = [
        {"type": ERROR, "description": attack},
        {"type": '"><script>alert(2)</script>', "description": "odd type"},
    ]
    inputs = {
        "Text": {"dataType": f"GPString{attack}", "value": attack},
        "Object": {"dataType": "GPString", "value": {attack: attack, "features": attack}},
        "Unit": {"dataType": "GPLinearUnit", "value": {"distance": 1, "units": attack}},
        "File": {"dataType": "GPDataFile", "value": {"url": f'{simulator.base_url}/x"><script>alert(3)</script>'}},
    }
    job_id = simulator.state.add_job(service.key, status=FAILED, messages=messages, inputs=inputs)
    html = page(olivia, target, job_id)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert 'data-type="&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"' in html
    assert "alert(3)" in html and '<a href="http' not in html.split('id="inputs-heading"')[1].split("</section>")[0]

    simulator.state.add_job(service.key, status=FAILED, messages=messages, job_id="jAttack")
    jobs_table_html(olivia, target)
    facts = olivia.htmx_get(f"{target.job_url('jAttack')}facts/").content.decode()
    assert "<script>alert" not in facts and "&lt;script&gt;" in facts


# --- a huge log ----------------------------------------------------------------------------------------------


def test_ten_thousand_messages_show_the_first_and_last_ones(simulator, service, target, olivia):
    log = [{"type": INFO, "description": f"Processing part {i + 1} of 10000..."} for i in range(10_000)]
    job_id = simulator.state.add_job(service.key, status=FAILED, messages=log)
    html = page(olivia, target, job_id)
    shown = items(messages_html(html))
    assert len(shown) == 250
    assert shown[0][1] == "Processing part 1 of 10000..." and shown[49][1] == "Processing part 50 of 10000..."
    assert shown[50][1] == "Processing part 9801 of 10000..." and shown[-1][1] == "Processing part 10000 of 10000..."
    assert '<ol class="job-messages" start="9801" id="job-messages">' in html
    assert "9,750 messages not shown here." in text(html)
    assert '<a href="?messages=all">Show all 10,000 messages</a>' in html

    everything = page(olivia, target, job_id, messages="all")
    shown = items(messages_html(everything))
    assert len(shown) == arcgis_client.MAX_MESSAGES_HEAD + arcgis_client.MAX_MESSAGES_TAIL
    assert shown[500][1] == "Processing part 5501 of 10000..."
    assert "5,000 messages in the middle are not shown: the portal keeps the first 500 and the last 4,500" in text(
        everything
    )
    assert "Show all" not in everything


def test_a_very_long_message_is_shortened_by_the_client_and_says_so(simulator, service, target, olivia):
    log = [{"type": ERROR, "description": "Traceback " + "x" * 10_000}]
    job_id = simulator.state.add_job(service.key, status=FAILED, messages=log)
    html = page(olivia, target, job_id)
    (shown,) = items(messages_html(html))
    assert shown[1].endswith("(shortened by the portal)")
    assert len(shown[1]) < arcgis_client.MAX_DESCRIPTION_CHARS + 100


# --- upstream failures ---------------------------------------------------------------------------------------


def test_a_proxys_502_on_the_jobs_page_is_explained_while_the_row_shows(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=FAILED)
    simulator.faults.set("html_502", operation="restJob")
    html = page(olivia, target, job_id)
    assert f'<tr id="job-{job_id}" data-status="esriJobFailed"' in html
    assert "Its messages, inputs and results are not shown:" in text(html)
    assert "answered HTTP 502 Bad Gateway instead of ArcGIS JSON" in text(html)


def test_a_stalled_jobs_page_is_explained_within_the_sites_budget(simulator, site, service, target, olivia):
    site.read_timeout = 1.0
    site.save()
    job_id = simulator.state.add_job(service.key, status=FAILED)
    simulator.faults.set("stall", operation="restJob", seconds=30)
    started = time.monotonic()
    html = page(olivia, target, job_id)
    assert time.monotonic() - started < 10
    assert f'<tr id="job-{job_id}"' in html
    assert "did not answer within 1 s" in text(html)


def test_a_failed_parameter_read_shows_its_own_error(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=FAILED)
    error = {"error": {"code": 500, "message": "Unable to read the parameter.", "details": []}}
    simulator.faults.set("answer", operation="restJobParam", count=1, body=error)
    html = page(olivia, target, job_id)
    shown = text(html)
    assert shown.count("Could not read it: Unable to read the parameter.") == 1
    assert "Error ERROR 0" in shown  # the messages are there
    assert len(re.findall(r'<span class="value-summary">', html)) == 6  # the other inputs are there


def test_a_rejected_token_on_the_jobs_page_asks_to_reconnect(simulator, operator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=FAILED)
    simulator.faults.set("expire_tokens", operation="restJob")
    html = page(olivia, target, job_id)
    assert f'<tr id="job-{job_id}"' in html
    assert re.search(
        r"Its messages, inputs and results are not shown: Invalid token\.? Connect to Main site", text(html)
    )
    assert StoredToken.objects.get(user=operator).invalid_since is not None


# --- who may see it ---------------------------------------------------------------------------------------


def test_a_viewer_sees_the_jobs_page_too(simulator, site, service, target, viewer, connect, client_as):
    connect(viewer, site)
    job_id = simulator.state.add_job(service.key, status=FAILED, messages=FAILED_LOG)
    html = page(client_as(viewer), target, job_id)
    assert "ERROR 000735: Input Features: Value is required" in html
    assert ">Cancel</button>" not in html


def test_a_user_who_may_not_see_the_site_gets_404(simulator, site, service, target, viewer, connect, client_as):
    site.groups.add(Group.objects.create(name="Hydrology team"))
    connect(viewer, site)
    job_id = simulator.state.add_job(service.key, status=FAILED)
    client = client_as(viewer)
    simulator.requests.clear()
    assert client.get(target.url("job", job_id)).status_code == 404
    assert client.htmx_get(f"{target.job_url(job_id)}messages/").status_code == 404
    assert client.htmx_get(f"{target.job_url(job_id)}facts/").status_code == 404
    assert len(simulator.requests) == 0


def test_a_user_without_a_role_is_refused(simulator, service, target, outsider, client_as):
    job_id = simulator.state.add_job(service.key, status=FAILED)
    client = client_as(outsider)
    assert client.get(target.url("job", job_id)).status_code == 403
    assert client.htmx_get(f"{target.job_url(job_id)}messages/").status_code == 403


# --- the jobs page: a failed row's last error ----------------------------------------------------------------


def test_a_failed_rows_details_show_its_last_error_at_the_cost_of_one_read(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=FAILED, messages=FAILED_LOG)
    simulator.requests.clear()
    jobs_table_html(olivia, target)
    assert [r.operation for r in simulator.requests] == ["query"]  # the jobs page still costs one call

    simulator.requests.clear()
    facts = olivia.htmx_get(f"{target.job_url(job_id)}facts/").content.decode()
    assert [r.operation for r in simulator.requests] == ["restJob"]
    assert "Last error Error ERROR 000735: Input Features: Value is required" in text(facts)


def test_the_last_error_is_shortened_in_the_row_and_whole_on_the_jobs_page(simulator, service, target, olivia):
    long = "ERROR 999999: " + "word " * 200
    job_id = simulator.state.add_job(service.key, status=FAILED, messages=[{"type": ERROR, "description": long}])
    jobs_table_html(olivia, target)
    facts = text(olivia.htmx_get(f"{target.job_url(job_id)}facts/").content.decode())
    shown = facts.split("Last error Error ", 1)[1].split(" Submitted", 1)[0]
    assert shown.endswith("…") and len(shown) <= 200
    assert long.strip() in text(page(olivia, target, job_id))


def test_other_rows_details_cost_no_upstream_call(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=SUCCEEDED)
    jobs_table_html(olivia, target)
    simulator.requests.clear()
    facts = olivia.htmx_get(f"{target.job_url(job_id)}facts/").content.decode()
    assert len(simulator.requests) == 0 and "Last error" not in facts


def test_a_failed_rows_details_explain_a_failed_read(simulator, service, target, olivia):
    job_id = simulator.state.add_job(service.key, status=FAILED)
    jobs_table_html(olivia, target)
    simulator.faults.set("html_502", operation="restJob")
    facts = olivia.htmx_get(f"{target.job_url(job_id)}facts/")
    assert facts.status_code == 200
    assert "Could not read its messages:" in text(facts.content.decode())


# --- shared reads and the display values ------------------------------------------------------------------


def test_operators_watching_one_running_job_share_its_page(
    simulator, site, service, target, olivia, second_operator, connect, client_as, settings
):
    settings.SHARED_READ_SECONDS = 5
    connect(second_operator, site)
    oscar = client_as(second_operator)
    job_id = simulator.state.add_job(service.key, status=EXECUTING)
    first = poll(olivia, target, job_id, 0).content.decode()
    second = poll(oscar, target, job_id, 0).content.decode()
    assert [r.operation for r in simulator.requests] == ["job", "restJob"]
    assert items(first) == items(second) != []


@pytest.mark.parametrize(
    ("data_type", "value", "summary", "disclosed"),
    [
        ("GPArealUnit", {"area": 2.5, "units": "esriSquareKilometers"}, "2.5 esriSquareKilometers", True),
        ("GPRecordSet", {"features": [{"attributes": {}}]}, "Records: 1 feature", True),
        (
            "GPFeatureRecordSetLayer",
            {"geometryType": "esriGeometryPoint", "features": []},
            "Feature set: 0 features, esriGeometryPoint",
            True,
        ),
        (
            "GPRasterDataLayer",
            {"url": "https://elsewhere/x.tif", "format": "tif"},
            "https://elsewhere/x.tif (tif)",
            True,
        ),
        ("GPString", "x" * 400, "x" * 300 + "…", True),
        ("GPString", "short", "short", False),
        ("GPDouble", 0.1, "0.1", False),
        ("GPLong", 12, "12", False),
        ("GPDate", -5, "-5", False),
        (
            "GPValueTable",
            {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6},
            "Object with 6 fields: a, b, c, d, e, …",
            True,
        ),
    ],
)
def test_parameter_summaries(data_type, value, summary, disclosed):
    from jobs.job_page import parameter_view
    from jobs.reads import ParameterRead

    read = ParameterRead("inputs", "P", arcgis_client.JobParameter("inputs", "P", data_type, value))
    view = parameter_view(read, "https://gis.example.com:6443/arcgis/admin")
    assert view.summary == summary
    assert bool(view.json) == disclosed
    assert view.link == ""


def test_a_huge_value_is_cut_behind_its_disclosure():
    from jobs.job_page import MAX_JSON_CHARS, pretty_json

    shown = pretty_json({"features": [{"attributes": {"Name": "x" * 100}}] * 1000})
    assert len(shown) < MAX_JSON_CHARS + 100 and "characters in all)" in shown


def test_the_values_of_a_jobs_inputs_and_results_share_one_bound(simulator, site, service, target, operator, connect):
    """A page holds every value at once: together they may take a few MiB, shared out between them."""
    connect(operator, site)
    value = ["x" * 100] * 5000  # about half a MiB of JSON

    def job_with(count: int) -> str:
        inputs = {f"In_{i}": {"dataType": "GPMultiValue:GPString", "value": value} for i in range(count)}
        return simulator.state.add_job(service.key, status=FAILED, inputs=inputs)

    few = reads.job_detail(operator, target, job_with(2)).inputs
    assert [read.parameter.value == value for read in few] == [True, True]
    crowded = reads.job_detail(operator, target, job_with(12)).inputs
    assert len(crowded) == 12 and all(read.parameter is None for read in crowded)
    assert "answered with more than 341 KiB" in crowded[0].error.message
    # What many small values leave over goes to the large one.
    inputs = {f"Small_{i}": {"dataType": "GPString", "value": "x"} for i in range(20)}
    inputs["Large"] = {"dataType": "GPMultiValue:GPString", "value": value}
    mixed = reads.job_detail(operator, target, simulator.state.add_job(service.key, status=FAILED, inputs=inputs))
    assert all(read.parameter is not None for read in mixed.inputs) and len(mixed.inputs) == 21
