"""API Gateway "gateway responses": the answers the gateway itself gives before any Lambda runs.

The deployed REST API customises them (CloudFormation ``AWS::ApiGateway::GatewayResponse``, written
by the infra engineer from this very table) so clients always get our ``{"error", "message"}``
shape. Chalice's local gateway raises its own errors for the same situations; the local REST server
rewrites them through this table so local answers look like deployed ones. Keep the two in step,
and keep docs/local-stack.md in step with both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class GatewayResponse:
    """One customised gateway response: which situation, and what the client sees."""

    response_type: str  # the CloudFormation ResponseType
    local_status: int  # what chalice.local raises for the same situation
    local_marker: str  # text in chalice.local's x-amzn-ErrorType header or body that tells it apart
    status: int
    error: str
    message: str

    def body(self) -> bytes:
        return json.dumps({"error": self.error, "message": self.message}).encode()


# Headers on every gateway response (infra/generate.py sets the same in the packaged template).
HEADERS = {"X-Content-Type-Options": "nosniff"}

GATEWAY_RESPONSES: tuple[GatewayResponse, ...] = (
    # No Authorization header on a route with an authorizer: API Gateway answers without calling it.
    GatewayResponse("UNAUTHORIZED", 401, "UnauthorizedException",
                    401, "unauthorized", "missing token"),
    # The authorizer denied the token (forged, expired, wrong type).
    GatewayResponse("ACCESS_DENIED", 403, "AccessDeniedException",
                    401, "invalid_token", "token is invalid, expired or not accepted here"),
    # No such route (or method): API Gateway's famous 403 "Missing Authentication Token".
    GatewayResponse("MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token",
                    404, "not_found", "no such route"),
    # The same, when the request carries an Authorization header (AWS answers 403 "Authorization
    # header requires 'Credential' parameter..." for an unknown route then).
    GatewayResponse("MISSING_AUTHENTICATION_TOKEN", 403, "Authorization header requires",
                    404, "not_found", "no such route"),
)


def match(status: int, headers: dict[str, str], body: bytes | None) -> GatewayResponse | None:
    """The customised response for an error chalice.local raised, or None to pass it through."""
    seen = headers.get("x-amzn-ErrorType", "") + "\n" + (body or b"").decode("utf-8", "replace")
    for response in GATEWAY_RESPONSES:
        if response.local_status == status and response.local_marker in seen:
            return response
    return None
