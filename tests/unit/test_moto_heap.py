"""The embedded DynamoDB's heap: stored items are set aside from the collector's full passes."""

from __future__ import annotations

import gc
import weakref

from devstack.moto_backend import settle_heap


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
        settle_heap()

        assert cycle() is None
        assert gc.get_freeze_count() > frozen_before
        assert not any(o is kept for o in gc.get_objects())  # in no generation: never walked again
    finally:
        gc.unfreeze()


def test_a_stored_item_holds_no_reference_cycle_so_deleting_one_frees_it_though_set_aside():
    """What makes setting items aside safe: reference counting alone frees a deleted one."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    gc.collect()
    gc.disable()
    try:
        for n in range(100):
            item = Item(DynamoType({"S": f"k{n}"}), None, {
                "k": {"S": f"k{n}"}, "m": {"M": {"a": {"L": [{"N": "1"}, {"S": "x"}]}}}, "ss": {"SS": ["a", "b"]}})
            del item
        assert gc.collect() == 0
    finally:
        gc.enable()
