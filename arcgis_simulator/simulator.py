"""The Simulator: one fake ArcGIS Server site, started in a background thread.

The top of the package: it builds the state, tokens, faults and request log, and wires them into the
HTTP server and the control API, which know only the pieces they use (their `Site` and `Controlled`).
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Self

from . import control
from .api import ADMIN, REST, Api
from .clock import Clock, ManualClock, SystemClock
from .faults import Faults
from .requestlog import RequestLog
from .scenarios import SCENARIOS
from .server import SimulatorHTTPServer
from .state import Lifecycle, SiteState
from .tls import DEFAULT_HOSTS, generate_certificate, server_context
from .token_store import DEFAULT_USERS, TokenStore, User

_WILDCARDS = {"", "0.0.0.0", "::"}  # noqa: S104 - recognised, not bound to


class Simulator:
    """A faithful, fault-injectable fake of an ArcGIS Server site's Administrator API.

    Use it as a context manager: the server starts on entry (port 0 picks a free port)
    and stops on exit.
    """

    def __init__(
        self,
        scenario: str = "empty",
        *,
        scenario_options: Mapping[str, object] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        cert: str | Path | None = None,
        key: str | Path | None = None,
        cert_dir: str | Path | None = None,
        latency_ms: float = 0,
        users: Iterable[User | str] | None = None,
        clock: Clock | None = None,
        seed: int = 0,
        cancel_delay: float = 2.0,
        error_style: str = "auto",
        site: str = "arcgis",
        max_file_age: float | None = None,
        max_token_minutes: int = 1440,
        lifecycle: Lifecycle | None = None,
        verbose: bool = False,
    ) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}")
        if error_style not in ("auto", ADMIN, REST):
            raise ValueError("error_style must be 'auto', 'admin' or 'rest'")
        if (cert is None) != (key is None):
            raise ValueError("give both cert and key, or neither")
        self.scenario = scenario
        self.host = host
        self.port = port
        self.tls = tls or cert is not None
        self.site = site
        self.latency_ms = latency_ms
        self.error_style = error_style
        self.verbose = verbose
        self.clock: Clock = clock or SystemClock()
        self.users = tuple(u if isinstance(u, User) else User.parse(u) for u in (users or DEFAULT_USERS))
        self.tokens = TokenStore(self.users, self.clock, max_token_minutes)
        chosen = SCENARIOS[scenario]
        self.scenario_options = chosen.check(scenario_options or {})
        # The scenario's own file age unless told otherwise: the demo keeps its past week readable.
        self.max_file_age = chosen.max_file_age if max_file_age is None else max_file_age
        self.state = SiteState(
            self.clock, seed=seed, cancel_delay=cancel_delay, max_file_age=self.max_file_age, lifecycle=lifecycle
        )
        self.faults = Faults()
        self.requests = RequestLog()
        self.api = Api(self.state, self.tokens)
        self.cert_path: Path | None = Path(cert) if cert else None
        self.key_path: Path | None = Path(key) if key else None
        self._cert_dir = cert_dir
        self._temp_dir: tempfile.TemporaryDirectory[str] | None = None
        self._server: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        chosen.build(self.state, seed, **self.scenario_options)

    # -- addresses ------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in _WILDCARDS else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/{self.site}"

    @property
    def admin_url(self) -> str:
        return self.base_url + "/admin"

    @property
    def token_url(self) -> str:
        return self.base_url + "/tokens/generateToken"

    @property
    def control_url(self) -> str:
        return self.base_url.rsplit("/", 1)[0] + "/_simulator"

    # -- running --------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        context = None
        if self.tls:
            if self.cert_path is None:
                self._make_certificate()
            assert self.cert_path is not None and self.key_path is not None
            context = server_context(self.cert_path, self.key_path)
        self._server = SimulatorHTTPServer(
            (self.host, self.port), self, partial(control.handle, self), context, self.verbose
        )
        self.port = self._server.server_address[1]
        self.state.base_url = self.base_url
        # A short poll interval makes stop() quick: tests start a simulator per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="arcgis-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()  # ends stalls and latency waits at once
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._temp_dir is not None:
            self._temp_dir.cleanup()
            self._temp_dir = None
            self.cert_path = self.key_path = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- helpers for tests ----------------------------------------------------------------------------

    def issue_token(self, username: str = "siteadmin", referer: str | None = None, expiration_minutes: int = 60) -> str:
        """A valid token for `username`, without going through generateToken."""
        user = self.tokens.users.get(username)
        if user is None:
            raise KeyError(f"no user {username!r}")
        return self.tokens.issue(user, expiration_minutes, referer=referer).value

    def describe(self) -> dict:
        """A summary of the site, for people and for the control API."""
        return {
            "scenario": self.scenario,
            "scenarioOptions": self.scenario_options,
            "baseUrl": self.base_url,
            "adminUrl": self.admin_url,
            "tokenUrl": self.token_url,
            "certPath": str(self.cert_path) if self.cert_path else None,
            "now": self.clock.now().isoformat(),
            "manualClock": isinstance(self.clock, ManualClock),
            "users": [{"name": user.name, "admin": user.admin} for user in self.users],
            "folders": self.state.folders(),
            "services": [
                {"folder": s.folder, "name": s.name, "type": s.type}
                for folder in ["", *self.state.folders()]
                for s in self.state.services(folder)
            ],
            "jobs": self.state.summary(),
            "faults": [fault.to_json() for fault in self.faults.active()],
            "latencyMs": self.latency_ms,
            "maxFileAgeSeconds": self.max_file_age,
            "requests": len(self.requests),
        }

    def _make_certificate(self) -> None:
        directory = self._cert_dir
        if directory is None:
            self._temp_dir = tempfile.TemporaryDirectory(prefix="arcgis-simulator-")
            directory = self._temp_dir.name
        hosts = list(DEFAULT_HOSTS)
        if self.host not in _WILDCARDS and self.host not in hosts:
            hosts.insert(0, self.host)
        self.cert_path, self.key_path = generate_certificate(directory, hosts)
