"""Client for the ArcGIS Server Administrator API (10.6.1+): GP services and their jobs.

The only code in the portal that talks to ArcGIS. It imports requests and never Django,
so it can be used and tested on its own. Callers see the small error hierarchy below,
never a requests exception, and every error's text can be shown to an operator as is.

Tokens travel in the POST body on POSTs and in the X-Esri-Authorization header on
GETs, never in a URL; neither tokens nor passwords appear in a repr, a log line or an
exception. POSTs are never retried: after an ambiguous failure (reset or timeout once
the request may have been sent) the error says so and the caller re-reads the job.
"""

from __future__ import annotations

import concurrent.futures
import http.cookiejar
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

# Skipping TLS verification is a site's explicit, visible setting; urllib3 would otherwise
# warn on every single request to such a site.
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

# --- statuses -------------------------------------------------------------------

NEW = "esriJobNew"
SUBMITTED = "esriJobSubmitted"
WAITING = "esriJobWaiting"
EXECUTING = "esriJobExecuting"
SUCCEEDED = "esriJobSucceeded"
FAILED = "esriJobFailed"
CANCELLING = "esriJobCancelling"
CANCELLED = "esriJobCancelled"
TIMED_OUT = "esriJobTimedOut"
DELETING = "esriJobDeleting"
DELETED = "esriJobDeleted"

# The statuses query accepts, in lifecycle order; the last three only appear when reading.
QUERYABLE_STATUSES = (NEW, SUBMITTED, WAITING, EXECUTING, SUCCEEDED, FAILED, CANCELLING, CANCELLED)
STATUSES = (*QUERYABLE_STATUSES, TIMED_OUT, DELETING, DELETED)
TERMINAL_STATUSES = frozenset({SUCCEEDED, FAILED, CANCELLED, TIMED_OUT, DELETED})
# Only these can be cancelled (the contract: SUBMITTED or EXECUTING).
CANCELLABLE_STATUSES = frozenset({SUBMITTED, EXECUTING})


# Jobs that may still change: the fleet view's default filter.
ACTIVE_STATUSES = (NEW, SUBMITTED, WAITING, EXECUTING, CANCELLING)
QUEUED_STATUSES = frozenset({NEW, SUBMITTED, WAITING})

# One word per status, everywhere the portal names one (badges, filters, messages, audit).
STATUS_LABELS = {
    NEW: "New",
    SUBMITTED: "Submitted",
    WAITING: "Waiting",
    EXECUTING: "Executing",
    SUCCEEDED: "Succeeded",
    FAILED: "Failed",
    CANCELLING: "Cancelling",
    CANCELLED: "Cancelled",
    TIMED_OUT: "Timed out",
    DELETING: "Deleting",
    DELETED: "Deleted",
}


def status_label(status: str) -> str:
    """esriJobExecuting -> Executing; unknown values are shown as they came."""
    return STATUS_LABELS.get(status) or status.removeprefix("esriJob") or status or "Unknown"


# --- names that may enter a URL path ---------------------------------------------

# The one definition of what may enter a URL path, shared by the portal's URLs, forms and models.
# Always matched against the whole string (fullmatch, or \A…\Z): "$" would let a trailing newline through.
NAME_PATTERN = r"[A-Za-z0-9_]{1,120}"
JOB_ID_PATTERN = r"[A-Za-z0-9]{1,64}"
_NAME = re.compile(NAME_PATTERN)
# What a job's page address may hold: no "%", "?", "#", "@", "\\", spaces or control characters.
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9._~:/\[\]-]+", re.IGNORECASE)
_JOB_ID = re.compile(JOB_ID_PATTERN)


def validate_name(value: str, what: str = "name") -> str:
    """A folder or service name: letters, digits and underscores, at most 120."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidName(f"Not a valid {what}: only letters, digits and underscores (at most 120) are allowed.")
    return value


def is_job_id(value: str) -> bool:
    return isinstance(value, str) and _JOB_ID.fullmatch(value) is not None


def validate_job_id(value: str) -> str:
    if not isinstance(value, str) or not _JOB_ID.fullmatch(value):
        raise InvalidName("Not a valid job ID: only letters and digits are allowed.")
    return value


# --- errors ---------------------------------------------------------------------


class ArcGISError(Exception):
    """Base of every error the client raises; str() is fit to show an operator.

    Like every error a page shows, it has `.message` and `.reconnect` (the operator must
    connect again before anything can work)."""

    code: int | None = None
    reconnect = False

    def __init__(self, message: str, *, code: int | None = None, messages: Iterable[str] = (), ambiguous=False):
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.code
        self.messages = list(messages) or [message]
        # True when a POST may have reached the server although no answer came back.
        self.ambiguous = ambiguous


class InvalidName(ArcGISError, ValueError):
    """A folder, service or job ID that must not enter a URL. Nothing was sent."""


class TokenRejected(ArcGISError):
    """The server will not act on this token: the operator must reconnect."""

    reconnect = True


class TokenInvalid(TokenRejected):
    """498: the token is invalid, expired, or bound to another referer."""

    code = 498


class TokenRequired(TokenRejected):
    """499: no token was sent, or the server wants one."""

    code = 499


class Forbidden(ArcGISError):
    """403: the token's user lacks the privilege."""

    code = 403


