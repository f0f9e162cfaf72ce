"""/api/auth: agent login (public)."""

from chalice import Blueprint
from pydantic import BaseModel, Field

from chalicelib.api.responses import json_response, parse_body, route
from chalicelib.services import agents

bp = Blueprint(__name__)


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


@route(bp, "/api/auth/login", methods=["POST"])
def login():
    body = parse_body(bp, LoginBody)
    return json_response(agents.authenticate(body.username, body.password))
