"""Budgets and slow-downs: each event decided by one conditional write, so racing events never pass
more than the limit; a retry after a lost answer counts once; refusals say when to come back."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.errors import RateLimited
from chalicelib.models import LimitModel
from chalicelib.models.limit import marker, slot_for
from chalicelib.services import budgets, slowdown
from chalicelib.services.container import forget_all
from tests import faults

BUDGET = budgets.Budget("requests", size=5, window=1000.0)  # one back every 200 s
PACE = slowdown.Pace("attempts", free=3, first_wait=40.0, max_wait=200.0, forget=6000.0)


@pytest.fixture
def fresh(tables):
    yield
    clock.reset()


def _passed(event: Callable[[], None], count: int) -> int:
    passed = 0
    for _ in range(count):
        try:
            event()
            passed += 1
        except RateLimited:
            pass
    return passed


def _race(event: Callable[[], None], racers: int) -> list[str]:
    start = threading.Barrier(racers)
    outcomes: list[str] = []

    def one() -> None:
        start.wait(timeout=10)
        try:
            event()
            outcomes.append("passed")
        except RateLimited:
            outcomes.append("refused")

    threads = [threading.Thread(target=one) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def _spend() -> None:
    budgets.spend("k", BUDGET)


# --- budgets ---------------------------------------------------------------------------------------


def test_a_budget_passes_a_burst_of_its_size_then_says_when_the_next_fits(fresh, monkeypatch):
    frozen = clock.epoch()  # a slow machine must not turn the 200 s into 199
    monkeypatch.setattr(clock, "epoch", lambda: frozen)
    assert _passed(_spend, 5) == 5

    with pytest.raises(RateLimited) as refused:
        _spend()

    assert refused.value.details["retry_after"] == 200  # one event back every 1000 s / 5


def test_a_budget_refills_steadily_never_a_long_refusal(fresh):
    _passed(_spend, 5)
    clock.advance(201)
    assert _passed(_spend, 3) == 1
    clock.advance(1000)
    assert _passed(_spend, 7) == 5


def test_a_burst_across_a_window_boundary_cannot_exceed_the_budget(fresh):
    assert _passed(_spend, 5) == 5
    clock.advance(0.2)
    assert _passed(_spend, 5) == 0


def test_many_concurrent_events_never_pass_more_than_the_budget(fresh):
    outcomes = _race(_spend, 12)

    assert outcomes.count("passed") == 5 and outcomes.count("refused") == 7


def test_racing_events_on_a_busy_budget_pass_exactly_what_is_left(fresh):
    _passed(_spend, 2)

    outcomes = _race(_spend, 10)

    assert outcomes.count("passed") == 3


def _busy_write(params: dict) -> bool:
    """The write for a busy bucket (``tat > now``); an idle one's condition has no ``>``."""
    return " > " in params.get("ConditionExpression", "")


def test_an_event_whose_answer_was_lost_is_counted_once(fresh):
    _spend()
    with faults.lose_response("UpdateItem", when=_busy_write) as lost:
        _spend()  # the bucket is busy: the write for a busy one is applied, its answer lost

    assert lost.injected == {"UpdateItem": 1}
    assert _passed(_spend, 5) == 3  # 2 spent, not 3


def test_a_container_spending_from_a_busy_budget_writes_once_per_event(fresh):
    _spend()  # idle: one write, which leaves the bucket busy
    with faults.sent("UpdateItem") as writes:
        assert _passed(_spend, 3) == 3

    assert len(writes) == 3 and all(_busy_write(w) for w in writes)


def test_a_cold_container_or_a_wrong_guess_costs_a_second_write_and_passes(fresh):
    _spend()
    forget_all()  # another container: it never saw the bucket, and tries the idle write first
    with faults.sent("UpdateItem") as writes:
        _spend()
    assert [_busy_write(w) for w in writes] == [False, True]

    LimitModel("k").delete()  # the bucket gone (as TTL drops it) while this container saw it busy
    with faults.sent("UpdateItem") as writes:
        _spend()
    assert [_busy_write(w) for w in writes] == [True, False]
    assert _passed(_spend, 5) == 4  # a fresh budget of 5, one spent

    clock.advance(1001)  # idle again, as this container knows: one write
    with faults.sent("UpdateItem") as writes:
        _spend()
    assert [_busy_write(w) for w in writes] == [False]


def test_budgets_of_different_subjects_are_independent(fresh):
    _passed(_spend, 5)

    budgets.spend("other", BUDGET)


# --- slow-downs --------------------------------------------------------------------------------------


def _take() -> None:
    slowdown.take("s", PACE)


