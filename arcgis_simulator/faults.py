"""Faults a test can switch on: what proxies, networks and overloaded servers do to requests."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

LATENCY = "latency"  # params: ms
HTML_502 = "html_502"  # params: status (default 502)
RESET = "reset"  # connection reset before the request is processed
RESET_AFTER = "reset_after"  # the operation is performed, then the connection is reset unanswered
STALL = "stall"  # params: seconds (default 600); no answer until then
MALFORMED_JSON = "malformed_json"  # the operation is performed, the JSON answer is truncated
EXPIRE_TOKENS = "expire_tokens"  # every token is treated as expired (498)
ANSWER = "answer"  # params: body (a JSON value), status (default 200); sent instead of performing the operation

KINDS = (LATENCY, HTML_502, RESET, RESET_AFTER, STALL, MALFORMED_JSON, EXPIRE_TOKENS, ANSWER)
_PARAMS = {LATENCY: {"ms"}, HTML_502: {"status"}, STALL: {"seconds"}, ANSWER: {"body", "status"}}
_DEFAULTS: dict[str, dict[str, object]] = {
    HTML_502: {"status": 502},
    STALL: {"seconds": 600.0},
    ANSWER: {"status": 200},
}

OPERATIONS = (
    "root",
    "info",
    "generateToken",
    "services",
    "service",
    "jobs",
    "query",
    "statistics",
    "job",
    "cancel",
    "delete",
    "purgeQueue",
    # a job's page in the Services Directory: the page, one of its inputs or results, its own cancel
    "restJob",
    "restJobParam",
    "restJobCancel",
)
# Operations that do not look at a token, so expire_tokens neither matches nor counts them.
_TOKENLESS = frozenset({"info", "generateToken"})


@dataclass
class Fault:
    kind: str
    service: str | None = None  # "Folder/Name", or "Name" at the root
    operation: str | None = None
    after: int = 0  # let this many matching requests through first
    count: int | None = None  # then apply it this many times (None: until cleared)
    params: dict = field(default_factory=dict)
    seen: int = 0
    applied: int = 0

    def matches(self, service: str | None, operation: str | None) -> bool:
        if self.kind == EXPIRE_TOKENS and operation in _TOKENLESS:
            return False
        return (self.service is None or self.service == service) and (
            self.operation is None or self.operation == operation
        )

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "service": self.service,
            "operation": self.operation,
            "after": self.after,
            "count": self.count,
            "params": self.params,
            "seen": self.seen,
            "applied": self.applied,
        }


@dataclass(frozen=True)
class Verdict:
    """What to do to one request: extra latency, plus at most one disruptive fault."""

    latency_ms: float = 0.0
    fault: Fault | None = None


class Faults:
    """The active faults of a simulator; safe to change while requests are in flight."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def set(
        self,
        kind: str,
        service: str | None = None,
        operation: str | None = None,
        after: int = 0,
        count: int | None = None,
        **params: object,
    ) -> Fault:
        """Switch a fault on; it replaces any fault of the same kind with the same filters."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {', '.join(KINDS)}")
        if operation is not None and operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; expected one of {', '.join(OPERATIONS)}")
        unknown = set(params) - _PARAMS.get(kind, set())
        if unknown:
            raise ValueError(f"fault {kind!r} takes no parameter {', '.join(sorted(unknown))}")
        if kind == LATENCY and "ms" not in params:
            raise ValueError("fault 'latency' needs ms=")
        if kind == ANSWER and "body" not in params:
            raise ValueError("fault 'answer' needs body=")
        if after < 0 or (count is not None and count < 1):
            raise ValueError("after must be >= 0 and count >= 1")
        fault = Fault(
            kind,
            service.strip("/") if service else None,
            operation,
            after,
            count,
            {**_DEFAULTS.get(kind, {}), **params},
        )
        with self._lock:
            self._faults = [
                f
                for f in self._faults
                if (f.kind, f.service, f.operation) != (fault.kind, fault.service, fault.operation)
            ]
            self._faults.append(fault)
        return fault

    def clear(self, kind: str | None = None) -> None:
        with self._lock:
            self._faults = [f for f in self._faults if kind is not None and f.kind != kind]

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def judge(self, service: str | None, operation: str | None) -> Verdict:
        """Count this request against every matching fault and say which ones hit it."""
        latency = 0.0
        chosen: Fault | None = None
        with self._lock:
            for fault in self._faults:
                if not fault.matches(service, operation) or (fault.kind != LATENCY and chosen is not None):
                    continue
                fault.seen += 1
                if fault.seen <= fault.after:
                    continue
                fault.applied += 1
                if fault.kind == LATENCY:
                    latency += float(fault.params["ms"])
                else:
                    chosen = fault
            self._faults = [f for f in self._faults if f.count is None or f.applied < f.count]
        return Verdict(latency, chosen)
