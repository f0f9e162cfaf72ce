"""moto's DynamoDB at the cost of DynamoDB's own operations, without changing an answer.

Profiled under the 200-customer burst (tests/concurrency), most of the embedded backend's time went
to work DynamoDB does not do:

- ``Query`` walked and sorted every item of the table, on the base table and on indexes alike, so a
  Query cost the table's size instead of its partition's. Each table now keeps its items by
  partition for every secondary index (the base table already is: ``Table.items`` is keyed by hash
  key), maintained where moto writes (``Table.put_item`` / ``delete_item`` and the in-place
  ``update_item``), and a Query walks only its partition's items.
- every response was rebuilt attribute by attribute by moto's model-driven serializer (a third of
  the time): the data-plane answers are already the wire document once their DynamoDB types are
  expanded, so they are dumped as JSON directly (bytes base64-encoded, as the serializer does).
  Likewise a data-plane request is read with ``json.loads`` unless it holds a binary value (the
  one thing moto's model-driven parser changes in it: base64 text to bytes).
- moto keeps every model instance it ever built for its dashboard, every item and every copy of one
  made for an answer included: the embedded backend's memory grew with each request, and the
  garbage collector walked it all (tables dropped between tests too, with their items).
  DynamoDB's models are no longer tracked.
- per request, moto listed its handler's methods with ``inspect`` and cut every condition
  expression into tokens with a dozen regular expressions: both depend only on the class and the
  expression's text, which repeat, so they are cached. So is the parse of an update expression
  (moto parsed each one twice per UpdateItem, a tenth of the time): its syntax tree is only read,
  or copied by the validator before it is changed.
- building an item checked its size (at most 400 KB) again over every attribute stored so far at
  each attribute it added, so an item cost the square of its attributes; the running total decides
  the same, at each attribute, in one pass.
- a condition expression was parsed into its syntax tree twice per write (once to check its
  names, once to evaluate it), a sixth of the time under the burst. The tree depends only on the
  text and the attribute names; the values (``:v``) are its leaves, so a tree is kept per text
  and names and its value leaves are filled in from each request's values.
- the validator deep-copied the update expression's tree before filling it in, node by node in
  Python (0.7 ms for a SET of ten attributes); a copy unpickled from the tree's bytes, kept with
  the cached tree, is the same tree in a fifth of the time. It then walks the tree ten times;
  three of those walks only check the expression against its names and the table's keys (too
  many actions, overlapping paths, a key attribute updated), so once an expression passed them
  with those names on that table's keys, they are not walked again for it.
- every answer got a request id of 52 characters drawn one ``random.choice`` at a time (90 us, a
  quarter of a GetItem), and its body was searched for an XML ``<RequestId>`` to fill in: the id
  is drawn in one ``choices`` call from the same generator, and only an XML body is searched.
  (After a ``/moto-api/seed`` the ids are still repeatable, but not moto's own sequence.)
- an answer's items were turned into plain values twice (moto's ``dynamo_to_dict``, then the JSON
  shortcut's walk), each asking every value what it is with a chain of ``isinstance`` and
  ``hasattr``: both now go by the value's exact type first (plain dicts, lists, strings and
  moto's ``DynamoType``), anything else the way they did.
- a Query or Scan deep-copied every item it answered with before reading it into the answer. The
  server answers one request at a time and builds the whole answer before the next starts, and
  nothing on the way changes an answered item (a projection makes a new one), so the items are
  read where they are stored.
- the update expression's validators walk its tree seven times, asking at every node whether it
  is a node (an abstract class: a slow ``isinstance``) and whether this walk processes it (a tuple
  rebuilt from a dict at every node): a third of an UpdateItem. Both answers depend only on the
  node's class and the walk's, so they are kept per class; the walks are otherwise moto's.

``install()`` patches moto's classes once per process; it is called where the server starts.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import re
import string
from typing import Any

# Operations whose successful answer is a plain document of DynamoDB-typed values.
DATA_PLANE = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
                        "BatchWriteItem", "TransactGetItems", "TransactWriteItems"})

_PARTITIONS = "_kefu_partitions"


def install() -> None:
    from moto.dynamodb import models as dynamodb_models

    if getattr(dynamodb_models, "_kefu_speedups", False):
        return
    _install_partition_index()
    _install_direct_responses()
    _install_direct_requests()
    _install_cached_method_names()
    _install_untracked_items()
    _install_linear_item_size()
    _install_cached_condition_lexing()
    _install_cached_condition_trees()
    _install_cached_update_parsing()
    _install_cheap_request_ids()
    _install_typed_conversion()
    _install_uncopied_answers()
    _install_typed_traversal()
    dynamodb_models._kefu_speedups = True


# -- Query by partition ---------------------------------------------------------------------------
class _Partitions:
    """For each secondary index with one hash attribute: index hash value -> the primary keys of
    the items in that partition, and back, so that a write moves its item between partitions."""

    def __init__(self, table: Any) -> None:
        self.signature = _signature(table)
        self.hash_attr = dict(self.signature)
        self.members: dict[str, dict[Any, dict[tuple[Any, Any], None]]] = {name: {} for name in self.hash_attr}
        self.placed: dict[tuple[Any, Any], dict[str, Any]] = {}
        for item in iter_items(table):
            self.place((item.hash_key, item.range_key), item)

    def place(self, key: tuple[Any, Any], item: Any) -> None:
        """Record where ``item`` (None: deleted) now belongs in every index."""
        previous = self.placed.pop(key, None) or {}
        for index, value in previous.items():
            partition = self.members[index].get(value)
            if partition is not None:
                partition.pop(key, None)
                if not partition:
                    del self.members[index][value]
        if item is None:
            return
        now: dict[str, Any] = {}
        for index, attr in self.hash_attr.items():
            value = item.attrs.get(attr)
            if value is not None:
                self.members[index].setdefault(value, {})[key] = None
                now[index] = value
        if now:
            self.placed[key] = now


def _signature(table: Any) -> tuple[tuple[str, str], ...]:
    found = []
    for index in table.all_indexes():
        hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
        if len(hashes) == 1:
            found.append((index.name, hashes[0]))
    return tuple(found)


def iter_items(table: Any) -> Any:
    """Every item of a moto table, in no particular order."""
    for entry in table.items.values():
        if table.range_key_attr:
            yield from entry.values()
        else:
            yield entry


def partitions(table: Any) -> _Partitions:
    """The table's partition index, built on first use and again when its indexes changed."""
    found = table.__dict__.get(_PARTITIONS)
    if found is None or found.signature != _signature(table):
        found = _Partitions(table)
        table.__dict__[_PARTITIONS] = found
    return found


