"""One botocore DynamoDB client for every PynamoDB connection, made once even when threads race to
its first use.

PynamoDB makes a connection's client lazily and without a lock: threads making their first call at
the same moment each build a botocore session and a client (loading the service's JSON models) and
all but one are thrown away. On Lambda (one request at a time per container) that never happens;
in the local stack's threaded servers and the test suite's races (200 threads) it cost minutes of
CPU and gigabytes of memory.

Each connection also has a botocore session of its own, and each session its own loader, which
reads and parses the service's JSON models again: with one loader shared (botocore's public
``register_component``) they are parsed once per process, not once per table.

One botocore session serves them all (and the ``@connections`` client): a session registers some
two hundred event handlers when made, 10 ms of a cold start each time.

Its answers are read as plain JSON: botocore's parser walked every item of an answer attribute by
attribute against the model (to decode blobs, which kefu's tables do not hold), an eighth of the
CPU a frame costs; an answer that may hold a blob still goes through it (``_DataPlaneJSONParser``).
Its requests are written as plain JSON the same way, a tenth of the CPU (``_DataPlaneJSONSerializer``).

And every table's connection is given the same client: PynamoDB makes one per model class, each
with its own endpoint resolution and event hooks, so a cold Lambda serving its first frame built
five clients where one does (a fifth of the time to its first answer). A botocore client is
thread-safe; its connection pool is shared by all tables (``table_meta``'s ``max_pool_connections``).
"""

from __future__ import annotations

import functools
import gzip
import json
import re
import threading
import weakref
from collections.abc import Sequence
from typing import Any, TypeVar

from botocore.exceptions import DataNotFoundError
from botocore.loaders import JSONFileLoader, Loader
from botocore.parsers import JSONParser, ResponseParserFactory
from botocore.serialize import JSONSerializer

C = TypeVar("C")

_lock = threading.Lock()
_ready: weakref.WeakSet[Any] = weakref.WeakSet()
_shared: dict[tuple[Any, ...], Any] = {}  # (region, endpoint, pool, timeouts, retries) -> client


class _Services(Sequence[str]):
    """The services a loader has models of one type for, listed only when iterated.

    Before it loads a model botocore asks ``name in loader.list_available_services(type)``, and
    that lists the folder of every service it ships (~400) and looks for the type in each: twice
    per process, a tenth of a cold Lambda's start. The service's own folder answers the question."""

    def __init__(self, loader: Loader, type_name: str) -> None:
        self._loader = loader
        self._type_name = type_name

    def __contains__(self, name: object) -> bool:
        try:
            return isinstance(name, str) and bool(self._loader.list_api_versions(name, self._type_name))
        except DataNotFoundError:
            return False

    @functools.cached_property
    def _listed(self) -> list[str]:
        return Loader.list_available_services(self._loader, self._type_name)

    def __getitem__(self, index: Any) -> Any:
        return self._listed[index]

    def __len__(self) -> int:
        return len(self._listed)


class _PlainJSONFiles(JSONFileLoader):
    """botocore's data files parsed into plain dicts (ordered, as every dict is): botocore's
    ``OrderedDict`` hook made the ~1.4 MB a process reads (endpoints, the service's model) parse
    2.5 times slower, 20 ms of a cold start. Nothing in botocore needs the loaded data to be an
    ``OrderedDict``."""

    def load_file(self, file_path: str) -> Any:
        for extension, opener in ((".json", open), (".json.gz", gzip.open)):
            try:
                with opener(file_path + extension, "rb") as f:
                    return json.loads(f.read())
            except FileNotFoundError:
                continue
        return super().load_file(file_path)  # a format a later botocore reads and this does not


class _Loader(Loader):
    """botocore's loader, confirming a service by its own folder (``_Services``) and parsing its
    files into plain dicts (``_PlainJSONFiles``)."""

    def __init__(self) -> None:
        super().__init__(file_loader=_PlainJSONFiles())

    def list_available_services(self, type_name: str) -> Sequence[str]:
        return _Services(self, type_name)


# DynamoDB's data-plane answers: attribute values, keys, capacity; no timestamp anywhere in them.
_DATA_PLANE_OUTPUTS = frozenset({
    "GetItemOutput", "PutItemOutput", "UpdateItemOutput", "DeleteItemOutput", "QueryOutput", "ScanOutput",
    "BatchGetItemOutput", "BatchWriteItemOutput", "TransactGetItemsOutput", "TransactWriteItemsOutput"})


_BINARY_KEY = re.compile(rb'"BS?"\s*:')


