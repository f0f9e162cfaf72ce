"""/api/sessions: REST mirrors of the chat protocol for the agent SPA (and the widget)."""



from chalice import Blueprint

from chalicelib.api.auth_guard import agent_auth, any_auth, current_principal
from chalicelib.api.responses import int_param, json_response, parse_body, query_params, route
from chalicelib.errors import ValidationFailed
from chalicelib.services import assignment, chat, ratelimit

bp = Blueprint(__name__)

STATUSES = ("queued", "active", "ended", "abandoned")






def _session_view(state: chat.SessionState) -> dict:
    body = state.session.to_public()
    body["position"] = state.position
    body["position_seq"] = state.position_seq
    return body


@route(bp, "/api/sessions", methods=["GET"], authorizer=any_auth,
       query="SessionsQuery", answers={200: "SessionList"}, errors=(403,))
def list_sessions():
    principal = current_principal(bp)
    params = query_params(bp)
    status = params.get("status")
    if status is not None and status not in STATUSES:
        raise ValidationFailed(f"status must be one of {STATUSES}")
    limit = int_param(params, "limit", 50, 1, 100)
    sessions = chat.list_sessions(principal, status=status, agent_id=params.get("agent_id"), limit=limit)
    return json_response({"sessions": [s.to_public() for s in sessions]})


@route(bp, "/api/sessions/{session_id}", methods=["GET"], authorizer=any_auth,
       answers={200: "SessionState"},
       errors=(403, 404))
def get_session(session_id: str):
    return json_response(_session_view(chat.state_for(current_principal(bp), session_id)))


@route(bp, "/api/sessions/{session_id}/messages", methods=["GET"], authorizer=any_auth,
       query="HistoryQuery", answers={200: "History"},
       errors=(403, 404))
def get_messages(session_id: str):
    params = query_params(bp)
    limit = int_param(params, "limit", 50, 1, 100)
    return json_response(chat.history(current_principal(bp), session_id, params.get("before"), limit))


@route(bp, "/api/sessions/{session_id}/messages", methods=["POST"], authorizer=any_auth,
       body="PostMessageBody",
       answers={201: "PostedMessage", 200: "PostedMessage"}, errors=(403, 404, 409, 429))
def post_message(session_id: str):
    from chalicelib.api.bodies import PostMessageBody

    body = parse_body(bp, PostMessageBody)
    principal = current_principal(bp)
    ratelimit.count_message(principal.user_id)
    message, is_new = chat.send_message(principal, session_id, body.client_msg_id, body.text)
    return json_response({"message": message.to_public(), "duplicate": not is_new},
                         status=201 if is_new else 200)


@route(bp, "/api/sessions/{session_id}/accept", methods=["POST"], authorizer=agent_auth,
       answers={200: "Session"},
       errors=(403, 404, 409))
def accept(session_id: str):
    principal = current_principal(bp)
    outcome = assignment.accept_session(session_id, principal.user_id)
    return json_response(outcome.session.to_public())


@route(bp, "/api/sessions/{session_id}/transfer", methods=["POST"], authorizer=agent_auth,
       body="TransferBody", answers={200: "Session"},
       errors=(403, 404, 409))
def transfer(session_id: str):
    principal = current_principal(bp)
    from chalicelib.api.bodies import TransferBody

    body = parse_body(bp, TransferBody)
    chat.session_for(principal, session_id)
    outcome = assignment.transfer(session_id, body.agent_id, principal.user_id,
                                  only_from=None if principal.is_admin else principal.user_id)
    return json_response(outcome.session.to_public())


@route(bp, "/api/sessions/{session_id}/end", methods=["POST"], authorizer=any_auth,
       answers={200: "Session"},
       errors=(403, 404, 409))
def end(session_id: str):
    session = chat.end_session(current_principal(bp), session_id)
    return json_response(session.to_public())