def test_after_the_free_attempts_each_one_waits_twice_as_long_as_the_last(fresh):
    assert _passed(_take, 3) == 3
    waits = []
    for _ in range(4):
        with pytest.raises(RateLimited) as refused:
            _take()
        wait = refused.value.details["retry_after"]
        waits.append(wait)
        clock.advance(wait)
        _take()

    assert waits == [40, 80, 160, 200]  # doubling, capped at max_wait: slowed down, never locked


def test_a_slow_down_is_forgotten_after_a_quiet_period(fresh):
    _passed(_take, 3)  # the third starts a wait of 40 s
    clock.advance(40 + 6001)

    assert _passed(_take, 3) == 3


def test_concurrent_attempts_pass_exactly_the_free_ones(fresh):
    outcomes = _race(_take, 12)

    assert outcomes.count("passed") == 3 and outcomes.count("refused") == 9


def test_a_given_back_attempt_no_longer_counts(fresh):
    _take()
    slowdown.take("s", PACE, request_id="good")
    slowdown.give_back("s", "good")
    slowdown.give_back("s", "good")  # a retry: given back once

    assert _passed(_take, 3) == 2


def test_an_attempt_whose_answer_was_lost_is_counted_once(fresh):
    _take()
    with faults.lose_response("TransactWriteItems") as lost:
        _take()

    assert lost.injected == {"TransactWriteItems": 1}
    assert _passed(_take, 3) == 1


def test_a_give_back_whose_answer_was_lost_counts_once_though_another_attempt_took_its_slot(fresh):
    mine = "r0"
    other = next(f"r{n}" for n in range(1, 500) if slot_for(f"r{n}") == slot_for(f"{mine}:back"))
    _take()
    slowdown.take("s", PACE, request_id=mine)  # 2 of the 3 free attempts

    def giving_back(params: dict) -> bool:
        return marker(f"{mine}:back") in json.dumps(params)

    with faults.lose_response("TransactWriteItems", when=giving_back) as lost, \
            faults.before("TransactWriteItems", lambda: slowdown.take("s", PACE, request_id=other),
                          when=lambda params: giving_back(params) and bool(lost.injected)) as landed:
        slowdown.give_back("s", mine)  # applied, answer lost; another attempt writes the same slot

    assert lost.injected == {"TransactWriteItems": 1} and landed.injected == {"TransactWriteItems": 1}
    assert _passed(_take, 3) == 1  # 2 - 1 + 1 = 2 counted: one free attempt left, not two


def test_clearing_forgets_every_strike(fresh):
    _passed(_take, 4)
    slowdown.clear("s")

    assert _passed(_take, 3) == 3


def _ids_in_distinct_slots(count: int) -> list[str]:
    """Request ids that record themselves in different slots (a shared slot is the 1-in-16 case)."""
    ids: dict[str, str] = {}
    for n in range(100):
        ids.setdefault(slot_for(f"r{n}"), f"r{n}")
    return list(ids.values())[:count]


def test_a_lost_answer_retried_after_other_events_landed_is_counted_once(fresh):
    mine, *others = _ids_in_distinct_slots(3)

    def others_land() -> None:
        for request_id in others:
            budgets.spend("k", BUDGET, request_id)

    def my_retry(params: dict) -> bool:
        return _busy_write(params) and marker(mine) in json.dumps(params) and bool(lost.injected)

    _spend()
    with faults.lose_response("UpdateItem", when=_busy_write) as lost, \
            faults.before("UpdateItem", others_land, when=my_retry) as landed:
        budgets.spend("k", BUDGET, mine)  # applied, answer lost; two others land; then the retry

    assert lost.injected == {"UpdateItem": 1} and landed.injected == {"UpdateItem": 1}
    assert _passed(_spend, 5) == 1  # 1 + 1 + 2 spent, not 5


def test_a_lost_answer_whose_slot_another_event_took_meanwhile_passes_and_the_budget_holds(fresh):
    mine = "r0"
    other = next(f"r{n}" for n in range(1, 100) if slot_for(f"r{n}") == slot_for(mine))

    def my_retry(params: dict) -> bool:
        return _busy_write(params) and marker(mine) in json.dumps(params) and bool(lost.injected)

    _passed(_spend, 3)
    with faults.lose_response("UpdateItem", when=_busy_write) as lost, \
            faults.before("UpdateItem", lambda: budgets.spend("k", BUDGET, other), when=my_retry) as landed:
        # Applied (the fourth event), answer lost; the fifth lands in the same slot; the retry
        # cannot tell its own write from none, and its event was counted: it passes.
        budgets.spend("k", BUDGET, mine)

    assert lost.injected == {"UpdateItem": 1} and landed.injected == {"UpdateItem": 1}
    assert _passed(_spend, 5) == 0  # 3 + mine + the other: the budget, no more


