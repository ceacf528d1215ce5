"""A small JSON API under /_simulator/ to drive a simulator running in another process.

Not part of ArcGIS: plain JSON, real HTTP status codes, no token, never logged as a request.
It drives a `Controlled` site (the pieces it changes), not the Simulator class, which is the layer above.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from .clock import Clock, ManualClock
from .faults import Faults
from .requestlog import RequestLog
from .state import SiteState
from .token_store import TokenStore


class Controlled(Protocol):
    """What the control API reads and changes."""

    clock: Clock
    state: SiteState
    faults: Faults
    requests: RequestLog
    tokens: TokenStore

    def describe(self) -> dict: ...

    def issue_token(self, username: str = ..., referer: str | None = None, expiration_minutes: int = 60) -> str: ...


ENDPOINTS = (
    "GET state",
    "GET faults",
    "POST faults",
    "DELETE faults",
    "POST clock/advance",
    "POST services",
    "POST jobs",
    "POST jobs/status",
    "POST jobs/cleanup",
    "GET requests",
    "DELETE requests",
    "POST tokens",
    "DELETE tokens",
)


def handle(sim: Controlled, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, dict]:
    endpoint = f"{method} {'/'.join(part for part in path.split('/') if part)[len('_simulator/') :]}"
    try:
        data = json.loads(body) if body.strip() else {}
        if not isinstance(data, dict):
            raise TypeError("expected a JSON object")
        return _handle(sim, endpoint, query, data)
    except KeyError as error:
        return 404, {"error": str(error.args[0])}
    except (TypeError, ValueError) as error:
        return 400, {"error": str(error)}


def _handle(sim: Controlled, endpoint: str, query: dict[str, str], data: dict) -> tuple[int, dict]:
    if endpoint == "GET state":
        return 200, sim.describe()
    if endpoint == "GET faults":
        return 200, {"faults": [fault.to_json() for fault in sim.faults.active()]}
    if endpoint == "POST faults":
        return 201, {"fault": sim.faults.set(**data).to_json()}
    if endpoint == "DELETE faults":
        sim.faults.clear(data.get("kind") or query.get("kind"))
        return 200, {"faults": [fault.to_json() for fault in sim.faults.active()]}
    if endpoint == "POST clock/advance":
        if not isinstance(sim.clock, ManualClock):
            return 409, {"error": "the clock is not manual; start the simulator with a ManualClock"}
        return 200, {"now": sim.clock.advance(float(_field(data, "seconds"))).isoformat()}
    if endpoint == "POST services":
        return 201, {"service": sim.state.add_service(**data).key}
    if endpoint == "POST jobs":
        if "durations" in data:
            data["durations"] = tuple(data["durations"])
        job_id = sim.state.add_job(**data)
        return 201, {"jobId": job_id, "job": sim.state.get_job(_field(data, "service"), job_id)}
    if endpoint == "POST jobs/status":
        service, job_id = _field(data, "service"), _field(data, "job_id")
        sim.state.set_status(service, job_id, _field(data, "status"))
        return 200, {"job": sim.state.get_job(service, job_id)}
    if endpoint == "POST jobs/cleanup":
        return 200, {"forgotten": sim.state.forget_finished(_seconds(data, "max_age_seconds"))}
    if endpoint == "GET requests":
        return 200, {"requests": [record.to_json() for record in sim.requests]}
    if endpoint == "DELETE requests":
        sim.requests.clear()
        return 200, {"requests": []}
    if endpoint == "POST tokens":
        return 201, {"token": sim.issue_token(**data)}
    if endpoint == "DELETE tokens":
        sim.tokens.revoke_all()
        return 200, {}
    return 404, {"error": f"no control endpoint {endpoint!r}; try one of: {', '.join(ENDPOINTS)}"}


def _field(data: dict, name: str) -> Any:
    """The JSON value as sent: the simulator's method it goes to checks it."""
    if name not in data:
        raise ValueError(f"missing field {name!r}")
    return data[name]


def _seconds(data: dict, name: str) -> float:
    value = _field(data, name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name!r} must be a number of seconds, 0 or more")
    return float(value)
