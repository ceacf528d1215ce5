"""Any job list as CSV: a service's jobs and the fleet view's, every page of them, streamed as they are read,
safe to open in a spreadsheet (OWASP's rule against formulas), and honest about what could not be read."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from django.http import StreamingHttpResponse
from django.urls import reverse

import arcgis_client
from jobs.exports import COLUMNS
from tests.helpers import jobs_table_html

EXECUTING, SUCCEEDED = arcgis_client.EXECUTING, arcgis_client.SUCCEEDED
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def rows_of(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    assert isinstance(response, StreamingHttpResponse) and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="gp-jobs-')
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_a_services_export_holds_every_page_of_its_filtered_jobs(simulator, service, target, olivia):
    jobs = [
        simulator.state.add_job(service.key, status=EXECUTING, submitted=T0 + timedelta(seconds=i))
        for i in range(230)  # more than one page of the reads
    ]
    simulator.state.add_job(service.key, status=SUCCEEDED, submitted=T0)
    rows = rows_of(olivia.get(target.url("job_export"), {"status": EXECUTING, "page": 3, "sort": "-submitted"}))
    assert rows[0] == COLUMNS
    assert [row[2] for row in rows[1:]] == jobs[::-1]  # every page, newest first, whatever page was shown
    first = dict(zip(COLUMNS, rows[-1], strict=True))
    assert first["site"] == "main" and first["service"] == "Hydrology/Watershed"
    assert first["status"] == EXECUTING and first["status_label"] == "Executing"
    assert first["submitted"] == "2026-11-02T08:00:00+00:00" and first["ended"] == ""
    assert first["user"] == "analyst1" and first["machine"] == "GIS01.EXAMPLE.COM"


def test_oldest_first_exports_oldest_first(simulator, service, target, olivia):
    jobs = [simulator.state.add_job(service.key, submitted=T0 + timedelta(seconds=i)) for i in range(5)]
    rows = rows_of(olivia.get(target.url("job_export"), {"sort": "submitted"}))
    assert [row[2] for row in rows[1:]] == jobs


def test_cells_a_spreadsheet_would_run_are_neutralised(simulator, service, target, olivia):
    simulator.state.add_job(service.key, username='=HYPERLINK("http://evil")', machinename="+GIS01")
    [_, row] = rows_of(olivia.get(target.url("job_export")))
    record = dict(zip(COLUMNS, row, strict=True))
    assert record["user"] == '\'=HYPERLINK("http://evil")' and record["machine"] == "'+GIS01"


def test_the_fleets_export_holds_every_service_and_names_those_that_did_not_answer(simulator, site, service, olivia):
    simulator.state.add_service("Buffer")
    simulator.state.add_service("Broken")
    here = simulator.state.add_job(service.key, status=EXECUTING)
    there = simulator.state.add_job("Buffer", status=EXECUTING)
    simulator.faults.set("html_502", service="Broken")
    rows = rows_of(olivia.get(reverse("jobs:fleet_export")))
    assert rows[0] == COLUMNS
    assert sorted(row[2] for row in rows[1:-1]) == sorted([here, there])
    assert rows[-1][0].startswith("# Main site · Broken did not answer:")


def test_an_export_that_cannot_read_anything_says_why_instead_of_an_empty_file(simulator, service, target, olivia):
    simulator.faults.set("html_502", operation="query")
    response = olivia.get(target.url("job_export"))
    assert response.status_code == 502
    assert response.content.decode().startswith("The jobs could not be read for the export:")


def test_an_export_with_bad_filters_is_refused_in_words(simulator, service, target, olivia):
    response = olivia.get(target.url("job_export"), {"within": "1y"})
    assert response.status_code == 400 and b"The filters need a correction." in response.content


def test_both_job_lists_link_their_export_with_their_filters(simulator, service, target, olivia):
    simulator.state.add_job(service.key, status=EXECUTING)
    html = jobs_table_html(olivia, target, {"status": EXECUTING, "page": 1})
    assert f'href="{target.url("job_export")}?status={EXECUTING}" download>Export CSV</a>' in html
    fleet = olivia.get(reverse("jobs:fleet"), {"user": "svc_batch"}).content.decode()
    assert f'href="{reverse("jobs:fleet_export")}?user=svc_batch" download>Export CSV</a>' in fleet
