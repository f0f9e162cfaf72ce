"""ratelimit: a limit holds over any interval of its window, across writers, and races for the
last slot let exactly one event through."""

from __future__ import annotations

import threading

import pytest

from chalicelib import clock
from chalicelib.errors import RateLimited
from chalicelib.services import ratelimit


@pytest.fixture
def fresh(tables):
    yield
    clock.reset()


def _allowed(key: str, count: int, limit: int = 5, window: float = 10.0) -> int:
    passed = 0
    for _ in range(count):
        try:
            ratelimit.hit(key, limit, window)
            passed += 1
        except RateLimited:
            pass
    return passed


def test_a_burst_across_a_window_boundary_cannot_exceed_the_limit(fresh):
    # A fixed 10 s window lets 5 through at 9.9 s and 5 more at 10.1 s; over any 10 s only 5 pass.
    assert _allowed("k", 5) == 5
    clock.advance(0.2)
    assert _allowed("k", 5) == 0
    clock.advance(9.9)  # the first five are now older than 10 s
    assert _allowed("k", 6) == 5


def test_events_leave_the_window_one_by_one(fresh):
    for _ in range(3):
        ratelimit.hit("k", 3, 10.0)
        clock.advance(2)
    with pytest.raises(RateLimited) as refused:
        ratelimit.hit("k", 3, 10.0)
    assert refused.value.details["retry_after"] == 4  # the oldest (6 s ago) leaves in 4 s

    clock.advance(4.1)

    ratelimit.hit("k", 3, 10.0)


def test_two_events_racing_for_the_last_slot_let_exactly_one_through(fresh):
    for _ in range(4):
        ratelimit.hit("k", 5, 10.0)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def one() -> None:
        start.wait(timeout=10)
        try:
            ratelimit.hit("k", 5, 10.0)
            outcomes.append("passed")
        except RateLimited:
            outcomes.append("refused")

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["passed", "refused"]


def test_many_concurrent_events_never_pass_more_than_the_limit(fresh):
    start = threading.Barrier(12)
    passed: list[int] = []

    def one() -> None:
        start.wait(timeout=10)
        passed.append(_allowed("k", 1, limit=5))

    threads = [threading.Thread(target=one) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sum(passed) == 5


def test_an_event_whose_answer_was_lost_is_counted_once(fresh):
    from tests import faults

    with faults.lose_response("PutItem", times=1) as lost:
        ratelimit.hit("lost#1", 5, 10.0)

    assert lost.injected == {"PutItem": 1}
    assert _allowed("lost#1", 10) == 4  # the lost-answer event took one slot, not two
