"""CSV exports, streamed line by line: dates in ISO 8601, and nothing a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence

# OWASP's rule against CSV (formula) injection: a cell that starts with one of these, or whose first
# non-whitespace character is one of the first four, is shown by spreadsheets as text only if it starts
# with a single quote.
FORMULA_STARTS = ("=", "+", "-", "@")
CONTROL_STARTS = ("\t", "\r")


def cell(value):
    """One cell: a date in ISO 8601, text that could run as a formula neutralised."""
    if isinstance(value, str) and (value[:1] in CONTROL_STARTS or value.lstrip()[:1] in FORMULA_STARTS):
        return "'" + value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class _Echo:
    """A file that hands back what is written, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


def lines(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[str]:
    """The header, then each row, as CSV lines (the csv module quotes and doubles embedded quotes)."""
    yield csv.writer(_Echo()).writerow(header)
    yield from rows_only(rows)


def rows_only(rows: Iterable[Sequence]) -> Iterator[str]:
    """Rows as CSV lines, each cell made safe (cell())."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([cell(value) for value in row])
