"""A job's page in the Services Directory (the REST API's job resource): its messages, progress, and the
names and values of its inputs and results, bounded whatever the server sends."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from arcgis_client._json import bounded_text, depth
from arcgis_client.errors import MalformedResponse
from arcgis_client.names import NAME
from arcgis_client.statuses import TERMINAL_STATUSES

INFORMATIVE_MESSAGE = "esriJobMessageTypeInformative"
WARNING_MESSAGE = "esriJobMessageTypeWarning"
ERROR_MESSAGE = "esriJobMessageTypeError"
ABORT_MESSAGE = "esriJobMessageTypeAbort"
PARAMETER_KINDS = ("inputs", "results")

# What the portal keeps of a job's page, whatever the server sends: a huge or hostile answer must not
# exhaust a worker's memory. A job's page is read up to MAX_JOB_PAGE_BYTES, a parameter up to
# MAX_PARAMETER_BYTES; of a longer list of messages the first and the last ones are kept.
MAX_JOB_PAGE_BYTES = 10 * 1024 * 1024
MAX_PARAMETER_BYTES = 1024 * 1024
MAX_MESSAGES_HEAD = 500
MAX_MESSAGES_TAIL = 4500
MAX_DESCRIPTION_CHARS = 4000
MAX_PARAMETERS = 50  # inputs, and results, each
MAX_VALUE_DEPTH = 64
MAX_JOB_URL_CHARS = 2048

# ArcGIS ends every failure with this line; the error before it says what went wrong.
_GENERIC_FAILURE = re.compile(r"Failed to execute \(\w*\)\.?")


@dataclass(frozen=True)
class JobMessage:
    """One message a job logged. `index` is its place in the job's whole list, from 0."""

    index: int
    type: str
    description: str
    truncated: bool = False  # the description was longer than MAX_DESCRIPTION_CHARS

    @classmethod
    def from_json(cls, index: int, data: Any) -> JobMessage | None:
        if not isinstance(data, dict):
            return None
        type_, _ = bounded_text(data.get("type"), 100)
        description, truncated = bounded_text(data.get("description"), MAX_DESCRIPTION_CHARS)
        return cls(index, type_, description, truncated)

    @property
    def is_error(self) -> bool:
        return self.type == ERROR_MESSAGE


@dataclass(frozen=True)
class JobProgress:
    """Where a running job is, as newer servers say it."""

    message: str
    percent: float | None = None

    @classmethod
    def from_json(cls, data: Any) -> JobProgress | None:
        if not isinstance(data, dict):
            return None
        message, _ = bounded_text(data.get("message"), MAX_DESCRIPTION_CHARS)
        percent = data.get("percent")
        if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
            percent = None
        return cls(message, percent) if message or percent is not None else None


@dataclass(frozen=True)
class RestJob:
    """A job's page in the Services Directory: its messages, progress, and the names of its inputs and
    results. Of more than MAX_MESSAGES_HEAD + MAX_MESSAGES_TAIL messages the first and the last are kept:
    `messages_omitted` were left out after the first MAX_MESSAGES_HEAD."""

    job_id: str
    status: str
    url: str  # the page, checked and on the site's own origin
    messages: tuple[JobMessage, ...]
    message_count: int  # how many the job has logged in all
    messages_omitted: int
    progress: JobProgress | None
    inputs: tuple[str, ...]
    results: tuple[str, ...]
    parameters_omitted: int = 0  # inputs and results left out: over MAX_PARAMETERS, or names not addressable

    @classmethod
    def from_json(cls, body: dict, job_id: str, url: str) -> RestJob:
        found = body.get("jobId")
        if found is not None and str(found) != job_id:
            raise MalformedResponse(f"The job's page answered for another job than {job_id}.")
        raw = body.get("messages")
        raw = raw if isinstance(raw, list) else []
        total = len(raw)
        if total > MAX_MESSAGES_HEAD + MAX_MESSAGES_TAIL:
            tail_start = total - MAX_MESSAGES_TAIL
            picked = [*enumerate(raw[:MAX_MESSAGES_HEAD]), *enumerate(raw[tail_start:], start=tail_start)]
        else:
            picked = list(enumerate(raw))
        messages = tuple(m for index, item in picked if (m := JobMessage.from_json(index, item)) is not None)
        inputs, inputs_omitted = parameter_names(body.get("inputs"))
        results, results_omitted = parameter_names(body.get("results"))
        status, _ = bounded_text(body.get("jobStatus") or body.get("status"), 64)
        return cls(
            job_id=job_id,
            status=status or "unknown",
            url=url,
            messages=messages,
            message_count=total,
            messages_omitted=total - len(picked),
            progress=JobProgress.from_json(body.get("progress")),
            inputs=inputs,
            results=results,
            parameters_omitted=inputs_omitted + results_omitted,
        )

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def messages_after(self, count: int) -> list[JobMessage]:
        """The messages logged after the first `count` (those a page already shows)."""
        return [message for message in self.messages if message.index >= count]

    @property
    def last_error(self) -> JobMessage | None:
        """The last error that says what went wrong: ArcGIS's closing "Failed to execute (Task)." only
        when it is the only error."""
        errors = [message for message in self.messages if message.is_error]
        telling = [message for message in errors if not _GENERIC_FAILURE.fullmatch(message.description.strip())]
        found = telling or errors
        return found[-1] if found else None


def parameter_names(value: Any) -> tuple[tuple[str, ...], int]:
    """The addressable parameter names of a job's `inputs` or `results` (at most MAX_PARAMETERS), and
    how many were left out."""
    if not isinstance(value, dict):
        return (), 0
    names = [name for name in value if isinstance(name, str) and NAME.fullmatch(name)][:MAX_PARAMETERS]
    return tuple(names), len(value) - len(names)


@dataclass(frozen=True)
class JobParameter:
    """One input or result of a job: its value is a literal, a list or an object (feature set, linear
    unit, `{"url": …}`), from an answer of at most MAX_PARAMETER_BYTES."""

    kind: str  # "inputs" or "results"
    name: str
    data_type: str
    value: Any

    @classmethod
    def from_json(cls, body: dict, kind: str, name: str) -> JobParameter:
        found = body.get("paramName")
        if found is not None and str(found) != name:
            raise MalformedResponse(f"The job's page answered with another parameter than {name}.")
        value = body.get("value")
        if depth(value, MAX_VALUE_DEPTH) > MAX_VALUE_DEPTH:
            raise MalformedResponse(f"The value of {name} is nested too deeply to show.")
        data_type, _ = bounded_text(body.get("dataType"), 100)
        return cls(kind, name, data_type, value)
