"""HTTP(S) plumbing: a threading keep-alive server that logs requests, applies faults, and
hands ArcGIS requests to `api.py` and control requests to the handler it is given.

It serves a `Site` (the pieces it reads per request), not the Simulator class, which is the layer above.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import struct
import sys
import threading
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import parse_qsl, unquote

from . import faults
from .api import ADMIN, Api, ArcGISError, Call, resolve
from .clock import Clock
from .requestlog import Headers, RecordedRequest, RequestLog
from .state import SiteState

JSON_TYPE = "application/json;charset=UTF-8"
BAD_GATEWAY = (
    "<html>\r\n<head><title>{status} Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>{status} Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_QUIET_ERRORS = (ConnectionError, TimeoutError, ssl.SSLError, BrokenPipeError)

# (method, percent-decoded path, query, body) -> (HTTP status, JSON answer), for paths under /_simulator/
ControlHandler = Callable[[str, str, dict[str, str], bytes], tuple[int, dict]]


class Site(Protocol):
    """What the server reads for every request. Read live, so a changed latency applies at once."""

    site: str
    tls: bool
    latency_ms: float
    error_style: str
    clock: Clock
    state: SiteState
    faults: faults.Faults
    requests: RequestLog
    api: Api

    @property
    def base_url(self) -> str: ...


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        site: Site,
        control: ControlHandler,
        ssl_context: ssl.SSLContext | None,
        verbose: bool,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.site = site
        self.control = control
        self.ssl_context = ssl_context
        self.verbose = verbose
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def finish_request(self, request: socket.socket, client_address: tuple) -> None:  # type: ignore[override]
        # Answers go out as headers then body: without this, Nagle's algorithm meets the
        # client's delayed ACK and every response waits ~40 ms.
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        # The TLS handshake happens here, in the connection's own thread, so a slow or
        # failing client never holds up the accept loop.
        request.settimeout(10)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        try:
            super().finish_request(tls, client_address)  # hands the TLS socket to the request handler
        finally:
            self.shutdown_request(tls)

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: tuple) -> None:
        if not isinstance(sys.exc_info()[1], _QUIET_ERRORS):
            super().handle_error(request, client_address)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Wake every thread waiting on a keep-alive connection, so stop() leaves nothing behind."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ArcGIS-Server-Simulator"
    sys_version = ""
    timeout = 300  # idle keep-alive connections are closed after this many seconds
    server: SimulatorHTTPServer

    _was_reset = False

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        if not self._was_reset:
            super().finish()

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_DELETE = do_GET

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _dispatch(self) -> None:
        raw_path, _, raw_query = self.path.partition("?")
        path = unquote(raw_path)
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        body = self._read_body()
        try:
            if path == "/_simulator" or path.startswith("/_simulator/"):
                status, answer = self.server.control(self.command, path, query, body)
                self._send(status, json.dumps(answer).encode(), JSON_TYPE)
            else:
                self._arcgis(self.server.site, raw_path, path, query, body)
        except Exception:  # a bug in the simulator: say so rather than drop the connection
            traceback.print_exc()
            error = ArcGISError(500, "Internal simulator error; see its console.")
            self._send(500, json.dumps(error.to_json(ADMIN)).encode(), JSON_TYPE)

    def _arcgis(self, sim: Site, raw_path: str, path: str, query: dict[str, str], body: bytes) -> None:
        form = self._parse_form(body)
        route = resolve(path, sim.site, sim.state)
        headers = Headers(list(self.headers.items()))
        sim.requests.append(
            RecordedRequest(
                sim.clock.now(),
                self.command,
                path,
                raw_path,
                query,
                form,
                headers,
                self.client_address[0],
                route.operation,
                route.service_key,
            )
        )
        verdict = sim.faults.judge(route.service_key, route.operation)
        delay = sim.latency_ms + verdict.latency_ms
        if delay and self.server.stopping.wait(delay / 1000):
            return self._reset()
        fault = verdict.fault
        kind = fault.kind if fault else None
        if kind == faults.RESET:
            return self._reset()
        if fault is not None and kind == faults.HTML_502:
            status = int(fault.params["status"])
            return self._send(status, BAD_GATEWAY.format(status=status).encode(), "text/html")
        if fault is not None and kind == faults.STALL and self.server.stopping.wait(float(fault.params["seconds"])):
            return self._reset()  # stopped while stalling
        if fault is not None and kind == faults.ANSWER:  # what an odd or malicious server says, whatever was asked
            return self._send(int(fault.params["status"]), json.dumps(fault.params["body"]).encode(), JSON_TYPE)

        call = Call(
            self.command,
            route,
            query,
            form,
            headers,
            self.client_address[0],
            self._base_url(sim),
            expire_tokens=kind == faults.EXPIRE_TOKENS,
        )
        try:
            answer = sim.api.handle(call)
        except ArcGISError as error:
            answer = error.to_json(route.style if sim.error_style == "auto" else sim.error_style)
        pretty = call.params.get("f") == "pjson"
        payload = json.dumps(answer, indent=2 if pretty else None, separators=None if pretty else (",", ":"))
        data = payload.encode()
        if kind == faults.RESET_AFTER:
            return self._reset()
        if kind == faults.MALFORMED_JSON:
            data = data[: len(data) // 2]
        self._send(200, data, JSON_TYPE)

    def _base_url(self, sim: Site) -> str:
        """The site's URL as this client addressed it, so answers point back where it came from."""
        host = self.headers.get("Host")
        if not host:
            return sim.base_url
        return f"{'https' if sim.tls else 'http'}://{host}/{sim.site}"

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _parse_form(self, body: bytes) -> dict[str, str]:
        content_type = self.headers.get("Content-Type", "")
        if not body or not content_type.startswith("application/x-www-form-urlencoded"):
            return {}
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(data)

    def _reset(self) -> None:
        """Drop the connection with a TCP RST and no answer, as a crashing peer or a firewall does."""
        self.close_connection = True
        self._was_reset = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