class NotFound(ArcGISError):
    """404: no such folder, service or job."""

    code = 404


class OperationRefused(ArcGISError):
    """The server refused the operation; messages hold its words verbatim."""


class UpstreamUnavailable(ArcGISError):
    """No ArcGIS answer: connection refused or reset, 5xx, or an HTML page from a proxy."""


class UpstreamTimeout(UpstreamUnavailable):
    """The server did not connect or answer within the site's timeouts."""


class TLSFailure(UpstreamUnavailable):
    """The server's certificate could not be verified."""


class SiteUnavailable(UpstreamUnavailable):
    """Not even tried: the site stopped answering recently, or too many calls to it are in flight."""


class MalformedResponse(ArcGISError):
    """An answer that is not the JSON ArcGIS sends."""


class UntrustedTokenService(ArcGISError):
    """/rest/info names a token service off the site's own origin: no password is sent there."""


class ResponseTooLarge(MalformedResponse):
    """An answer larger than the portal reads for that kind of request; the rest was not read."""


class NoJobPage(ArcGISError):
    """ArcGIS names no Services Directory page for the job (its `url` is missing). Nothing was sent."""


class UnsafeJobURL(ArcGISError):
    """The job's `url` is not the Services Directory page of this service and job on the site's own
    address (another host, port or scheme, another job, encoded or extra characters). Nothing was sent."""


_ERRORS_BY_CODE: dict[int, type[ArcGISError]] = {498: TokenInvalid, 499: TokenRequired, 403: Forbidden, 404: NotFound}


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _texts(value: Any) -> list[str]:
    """Messages from an answer: a lone string is one message, not a list of characters."""
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in value if v] if isinstance(value, list) else []


def _error_from_body(body: Any) -> ArcGISError | None:
    """The error in an ArcGIS answer, in either of its two shapes, or None."""
    if not isinstance(body, dict):
        return None
    if body.get("status") == "error":  # Administrator style
        code = _as_int(body.get("code"))
        messages = _texts(body.get("messages")) or ["The server reported an error."]
    elif isinstance(body.get("error"), dict):  # REST style
        error = body["error"]
        code = _as_int(error.get("code"))
        messages = [str(error.get("message") or "The server reported an error.")]
        messages += _texts(error.get("details"))
    else:
        return None
    kind = _ERRORS_BY_CODE.get(code, OperationRefused)
    return kind(_sentences(messages), code=code, messages=messages)


def _sentences(messages: list[str]) -> str:
    """ArcGIS's messages as one text: a lone message verbatim, several as sentences."""
    if len(messages) == 1:
        return messages[0]
    return " ".join(m if m.rstrip().endswith((".", "!", "?", "]", ":")) else f"{m}." for m in messages)


# --- typed results ----------------------------------------------------------------


def _datetime_from_ms(value: Any) -> datetime | None:
    """Epoch milliseconds, as number or string; None, '', 0 and negatives mean unset."""
    try:
        millis = int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None
    if millis <= 0:
        return None
    try:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):  # beyond the years a datetime can hold
        return None


def _ms(value: datetime | None) -> str:
    return "" if value is None else str(int(value.timestamp() * 1000))


@dataclass(frozen=True)
class ServiceRef:
    """A GP service's place on a site: folder ('' for the root) and name, both validated."""

    folder: str
    name: str

    def __post_init__(self):
        if self.folder:
            validate_name(self.folder, "folder name")
        validate_name(self.name, "service name")

    @classmethod
    def parse(cls, key: str) -> ServiceRef:
        """'Folder/Name' or 'Name' (also with a trailing .GPServer)."""
        key = key.removesuffix(".GPServer")
        folder, _, name = key.rpartition("/")
        return cls(folder, name)

    @property
    def key(self) -> str:
        return f"{self.folder}/{self.name}" if self.folder else self.name

    @property
    def admin_path(self) -> str:
        """The service's path under ADMIN/services, URL-encoded."""
        parts = [self.folder] if self.folder else []
        return "/".join(quote(p, safe="") for p in [*parts, f"{self.name}.GPServer"])

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class Service:
    folder: str
    name: str
    type: str
    description: str = ""

    @property
    def is_gp(self) -> bool:
        return self.type == "GPServer"

    @property
    def ref(self) -> ServiceRef:
        return ServiceRef(self.folder, self.name)


