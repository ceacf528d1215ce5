"""What a job's page shows from its Services Directory page, computed once in Python.

Its messages in numbered slices (a job may have logged thousands: the first and the last ones are shown
unless all are asked for), errors and warnings marked in words; its inputs and results summarised in a
line ("Feature set: 3 features, esriGeometryPolygon", "100 esriMeters") with the pretty-printed JSON
behind a disclosure; addresses as links only on the site's own origin. Everything here is text from
ArcGIS and stays text: templates escape it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import arcgis_client
from jobs.reads import FAILED_STATUSES, JobDetail, ParameterRead, ReadError
from jobs.rows import duration, timestamp
from jobs.targets import ServiceTarget

SHOWN_FIRST = 50  # of a long list of messages, the page shows these first ones…
SHOWN_LAST = 200  # …and these last ones, unless asked for all (?messages=all)
SHORT_TEXT = 300  # a longer text value is shortened in its summary, shown whole behind the disclosure
MAX_JSON_CHARS = 20_000  # of a value's pretty-printed JSON
POLL_SECONDS = 2  # a running job's page asks for new messages this often
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+")  # RFC 3986

# How a message is marked besides its colour: a class and a word.
MESSAGE_MARKS = {
    arcgis_client.ERROR_MESSAGE: ("error", "Error"),
    arcgis_client.WARNING_MESSAGE: ("warning", "Warning"),
    arcgis_client.ABORT_MESSAGE: ("abort", "Cancelled"),
}


@dataclass(frozen=True)
class MessageLine:
    type: str
    description: str
    tone: str  # "error", "warning", "abort" or ""
    label: str  # the word that marks it: "Error", "Warning", "Cancelled" or ""
    truncated: bool
    number: int  # its place in the job's whole list, from 1: the page's anchor #message-<number>

    @classmethod
    def of(cls, message: arcgis_client.JobMessage) -> MessageLine:
        tone, label = MESSAGE_MARKS.get(message.type, ("", ""))
        return cls(message.type, message.description, tone, label, message.truncated, message.index + 1)


@dataclass(frozen=True)
class MessageSlice:
    """Messages shown one after the other, as one <ol> numbered from `start`; `gap` messages before it are not
    shown, and `note` says why."""

    start: int
    lines: list[MessageLine]
    gap: int = 0
    note: str = ""


@dataclass(frozen=True)
class Messages:
    slices: list[MessageSlice]
    count: int  # all the job has logged
    shown: int
    all_url: str = ""  # "Show all N messages", when some are hidden

    @property
    def count_text(self) -> str:
        return count_text(self.count)

    @property
    def all_label(self) -> str:
        return f"Show all {self.count:,} messages"


def count_text(count: int) -> str:
    return f"{count:,} message{'s' if count != 1 else ''}" if count else "No messages yet."


def messages_of(page: arcgis_client.RestJob, *, show_all: bool) -> Messages:
    """The job's messages as the page shows them: all it kept, or the first SHOWN_FIRST and last SHOWN_LAST."""
    kept = list(page.messages)
    hidden_by_page = not show_all and len(kept) > SHOWN_FIRST + SHOWN_LAST
    shown = [*kept[:SHOWN_FIRST], *kept[-SHOWN_LAST:]] if hidden_by_page else kept
    slices: list[MessageSlice] = []
    run: list[arcgis_client.JobMessage] = []
    gap = 0
    for message in shown:
        if run and message.index != run[-1].index + 1:
            slices.append(_slice(run, gap, page, hidden_by_page))
            gap = message.index - run[-1].index - 1
            run = []
        run.append(message)
    if run or not slices:
        slices.append(_slice(run, gap, page, hidden_by_page))
    all_url = "?" + urlencode({"messages": "all"}) if hidden_by_page else ""
    return Messages(slices, page.message_count, len(shown), all_url)


def _slice(
    run: list[arcgis_client.JobMessage], gap: int, page: arcgis_client.RestJob, hidden_by_page: bool
) -> MessageSlice:
    start = run[0].index + 1 if run else 1
    note = ""
    if gap:
        if hidden_by_page:
            note = f"{gap:,} message{'s' if gap != 1 else ''} not shown here."
        elif page.messages_omitted:
            note = (
                f"{gap:,} messages in the middle are not shown: the portal keeps the first "
                f"{arcgis_client.MAX_MESSAGES_HEAD:,} and the last {arcgis_client.MAX_MESSAGES_TAIL:,} of a job's "
                "messages. The job's page in the Services Directory has them all."
            )
        else:
            note = f"{gap:,} entr{'ies' if gap != 1 else 'y'} that {'are' if gap != 1 else 'is'} not a message."
    return MessageSlice(start, [MessageLine.of(message) for message in run], gap, note)


