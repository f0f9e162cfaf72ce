"""WebSocket counters hold across containers: concurrent writers never lose an increment."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from chalicelib.services import wsstats


def test_counts_from_many_concurrent_writers_add_up_exactly(tables):
    def container(_: int) -> None:
        for _ in range(25):
            wsstats.record(frames_received=1, messages_pushed=2)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(container, range(8)))

    totals = wsstats.totals(5)
    assert (totals["frames_received"], totals["messages_pushed"]) == (200, 400)