@dataclass(frozen=True)
class Job:
    job_id: str
    status: str
    submitted: datetime | None = None
    ended: datetime | None = None
    username: str | None = None
    machine: str | None = None
    url: str | None = None

    @classmethod
    def from_json(cls, data: dict, job_id: str | None = None) -> Job:
        if not isinstance(data, dict):
            raise MalformedResponse("A job in the server's answer is not an object.")
        found_id = str(data.get("jobId") or job_id or "")
        if not found_id:
            raise MalformedResponse("A job in the server's answer has no jobId.")
        return cls(
            job_id=found_id,
            status=str(data.get("status") or data.get("jobStatus") or "unknown"),
            submitted=_datetime_from_ms(data.get("submittedTime")),
            ended=_datetime_from_ms(data.get("endTime")),
            username=data.get("username") or None,
            machine=data.get("machinename") or data.get("machineName") or None,
            url=data.get("url") or None,
        )

    @property
    def label(self) -> str:
        return status_label(self.status)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def can_cancel(self) -> bool:
        return self.status in CANCELLABLE_STATUSES

    @property
    def duration(self) -> timedelta | None:
        if self.submitted is None:
            return None
        end = self.ended or (None if self.is_terminal else datetime.now(UTC))
        return None if end is None else max(end - self.submitted, timedelta(0))


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    total: int
    start: int
    number: int
    next_start: int | None  # None on the last page


@dataclass(frozen=True)
class JobStatistics:
    total: int
    succeeded: int
    failed: int
    cancelled: int

    @property
    def other(self) -> int:
        """Jobs still queued or running (and any status the statistics do not count)."""
        return max(self.total - self.succeeded - self.failed - self.cancelled, 0)


@dataclass(frozen=True)
class Token:
    token: str = field(repr=False)
    expires: datetime | None


# --- a job's page in the Services Directory ---------------------------------------------------

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


def _bounded_text(value: Any, limit: int) -> tuple[str, bool]:
    """A text from an answer, at most `limit` characters: (text, whether it was cut)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return "", False
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        return text[:limit], True
    return text, False


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
        type_, _ = _bounded_text(data.get("type"), 100)
        description, truncated = _bounded_text(data.get("description"), MAX_DESCRIPTION_CHARS)
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
        message, _ = _bounded_text(data.get("message"), MAX_DESCRIPTION_CHARS)
        percent = data.get("percent")
        if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
            percent = None
        return cls(message, percent) if message or percent is not None else None


@dataclass(frozen=True)
class JobDetails:
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
    def from_json(cls, body: dict, job_id: str, url: str) -> JobDetails:
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
        inputs, inputs_omitted = _parameter_names(body.get("inputs"))
        results, results_omitted = _parameter_names(body.get("results"))
        status, _ = _bounded_text(body.get("jobStatus") or body.get("status"), 64)
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


def _parameter_names(value: Any) -> tuple[tuple[str, ...], int]:
    """The addressable parameter names of a job's `inputs` or `results` (at most MAX_PARAMETERS), and
    how many were left out."""
    if not isinstance(value, dict):
        return (), 0
    names = [name for name in value if isinstance(name, str) and _NAME.fullmatch(name)][:MAX_PARAMETERS]
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
        if _depth(value) > MAX_VALUE_DEPTH:
            raise MalformedResponse(f"The value of {name} is nested too deeply to show.")
        data_type, _ = _bounded_text(body.get("dataType"), 100)
        return cls(kind, name, data_type, value)


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a JSON value (without recursion: a hostile value may be deep)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            if depth > MAX_VALUE_DEPTH:
                return depth
            stack += [(child, depth + 1) for child in item if isinstance(child, dict | list)]
    return deepest


# --- the connection to one site ---------------------------------------------------------------


class _RejectAllCookies(http.cookiejar.DefaultCookiePolicy):
    """A session is shared by every operator: a cookie set for one must never ride along for another."""

    def set_ok(self, cookie, request):
        return False


class _GetRetry(Retry):
    """Retries GETs on connection errors and 502/503/504, never on a read timeout:
    a stalled server must cost one timeout, not three."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if isinstance(error, ReadTimeoutError):
            raise error
        return super().increment(method, url, response, error, _pool, _stacktrace)


