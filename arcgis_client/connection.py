"""The pooled keep-alive connection to one site: TLS, budgets, the referer, a guard and an observer per call.

Tokens travel in the POST body on POSTs and in the X-Esri-Authorization header on GETs, never in a URL. POSTs are
never retried: after an ambiguous failure (reset or timeout once the request may have been sent) the error says so
and the caller re-reads the job."""

from __future__ import annotations

import http.cookiejar
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self
from urllib.parse import urlencode, urlsplit
from urllib.request import Request

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

from arcgis_client._json import shape_problem
from arcgis_client.errors import (
    ArcGISError,
    Forbidden,
    MalformedResponse,
    NotFound,
    ResponseTooLarge,
    TLSFailure,
    UpstreamTimeout,
    UpstreamUnavailable,
    error_from_body,
)

if TYPE_CHECKING:
    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

log = logging.getLogger(__name__)

# Skipping TLS verification is a site's explicit, visible setting; urllib3 would otherwise
# warn on every single request to such a site.
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


def _encoded(params: dict) -> str:
    """Parameters as requests encodes a dict of them (None left out, a list's items each given), done here: requests
    first asks whether the dict is a file (an isinstance() against a runtime-checkable Protocol, which on Python 3.11
    cost more than the rest of preparing the request), and a string it sends as it is."""
    pairs = []
    for key, values in params.items():
        for value in values if isinstance(values, list | tuple) else [values]:
            if value is not None:
                pairs.append((key, value))
    return urlencode(pairs)


