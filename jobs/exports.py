"""A job list as CSV, streamed line by line as its pages are read: a service's jobs, the fleet view's, or any
other list of job entries (anything with `target`, `job_id`, `job`, `label` and `flag`). Cells go through
jobs/csv_export.py: dates in ISO 8601 (UTC), nothing a spreadsheet would run as a formula. What could not be read
is said in the last lines, which start with "#"."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse

from jobs import csv_export, stored_tokens

EXPORT_MAX = 10_000  # jobs in one export at most: a bigger list is narrowed by its filters
COLUMNS = [
    "site",
    "service",
    "job_id",
    "status",
    "status_label",
    "submitted",
    "ended",
    "duration_seconds",
    "user",
    "machine",
    "flag",
]


def job_row(entry: Any) -> list:
    job = entry.job
    duration = job.duration if job else None
    return [
        entry.target.site.slug,
        entry.target.service.key,
        entry.job_id,
        entry.status,
        entry.label,
        job.submitted if job else None,
        job.ended if job else None,
        round(duration.total_seconds()) if duration is not None else None,
        job.username if job else None,
        job.machine if job else None,
        entry.flag.text if entry.flag else None,
    ]


def lines(entries: Iterable[Any], problems: Callable[[], list[str]] = list) -> Iterator[str]:
    """The header, a line per job as it is read, then a line per problem (`problems()` once the entries are all
    read: the services that did not answer, the read that failed part-way); also when reading fails, which it
    says in its own last line."""
    failure = ""
    try:
        yield from csv_export.lines(COLUMNS, (job_row(entry) for entry in entries))
    except stored_tokens.READ_ERRORS as exc:  # a read that failed part-way: what came before it stands
        failure = exc.message
    notes = problems() + ([f"The export stopped early: {failure}"] if failure else [])
    yield from csv_export.rows_only([f"# {note}"] for note in notes)


def export(entries: Iterable[Any], filename: str, problems: Callable[[], list[str]] = list) -> HttpResponseBase:
    """The download: streamed as the list is read. When not even its first page can be read, the answer says
    why instead (HTTP 502, in words), rather than an empty file."""
    found = iter(entries)
    try:
        first = next(found, None)
    except stored_tokens.READ_ERRORS as exc:
        return HttpResponse(
            f"The jobs could not be read for the export: {exc.message}\n",
            status=502,
            content_type="text/plain; charset=utf-8",
        )
    listed = found if first is None else itertools.chain([first], found)
    answer = StreamingHttpResponse(lines(listed, problems), content_type="text/csv; charset=utf-8")
    answer["Content-Disposition"] = f'attachment; filename="{filename}"'
    answer["X-Accel-Buffering"] = "no"  # a long list arrives as it is read
    return answer