def new_lines(messages: list[arcgis_client.JobMessage]) -> list[MessageLine]:
    return [MessageLine.of(message) for message in messages]


# ArcGIS's closing message gives the time the job ran: "Succeeded at … (Elapsed Time: 1 minutes 2.5 seconds)".
_ELAPSED = re.compile(r"\(Elapsed Time: ([^)]{1,80})\)")
_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(hour|minute|second)s?")
_UNIT_SECONDS = {"hour": 3600, "minute": 60, "second": 1}


def elapsed_time(messages: list[arcgis_client.JobMessage]) -> timedelta | None:
    """How long the job ran, as its last messages say (ArcGIS counts from when it started executing), or None."""
    for message in reversed(messages[-5:]):
        found = _ELAPSED.search(message.description)
        if found:
            amounts = _AMOUNT.findall(found.group(1))
            if amounts:
                return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[unit] for n, unit in amounts))
    return None


def timing_text(job: arcgis_client.Job | None, ran: timedelta | None) -> str:
    """The job's time in words, saying that the portal's duration counts from its submission, queue included."""
    if job is None or job.submitted is None or job.duration is None:
        return ""
    since = duration(job.duration)
    if job.status in arcgis_client.QUEUED_STATUSES:
        return f"Waiting in the queue: submitted {since} ago."
    if not job.is_terminal:
        return f"Submitted {since} ago; that time includes any wait in the queue."
    text = f"Took {since} from its submission to its end, time in the queue included."
    if ran is not None and timedelta(0) <= ran <= job.duration:
        text += f" ArcGIS ran it for {duration(ran)}, so it waited about {duration(job.duration - ran)} to start."
    return text


# --- inputs and results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterView:
    name: str
    data_type: str
    summary: str  # a line of plain text (a time is markup built here, never ArcGIS's text)
    link: str = ""  # the value's address, when it is on the site's own origin
    json: str = ""  # the whole value, pretty-printed, for the disclosure
    error: ReadError | None = None


def parameter_view(read: ParameterRead, site_url: str) -> ParameterView:
    if read.parameter is None:
        return ParameterView(read.name, "", "", error=read.error)
    parameter = read.parameter
    value = parameter.value
    summary, link = _summary(parameter.data_type, value, site_url)
    if isinstance(value, dict | list):
        shown = pretty_json(value)
    elif isinstance(value, str) and len(value) > SHORT_TEXT:
        shown = _cut(value)  # the whole text, as it is
    else:
        shown = ""
    return ParameterView(parameter.name, parameter.data_type, summary, link, shown)


def _summary(data_type: str, value: Any, site_url: str) -> tuple[str, str]:
    """(a line that says what the value is, its address when it is a link on the site's own origin)."""
    if value is None:
        return "No value", ""
    if isinstance(value, bool):
        return ("true" if value else "false"), ""
    if isinstance(value, int | float):
        if data_type == "GPDate" and isinstance(value, int):
            when = _from_ms(value)
            if when is not None:
                return timestamp(when), ""
        return _number(value), ""
    if isinstance(value, str):
        link = site_link(value, site_url)
        text = value if len(value) <= SHORT_TEXT else value[:SHORT_TEXT] + "…"
        return text, link
    if isinstance(value, list):
        return f"List of {len(value):,} value{'s' if len(value) != 1 else ''}", ""
    if isinstance(value, dict):
        return _object_summary(value, site_url)
    return "", ""


