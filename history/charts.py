"""The activity charts as the page shows them: each a <figure data-chart="NAME"> with its picture, drawn here as SVG
on the server (no script, nothing from elsewhere: the portal's strict CSP holds), its legend, and a <table> of the
same numbers (history.activity.Table), so it reads without the picture.

The SVG scales to its figure's width (a viewBox, width 100 %); colours and type come from portal.css by class
(`s-<series>`), so dark mode and a phone's larger type apply to it as to the rest of the page."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from html import escape

from django.utils.safestring import SafeString

from history.activity import Row, Table
from jobs.rows import duration

WIDTH = 600
PERIOD_HEIGHT = 250
LEFT, RIGHT, TOP, BOTTOM = 58, 14, 14, 54  # room for the axes' labels and titles
BARS_LEFT = 14  # a bar chart's names stand above its bars
BAR_ROW = 46  # a category's row: its label, then its bar
MAX_X_LABELS = 6
COUNTS = "Jobs"  # a table's column of job counts, listed but not drawn


def slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round numbers from 0 past `top`: 0, 5, 10, 15, 20."""
    if top <= 0:
        return [0, 1]
    rough = top / count
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= rough)
    return [step * n for n in range(math.ceil(top / step - 1e-9) + 1)]


def number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0").rstrip(".")


# --- the table -------------------------------------------------------------------------------------------------


def unit_of(table: Table, series: str) -> str:
    return "jobs" if series == COUNTS else table.unit