class _RejectAllCookies(http.cookiejar.DefaultCookiePolicy):
    """A session is shared by every operator: a cookie set for one must never ride along for another."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Request) -> bool:
        return False


class _GetRetry(Retry):
    """Retries GETs on connection errors and 502/503/504, never on a read timeout:
    a stalled server must cost one timeout, not three."""

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if isinstance(error, ReadTimeoutError):
            raise error
        return super().increment(method, url, response, error, _pool, _stacktrace)


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


# Told of every call: (operation, seconds, the error or None). The portal counts them (jobs/counters.py);
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
        name: str | None = None,
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
        # How errors name the server to an operator: the site as they know it, or its host and port.
        self.label = name or self.host
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
        self._adapter = adapter
        # Every call's headers but the token's: the session's defaults (user agent, compression), JSON, the referer.
        self._headers = {**session.headers, "Accept": "application/json"}
        if referer:
            self._headers["Referer"] = referer

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
        headers = self._headers
        query: dict[str, Any] | None = None  # GET: in the URL
        form: dict[str, Any] | None = None  # POST: in the body
        if method == "GET":
            if token:
                headers = {**headers, "X-Esri-Authorization": f"Bearer {token}"}
            query = params
            timeout = self.timeout
        else:
            form = {**params, "token": token} if token else params
            timeout = (self.timeout[0], self.action_timeout)
        if isinstance(self.verify, str) and not os.path.exists(self.verify):
            # requests would raise a bare OSError for it.
            raise TLSFailure(f"{self.label}: the site's CA bundle file is missing.")  # its path is nobody's business
        self.guard.admit()
        try:
            response = self._adapter.send(
                self._prepared(method, url, headers, query, form),
                stream=bool(max_bytes),
                timeout=timeout,
                verify=self.verify,
                cert=None,
                proxies={},
            )
            # Read here, where a connection that breaks off meanwhile is understood.
            content = self._read_capped(response, max_bytes, timeout[1]) if max_bytes else response.content
        except ResponseTooLarge:
            self.guard.record(answered=True)
            raise
        except UpstreamTimeout:
            self.guard.record(answered=False)
            raise
        except requests.exceptions.SSLError as exc:
            raise TLSFailure(
                f"{self.label}: the server's TLS certificate could not be verified ({_reason(exc)})."
            ) from None
        except requests.exceptions.ConnectTimeout:
            self.guard.record(answered=False)
            raise UpstreamTimeout(f"{self.label} did not accept a connection within {timeout[0]:g} s.") from None
        except requests.exceptions.ReadTimeout:
            self.guard.record(answered=False)
            raise UpstreamTimeout(
                f"{self.label} did not answer within {timeout[1]:g} s.", ambiguous=method != "GET"
            ) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema):
            raise UpstreamUnavailable(f"{url} is not a usable http(s) address.") from None
        except requests.exceptions.RequestException as exc:
            self.guard.record(answered=False)
            refused = _caused_by(exc, NewConnectionError, ConnectionRefusedError)
            what = "refused the connection" if refused else "closed the connection without answering"
            raise UpstreamUnavailable(f"{self.label} {what}.", ambiguous=method != "GET" and not refused) from None
        self.guard.record(answered=True)
        try:
            return self._decode(response, content)
        except (MalformedResponse, UpstreamUnavailable) as exc:
            # A garbled answer or a proxy's 5xx page may follow a POST the server carried out.
            if method != "GET" and (isinstance(exc, MalformedResponse) or response.status_code >= 500):
                exc.ambiguous = True
            raise

    @staticmethod
    def _prepared(
        method: str, url: str, headers: dict[str, str | bytes], query: dict | None, form: dict | None
    ) -> requests.PreparedRequest:
        """The request as requests' session would prepare it, without its merging of session settings, cookies and
        hooks the portal never uses: no cookie is ever sent or kept, no redirect followed (a redirect could hand
        the token header to another host; ArcGIS never needs one), no proxy or .netrc from the environment."""
        prepared = requests.PreparedRequest()
        prepared.prepare_method(method)
        prepared.prepare_url(url, _encoded(query) if query else None)
        if form is None:
            prepared.prepare_headers(headers)
            prepared.prepare_body(None, None)
        else:
            prepared.prepare_headers({**headers, "Content-Type": "application/x-www-form-urlencoded"})
            prepared.prepare_body(_encoded(form).encode("ascii"), None)
        return prepared

    def _read_capped(self, response: requests.Response, max_bytes: int, read_timeout: float) -> bytes:
        """A streamed answer's body, at most `max_bytes` once decompressed; the connection is dropped beyond."""
        deadline = time.monotonic() + 3 * read_timeout
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise ResponseTooLarge(
                        f"{self.label} answered with more than {max_bytes // 1024:,} KiB; the portal reads no more "
                        "than that here."
                    )
                if time.monotonic() > deadline:
                    raise UpstreamTimeout(f"{self.label} did not finish its answer within {3 * read_timeout:g} s.")
                chunks.append(chunk)
        except requests.exceptions.ConnectionError as exc:
            if _caused_by(exc, ReadTimeoutError):  # while streaming, requests wraps a read timeout like this
                raise UpstreamTimeout(f"{self.label} did not answer within {read_timeout:g} s.") from None
            raise
        finally:
            response.close()
        return b"".join(chunks)

    def _decode(self, response: requests.Response, content: bytes | None = None) -> Any:
        status = response.status_code
        raw = response.content if content is None else content
        if problem := shape_problem(raw):
            raise MalformedResponse(f"{self.host} answered with more than an ArcGIS answer holds ({problem}).")
        try:
            try:
                body = json.loads(raw)
            except UnicodeDecodeError:  # not UTF-8: the charset the server declared
                body = json.loads(response.text)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            body = None
        if isinstance(body, dict):
            error = error_from_body(body)
            if error is not None:
                raise error
            if status == 200:
                return body
        reason = f"HTTP {status} {response.reason or ''}".strip()
        if status == 200:
            looks_html = "html" in response.headers.get("Content-Type", "")
            if looks_html:
                raise UpstreamUnavailable(f"{self.label} answered with an HTML page instead of ArcGIS JSON.")
            raise MalformedResponse(f"{self.label} answered with something that is not ArcGIS JSON.")
        if status == 404:
            raise NotFound(f"{self.label} answered {reason}: check the site's admin URL.", code=404)
        if status in (401, 403):
            raise Forbidden(f"{self.label} answered {reason}.", code=status)
        if 300 <= status < 400:
            raise UpstreamUnavailable(f"{self.label} answered with a redirect ({reason}); check the site's admin URL.")
        raise UpstreamUnavailable(f"{self.label} answered {reason} instead of ArcGIS JSON.", code=status)


def _caused_by(exc: BaseException, *kinds: type[BaseException]) -> bool:
    seen = set()
    stack: list[BaseException | None] = [exc]
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


def origin(url: str) -> tuple[str, str, int | None]:
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
        return origin(url) == origin(other)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 host
        return False


def origin_text(url: str) -> str:
    try:
        scheme, host, port = origin(url)
    except ValueError:
        return "an address that cannot be read"
    return f"{scheme}://{host}:{port}"