def _object_summary(value: dict, site_url: str) -> tuple[str, str]:
    features = value.get("features")
    if isinstance(features, list):
        count = f"{len(features):,} feature{'s' if len(features) != 1 else ''}"
        geometry = value.get("geometryType")
        if isinstance(geometry, str) and geometry:
            return f"Feature set: {count}, {geometry[:100]}", ""
        return f"Records: {count}", ""
    units = value.get("units")
    for amount in ("distance", "area"):
        if isinstance(value.get(amount), int | float) and not isinstance(value.get(amount), bool):
            return f"{_number(value[amount])} {str(units)[:100] if isinstance(units, str) else ''}".strip(), ""
    url = value.get("url")
    if isinstance(url, str):
        text = url if len(url) <= SHORT_TEXT else url[:SHORT_TEXT] + "…"
        kind = value.get("format")
        if isinstance(kind, str) and kind:
            text = f"{text} ({kind[:40]})"
        return text, site_link(url, site_url)
    names = [str(name)[:40] for name in list(value)[:5]]
    more = ", …" if len(value) > 5 else ""
    return f"Object with {len(value):,} field{'s' if len(value) != 1 else ''}: {', '.join(names)}{more}", ""


def _number(value: int | float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _from_ms(value: int) -> datetime | None:
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC) if value > 0 else None
    except (ValueError, OverflowError, OSError):
        return None


def pretty_json(value: Any) -> str:
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
    except (TypeError, ValueError, RecursionError):
        return ""
    return _cut(text)


def _cut(text: str) -> str:
    if len(text) > MAX_JSON_CHARS:
        return f"{text[:MAX_JSON_CHARS]}\n… (cut here: {len(text):,} characters in all)"
    return text


def site_link(url: str, site_url: str) -> str:
    """The address, when it is a plain http(s) address on the site's own scheme, host and port; else ""."""
    if not isinstance(url, str) or len(url) > arcgis_client.MAX_JOB_URL_CHARS:
        return ""
    if not _URL_CHARACTERS.fullmatch(url):  # spaces, quotes, "<", backslashes…: not a plain address
        return ""
    try:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or parts.username is not None or parts.password is not None:
            return ""
    except ValueError:
        return ""
    return url if arcgis_client.same_origin(url, site_url) else ""


# --- the page -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessagePoll:
    url: str
    seconds: int


def message_poll(target: ServiceTarget, job_id: str, after: int, failures: int = 0) -> MessagePoll:
    query = {"after": after, **({"failures": failures} if failures else {})}
    seconds = POLL_SECONDS if not failures else min(POLL_SECONDS * 2**failures, 60)
    return MessagePoll(f"{target.job_url(job_id)}messages/?{urlencode(query)}", seconds)


class JobPage:
    """Everything the job's page shows besides its row."""

    def __init__(self, detail: JobDetail, *, show_all: bool = False):
        self.detail = detail
        site_url = detail.target.site.admin_url
        page = detail.page
        self.page = page
        self.messages = messages_of(page, show_all=show_all) if page else None
        self.inputs = [parameter_view(read, site_url) for read in detail.inputs]
        self.results = [parameter_view(read, site_url) for read in detail.results]
        self.services_directory_url = page.url if page else ""
        self.poll = (
            message_poll(detail.target, detail.row.job_id, page.message_count)
            if page is not None and not page.is_terminal and detail.row.active  # the job still runs
            else None
        )

    @property
    def failed(self) -> bool:
        return self.detail.row.status in FAILED_STATUSES

    @property
    def last_error(self) -> MessageLine | None:
        """For a failed job, the error that says why, from its messages (at the top of the page: it may be the
        22nd message of many)."""
        if not self.failed or self.page is None or self.page.last_error is None:
            return None
        return MessageLine.of(self.page.last_error)

    @property
    def last_error_url(self) -> str:
        """Where the last error is in the list: on this page, or on the page that shows every message."""
        error = self.last_error
        if error is None or self.messages is None:
            return ""
        shown = any(line.number == error.number for piece in self.messages.slices for line in piece.lines)
        return f"#message-{error.number}" if shown else f"{self.messages.all_url}#message-{error.number}"

    @property
    def timing(self) -> str:
        ran = elapsed_time(list(self.page.messages)) if self.page is not None else None
        return timing_text(self.detail.row.job, ran)

    @property
    def no_results(self) -> str:
        if self.page is not None and self.page.status == arcgis_client.SUCCEEDED:
            return "The job's page lists no results."
        return "None: a job has results once it has succeeded."

    @property
    def not_shown(self) -> str:
        """Why the job's messages, inputs and results are not on the page, in words ("" when they are)."""
        detail = self.detail
        if self.page is not None or detail.error is not None:
            return ""
        if detail.row.gone:
            return "This job no longer exists on the server, so it has no messages, inputs or results to show."
        if detail.page_error is not None:
            return f"Its messages, inputs and results are not shown: {detail.page_error.message}"
        return ""