class _DataPlaneJSONParser(JSONParser):
    """A data-plane answer is already what botocore's parser makes of it, but for binary
    attribute values (base64 text to bytes): one without a ``"B"`` or ``"BS"`` key is taken as
    ``json.loads`` reads it; any other answer is parsed by botocore. What botocore adds around it
    (status, headers, request id) is added as before."""

    def _handle_json_body(self, raw_body: Any, shape: Any) -> Any:
        if shape is not None and shape.name in _DATA_PLANE_OUTPUTS and not _BINARY_KEY.search(raw_body):
            try:
                return json.loads(raw_body) if raw_body else {}
            except ValueError:  # a truncated body: botocore's reading (then its checksum retry) decides
                pass
        return super()._handle_json_body(raw_body, shape)


class _ParserFactory(ResponseParserFactory):
    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return _DataPlaneJSONParser(**self._defaults)
        return super().create_parser(protocol_name)


_DATA_PLANE_OPERATIONS = frozenset(name.removesuffix("Output") for name in _DATA_PLANE_OUTPUTS)


class _DataPlaneJSONSerializer(JSONSerializer):
    """A data-plane request's parameters are already its JSON body, unless they hold bytes (a
    binary value, base64-encoded by botocore): a request ``json.dumps`` can write is written so,
    with what botocore puts around the body (target, content type, method) as before; any other
    goes through botocore's serializer."""

    def serialize_to_request(self, parameters: Any, operation_model: Any) -> Any:
        if operation_model.name in _DATA_PLANE_OPERATIONS:
            try:
                body = json.dumps(parameters).encode(self.DEFAULT_ENCODING)
            except TypeError:  # bytes, or another type botocore converts
                body = None
            if body is not None and not _BINARY_KEY.search(body):  # text given as a binary value: botocore's
                serialized = super().serialize_to_request({}, operation_model)
                serialized["body"] = body
                return serialized
        return super().serialize_to_request(parameters, operation_model)


def _with_fast_serializer(client: Any) -> Any:
    """``client`` writing data-plane requests with ``_DataPlaneJSONSerializer`` (behind botocore's
    parameter validation when the client has it on; PynamoDB's clients have it off)."""
    outer = client._serializer
    if type(getattr(outer, "_serializer", None)) is JSONSerializer:
        outer._serializer = _DataPlaneJSONSerializer()
    elif type(outer) is JSONSerializer:
        client._serializer = _DataPlaneJSONSerializer()
    return client


def _made_fast(session: Any) -> Any:
    session.register_component("data_loader", _shared_loader())
    session.register_component("response_parser_factory", _ParserFactory())
    return session


@functools.lru_cache(maxsize=1)
def _shared_loader() -> Any:
    return _Loader()


@functools.lru_cache(maxsize=1)
def _shared_session() -> Any:
    """The process's botocore session (clients are made from it under ``_lock``: making clients
    from one session is not thread-safe)."""
    import botocore.session

    return _made_fast(botocore.session.get_session())


def aws_client(service: str, **kwargs: Any) -> Any:
    """A botocore client for ``service`` (``boto3.client``'s arguments) from the session and
    loader the DynamoDB clients were made with: the first push of a cold Lambda neither reads
    botocore's data files again nor builds a second session."""
    with _lock:
        return _shared_session().create_client(service, **kwargs)


def register_handler(event_name: str, handler: Any, unique_id: str) -> None:
    """A botocore event handler for every client made from now on from the process's session
    (the ``@connections`` client; DynamoDB's, unless they have keys of their own)."""
    with _lock:
        _shared_session().register(event_name, handler, unique_id=unique_id)


def with_client(connection: C) -> C:
    """``connection`` (a PynamoDB ``Connection``) once its botocore client exists."""
    if connection not in _ready:
        with _lock:
            if connection not in _ready:
                key = _client_key(connection)
                if key in _shared:
                    connection._client = _shared[key]
                else:
                    if connection._aws_access_key_id is None:  # keys of its own: a session of its own
                        connection._local.session = _shared_session()
                    else:
                        _made_fast(connection.session)
                    _shared[key] = _with_fast_serializer(connection.client)  # the property makes it
                _ready.add(connection)
    return connection


def _client_key(connection: Any) -> tuple[Any, ...]:
    """What PynamoDB builds a connection's client from: connections alike may share one."""
    return (connection.region, connection.host, connection._max_pool_connections,
            connection._connect_timeout_seconds, connection._read_timeout_seconds,
            connection._max_retry_attempts_exception, repr(connection._retry_configuration),
            connection._aws_access_key_id, repr(connection._extra_headers))
