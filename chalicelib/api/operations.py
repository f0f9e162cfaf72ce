"""Operations (admins): online users, WebSocket stats, connections, disconnecting users."""

from chalice import Blueprint

from chalicelib.api.auth_guard import any_auth, current_principal, require_admin
from chalicelib.api.responses import int_param, json_response, parse_body, query_params, route
from chalicelib.services import operations, paging, wsstats

bp = Blueprint(__name__)


def _admin() -> None:
    require_admin(current_principal(bp))


def _page_params() -> tuple[dict[str, str], int, str | None]:
    params = query_params(bp)
    limit = int_param(params, "limit", paging.DEFAULT_LIMIT, 1, paging.MAX_LIMIT)
    return params, limit, params.get("cursor") or None


@route(bp, "/api/system/online-users", methods=["GET"], authorizer=any_auth,
       query="OnlineUsersQuery", answers={200: "OnlineUsers"},
       errors=(403,))
def online_users():
    _admin()
    params, limit, cursor = _page_params()
    page = operations.online_users(params.get("role", "agent"), limit, cursor)
    return json_response({"users": page.items, "next": page.next})


@route(bp, "/api/stats/websocket", methods=["GET"], authorizer=any_auth,
       answers={200: "WebSocketStats"}, errors=(403,))
def websocket_stats():
    _admin()
    return json_response(wsstats.report())


@route(bp, "/api/connections", methods=["GET"], authorizer=any_auth,
       query="ConnectionsQuery", answers={200: "Connections"},
       errors=(403,))
def list_connections():
    _admin()
    params, limit, cursor = _page_params()
    page = operations.list_connections(params.get("user_id") or None, params.get("role") or None,
                                       limit, cursor)
    return json_response({"connections": page.items, "next": page.next})


@route(bp, "/api/connections/{connection_id}", methods=["GET"], authorizer=any_auth,
       answers={200: "ConnectionDetail"},
       errors=(403, 404))
def get_connection(connection_id: str):
    _admin()
    return json_response(operations.describe_connection(connection_id))


@route(bp, "/api/connections/{connection_id}", methods=["DELETE"], authorizer=any_auth,
       answers={200: "Closed"},
       errors=(403, 404))
def close_connection(connection_id: str):
    _admin()
    return json_response(operations.close_connection(connection_id, "closed_by_admin").to_dict())


@route(bp, "/api/users/{user_id}/disconnect", methods=["POST"], authorizer=any_auth,
       body="DisconnectBody", answers={200: "Disconnected"},
       errors=(403, 404))
def disconnect_user(user_id: str):
    _admin()
    from chalicelib.api.bodies import DisconnectBody

    body = parse_body(bp, DisconnectBody)
    return json_response(operations.disconnect_user(user_id, body.revoke_tokens))
