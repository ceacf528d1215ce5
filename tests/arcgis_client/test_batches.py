"""in_batches: many calls with a bound on those in flight, their results handed on in batches as they end (a bulk's
progress), every item once, a failure kept as a value."""

from __future__ import annotations

import threading
import time

import arcgis_client


def test_results_come_in_batches_as_calls_end_each_item_once():
    in_flight, most = 0, 0
    lock = threading.Lock()

    def call(item: int) -> int:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.02)
        with lock:
            in_flight -= 1
        if item == 7:
            raise arcgis_client.UpstreamTimeout("no answer")
        return item * 10

    batches = list(arcgis_client.in_batches(call, range(40), limit=4, every=0.01))
    assert len(batches) > 1 and all(batches)
    done = dict(pair for batch in batches for pair in batch)
    assert sorted(done) == list(range(40)) and most <= 4
    assert isinstance(done[7], arcgis_client.UpstreamTimeout) and done[8] == 80


def test_without_an_interval_one_batch_in_the_items_order():
    assert list(arcgis_client.in_batches(lambda item: -item, [3, 1, 2], limit=2)) == [[(3, -3), (1, -1), (2, -2)]]
    assert list(arcgis_client.in_batches(lambda item: item, [], every=0.1)) == []
