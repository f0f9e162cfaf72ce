"""kefu: wiring only. Routes live in chalicelib/api, the protocol in chalicelib/ws, jobs in
chalicelib/jobs; WebSocket handlers must be declared on ``app`` (Chalice does not wrap them on a
Blueprint), so they are one-line hand-offs."""

from chalicelib import runtime  # noqa: I001  (first: it marks the container's start)

from chalice import Chalice, ConvertToMiddleware

from chalicelib.api import agents, analytics, auth, auth_guard, cors, kefu, messages, operations, sessions, system
from chalicelib.api import attachments, canned, inbox, tickets, visitors, widget
from chalicelib.api import metrics as metrics_api
from chalicelib.api.responses import house_shape
from chalicelib.jobs import reports, schedules
from chalicelib.observability import logger, metrics
from chalicelib.ws import handlers as ws
from chalicelib.ws.handlers import TABLES_USED_BY  # noqa: F401  (each WebSocket function's tables: infra.generate)

app = Chalice(app_name="kefu")
app.experimental_feature_flags.update(["WEBSOCKETS"])
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context(clear_state=True)))
app.register_middleware(ConvertToMiddleware(metrics.log_metrics))
app.register_middleware(house_shape, "http")

for blueprint_module in (auth_guard, system, auth, visitors, agents, analytics, sessions, kefu, messages,
                         operations, metrics_api, canned, inbox, schedules, reports, widget, attachments,
                         tickets):
    app.register_blueprint(blueprint_module.bp)
cors.enable(app)  # after every route: it adds an OPTIONS view per path


@app.on_ws_connect()
def ws_connect(event):
    return ws.handle_connect(event)


@app.on_ws_message()
def ws_message(event):
    return ws.handle_message(event)


@app.on_ws_disconnect()
def ws_disconnect(event):
    return ws.handle_disconnect(event)


runtime.mark_ready()
