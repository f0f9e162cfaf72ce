"""/api/sessions: REST mirrors of the chat protocol for the agent SPA (and the widget)."""

from chalice import Blueprint

from chalicelib.api.auth_guard import agent_auth, any_auth, current_principal
from chalicelib.api.responses import int_param, json_response, parse_body, query_params, route, source_ip
from chalicelib.errors import Forbidden, ValidationFailed
from chalicelib.services import assignment, chat, conversations, ratelimit, session_lists
from chalicelib.services.attachments import public_message

bp = Blueprint(__name__)

STATUSES = ("queued", "active", "offline", "ended", "abandoned")


def _session_view(state: chat.SessionState, for_agent: bool = False) -> dict:
    body = state.session.to_public(for_agent=for_agent)
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
    if status in chat.UNASSIGNED_STATUSES and principal.is_agent and not params.get("agent_id"):
        sessions = session_lists.unassigned_sessions(status, limit)
    else:
        sessions = session_lists.list_sessions(principal, status=status, agent_id=params.get("agent_id"), limit=limit)
    return json_response({"sessions": [s.to_public(for_agent=principal.is_agent) for s in sessions]})


@route(bp, "/api/sessions", methods=["POST"], authorizer=any_auth,
       body="FirstMessageBody", answers={201: "FirstMessage", 200: "FirstMessage"},
       errors=(403, 404, 409, 429))
def start_with_first_message():
    """The visitor's first message opens the conversation (or joins the open one)."""
    from chalicelib.api.bodies import FirstMessageBody

    body = parse_body(bp, FirstMessageBody)
    principal = current_principal(bp)
    if principal.typ != "visitor":
        raise Forbidden("only visitors start conversations")
    ratelimit.count_message(principal.user_id)
    message, is_new = conversations.send(
        principal, None, body.client_msg_id, body.text, attachment_id=body.attachment_id,
        context=body.context.model_dump() if body.context else None, topic=body.topic,
        source_ip=source_ip(bp), user_agent=(bp.current_request.headers or {}).get("user-agent"))
    state = chat.state_for(principal, message.session_id)
    return json_response({"session": _session_view(state), "message": public_message(message),
                          "duplicate": not is_new}, status=201 if is_new else 200)


@route(bp, "/api/sessions/{session_id}", methods=["GET"], authorizer=any_auth,
       answers={200: "SessionState"},
       errors=(403, 404))
def get_session(session_id: str):
    principal = current_principal(bp)
    return json_response(_session_view(chat.state_for(principal, session_id), for_agent=principal.is_agent))


@route(bp, "/api/sessions/{session_id}/messages", methods=["GET"], authorizer=any_auth,
       query="HistoryQuery", answers={200: "History"},
       errors=(403, 404))
def get_messages(session_id: str):
    params = query_params(bp)
    limit = int_param(params, "limit", 50, 1, 100)
    return json_response(chat.history(current_principal(bp), session_id, params.get("before"), limit))


@route(bp, "/api/sessions/{session_id}/messages", methods=["POST"], authorizer=any_auth,
       body="SendBody",
       answers={201: "PostedMessage", 200: "PostedMessage"}, errors=(403, 404, 409, 429))
def post_message(session_id: str):
    from chalicelib.api.bodies import SendBody

    body = parse_body(bp, SendBody)
    principal = current_principal(bp)
    ratelimit.count_message(principal.user_id)
    message, is_new = conversations.send(principal, session_id, body.client_msg_id, body.text,
                                         attachment_id=body.attachment_id, internal=body.internal)
    return json_response({"message": public_message(message), "duplicate": not is_new},
                         status=201 if is_new else 200)


@route(bp, "/api/sessions/{session_id}/accept", methods=["POST"], authorizer=agent_auth,
       answers={200: "Session"},
       errors=(403, 404, 409))
def accept(session_id: str):
    principal = current_principal(bp)
    outcome = assignment.accept_session(session_id, principal.user_id)
    return json_response(outcome.session.to_public(for_agent=True))


@route(bp, "/api/sessions/{session_id}/transfer", methods=["POST"], authorizer=agent_auth,
       body="TransferBody", answers={200: "Session"},
       errors=(403, 404, 409))
def transfer(session_id: str):
    principal = current_principal(bp)
    from chalicelib.api.bodies import TransferBody

    body = parse_body(bp, TransferBody)
    chat.session_for(principal, session_id)
    outcome = assignment.transfer(session_id, body.agent_id, principal.user_id,
                                  only_from=None if principal.is_admin else principal.user_id,
                                  note=body.note or None)
    return json_response(outcome.session.to_public())


@route(bp, "/api/sessions/{session_id}/end", methods=["POST"], authorizer=any_auth,
       answers={200: "Session"},
       errors=(403, 404, 409))
def end(session_id: str):
    session = chat.end_session(current_principal(bp), session_id)
    return json_response(session.to_public())


@route(bp, "/api/sessions/{session_id}/rating", methods=["POST"], authorizer=any_auth,
       body="RatingBody", answers={200: "Session"}, errors=(403, 404, 409))
def rate(session_id: str):
    from chalicelib.api.bodies import RatingBody

    body = parse_body(bp, RatingBody)
    session = chat.rate_session(current_principal(bp), session_id, body.rating, body.comment)
    return json_response(session.to_public())


@route(bp, "/api/sessions/{session_id}/transcript", methods=["POST"], authorizer=any_auth,
       body="TranscriptBody", answers={202: "TranscriptSent"}, errors=(403, 404, 429, 503))
def transcript(session_id: str):
    from chalicelib.api.bodies import TranscriptBody

    body = parse_body(bp, TranscriptBody)
    return json_response(conversations.email_transcript(current_principal(bp), session_id, body.email), status=202)
