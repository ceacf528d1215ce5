"""What the portal stands on going away and coming back, told once per outage, not once per request.

The first failure of an outage is logged with what it costs the portal; what happens after it is only counted;
the return is logged with how long the outage lasted and how many requests or calls went without it meanwhile.
The shared cache (dashboard.cache) and the database (dashboard.error_pages) each keep one per process.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("dashboard.outages")


def describe(exc: BaseException) -> str:
    """The error's kind and the first line of its text (drivers name the host and port, never a password)."""
    first_line = next(iter(str(exc).strip().splitlines()), "")
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__


class Outage:
    """One dependency as this process sees it: answering, or not since some moment."""

    def __init__(self, what: str, meanwhile: str, counted: tuple[str, str] = ("call went", "calls went")):
        self.what = what  # "The database", "The shared cache (Redis at cache:6379)"
        self.meanwhile = meanwhile  # what the portal does until it answers again, in words
        self.counted = counted  # what went without it, one and several: ("call went", "calls went")
        self._lock = threading.Lock()
        self._since: float | None = None  # time.monotonic() of the first failure
        self._without = 0  # requests or calls that went without it since

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def seconds(self) -> float:
        since = self._since
        return 0.0 if since is None else time.monotonic() - since

    def failed(self, exc: BaseException) -> None:
        """A call failed: the first failure of an outage is logged, the others counted."""
        with self._lock:
            first = self._since is None
            if first:
                self._since, self._without = time.monotonic(), 0
        if first:
            log.warning("%s is not answering (%s); %s", self.what, describe(exc), self.meanwhile)

    def went_without(self) -> None:
        """A request or call did without it (an approximate count: no lock on this path)."""
        self._without += 1

    def recovered(self, detail: str = "") -> None:
        """It answered again: logged once, if there was an outage."""
        with self._lock:
            if self._since is None:
                return
            lasted, without = time.monotonic() - self._since, self._without
            self._since = None
        log.warning(
            "%s answers again after %.1f s; %d %s without it meanwhile%s",
            self.what,
            lasted,
            without,
            self.counted[0] if without == 1 else self.counted[1],
            f"; {detail}" if detail else "",
        )
