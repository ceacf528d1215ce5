"""Where a webhook may be sent, and sending it there: the one door the worker opens to an address a Site admin typed.

A webhook's host is resolved, and every address it resolves to must be public: loopback, link-local, private,
shared, multicast, reserved and unspecified addresses are refused (an IPv4 address inside an IPv6 one counts as
itself), unless the address is in ALERT_WEBHOOK_ALLOWED_NETWORKS. The check is made when a channel is saved and
again for every delivery, and the delivery connects to the very address it checked (the host name is still what TLS
verifies and what the Host header says), so a name that resolves to something else a moment later (DNS rebinding)
reaches nothing new. Proxies, `.netrc` and CA variables from the environment are ignored; one deadline bounds the
whole call, however slowly a receiver drips its answer; and what is recorded is the status code or a fixed phrase,
never what the receiver said.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# What a delivery's record says, and nothing else about the receiver.
PRIVATE = "refused: private address"
UNRESOLVED = "refused: the host name does not resolve"
NOT_HTTPS = "refused: not https"
TIMED_OUT = "timed out"
TLS_ERROR = "TLS error"
NO_CONNECTION = "connection failed"
REDIRECT = "redirects are not followed"


class Refused(Exception):
    """The webhook was not sent, or its receiver did not take it: one of the fixed phrases above, or the status."""


@dataclass(frozen=True)
class Destination:
    """A webhook URL taken apart: where it is checked to go."""

    scheme: str
    host: str  # as the URL names it (what TLS verifies)
    port: int
    netloc: str  # for the Host header
    path: str  # with its query


def destination(url: str) -> Destination:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and settings.ALERT_WEBHOOKS_ALLOW_HTTP):
        raise Refused(NOT_HTTPS)
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:  # a port out of range
        raise Refused(NO_CONNECTION) from None
    if not parts.hostname:
        raise Refused(UNRESOLVED)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(scheme, parts.hostname, port, parts.netloc.rpartition("@")[2], path)


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(network, strict=False) for network in settings.ALERT_WEBHOOK_ALLOWED_NETWORKS]


def _embedded(address: Address) -> Address:
    """An IPv4 address carried inside an IPv6 one (mapped, 6to4, Teredo) is judged as itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return address


def is_allowed(address: Address) -> bool:
    """A public address, or one an administrator allowed (ALERT_WEBHOOK_ALLOWED_NETWORKS)."""
    if any(address in network for network in _allowed_networks()):
        return True
    inner = _embedded(address)
    if any(inner in network for network in _allowed_networks()):
        return True
    return not any(
        (
            inner.is_loopback,
            inner.is_link_local,
            inner.is_private,
            inner.is_multicast,
            inner.is_reserved,
            inner.is_unspecified,
            not inner.is_global,  # shared (100.64/10), documentation, benchmarking… ranges
        )
    )


