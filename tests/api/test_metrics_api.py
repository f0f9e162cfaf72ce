"""/api/metrics: resources (and their admin-only auth matrix)."""

from __future__ import annotations

import pytest

from chalicelib.config import TABLE_KEYS

ADMIN_ROUTES = ["/api/metrics/resources"]


@pytest.mark.parametrize("path", ADMIN_ROUTES)
def test_metrics_are_for_admins_only(api, people, path):
    assert api.get(path).status_code == 401
    assert api.get(path, people.visitor()).status_code == 403  # the authorizer admits agents only
    refused = api.get(path, people.agent())
    assert refused.status_code == 403
    assert refused.json_body["error"] == "forbidden"


def test_resources_report_the_container_the_tables_and_the_push_endpoint(api, people):
    admin = people.admin()
    api.post("/api/visitors", body={})

    body = api.get("/api/metrics/resources", admin).json_body

    container = body["container"]
    assert container["peak_rss_mb"] > 10
    assert container["memory_limit_mb"] > 0  # the test client's Lambda context has one
    assert 0 < container["remaining_ms"] <= 60_000 * 15
    assert container["cold_start"] is False
    assert container["uptime_seconds"] > 0
    assert set(body["tables"]) == set(TABLE_KEYS)
    assert body["tables"]["visitors"]["table"] == "kefu-test-visitors"
    assert isinstance(body["tables"]["visitors"]["item_count"], int)
    assert body["management_endpoint"] == "http://127.0.0.1:9"