_T = TypeVar("_T")
_R = TypeVar("_R")


def run_concurrently(func: Callable[[_T], _R], items: Iterable[_T], limit: int = 16) -> list[_R | ArcGISError]:
    """func over items with at most `limit` in flight; each result or ArcGISError, in order."""
    items = list(items)

    def guarded(item: _T) -> _R | ArcGISError:
        try:
            return func(item)
        except ArcGISError as exc:
            return exc

    if len(items) <= 1:
        return [guarded(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(limit, len(items)), thread_name_prefix="arcgis") as pool:
        return list(pool.map(guarded, items))


def as_completed(
    func: Callable[[_T], _R],
    items: Iterable[_T],
    limit: int = 16,
    then: Callable[[_T, _R | ArcGISError], Iterable[_T]] | None = None,
) -> Iterator[tuple[_T, _R | ArcGISError]]:
    """func over items with at most `limit` in flight; (item, result or ArcGISError) as each finishes.

    then(item, result) may name follow-up items: they run next, ahead of the items still waiting,
    so a first answer is followed up at once rather than after every first call has been made."""
    waiting = deque(items)
    if not waiting:
        return

    def guarded(item: _T) -> _R | ArcGISError:
        try:
            return func(item)
        except ArcGISError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="arcgis") as pool:
        running: dict[concurrent.futures.Future, _T] = {}

        def fill() -> None:
            while waiting and len(running) < limit:
                item = waiting.popleft()
                running[pool.submit(guarded, item)] = item

        fill()
        while running:
            finished, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                item = running.pop(future)
                result = future.result()
                if then is not None:
                    waiting.extendleft(reversed(list(then(item, result))))
                fill()
                yield item, result


class CallGuard(Protocol):
    """Decides whether a site may be called now, and learns from each call (a circuit breaker).

    The portal supplies one shared by all its workers; the client only asks and reports."""

    def admit(self) -> None:
        """Raise SiteUnavailable if the site must not be called now."""

    def record(self, answered: bool) -> None:
        """answered=False: the call timed out or the connection failed."""


class _AlwaysCall:
    def admit(self) -> None:
        pass

    def record(self, answered: bool) -> None:
        pass


# Told of every call: (operation, seconds, the error or None). The portal counts them (jobs/metrics.py);
# the client only reports. An observer must be hashable: it is part of a pooled connection's settings.
Observer = Callable[[str, float, "ArcGISError | None"], None]


