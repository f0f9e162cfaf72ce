"""/api/visitors: anonymous customer sign-up (public)."""

from chalice import Blueprint
from pydantic import BaseModel, Field

from chalicelib.api.responses import json_response, parse_body, route
from chalicelib.services import visitors

bp = Blueprint(__name__)


class SignUpBody(BaseModel):
    name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@route(bp, "/api/visitors", methods=["POST"])
def sign_up():
    body = parse_body(bp, SignUpBody)
    return json_response(visitors.sign_up(body.name, body.email), status=201)