def cell(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "seconds":
        return duration(timedelta(seconds=round(value)))
    if unit == "hours":
        return f"{number(value)} h"
    return number(value)


def _first_cell(table: Table, row: Row) -> str:
    if row.at is not None:
        return f'<th scope="row"><time datetime="{row.at.isoformat()}">{escape(row.label)}</time></th>'
    return f'<th scope="row">{escape(row.label)}</th>'


def numbers_table(table: Table) -> str:
    head = "".join(f'<th scope="col" class="num">{escape(name)}</th>' for name in table.series)
    body = "".join(
        f"<tr>{_first_cell(table, row)}"
        + "".join(
            f'<td class="num">{cell(value, unit_of(table, name))}</td>'
            for name, value in zip(table.series, row.values, strict=True)
        )
        + "</tr>"
        for row in table.rows
    )
    return (
        f'<details class="chart-numbers"><summary>The numbers</summary><div class="table-wrap">'
        f'<table><thead><tr><th scope="col">{escape(table.first)}</th>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div></details>"
    )


# --- the pictures ----------------------------------------------------------------------------------------------


def _svg(table: Table, height: int, body: str) -> str:
    title_id = f"chart-{table.name}-title"
    return (
        f'<svg viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-labelledby="{title_id}" '
        f'preserveAspectRatio="xMidYMid meet"><title id="{title_id}">{escape(table.title)}</title>{body}</svg>'
    )


def _y_axis(ticks: list[float], top: float, bottom: float, title: str, label=number) -> str:
    """Grid lines and labels up the left side, and the axis title turned along it."""
    high = ticks[-1] or 1
    parts = []
    for tick in ticks:
        y = bottom - (bottom - top) * tick / high
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{label(tick)}</text>')
    middle = (top + bottom) / 2
    parts.append(
        f'<text class="axis-title" x="14" y="{middle:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {middle:.1f})">{escape(title)}</text>'
    )
    return "".join(parts)


def _x_labels(table: Table, band: float, bottom: float, word: str) -> str:
    """A few period labels under the bars (at most MAX_X_LABELS), and the axis title."""
    every = max(1, math.ceil(len(table.rows) / MAX_X_LABELS))
    hourly = word == "Hour"
    parts = [f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{bottom}" y2="{bottom}"/>']
    for n, row in enumerate(table.rows):
        if n % every or row.at is None:
            continue
        x = LEFT + band * (n + 0.5)
        text = _short(row.at, hourly)
        parts.append(f'<text class="tick" x="{x:.1f}" y="{bottom + 20}" text-anchor="middle">{text}</text>')
    zone = table.rows[0].at.tzname() if table.rows and table.rows[0].at else ""
    title = f"{word} submitted ({zone})" if zone else f"{word} submitted"
    middle = (LEFT + WIDTH - RIGHT) / 2
    parts.append(
        f'<text class="axis-title" x="{middle:.1f}" y="{bottom + 36}" text-anchor="middle">{escape(title)}</text>'
    )
    return "".join(parts)


def _short(at: datetime, hourly: bool) -> str:
    return at.strftime("%H:%M") if hourly and (at.hour or at.minute) else at.strftime("%d %b")


def stacked_columns(table: Table) -> str:
    """Jobs per period, one column per period stacked by series."""
    drawn = [name for name in table.series if name != COUNTS]
    totals = [sum(row.values[table.series.index(name)] for name in drawn) for row in table.rows]
    ticks = nice_ticks(max(totals, default=0))
    top, bottom = TOP, PERIOD_HEIGHT - BOTTOM
    band = (WIDTH - LEFT - RIGHT) / max(len(table.rows), 1)
    scale = (bottom - top) / ticks[-1]
    parts = [_y_axis(ticks, top, bottom, "Jobs")]
    for n, row in enumerate(table.rows):
        y = float(bottom)
        x = LEFT + band * n + band * 0.1
        for name in drawn:
            count = row.values[table.series.index(name)]
            if not count:
                continue
            height = count * scale
            y -= height
            parts.append(
                f'<rect class="bar s-{slug(name)}" x="{x:.1f}" y="{y:.1f}" width="{max(band * 0.8, 1):.1f}" '
                f'height="{height:.1f}"><title>{escape(row.label)}: {number(count)} {escape(name)}</title></rect>'
            )
    parts.append(_x_labels(table, band, bottom, table.first))
    return _svg(table, PERIOD_HEIGHT, "".join(parts))


def _duration_unit(seconds: float) -> tuple[str, float]:
    if seconds >= 2 * 3600:
        return "h", 3600
    if seconds >= 120:
        return "min", 60
    return "s", 1


def lines(table: Table) -> str:
    """Durations per period: a line per series, broken where a period has no number."""
    values = [value for row in table.rows for value in row.values if value is not None]
    unit, divisor = _duration_unit(max(values, default=0))
    ticks = nice_ticks(max(values, default=0) / divisor)
    top, bottom = TOP, PERIOD_HEIGHT - BOTTOM
    band = (WIDTH - LEFT - RIGHT) / max(len(table.rows), 1)
    scale = (bottom - top) / ticks[-1]
    parts = [_y_axis(ticks, top, bottom, f"Duration ({unit})")]
    for index, name in enumerate(table.series):
        runs: list[list[tuple[float, float]]] = [[]]
        for n, row in enumerate(table.rows):
            value = row.values[index]
            if value is None:
                runs.append([])
                continue
            point = (LEFT + band * (n + 0.5), bottom - value / divisor * scale)
            runs[-1].append(point)
            parts.append(
                f'<circle class="point s-{slug(name)}" cx="{point[0]:.1f}" cy="{point[1]:.1f}" r="3">'
                f"<title>{escape(row.label)}: {escape(name)} {cell(value, 'seconds')}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(f'<polyline class="line s-{slug(name)}" points="{points}"/>')
    parts.append(_x_labels(table, band, bottom, table.first))
    return _svg(table, PERIOD_HEIGHT, "".join(parts))


def bars(table: Table) -> str:
    """Categories (services, machines, users), each a row: its name and total, then its bar stacked by series."""
    drawn = [name for name in table.series if name != COUNTS]
    totals = [sum(row.values[table.series.index(name)] or 0 for name in drawn) for row in table.rows]
    ticks = nice_ticks(max(totals, default=0))
    right = WIDTH - RIGHT
    scale = (right - BARS_LEFT) / ticks[-1]
    bottom = TOP + BAR_ROW * max(len(table.rows), 1)
    height = bottom + BOTTOM
    unit = unit_of(table, drawn[0]) if drawn else "jobs"
    parts = []
    for tick in ticks:
        x = BARS_LEFT + tick * scale
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{bottom}"/>')
        parts.append(f'<text class="tick" x="{x:.1f}" y="{bottom + 20}" text-anchor="middle">{number(tick)}</text>')
    for n, (row, total) in enumerate(zip(table.rows, totals, strict=True)):
        y = TOP + BAR_ROW * n
        parts.append(f'<text class="label" x="{BARS_LEFT}" y="{y + 16}">{escape(row.label)}</text>')
        parts.append(f'<text class="label" x="{right}" y="{y + 16}" text-anchor="end">{cell(total, unit)}</text>')
        x = float(BARS_LEFT)
        for name in drawn:
            value = row.values[table.series.index(name)] or 0
            if not value:
                continue
            width = value * scale
            parts.append(
                f'<rect class="bar s-{slug(name)}" x="{x:.1f}" y="{y + 22}" width="{width:.1f}" height="14">'
                f"<title>{escape(row.label)}: {cell(value, unit)} {escape(name)}</title></rect>"
            )
            x += width
    title = {"jobs": "Jobs", "hours": "Running time (hours)"}.get(unit, unit)
    middle = (BARS_LEFT + right) / 2
    parts.append(f'<text class="axis-title" x="{middle:.1f}" y="{bottom + 44}" text-anchor="middle">{title}</text>')
    return _svg(table, height, "".join(parts))


# --- the figure ------------------------------------------------------------------------------------------------


def legend(table: Table) -> str:
    items = "".join(
        f'<li><span class="swatch s-{slug(name)}" aria-hidden="true"></span>{escape(name)}</li>'
        for name in table.series
        if name != COUNTS
    )
    return f'<ul class="chart-legend">{items}</ul>'


def picture(table: Table) -> str:
    if table.name == "duration-percentiles":
        return lines(table)
    if table.rows and table.rows[0].at is not None:
        return stacked_columns(table)
    return bars(table)


def figure(table: Table, *, small: bool = False) -> SafeString:
    """The chart, its legend and its numbers, in one <figure data-chart="NAME">."""
    drawing = picture(table) if table.rows else '<p class="muted chart-empty">No jobs to show.</p>'
    note = f' <span class="muted small">{escape(table.note)}</span>' if table.note else ""
    return SafeString(
        f'<figure class="chart{" small" if small else ""}" data-chart="{escape(table.name)}">'
        f"<figcaption>{escape(table.title)}{note}</figcaption>{legend(table)}{drawing}{numbers_table(table)}</figure>"
    )