def resolve(host: str, port: int) -> list[Address]:
    """Every address the host name stands for (an address literal stands for itself)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise Refused(UNRESOLVED) from None
    addresses = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])  # an IPv6 scope is not part of it
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Refused(UNRESOLVED)
    return addresses


def checked_address(target: Destination) -> Address:
    """The address to connect to: the host must resolve, and only to allowed addresses (one bad answer among good
    ones is a refusal: which one a connection would take is not ours to guess)."""
    addresses = resolve(target.host, target.port)
    if not all(is_allowed(address) for address in addresses):
        raise Refused(PRIVATE)
    return addresses[0]


def problem_with(url: str) -> str | None:
    """Why a webhook URL may not be saved, in words; None when it may. A host that does not resolve from here is
    accepted (it may from the worker's network): every delivery checks again."""
    try:
        target = destination(url)
        checked_address(target)
    except Refused as exc:
        if str(exc) == UNRESOLVED:
            return None
        if str(exc) == PRIVATE:
            return (
                "The webhook's host is a private, loopback, link-local or otherwise non-public address: the portal "
                "sends alerts only to public addresses (unless ALERT_WEBHOOK_ALLOWED_NETWORKS allows it)."
            )
        return "Webhook URLs must use https." if str(exc) == NOT_HTTPS else "This webhook URL cannot be reached."
    return None


# --- sending: to the checked address, within one deadline -----------------------------------------------------


class Deadline:
    """One time limit for a whole call: when it passes, the call's connection is shut down, whatever it is waiting
    for (a TLS handshake, an answer dripping a byte at a time)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.passed = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return max(self.ends - time.monotonic(), 0.01)

    def watch(self, sock: socket.socket) -> None:
        # A duplicate of the socket is ours to shut down and close: the connection may close its own at any time.
        with self._lock:
            self._sockets.append(sock.dup())
            if self.passed:
                self._shut(self._sockets[-1])

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with suppress(OSError):  # already closed by its connection
            sock.shutdown(socket.SHUT_RDWR)

    def _expire(self) -> None:
        with self._lock:
            self.passed = True
            for sock in self._sockets:
                self._shut(sock)

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()


class _WatchedHTTPConnection(HTTPConnection):
    def __init__(self, *args, deadline: Deadline, **kwargs):
        self.deadline = deadline
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self.deadline.watch(sock)
        return sock


class _WatchedHTTPSConnection(HTTPSConnection):
    def __init__(self, *args, deadline: Deadline, **kwargs):
        self.deadline = deadline
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self.deadline.watch(sock)
        return sock


class _PinnedAdapter(HTTPAdapter):
    """Sends to the checked address: the connection is made to it, while TLS verifies the host name (SNI and the
    certificate) and the Host header names the host as the URL does."""

    def __init__(self, target: Destination, address: Address, deadline: Deadline):
        super().__init__(max_retries=0)
        if target.scheme == "https":
            self.pool: HTTPConnectionPool = HTTPSConnectionPool(
                str(address),
                target.port,
                maxsize=1,
                server_hostname=target.host,
                assert_hostname=target.host,
                deadline=deadline,
            )
            self.pool.ConnectionCls = _WatchedHTTPSConnection
        else:
            self.pool = HTTPConnectionPool(str(address), target.port, maxsize=1, deadline=deadline)
            self.pool.ConnectionCls = _WatchedHTTPConnection

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        return self.pool

    def close(self) -> None:
        self.pool.close()
        super().close()


@contextmanager
def _pinned_session(target: Destination, address: Address, deadline: Deadline) -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # no proxy variables, no .netrc, no CA bundle from the environment
    adapter = _PinnedAdapter(target, address, deadline)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    try:
        yield session
    finally:
        session.close()


def post(url: str, body: dict) -> int:
    """POST the JSON body to the webhook and return the receiver's status (2xx); raises Refused with a fixed
    phrase or the status otherwise. Redirects are never followed."""
    target = destination(url)
    address = checked_address(target)
    seconds = float(settings.ALERT_WEBHOOK_TIMEOUT_SECONDS)
    data = json.dumps(body).encode()
    headers = {"Host": target.netloc, "Content-Type": "application/json", "User-Agent": "gp-jobs-portal"}
    with Deadline(seconds) as deadline, _pinned_session(target, address, deadline) as session:
        try:
            response = session.post(
                f"{target.scheme}://{target.netloc}{target.path}",
                data=data,
                headers=headers,
                timeout=(deadline.remaining(), deadline.remaining()),
                allow_redirects=False,
                stream=True,
                verify=settings.ALERT_WEBHOOK_CA_BUNDLE or True,
            )
            status = response.status_code
            response.close()  # the answer's body is never read: it is not the portal's to record
        except requests.exceptions.SSLError:
            raise Refused(TIMED_OUT if deadline.passed else TLS_ERROR) from None
        except requests.exceptions.Timeout:
            raise Refused(TIMED_OUT) from None
        except requests.exceptions.RequestException:
            raise Refused(TIMED_OUT if deadline.passed else NO_CONNECTION) from None
        if deadline.passed:
            raise Refused(TIMED_OUT)
    if 200 <= status < 300:
        return status
    if 300 <= status < 400:
        raise Refused(f"HTTP {status}: {REDIRECT}")
    raise Refused(f"HTTP {status}")