class SiteConnection:
    """A pooled keep-alive HTTP session to one site with its TLS, budgets and referer.

    Thread-safe to share: every request passes its own settings and no cookie is kept.
    One instance exists per distinct configuration (see for_settings). Reads (GET) get a
    short budget, operations (POST) a longer one: a cancel may take ArcGIS a while.
    """

    _instances: OrderedDict[tuple, SiteConnection] = OrderedDict()
    _instances_lock = threading.Lock()
    _max_instances = 64  # sites whose settings changed leave old pools behind: forget the least used

    def __init__(
        self,
        admin_url: str,
        *,
        token_url: str | None = None,
        referer: str | None = None,
        verify: bool | str = True,
        timeout: tuple[float, float] = (3.0, 10.0),
        action_timeout: float = 30.0,
        guard: CallGuard | None = None,
        observer: Observer | None = None,
        pool_size: int = 32,
    ):
        self.admin_url = admin_url.rstrip("/")
        self.token_url = token_url
        self.referer = referer
        self.verify = verify
        self.timeout = timeout
        self.action_timeout = action_timeout
        self.guard = guard or _AlwaysCall()
        self.observer = observer
        parts = urlsplit(self.admin_url)
        self.host = parts.netloc
        self.origin = f"{parts.scheme}://{parts.netloc}"
        session = requests.Session()
        # The site's own CA bundle or insecure choice must hold, whatever REQUESTS_CA_BUNDLE
        # says; and no .netrc credentials or environment proxies may join the requests.
        session.trust_env = False
        session.cookies.set_policy(_RejectAllCookies())
        # No connect retries: a refused connection fails at once anyway, and retrying a
        # connect timeout would hold the worker for several timeouts instead of one.
        retry = _GetRetry(
            total=2,
            connect=0,
            read=2,
            status=2,
            other=0,
            backoff_factor=0.1,
            status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=retry)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self.session = session

    @classmethod
    def for_settings(cls, **settings: Any) -> SiteConnection:
        key = tuple(sorted(settings.items()))
        with cls._instances_lock:
            connection = cls._instances.get(key)
            if connection is None:
                connection = cls._instances[key] = cls(**settings)
                while len(cls._instances) > cls._max_instances:
                    cls._instances.popitem(last=False)  # closed once no request holds it
            cls._instances.move_to_end(key)
            return connection

    def __repr__(self) -> str:
        return f"<SiteConnection {self.admin_url}>"

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        params: dict | None = None,
        max_bytes: int = 0,
        operation: str = "other",
    ) -> Any:
        """One call; returns the decoded JSON body or raises an ArcGISError. The observer, if any, is told
        how long it took and how it failed.

        With `max_bytes`, the answer is read as it comes and given up (ResponseTooLarge) beyond that
        many bytes, decompressed, or when it is not complete within three read timeouts."""
        if self.observer is None:
            return self._request(method, url, token, params, max_bytes)
        started = time.monotonic()
        error = None
        try:
            return self._request(method, url, token, params, max_bytes)
        except ArcGISError as exc:
            error = exc
            raise
        finally:
            try:
                self.observer(operation, time.monotonic() - started, error)
            except Exception:  # counting must never break a call
                log.exception("the upstream observer failed")

    def _request(self, method: str, url: str, token: str | None, params: dict | None, max_bytes: int) -> Any:
        params = {**(params or {}), "f": "json"}
        headers = {"Accept": "application/json"}
        if self.referer:
            headers["Referer"] = self.referer
        if method == "GET":
            if token:
                headers["X-Esri-Authorization"] = f"Bearer {token}"
            send = {"params": params}
            timeout = self.timeout
        else:
            send = {"data": {**params, "token": token} if token else params}
            timeout = (self.timeout[0], self.action_timeout)
        if isinstance(self.verify, str) and not os.path.exists(self.verify):
            # requests would raise a bare OSError for it.
            raise TLSFailure(f"{self.host}: the site's CA bundle file is missing.")  # its path is nobody's business
        self.guard.admit()
        content = None
        try:
            response = self.session.request(
                method,
                url,
                headers=headers,
                timeout=timeout,
                verify=self.verify,
                # A redirect could hand the token header to another host; ArcGIS never needs one.
                allow_redirects=False,
                stream=bool(max_bytes),
                **send,
            )
            if max_bytes:
                content = self._read_capped(response, max_bytes, timeout[1])
        except ResponseTooLarge:
            self.guard.record(answered=True)
            raise
        except UpstreamTimeout:
            self.guard.record(answered=False)
            raise
        except requests.exceptions.SSLError as exc:
            raise TLSFailure(
                f"{self.host}: the server's TLS certificate could not be verified ({_reason(exc)})."
            ) from None
        except requests.exceptions.ConnectTimeout:
            self.guard.record(answered=False)
            raise UpstreamTimeout(f"{self.host} did not accept a connection within {timeout[0]:g} s.") from None
        except requests.exceptions.ReadTimeout:
            self.guard.record(answered=False)
            raise UpstreamTimeout(
                f"{self.host} did not answer within {timeout[1]:g} s.", ambiguous=method != "GET"
            ) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema):
            raise UpstreamUnavailable(f"{url} is not a usable http(s) address.") from None
        except requests.exceptions.RequestException as exc:
            self.guard.record(answered=False)
            refused = _caused_by(exc, NewConnectionError, ConnectionRefusedError)
            what = "refused the connection" if refused else "closed the connection without answering"
            raise UpstreamUnavailable(f"{self.host} {what}.", ambiguous=method != "GET" and not refused) from None
        self.guard.record(answered=True)
        try:
            return self._decode(response, content)
        except (MalformedResponse, UpstreamUnavailable) as exc:
            # A garbled answer or a proxy's 5xx page may follow a POST the server carried out.
            if method != "GET" and (isinstance(exc, MalformedResponse) or response.status_code >= 500):
                exc.ambiguous = True
            raise

    def _read_capped(self, response: requests.Response, max_bytes: int, read_timeout: float) -> bytes:
        """A streamed answer's body, at most `max_bytes` once decompressed; the connection is dropped beyond."""
        deadline = time.monotonic() + 3 * read_timeout
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise ResponseTooLarge(
                        f"{self.host} answered with more than {max_bytes // 1024:,} KiB; the portal reads no more "
                        "than that here."
                    )
                if time.monotonic() > deadline:
                    raise UpstreamTimeout(f"{self.host} did not finish its answer within {3 * read_timeout:g} s.")
                chunks.append(chunk)
        except requests.exceptions.ConnectionError as exc:
            if _caused_by(exc, ReadTimeoutError):  # while streaming, requests wraps a read timeout like this
                raise UpstreamTimeout(f"{self.host} did not answer within {read_timeout:g} s.") from None
            raise
        finally:
            response.close()
        return b"".join(chunks)

    def _decode(self, response: requests.Response, content: bytes | None = None) -> Any:
        status = response.status_code
        try:
            body = response.json() if content is None else json.loads(content)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            body = None
        if isinstance(body, dict):
            error = _error_from_body(body)
            if error is not None:
                raise error
            if status == 200:
                return body
        reason = f"HTTP {status} {response.reason or ''}".strip()
        if status == 200:
            looks_html = "html" in response.headers.get("Content-Type", "")
            if looks_html:
                raise UpstreamUnavailable(f"{self.host} answered with an HTML page instead of ArcGIS JSON.")
            raise MalformedResponse(f"{self.host} answered with something that is not ArcGIS JSON.")
        if status == 404:
            raise NotFound(f"{self.host} answered {reason}: check the site's admin URL.", code=404)
        if status in (401, 403):
            raise Forbidden(f"{self.host} answered {reason}.", code=status)
        if 300 <= status < 400:
            raise UpstreamUnavailable(f"{self.host} answered with a redirect ({reason}); check the site's admin URL.")
        raise UpstreamUnavailable(f"{self.host} answered {reason} instead of ArcGIS JSON.", code=status)


