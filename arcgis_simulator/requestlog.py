"""What the simulator received: tests read it to prove what a client sent, or that it sent nothing."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import overload


class Headers(Mapping[str, str]):
    """Request headers, looked up case-insensitively, iterated with their sent spelling."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = {name.lower(): (name, value) for name, value in items}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass(frozen=True)
class RecordedRequest:
    time: datetime  # by the simulator's clock
    method: str
    path: str  # percent-decoded
    raw_path: str  # as sent
    query: dict[str, str]
    form: dict[str, str]
    headers: Headers
    client: str  # client IP address
    operation: str | None  # e.g. "cancel"; None when the path matched nothing
    service: str | None  # "Folder/Name" or "Name"

    def to_json(self) -> dict:
        return {
            "time": self.time.isoformat(),
            "method": self.method,
            "path": self.path,
            "rawPath": self.raw_path,
            "query": self.query,
            "form": self.form,
            "headers": dict(self.headers),
            "client": self.client,
            "operation": self.operation,
            "service": self.service,
        }


class RequestLog:
    """A thread-safe, list-like log of ArcGIS requests (the newest `maxlen` are kept)."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._records: deque[RecordedRequest] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def append(self, record: RecordedRequest) -> None:
        with self._lock:
            self._records.append(record)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._records)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(self.snapshot())

    @overload
    def __getitem__(self, index: int) -> RecordedRequest: ...
    @overload
    def __getitem__(self, index: slice) -> list[RecordedRequest]: ...
    def __getitem__(self, index: int | slice) -> RecordedRequest | list[RecordedRequest]:
        if isinstance(index, slice):
            return self.snapshot()[index]
        with self._lock:
            return self._records[index]

    def __repr__(self) -> str:
        return f"RequestLog({len(self)} requests)"
