"""Sorting a job list by any of its columns.

ArcGIS lists a service's jobs newest first and orders them by nothing else, so the portal sorts by submission
(either way) across every page, and by any other column within the page shown, and says so. This works on any
list of entries that have `job_id`, `job` (an arcgis_client.Job, or None while not known), `label` and, for the
service column, `target`: a jobs page's, the fleet view's, or any other job list's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import arcgis_client

DEFAULT = "-submitted"


class Sortable(Protocol):
    @property
    def job_id(self) -> str: ...

    @property
    def job(self) -> arcgis_client.Job | None: ...

    @property
    def label(self) -> str: ...


_E = TypeVar("_E", bound=Sortable)


def _lower(text: str | None) -> str | None:
    return text.lower() if text else None


def _service(entry: Any) -> tuple[str, str] | None:
    target = getattr(entry, "target", None)
    return (target.service.key.lower(), target.site.name.lower()) if target is not None else None


def _status(entry: Any) -> str | None:
    return entry.label if entry.job or getattr(entry, "gone", False) else None


def _duration_seconds(job: arcgis_client.Job | None) -> float | None:
    duration = job.duration if job else None
    return duration.total_seconds() if duration is not None else None


@dataclass(frozen=True)
class Column:
    """A column a job list sorts by: the `sort` parameter's name (a "-" before it for the other direction)."""

    key: str
    label: str
    css: str  # the column's class: its width, and how its cells wrap (static/css/portal.css)
    ascending: str  # the orders in words, as a summary says them
    descending: str
    value: Callable[[Any], Any]  # None: not known, listed last either way
    descending_first: bool = False  # the first click sorts this way (newest, longest first)
    across_pages: bool = False  # ArcGIS orders it: every page, not only the one shown

    def words(self, descending: bool) -> str:
        return self.descending if descending else self.ascending


COLUMNS: dict[str, Column] = {
    column.key: column
    for column in (
        Column("job", "Job ID", "job-id", "A–Z", "Z–A", lambda e: e.job_id),
        Column("service", "Service", "service", "A–Z", "Z–A", _service),
        Column("status", "Status", "status", "A–Z", "Z–A", _status),
        Column(
            "submitted",
            "Submitted",
            "time",
            "oldest first",
            "newest first",
            lambda e: e.job.submitted if e.job else None,
            descending_first=True,
            across_pages=True,
        ),
        Column(
            "ended",
            "Ended",
            "time",
            "earliest first",
            "latest first",
            lambda e: e.job.ended if e.job else None,
            descending_first=True,
        ),
        Column(
            "duration",
            "Duration",
            "num",
            "shortest first",
            "longest first",
            lambda e: _duration_seconds(e.job),
            descending_first=True,
        ),
        Column("user", "User", "user", "A–Z", "Z–A", lambda e: _lower(e.job.username if e.job else None)),
        Column("machine", "Machine", "machine", "A–Z", "Z–A", lambda e: _lower(e.job.machine if e.job else None)),
    )
}
SERVICE_COLUMNS = ("job", "status", "submitted", "ended", "duration", "user", "machine")  # a service's own page
FLEET_COLUMNS = ("job", "service", "status", "submitted", "ended", "duration", "user", "machine")


def parse(sort: str) -> tuple[Column, bool]:
    """The column and whether descending, of a valid `sort` value ("user", "-duration", …)."""
    return COLUMNS[sort.lstrip("-")], sort.startswith("-")


def choices(keys: Sequence[str] = FLEET_COLUMNS) -> list[tuple[str, str]]:
    """Every order of these columns, for a form's choices and a sort menu: ("-submitted", "Submitted, newest
    first"), …, the first-click direction of each column first."""
    found = []
    for key in keys:
        column = COLUMNS[key]
        for descending in (column.descending_first, not column.descending_first):
            found.append((f"{'-' if descending else ''}{key}", f"{column.label}, {column.words(descending)}"))
    return found


def menu(keys: Sequence[str] = FLEET_COLUMNS) -> list[tuple[str, str]]:
    """choices(), each order that sorts only the page shown said to do so."""
    return [(value, label if across_pages(value) else f"{label} (this page)") for value, label in choices(keys)]


def describe(sort: str) -> str:
    """The order in words: "newest first", "user, A–Z"."""
    column, descending = parse(sort)
    words = column.words(descending)
    return words if column.key == "submitted" else f"{column.label.lower()}, {words}"


def across_pages(sort: str) -> bool:
    return parse(sort)[0].across_pages


def sort_entries(entries: Sequence[_E], sort: str) -> list[_E]:
    """The entries in this order; those whose value is not known last, either way, in the order they came. (Only
    what ArcGIS orders is in order across pages: the caller says so for the rest.)"""
    column, descending = parse(sort)
    known: list[tuple[Any, _E]] = []
    unknown: list[tuple[Any, _E]] = []
    for entry in entries:
        value = column.value(entry)
        (unknown if value is None else known).append((value, entry))
    known.sort(key=lambda pair: pair[0], reverse=descending)  # stable, also reversed
    return [entry for _, entry in known] + [entry for _, entry in unknown]


@dataclass(frozen=True)
class HeaderCell:
    """A column's header as a sort link: where it leads, and the order it shows now (aria-sort)."""

    key: str
    label: str
    css: str
    next_sort: str
    aria_sort: str  # "ascending", "descending", or "" for a column the list is not sorted by
    across_pages: bool


def header(keys: Sequence[str], sort: str) -> list[HeaderCell]:
    """The headers of these columns for a list in this order: a click sorts by the column (its first-click
    direction), or the other way round when the list is sorted by it already."""
    current, descending = parse(sort)
    cells = []
    for key in keys:
        column = COLUMNS[key]
        if column is current:
            aria = "descending" if descending else "ascending"
            turn = not descending
        else:
            aria, turn = "", column.descending_first
        cells.append(
            HeaderCell(key, column.label, column.css, f"{'-' if turn else ''}{key}", aria, column.across_pages)
        )
    return cells
