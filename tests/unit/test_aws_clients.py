"""kefu's botocore clients (``chalicelib.models.clients``): one loader whose shortcuts (a service
confirmed by its own folder, plain dicts instead of botocore's ``OrderedDict``) change nothing a
client or a caller of botocore sees."""

from __future__ import annotations

import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader

from chalicelib.models import clients


@pytest.fixture()
def ours() -> Loader:
    """A loader as the shared one starts (botocore changes some of what it loaded as it uses it)."""
    return clients._Loader()


@pytest.fixture()
def botocores() -> Loader:
    return Loader()


@pytest.mark.parametrize(("service", "type_name"), [
    ("dynamodb", "service-2"), ("apigatewaymanagementapi", "service-2"), ("dynamodb", "endpoint-rule-set-1"),
])
def test_a_model_loads_as_botocore_loads_it(ours, botocores, service, type_name):
    assert ours.load_service_model(service, type_name) == botocores.load_service_model(service, type_name)


def test_botocores_own_data_files_load_as_botocore_loads_them(ours, botocores):
    for name in ("endpoints", "partitions", "sdk-default-configuration", "_retry"):
        assert ours.load_data(name) == botocores.load_data(name), name


def test_an_unknown_service_is_refused_with_botocores_error_naming_the_known_ones(ours):
    with pytest.raises(UnknownServiceError) as refused:
        ours.load_service_model("no-such-service", "service-2")

    assert "dynamodb" in str(refused.value)


def test_the_services_listed_are_botocores(ours, botocores):
    listed = ours.list_available_services("service-2")

    assert list(listed) == botocores.list_available_services("service-2")
    assert "dynamodb" in listed and "no-such-service" not in listed and 404 not in listed


def test_a_client_made_from_the_shared_session_serves_a_call(tables):
    from chalicelib.config import get_config

    client = clients.aws_client("dynamodb", region_name=get_config().region,
                                endpoint_url=get_config().dynamodb_endpoint)

    assert get_config().table_names["connections"] in client.list_tables()["TableNames"]


def test_data_plane_answers_parse_as_botocore_parses_them():
    """The plain-JSON reading of a data-plane answer (``_DataPlaneJSONParser``) gives what
    botocore's parser gives, status and headers included; an answer with a binary value (base64
    text botocore decodes to bytes) still goes through botocore's parser."""
    from botocore.model import ServiceModel
    from botocore.parsers import create_parser

    service = ServiceModel(clients._Loader().load_service_model("dynamodb", "service-2"))
    headers = {"x-amzn-RequestId": "r-1", "Content-Type": "application/x-amz-json-1.0", "x-amz-crc32": "1"}
    answers = {
        "GetItem": b'{"Item": {"pk": {"S": "a"}, "n": {"N": "1.5"}, "ok": {"BOOL": true}, "none": {"NULL": true},'
                   b' "tags": {"SS": ["x", "y"]}, "m": {"M": {"l": {"L": [{"N": "2"}, {"S": "B"}]}}}}}',
        "Query": b'{"Items": [{"pk": {"S": "Bob"}}], "Count": 1, "ScannedCount": 1,'
                 b' "LastEvaluatedKey": {"pk": {"S": "Bob"}},'
                 b' "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5}}',
        "UpdateItem": b'{"Attributes": {"pk": {"S": "a"}, "blob": {"B": "aGVsbG8="}, "blobs": {"BS": ["aGk="]}}}',
        "PutItem": b"{}",
        "TransactWriteItems": b"",
        "DeleteItem": b'{"Attributes": {"pk": {"S": "a"}',  # truncated: botocore's reading decides
        "BatchGetItem": b'{"Responses": {"t": [{"pk": {"S": "a"}}]}, "UnprocessedKeys": {}}',
    }
    for operation, body in answers.items():
        shape = service.operation_model(operation).output_shape
        response = {"status_code": 200, "headers": headers, "body": body}
        ours = clients._ParserFactory().create_parser("json").parse(dict(response), shape)
        assert ours == create_parser("json").parse(dict(response), shape), operation
    binary = clients._ParserFactory().create_parser("json").parse(
        {"status_code": 200, "headers": headers, "body": answers["UpdateItem"]},
        service.operation_model("UpdateItem").output_shape)
    assert binary["Attributes"]["blob"] == {"B": b"hello"} and binary["Attributes"]["blobs"] == {"BS": [b"hi"]}


def test_data_plane_requests_are_written_as_botocore_writes_them():
    """The plain-JSON writing of a data-plane request (``_DataPlaneJSONSerializer``) gives the
    request botocore's serializer gives, binary values (bytes, base64-encoded by botocore) included;
    and the clients kefu makes use it."""
    from botocore.model import ServiceModel
    from botocore.serialize import create_serializer

    from chalicelib.models import SessionModel

    service = ServiceModel(clients._Loader().load_service_model("dynamodb", "service-2"))
    requests = {
        "UpdateItem": {"TableName": "t", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET #n = #n + :one",
                       "ConditionExpression": "attribute_exists(pk)", "ExpressionAttributeNames": {"#n": "n"},
                       "ExpressionAttributeValues": {":one": {"N": "1"}, ":l": {"L": [{"M": {"x": {"BOOL": True}}}]}},
                       "ReturnValues": "ALL_NEW"},
        "Query": {"TableName": "t", "IndexName": "i", "KeyConditionExpression": "g = :g", "Limit": 20,
                  "ExpressionAttributeValues": {":g": {"S": "é"}}, "ExclusiveStartKey": {"pk": {"S": "b"}}},
        "PutItem": {"TableName": "t", "Item": {"pk": {"S": "a"}, "blob": {"B": b"\x00hi"}, "bs": {"BS": [b"x"]}}},
        "DeleteItem": {"TableName": "t", "Key": {"pk": {"S": "a"}}, "ConditionExpression": "#b = :b",
                       "ExpressionAttributeNames": {"#b": "blob"}, "ExpressionAttributeValues": {":b": {"B": "text"}}},
        "TransactWriteItems": {"TransactItems": [{"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}}}},
                                                 {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "b"}},
                                                                     "ConditionExpression": "attribute_exists(pk)"}}],
                               "ClientRequestToken": "tok"},
        "BatchGetItem": {"RequestItems": {"t": {"Keys": [{"pk": {"S": "a"}}], "ConsistentRead": True}}},
    }
    for operation, parameters in requests.items():
        model = service.operation_model(operation)
        ours = clients._DataPlaneJSONSerializer().serialize_to_request(parameters, model)
        assert ours == create_serializer("json", include_validation=False).serialize_to_request(parameters, model)
    serializer = SessionModel._get_connection().connection.client._serializer
    assert isinstance(getattr(serializer, "_serializer", serializer), clients._DataPlaneJSONSerializer)
