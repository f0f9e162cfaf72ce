"""The embedded DynamoDB's heap: stored items are set aside from the collector's full passes."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import weakref
from pathlib import Path

from devstack.moto_backend import settle_heap

ROOT = Path(__file__).resolve().parents[2]


class _Node:
    other: object = None


def test_settling_the_heap_frees_garbage_cycles_and_sets_what_lives_aside():
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    cycle = weakref.ref(first)
    del first, second
    kept = _Node()
    frozen_before = gc.get_freeze_count()
    try:
        settle_heap(threading.Lock())

        assert cycle() is None
        assert gc.get_freeze_count() > frozen_before
        assert not any(o is kept for o in gc.get_objects())  # in no generation: never walked again
    finally:
        gc.unfreeze()


def test_settling_waits_for_the_request_being_answered():
    lock = threading.Lock()
    lock.acquire()
    settler = threading.Thread(target=settle_heap, args=(lock,))
    settler.start()
    try:
        settler.join(0.2)
        assert settler.is_alive()
    finally:
        lock.release()
        settler.join()
        gc.unfreeze()


def test_reclaiming_walks_what_was_set_aside_again():
    settle_heap(threading.Lock())
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    settle_heap(threading.Lock())  # the cycle, alive, is set aside
    cycle = weakref.ref(first)
    del first, second
    try:
        settle_heap(threading.Lock())
        assert cycle() is not None  # set aside: not collected
        settle_heap(threading.Lock(), reclaim=True)
        assert cycle() is None
    finally:
        gc.unfreeze()


def test_a_stored_item_holds_no_reference_cycle_so_deleting_one_frees_it_though_set_aside():
    """What makes setting items aside safe: reference counting alone frees a deleted item, in the
    server as it runs (moto's models keep every instance unless ``moto_speedups`` says not to),
    checked in a process of its own so this one's moto stays as it is."""
    script = """
import gc, weakref
from devstack import moto_speedups
moto_speedups.install()
from moto.dynamodb.models.dynamo_type import DynamoType, Item
gc.disable()
item = Item(DynamoType({"S": "k1"}), None, {
    "k": {"S": "k1"}, "m": {"M": {"a": {"L": [{"N": "1"}, {"S": "x"}]}}}, "ss": {"SS": ["a", "b"]}})
held = [weakref.ref(item), *(weakref.ref(v) for v in item.attrs.values())]
del item
print(sum(r() is not None for r in held))
"""
    answer = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "0"
