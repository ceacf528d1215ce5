"""Running one call over many items with a bound on how many are in flight, each failure kept as a value."""

from __future__ import annotations

import concurrent.futures
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from arcgis_client.errors import ArcGISError

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


def in_batches(
    func: Callable[[_T], _R], items: Iterable[_T], limit: int = 16, every: float | None = None
) -> Iterator[list[tuple[_T, _R | ArcGISError]]]:
    """func over items with at most `limit` in flight; (item, result or ArcGISError) pairs in batches, so that a
    caller can report progress: what finished in each `every` seconds (a batch waits for at least one result), or,
    with `every` None, one batch of all, in the items' order. Calls go on while the caller handles a batch."""
    items = list(items)
    if not items:
        return
    if every is None or len(items) == 1:
        yield list(zip(items, run_concurrently(func, items, limit), strict=True))
        return

    def guarded(item: _T) -> _R | ArcGISError:
        try:
            return func(item)
        except ArcGISError as exc:
            return exc

    waiting = deque(items)
    with ThreadPoolExecutor(max_workers=min(limit, len(items)), thread_name_prefix="arcgis") as pool:
        running: dict[concurrent.futures.Future, _T] = {}
        batch: list[tuple[_T, _R | ArcGISError]] = []
        since = time.monotonic()
        while waiting or running:
            while waiting and len(running) < limit:
                item = waiting.popleft()
                running[pool.submit(guarded, item)] = item
            left = every - (time.monotonic() - since)
            finished, _ = concurrent.futures.wait(
                running, timeout=max(left, 0) if batch else None, return_when=concurrent.futures.FIRST_COMPLETED
            )
            batch += [(running.pop(future), future.result()) for future in finished]
            if batch and (time.monotonic() - since >= every or not (waiting or running)):
                yield batch
                batch, since = [], time.monotonic()