def drop_all_items(table: Any) -> None:
    """Empty ``table`` in place, its partition index with it."""
    table.items.clear()
    table.__dict__.pop(_PARTITIONS, None)


def replace_item(table: Any, key: tuple[Any, Any], item: Any) -> None:
    """Store ``item`` (None: remove it) under ``key`` directly, keeping the partitions in step: for
    copies of a table that are written without moto's validation (devstack/replica.py)."""
    hash_key, range_key = key
    if item is None:
        if range_key is not None:
            table.items.get(hash_key, {}).pop(range_key, None)
            if hash_key in table.items and not table.items[hash_key]:
                del table.items[hash_key]
        else:
            table.items.pop(hash_key, None)
    elif range_key is not None:
        table.items[hash_key][range_key] = item
    else:
        table.items[hash_key] = item
    known = table.__dict__.get(_PARTITIONS)
    if known is not None:
        known.place(key, item)


def _current(table: Any, hash_key: Any, range_key: Any) -> Any:
    entry = table.items.get(hash_key)
    if entry is None or range_key is None:
        return entry if range_key is None else None
    return entry.get(range_key)


def _candidates(table: Any, index_name: str | None, hash_key: Any,
                hash_key_conditions: list[tuple[str, Any]] | None) -> list[Any] | None:
    """The items a Query must look at: its partition's, or None when moto must walk the table."""
    if not index_name:
        if hash_key is None:
            return None
        entry = table.items.get(hash_key)
        if entry is None:
            return []
        return list(entry.values()) if table.range_key_attr else [entry]
    index = partitions(table)
    attr = index.hash_attr.get(index_name)
    if attr is None:
        return None
    value = next((v for name, v in hash_key_conditions or () if name == attr), hash_key)
    if value is None:
        return None
    found = []
    for hash_value, range_value in index.members[index_name].get(value, {}):
        item = _current(table, hash_value, range_value)
        if item is not None:
            found.append(item)
    return found