def _caused_by(exc: BaseException, *kinds: type[BaseException]) -> bool:
    seen = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen or current is None:
            continue
        seen.add(id(current))
        if isinstance(current, kinds):
            return True
        stack += [current.__cause__, current.__context__, *(a for a in current.args if isinstance(a, BaseException))]
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
    return False


def _reason(exc: BaseException) -> str:
    text = str(exc)
    match = re.search(r"certificate verify failed: ([^(\]]+)", text) or re.search(r"hostname [^)\]]+", text)
    if match:
        return match.group(match.lastindex or 0).strip().rstrip(".")
    return "TLS handshake failed"


# --- the Administrator API ----------------------------------------------------------


class AdminClient:
    """The Administrator API of one site, acting with one operator's token."""

    def __init__(self, connection: SiteConnection, token: str | None = None):
        self.connection = connection
        self._token = token

    def __repr__(self) -> str:
        return f"<AdminClient {self.connection.admin_url} token={'set' if self._token else 'none'}>"

    def _get(self, operation: str, path: str, **params: Any) -> Any:
        return self.connection.request("GET", self._url(path), token=self._token, params=params, operation=operation)

    def _post(self, operation: str, path: str, **params: Any) -> Any:
        return self.connection.request("POST", self._url(path), token=self._token, params=params, operation=operation)

    def _url(self, path: str) -> str:
        return f"{self.connection.admin_url}/{path}" if path else self.connection.admin_url

    @staticmethod
    def _jobs(service: ServiceRef, job_id: str | None = None) -> str:
        path = f"services/{service.admin_path}/jobs"
        return f"{path}/{quote(validate_job_id(job_id), safe='')}" if job_id is not None else path

    # Reading

    def check_root(self) -> dict:
        """The admin root; refuses a server whose resources lack 'services', as Esri's client does."""
        body = self._get("root", "")
        if "services" not in (body.get("resources") or []):
            raise MalformedResponse(f"{self.connection.host} is not an ArcGIS Server admin root (no 'services').")
        return body

    def list_folders(self) -> tuple[list[str], list[Service]]:
        """The folder names and the root folder's services."""
        body = self._get("services", "services")
        folders = [f for f in body.get("folders") or [] if isinstance(f, str)]
        return folders, _services(body.get("services"))

    def list_services(self, limit: int = 16) -> list[Service]:
        """Every service of the site: the root folder, then all folders fetched concurrently."""
        folders, services = self.list_folders()
        # Folders whose names the portal could not address are left out rather than failing the site.
        folders = [f for f in folders if _NAME.fullmatch(f)]
        results = run_concurrently(
            lambda f: _services(self._get("services", f"services/{quote(f, safe='')}").get("services")), folders, limit
        )
        for folder, result in zip(folders, results, strict=True):
            if isinstance(result, ArcGISError):
                raise type(result)(f"Folder {folder}: {result.message}", code=result.code, messages=result.messages)
            services += result
        return services

    def list_gp_services(self, limit: int = 16) -> list[Service]:
        return [
            s
            for s in self.list_services(limit)
            if s.is_gp and _NAME.fullmatch(s.name) and (not s.folder or _NAME.fullmatch(s.folder))
        ]

    def query_jobs(
        self,
        service: ServiceRef,
        *,
        status: str | None = None,
        username: str | None = None,
        machine: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        start: int = 1,
        number: int = 50,
    ) -> JobPage:
        if status and status not in STATUSES:
            raise InvalidName(f"Unknown job status {status!r}.")
        body = self._get(
            "query",
            f"{self._jobs(service)}/query",
            jobStatus=status or "",
            userName=username or "",
            machineName=machine or "",
            startTime=_ms(start_time),
            endTime=_ms(end_time),
            start=max(int(start), 1),
            number=max(int(number), 1),
        )
        results = body.get("results") or {}
        if isinstance(results, dict):
            jobs = [Job.from_json(data, job_id) for job_id, data in results.items()]
        elif isinstance(results, list):
            jobs = [Job.from_json(data) for data in results]
        else:
            raise MalformedResponse("The server's job list is neither an object nor a list.")
        # Jobs whose IDs the portal could not address are left out rather than failing the page.
        jobs = [j for j in jobs if _JOB_ID.fullmatch(j.job_id)]
        # Newest first, whatever order the server used.
        jobs.sort(key=lambda j: j.submitted or datetime.min.replace(tzinfo=UTC), reverse=True)
        next_start = _as_int(body.get("nextStart"))
        return JobPage(
            jobs=jobs,
            total=_as_int(body.get("total")) or 0,
            start=_as_int(body.get("start")) or start,
            number=number,
            next_start=next_start if next_start and next_start > 0 else None,
        )

    def get_job(self, service: ServiceRef, job_id: str) -> Job:
        job = Job.from_json(self._get("job", self._jobs(service, job_id)), job_id)
        if job.job_id != job_id:
            raise MalformedResponse(f"{self.connection.host} answered with another job than {job_id}.")
        return job

    # A job's page in the Services Directory (the REST API): never followed as ArcGIS gives it

    def job_page_url(self, service: ServiceRef, job: Job) -> str:
        """The job's Services Directory page, on the site's own scheme, host and port.

        ArcGIS gives it as the job's `url`; whoever answers for the site could point that anywhere. It is
        used only when it is exactly `<scheme>://<site's host:port>/<instance>/rest/services/[<folder>/]<name>
        /GPServer/<task>/jobs/<jobId>` for this service and job (no encoding, query, fragment or credentials);
        anything else raises UnsafeJobURL (NoJobPage when there is none), and nothing is sent."""
        job_id = validate_job_id(job.job_id)
        url = job.url
        if not url:
            raise NoJobPage(f"ArcGIS names no Services Directory page for job {job_id}.")
        if not isinstance(url, str) or len(url) > MAX_JOB_URL_CHARS or not _PLAIN_URL.fullmatch(url):
            raise UnsafeJobURL(
                f"ArcGIS gave job {job_id} a page address with characters a job's page never has (encoding, a "
                "query, a fragment, credentials or spaces); the portal sent nothing to it."
            )
        site = self.connection.admin_url
        if not same_origin(url, site):
            raise UnsafeJobURL(
                f"ArcGIS gave job {job_id} a page on another address ({_origin_text(url)}) than the site's own "
                f"({_origin_text(site)}); the portal reads job pages only on the site's own address and sent nothing."
            )
        instance = urlsplit(site).path.rstrip("/").removesuffix("/admin")
        folder = f"{service.folder}/" if service.folder else ""
        expected = (  # ArcGIS's instance, folder and service names are case-insensitive; a job ID is not
            f"(?i:{re.escape(f'{instance}/rest/services/{folder}{service.name}/GPServer/')})"
            + r"[A-Za-z0-9_]{1,120}"
            + re.escape(f"/jobs/{job_id}")
        )
        path = urlsplit(url).path
        if not re.fullmatch(expected, path):
            raise UnsafeJobURL(
                f"ArcGIS gave job {job_id} a page address that is not its Services Directory page under "
                f"{instance}/rest/services/{folder}{service.name}; the portal sent nothing to it."
            )
        return f"{self.connection.origin}{path}"

    def job_details(self, service: ServiceRef, job: Job) -> JobDetails:
        """The job's messages, progress and parameter names, from its (checked) Services Directory page."""
        url = self.job_page_url(service, job)
        body = self.connection.request(
            "GET",
            url,
            token=self._token,
            params={"returnMessages": "true"},
            max_bytes=MAX_JOB_PAGE_BYTES,
            operation="restJob",
        )
        return JobDetails.from_json(body, job.job_id, url)

    def job_parameter(
        self, service: ServiceRef, job: Job, kind: str, name: str, max_bytes: int = MAX_PARAMETER_BYTES
    ) -> JobParameter:
        """One input (`kind` "inputs") or result ("results") of the job, with its value (of at most `max_bytes`)."""
        if kind not in PARAMETER_KINDS:
            raise InvalidName("A job's parameter is one of its inputs or results.")
        validate_name(name, "parameter name")
        url = f"{self.job_page_url(service, job)}/{kind}/{name}"
        body = self.connection.request(
            "GET", url, token=self._token, max_bytes=min(max_bytes, MAX_PARAMETER_BYTES), operation="restJobParam"
        )
        return JobParameter.from_json(body, kind, name)

    def job_statistics(self, service: ServiceRef) -> JobStatistics:
        body = self._post("statistics", f"{self._jobs(service)}/statistics")
        return JobStatistics(**{k: _as_int(body.get(k)) or 0 for k in ("total", "succeeded", "failed", "cancelled")})

    # Operations (POST, token in the body, never retried)

    def cancel_job(self, service: ServiceRef, job_id: str) -> None:
        self._expect_success(self._post("cancel", f"{self._jobs(service, job_id)}/cancel"))

    def delete_job(self, service: ServiceRef, job_id: str) -> None:
        self._expect_success(self._post("delete", f"{self._jobs(service, job_id)}/delete"))

    def purge_queue(self, service: ServiceRef) -> None:
        self._expect_success(self._post("purgeQueue", f"{self._jobs(service)}/purgeQueue"))

    def _expect_success(self, body: dict) -> None:
        if body.get("status") != "success":
            raise MalformedResponse(f"{self.connection.host} answered neither success nor an error.")

    # Tokens

    def generate_token(self, username: str, password: str, *, expiration_minutes: int = 60) -> Token:
        """A token for the user: from the site's token URL if set, else the admin endpoint,
        else the token service that /rest/info names."""
        connection = self.connection
        url = connection.token_url or self._url("generateToken")
        try:
            return self._request_token(url, username, password, expiration_minutes)
        except NotFound:
            if connection.token_url:
                raise
        return self._request_token(self.discover_token_url(), username, password, expiration_minutes)

    def discover_token_url(self) -> str:
        """The token service named by /rest/info (a site's admin root ends in /admin)."""
        base = self.connection.admin_url.removesuffix("/admin")
        body = self.connection.request("GET", f"{base}/rest/info", operation="info")
        auth = body.get("authInfo")
        url = auth.get("tokenServicesUrl") if isinstance(auth, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise NotFound(f"{self.connection.host} does not name a token service in /rest/info.")
        if url.startswith("http://") and self.connection.admin_url.startswith("https://"):
            # An https site must not send the operator's password across the network in clear text.
            raise TLSFailure(
                f"{self.connection.host} names a token service over plain http; refusing to send a password."
            )
        if _origin(url) != _origin(self.connection.admin_url):
            # Whoever can change /rest/info's answer must not be able to collect operators' passwords.
            raise UntrustedTokenService(
                f"{self.connection.host} names a token service at another address ({_origin_text(url)}); the "
                "portal sends passwords only to the site's own address. A site admin can set the site's token "
                "URL to use that service."
            )
        return url

    def _request_token(self, url: str, username: str, password: str, expiration_minutes: int) -> Token:
        params = {"username": username, "password": password, "expiration": int(expiration_minutes)}
        if self.connection.referer:
            params |= {"client": "referer", "referer": self.connection.referer}
        else:
            params["client"] = "requestip"
        body = self.connection.request("POST", url, params=params, operation="generateToken")
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise MalformedResponse(f"{self.connection.host} answered without a token.")
        return Token(token=token, expires=_datetime_from_ms(body.get("expires")))


def _services(items: Any) -> list[Service]:
    services = []
    for item in items or []:
        if not isinstance(item, dict) or not item.get("serviceName"):
            continue
        folder = str(item.get("folderName") or "").strip("/")  # "/" and "" both mean the root
        services.append(
            Service(
                folder=folder,
                name=str(item["serviceName"]),
                type=str(item.get("type") or ""),
                description=str(item.get("description") or ""),
            )
        )
    return services


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of a URL, with the scheme's default port filled in."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a number: matches no origin
        port = -1
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or {"https": 443, "http": 80}.get(scheme)


def same_origin(url: str, other: str) -> bool:
    """Whether two addresses share scheme, host and port (a scheme's default port filled in)."""
    try:
        return _origin(url) == _origin(other)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 host
        return False


def _origin_text(url: str) -> str:
    try:
        scheme, host, port = _origin(url)
    except ValueError:
        return "an address that cannot be read"
    return f"{scheme}://{host}:{port}"