def test_an_ambiguous_error_that_applied_nothing_on_a_full_budget_is_refused_whatever_its_slot_held(fresh):
    mine = "r0"
    earlier = next(f"r{n}" for n in range(1, 100) if slot_for(f"r{n}") == slot_for(mine))
    budgets.spend("k", BUDGET, earlier)
    assert _passed(_spend, 4) == 4  # full, and mine's slot holds an earlier request's write
    clock.advance(5)

    with faults.refuse("UpdateItem", code="InternalServerError", status=500,
                       when=lambda params: marker(mine) in json.dumps(params)) as failed:
        with pytest.raises(RateLimited):
            budgets.spend("k", BUDGET, mine)  # a 500 that applied nothing, then its retry is refused

    assert failed.injected == {"UpdateItem": 1}


# -- the message budget, on the sender's own item ------------------------------------------------


@pytest.fixture
def message_budget(fresh, monkeypatch: pytest.MonkeyPatch):
    from chalicelib.config import reload_config

    monkeypatch.setenv("KEFU_WS_RATE_LIMIT", "12")
    monkeypatch.setenv("KEFU_WS_RATE_WINDOW", "1200")  # one back every 100 s
    reload_config()
    yield
    monkeypatch.undo()
    reload_config()


def test_simultaneous_frames_of_one_user_pass_exactly_the_budget_none_refused_for_contention(message_budget):
    from chalicelib.services import senders, visitors

    visitor_id = visitors.sign_up("Ann", None)["visitor_id"]
    senders.count_frame("visitor", visitor_id)  # this container knows the budget: one taken
    refusals: list[str] = []

    def frame() -> None:
        try:
            senders.count_frame("visitor", visitor_id)
        except RateLimited as e:
            refusals.append(e.message)
            raise

    outcomes = _race(frame, 20)

    assert outcomes.count("passed") == 11
    assert not [r for r in refusals if "simultaneous" in r]  # refused for the budget, not for racing


class _PerThreadMemory:
    """``senders``' per-container memory, one per thread: each thread acts as a container of its own."""

    def __init__(self, real: Any) -> None:
        self._local = threading.local()
        self._kind = type(real)
        self._max_age = real.max_age

    def _mine(self) -> Any:
        if not hasattr(self._local, "memory"):
            self._local.memory = self._kind(self._max_age)
        return self._local.memory

    def get(self, key: Any, max_age: float | None = None) -> Any:
        return self._mine().get(key, max_age)

    def put(self, key: Any, value: Any) -> None:
        self._mine().put(key, value)

    def forget(self, key: Any) -> None:
        self._mine().forget(key)


def test_a_frame_whose_answer_was_lost_counts_once_when_another_containers_frame_landed_before_its_retry(
        message_budget, monkeypatch: pytest.MonkeyPatch):
    """Container B reads the budget, container A's frame is written (its answer lost), B's frame is
    written from what B read, then A retries: A must still find its own write recorded."""
    from chalicelib.services import senders, visitors

    monkeypatch.setattr(senders, "_known", _PerThreadMemory(senders._known))
    visitor_id = visitors.sign_up("Ann", None)["visitor_id"]
    senders.count_frame("visitor", visitor_id)  # A knows the budget: one taken
    main = threading.current_thread()
    b_read, a_applied, b_written = threading.Event(), threading.Event(), threading.Event()
    b_attempts: list[dict] = []

    def b_second_write(params: dict) -> bool:  # B's first write (exact, on a budget it never saw) failed
        if threading.current_thread() is main:
            return False
        b_attempts.append(params)
        return len(b_attempts) == 2

    def b_waits_for_a() -> None:
        b_read.set()
        a_applied.wait(10)

    def a_waits_for_b() -> None:
        a_applied.set()
        b_written.wait(10)

    def container_b() -> None:
        senders.count_frame("visitor", visitor_id)
        b_written.set()

    with faults.before("UpdateItem", b_waits_for_a, when=b_second_write) as b_paused, \
            faults.lose_response("UpdateItem", when=lambda _: threading.current_thread() is main) as lost, \
            faults.before("UpdateItem", a_waits_for_b,
                          when=lambda _: threading.current_thread() is main and bool(lost.injected)) as a_paused:
        b = threading.Thread(target=container_b)
        b.start()
        assert b_read.wait(10)
        senders.count_frame("visitor", visitor_id)  # applied, answer lost; B lands; A retries
        b.join(10)

    assert b_paused.injected == lost.injected == a_paused.injected == {"UpdateItem": 1}
    assert b_written.is_set()
    frame = lambda: senders.count_frame("visitor", visitor_id)  # noqa: E731
    assert _passed(frame, 12) == 9  # 12 - the first, A's and B's: A's frame counted once