def _install_partition_index() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    moto_put, moto_delete, moto_query = Table.put_item, Table.delete_item, Table.query
    moto_update = DynamoDBBackend.update_item

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = moto_put(self, *args, **kwargs)
        known = self.__dict__.get(_PARTITIONS)
        if known is not None:
            known.place((item.hash_key, item.range_key), item)
        return item

    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        item = moto_delete(self, hash_key, range_key)
        known = self.__dict__.get(_PARTITIONS)
        if known is not None and item is not None:
            known.place((item.hash_key, item.range_key), None)
        return item

    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        # moto updates the stored item in place: its index keys may have changed under us.
        try:
            return moto_update(self, table_name, key, *args, **kwargs)
        finally:
            table = self.tables.get(table_name)
            known = None if table is None else table.__dict__.get(_PARTITIONS)
            if known is not None and isinstance(key, dict) and table.hash_key_attr in key:
                from moto.dynamodb.models.dynamo_type import DynamoType

                hash_key = DynamoType(key[table.hash_key_attr])
                range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
                known.place((hash_key, range_key), _current(table, hash_key, range_key))

    def query(self: Any, hash_key: Any, range_comparison: Any, range_objs: Any, limit: Any,
              exclusive_start_key: Any, scan_index_forward: Any, projection_expressions: Any,
              index_name: str | None = None, *args: Any,
              hash_key_conditions: list[tuple[str, Any]] | None = None, **kwargs: Any) -> Any:
        def moto() -> Any:
            return moto_query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                              scan_index_forward, projection_expressions, index_name, *args,
                              hash_key_conditions=hash_key_conditions, **kwargs)

        candidates = _candidates(self, index_name, hash_key, hash_key_conditions)
        if candidates is None:
            return moto()
        # moto's query takes its candidates from ``all_items()``: hand it the partition's.
        self.__dict__["all_items"] = lambda: candidates
        try:
            return moto()
        finally:
            del self.__dict__["all_items"]

    Table.put_item, Table.delete_item, Table.query = put_item, delete_item, query
    DynamoDBBackend.update_item = update_item


# -- responses ------------------------------------------------------------------------------------
_PLAIN = frozenset({str, int, float, bool})


