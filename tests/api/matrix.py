"""Reading REST answers the way the auth matrix talks about them.

The Chalice test client answers a token the authorizer denies as API Gateway does by default (403
with a ``Message``); the deployed API and the local stack map that to 401 ``invalid_token`` (the
e2e tests check it there). A view's own refusal is 403 ``{"error": "forbidden"}``.
"""

from __future__ import annotations

from typing import Any

DENIED = "denied"  # the authorizer refused the token (revoked, forged, wrong type)
FORBIDDEN = "forbidden"  # a valid token without the right role or session


def outcome(response: Any) -> int | str:
    body = response.json_body if response.body else None
    if response.status_code == 403 and isinstance(body, dict) and "Message" in body:
        return DENIED
    if response.status_code == 403 and isinstance(body, dict) and body.get("error") == "forbidden":
        return FORBIDDEN
    return response.status_code


def auth_matrix(api: Any, people: Any, method: str, path: str, body: Any = None) -> dict[str, int | str]:
    """What a caller without a token, a visitor and a plain agent get on ``path``."""
    return {
        "no_token": outcome(api.call(method, path, body=body)),
        "visitor": outcome(api.call(method, path, people.visitor(), body=body)),
        "agent": outcome(api.call(method, path, people.agent(), body=body)),
    }


ADMIN_ONLY = {"no_token": 401, "visitor": FORBIDDEN, "agent": FORBIDDEN}
