"""The history's list as CSV: every job the filters match, newest first, streamed from the database a chunk at a
time (constant memory however long the list), each cell made safe by jobs/csv_export.py (dates in ISO 8601, UTC;
nothing a spreadsheet would run as a formula)."""

from __future__ import annotations

from collections.abc import Iterator

from django.http import StreamingHttpResponse

import arcgis_client
from history.queries import HistoryQuery
from jobs import csv_export
from jobs import exports as job_list_export
from jobs.models import Site

CHUNK = 2000  # rows fetched from the database at a time
# The columns of a live job list's CSV (but its flag), then what only the index knows.
COLUMNS = [*(c for c in job_list_export.COLUMNS if c != "flag"), "gone_while", "first_seen", "last_seen"]
FIELDS = (
    "site_id",
    "folder",
    "service",
    "job_id",
    "status",
    "submitted",
    "ended",
    "duration_ms",
    "username",
    "machine",
    "gone_while",
    "first_seen",
    "last_seen",
)


def rows(query: HistoryQuery, sites: list[Site]) -> Iterator[list]:
    slugs = {site.pk: site.slug for site in sites}
    found = query.newest_first(sites).values_list(*FIELDS).iterator(chunk_size=CHUNK)
    for site_id, folder, service, job_id, status, submitted, ended, ms, user, machine, gone, first, last in found:
        yield [
            slugs[site_id],
            f"{folder}/{service}" if folder else service,
            job_id,
            status,
            arcgis_client.status_label(status),
            submitted,
            ended,
            round(ms / 1000) if ms is not None else None,
            user,
            machine,
            gone,
            first,
            last,
        ]


def export(query: HistoryQuery, sites: list[Site]) -> StreamingHttpResponse:
    answer = StreamingHttpResponse(
        csv_export.lines(COLUMNS, rows(query, sites)), content_type="text/csv; charset=utf-8"
    )
    answer["Content-Disposition"] = 'attachment; filename="gp-jobs-history.csv"'
    answer["X-Accel-Buffering"] = "no"  # a long list arrives as it is read
    return answer