def _wire(value: Any) -> Any:
    """What moto's serializer makes of a data-plane value: bytes base64-encoded, None left out."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {k: v if type(v) in _PLAIN else _wire(v) for k, v in value.items() if v is not None}
    if kind is list:
        return [v if type(v) in _PLAIN else _wire(v) for v in value]
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


@functools.cache
def _output_members(operation: str) -> frozenset[str]:
    """The top-level members of an operation's answer: moto's serializer leaves out the rest."""
    from moto.core.responses import get_service_model

    return frozenset(get_service_model("dynamodb").operation_model(operation).output_shape.members)


def _install_direct_responses() -> None:
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoHandler

    moto_serialized = DynamoHandler.serialized

    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if (type(action_result).execute_result is not ActionResult.execute_result
                or not isinstance(result, dict) or self._get_action() not in DATA_PLANE):
            return moto_serialized(self, action_result)
        members = _output_members(self._get_action())
        try:
            body = json.dumps(_wire({k: v for k, v in result.items() if k in members}))
        except TypeError:  # a value this shortcut does not know: moto's serializer does
            return moto_serialized(self, action_result)
        headers = {"Content-Type": "application/x-amz-json-1.0"}
        headers.update(self.response_headers)
        return 200, headers, body

    DynamoHandler.serialized = serialized


def _install_cheap_request_ids() -> None:
    from moto.core.responses import BaseResponse
    from moto.moto_api._internal.moto_random import MotoRandom
    from moto.utilities.aws_headers import gen_amzn_requestid_long

    moto_random_string = MotoRandom.get_random_string
    letters, alphanumeric = string.ascii_letters, string.ascii_letters + string.digits

    def get_random_string(self: Any, length: int = 20, include_digits: bool = True,
                          lower_case: bool = False) -> str:
        if not isinstance(length, int) or length < 0:
            return moto_random_string(self, length, include_digits, lower_case)
        drawn = "".join(self.choices(alphanumeric if include_digits else letters, k=length))
        return drawn.lower() if lower_case else drawn

    moto_enrich = BaseResponse._enrich_response

    def enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        if not isinstance(body, str) or "<RequestId>" in body:
            return moto_enrich(headers, body)
        if "status" in headers:
            headers["status"] = str(headers["status"])
        gen_amzn_requestid_long(headers)
        return headers, body

    MotoRandom.get_random_string = get_random_string
    BaseResponse._enrich_response = staticmethod(enrich_response)


def _install_typed_conversion() -> None:
    from moto.dynamodb import responses
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict

    moto_to_dict = responses.dynamo_to_dict
    _ITEM_DICTS = (LimitedSizeDict,)  # an item's attributes: a dict moto's walk takes as one

    def dynamo_to_dict(obj: Any) -> Any:
        kind = type(obj)
        if kind in _PLAIN or obj is None:
            return obj
        if kind is DynamoType and obj.type not in ("B", "BS"):
            value = obj.value
            return {obj.type: value if type(value) in _PLAIN else dynamo_to_dict(value)}
        if kind is dict or kind in _ITEM_DICTS:
            return {k: dynamo_to_dict(v) for k, v in obj.items()}
        if kind is list:
            return [dynamo_to_dict(v) for v in obj]
        return moto_to_dict(obj)

    responses.dynamo_to_dict = dynamo_to_dict


class _AnswersUncopied:
    """``copy`` as moto's table module sees it: the items a Query or Scan answers with (a list of
    items, or one) are not copied; anything else (a backup's table) is, deeply."""

    def __init__(self, item_class: type) -> None:
        self._item = item_class

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        item = self._item
        if type(value) is item:
            return value
        if type(value) is list and all(type(entry) is item for entry in value):
            return list(value)
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _install_uncopied_answers() -> None:
    from moto.dynamodb.models import table
    from moto.dynamodb.models.dynamo_type import Item

    table.copy = _AnswersUncopied(Item)


def _install_typed_traversal() -> None:
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node

    is_node: dict[type, bool] = {}
    processes: dict[tuple[type, type], bool] = {}  # (walk's class, node's class) -> processed by it

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        kind = type(node)
        node_like = is_node.get(kind)
        if node_like is None:
            node_like = is_node[kind] = isinstance(node, Node)
        if not node_like:
            return node
        parent_node = node.parent
        if node.children is not None:
            for i, child_node in enumerate(node.children):
                self.pre_processing_of_child(node, i)
                self.traverse_node_recursively(child_node, i)
        key = (type(self), kind)
        processed = processes.get(key)
        if processed is None:
            processed = processes[key] = isinstance(node, self.nodes_to_be_processed())
        if processed:
            node = self.process(node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
        return node

    DepthFirstTraverser.traverse_node_recursively = traverse_node_recursively


_BINARY_KEY = re.compile(rb'"BS?"\s*:')


def has_binary_value(body: bytes) -> bool:
    """Whether a JSON body may hold a binary attribute value (base64 text moto's parser decodes)."""
    return _BINARY_KEY.search(body) is not None


def _install_direct_requests() -> None:
    from moto.dynamodb.responses import DynamoHandler

    moto_parse = DynamoHandler.parse_parameters

    def parse_parameters(self: Any, request: Any) -> None:
        body = request.data
        if self._get_action() in DATA_PLANE and body and not has_binary_value(body):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None  # moto's parser answers a malformed body as it always did
            if isinstance(parsed, dict):
                self.params = parsed
                return
        moto_parse(self, request)

    DynamoHandler.parse_parameters = parse_parameters


def _install_cached_method_names() -> None:
    from moto.core import responses, utils

    responses.method_names_from_class = functools.lru_cache(maxsize=None)(utils.method_names_from_class)


class _Untracked(list):
    """``instances_tracked`` that keeps nothing."""

    def append(self, _: Any) -> None:
        return None


def _install_untracked_items() -> None:
    import moto.dynamodb.models  # noqa: F401 - registers DynamoDB's model classes
    from moto.core.model_instances import model_data

    for model in model_data["dynamodb"].values():
        model.instances_tracked = _Untracked()


def _install_linear_item_size() -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.utilities import bytesize

    limit = 405000  # moto's own (LimitedSizeDict): DynamoDB's 400 KB, as measured

    def init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = dynamo_type.LimitedSizeDict()
        total = 0
        for key, value in attrs.items():
            typed = dynamo_type.DynamoType(value)
            total += bytesize(key) + typed.size()  # what LimitedSizeDict adds up at each key
            if total > limit:
                raise ItemSizeTooLarge
            dict.__setitem__(self.attrs, key, typed)

    dynamo_type.Item.__init__ = init


def _install_cached_condition_lexing() -> None:
    from collections import deque

    from moto.dynamodb.comparisons import ConditionExpressionParser

    @functools.lru_cache(maxsize=4096)
    def tokens(parser_class: type, expression: str) -> tuple[Any, ...]:
        parser = parser_class.__new__(parser_class)
        parser.condition_expression = expression
        return tuple(moto_lex(parser))

    moto_lex = ConditionExpressionParser._lex_condition_expression

    def lex(self: Any) -> Any:
        # The parser consumes the deque; the tokens themselves (named tuples) are never changed.
        return deque(tokens(type(self), self.condition_expression))

    ConditionExpressionParser._lex_condition_expression = lex


def _names_key(names: dict[str, str] | None) -> tuple[tuple[str, str], ...]:
    """A request's ``ExpressionAttributeNames`` as part of a cache key: what a parse resolves."""
    return tuple(sorted(names.items())) if names else ()


def _install_cached_condition_trees() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    value_kind = ConditionExpressionParser.Kind.EXPRESSION_ATTRIBUTE_VALUE
    trees: dict[tuple[Any, ...], Any] = {}

    def with_values(node: Any, lookup: Any) -> Any:
        if node.kind == value_kind:
            return node._replace(value=lookup(node.text))
        if not node.children:
            return node
        return node._replace(children=[with_values(child, lookup) for child in node.children])

    def tree(self: Any) -> Any:
        """moto's ``parse`` up to the syntax tree (its steps, in its order)."""
        nodes = self._lex_condition_expression()
        nodes = self._parse_paths(nodes)
        nodes = self._apply_functions(nodes)
        nodes = self._apply_comparator(nodes)
        nodes = self._apply_in(nodes)
        nodes = self._apply_between(nodes)
        nodes = self._apply_parens_and_booleans(nodes)
        node = nodes[0]
        self._assert_no_redundant_parentheses(node)
        return node

    moto_parse = ConditionExpressionParser.parse

    def parse(self: Any) -> Any:
        if not self.condition_expression:
            return moto_parse(self)
        names = self.expression_attribute_names
        key = (type(self), self.condition_expression, _names_key(names))
        known = trees.get(key)
        if known is None:
            node = tree(self)  # a bad expression raises here, as moto's parse does, and is not kept
            if len(trees) >= 4096:
                trees.clear()
            trees[key] = with_values(node, lambda _: None)  # kept without this request's values
        else:
            node = with_values(known, self._lookup_expression_attribute_value)
        self.expr_attr_names_found.extend(self._find_literals(node))
        self.expr_attr_values_found.extend(self._find_expr_attr_values(node))
        return self._make_op_condition(node)

    ConditionExpressionParser.parse = parse


def _install_cached_update_parsing() -> None:
    import pickle

    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    parse = UpdateExpressionParser.make.__func__
    pickled = "_kefu_pickled"

    @functools.lru_cache(maxsize=4096)
    def parsed(parser_class: type, expression: str) -> Any:
        tree = parse(parser_class, expression)
        tree.__dict__[pickled] = pickle.dumps(tree, pickle.HIGHEST_PROTOCOL)  # after: the copies lack it
        return tree

    def copied(value: Any, memo: Any = None) -> Any:
        blob = getattr(value, "__dict__", {}).get(pickled)
        return pickle.loads(blob) if blob is not None else copy.deepcopy(value, memo)

    UpdateExpressionParser.make = classmethod(parsed)
    validators.deepcopy = copied

    # Walks whose verdict depends only on the expression, its names and the table's keys.
    static = (validators.ActionCountValidator, validators.OverlappingPathsValidator,
              validators.UpdateHashRangeKeyValidator)
    passed: set[tuple[Any, ...]] = set()
    validator_class = validators.UpdateExpressionValidator
    moto_init, moto_validate = validator_class.__init__, validator_class.validate

    def init(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
        moto_init(self, expression, *args, **kwargs)
        blob = getattr(expression, "__dict__", {}).get(pickled)
        names = self.expression_attribute_names
        self._kefu_checked = None if blob is None else (
            blob, _names_key(names), tuple(self.table.table_key_attrs))
        if self._kefu_checked in passed:
            self.processors = [p for p in self.processors if not isinstance(p, static)]

    def validate(self: Any) -> Any:
        validated = moto_validate(self)
        if self._kefu_checked is not None:
            if len(passed) >= 4096:
                passed.clear()
            passed.add(self._kefu_checked)
        return validated

    validator_class.__init__, validator_class.validate = init, validate
