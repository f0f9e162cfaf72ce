"""``Stack``: every local piece started in order, usable from ``python -m devstack`` and from tests.

Order matters: a fresh start sets the old data aside first (the JWT secret is part of it), then the
environment (PynamoDB fixes table names and the endpoint at import), DynamoDB, ``app``, the tables
with the snapshot and the journal replayed (before anything can write: writes are journaled only
from then on, and a browser reconnects as soon as the WebSocket port listens), then the WebSocket
gateway and its ``@connections`` API (whose URLs the app needs before any push), the admin, REST
last. ``stop`` undoes it in reverse: sockets close first so their ``$disconnect`` reaches a live app
and database, the last snapshot is taken after the last write.
"""

from __future__ import annotations

import http.client
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from devstack import environment, fast_headers, iam
from devstack.admin import AdminCredentials, seed_admin
from devstack.datadir import set_aside
from devstack.dynamodb import SNAPSHOT_FILE, ClientTables, Snapshotter, load_snapshot, save_snapshot
from devstack.lambda_runtime import Handler, LambdaContext, function_name, resolve_handler
from devstack.management import ManagementApi
from devstack.moto_process import MotoProcess
from devstack.schedules import Scheduler, discover_jobs
from devstack.unsigned import post_unsigned, send_unsigned_to
from devstack.websocket import IDLE_TIMEOUT_SECONDS, MAX_DURATION_SECONDS, WebSocketGateway

log = logging.getLogger(__name__)

SNAPSHOT_INTERVAL_SECONDS = 60.0


class Stack:
    """The local stack. Ports 0 pick free ports; ``data_dir=None`` keeps nothing on disk."""

    def __init__(
        self,
        http_port: int = 0,
        ws_port: int = 0,
        mgmt_port: int = 0,
        data_dir: str | Path | None = None,
        fresh: bool = False,
        *,
        host: str = "127.0.0.1",
        schedules: bool = False,
        snapshot_interval: float = SNAPSHOT_INTERVAL_SECONDS,
        idle_timeout: float | None = None,
        max_duration: float | None = None,
    ) -> None:
        self.host = host
        self._ports = {"http": http_port, "ws": ws_port, "mgmt": mgmt_port}
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else None
        self.fresh = fresh
        self.run_schedules = schedules
        self.snapshot_interval = snapshot_interval
        self._idle_timeout = idle_timeout
        self._max_duration = max_duration
        self.rest_url = ""
        self.widget_url = ""  # the demo page with the widget
        self.console_url = ""
        self.ws_url = ""
        self.management_endpoint = ""
        self.dynamodb_endpoint = ""
        self.s3_endpoint = ""
        self.ses_endpoint = ""
        self.admin: AdminCredentials | None = None
        self.loaded_items = 0
        self.replayed_writes = 0  # journaled writes applied after the snapshot at start
        self.previous_data: Path | None = None  # where a fresh start moved the old data
        self.app_module: ModuleType | None = None
        self._moto: MotoProcess | None = None
        self.sim = ""  # how the DynamoDB backend misbehaves (devstack/sim.py), for the banner
        self._gateway: WebSocketGateway | None = None
        self._management: ManagementApi | None = None
        self._rest: Any = None
        self._snapshotter: Snapshotter | None = None
        self._scheduler: Scheduler | None = None
        self._ws_handlers: dict[str, tuple[str, str, Handler]] = {}
        self._previous_urls: dict[str, str | None] = {}
        self._region = environment.REGION

    # ---- public surface --------------------------------------------------------------------

    @property
    def gateway(self) -> WebSocketGateway:
        """The WebSocket gateway (test seams: ``lose_disconnects``, ``lose_disconnect_ids``,
        ``abort()``, ``capture_events()``)."""
        if self._gateway is None:
            raise RuntimeError("the stack is not started")
        return self._gateway

    @property
    def scheduler(self) -> Scheduler | None:
        return self._scheduler

    @property
    def snapshot_path(self) -> Path | None:
        return self.data_dir / SNAPSHOT_FILE if self.data_dir is not None else None

    @property
    def stack_file(self) -> Path | None:
        """Where this stack describes itself while it runs (``chalicelib.manage`` reads it)."""
        return self.data_dir / environment.STACK_FILE if self.data_dir is not None else None

    def _write_stack_file(self) -> None:
        if self.stack_file is None:
            return
        from chalicelib.config import get_config

        config = get_config()
        environment.write_private(self.stack_file, json.dumps({
            "pid": os.getpid(), "region": self._region, "stage": config.stage,
            "table_prefix": config.table_prefix, "dynamodb_endpoint": self.dynamodb_endpoint,
            "rest_url": self.rest_url, "ws_url": self.ws_url, "console_url": self.console_url,
            "widget_url": self.widget_url,
        }, indent=2))

    @property
    def outbox_path(self) -> Path | None:
        """Where the embedded SES writes every mail it sends (one JSON object a line)."""
        return self.data_dir / environment.OUTBOX_FILE if self.data_dir is not None else None

    @property
    def is_journaled(self) -> bool:
        """Every acknowledged write survives a crash (the embedded DynamoDB with a data dir)."""
        return self._moto is not None and self._moto.is_journaled

    def save_snapshot(self) -> int:
        """Snapshot now (the periodic thread does it every minute anyway)."""
        if self._snapshotter is None:
            raise RuntimeError("this stack has no data dir")
        return self._snapshotter.save()

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start everything; returns once REST, WebSocket and ``@connections`` all answer."""
        fast_headers.install()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop in reverse order; safe to call twice or after a failed start."""
        if self.stack_file is not None:
            self.stack_file.unlink(missing_ok=True)
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None
        if self._gateway is not None:
            self._gateway.stop()  # fires $disconnect for every open socket
        if self._management is not None:
            self._management.stop()
            self._management = None
        if self._rest is not None:
            self._rest.stop()
            self._rest = None
        if self._snapshotter is not None:
            try:
                self._snapshotter.stop()
            except Exception:
                log.exception("final snapshot failed")
            self._snapshotter = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
            os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
        self._restore_urls()

    def _restore_urls(self) -> None:
        """In a test process the app outlives the stack: point its pushes back where they were."""
        if not self._previous_urls:
            return
        for name, value in self._previous_urls.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._previous_urls.clear()
        from chalicelib.config import reload_config

        reload_config()

    # ---- start, step by step ----------------------------------------------------------------

    def _start(self) -> None:
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            if self.fresh:
                self.previous_data = set_aside(self.data_dir)
                if self.previous_data is not None:
                    log.info("fresh start: the previous data is in %s", self.previous_data)
        environment.prepare(self.data_dir)
        self.dynamodb_endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or ""
        self.sim = "as configured on the external endpoint"
        if not self.dynamodb_endpoint:
            self._moto = MotoProcess(self.host, data_dir=self.data_dir, region=self._region, sim_default="aws",
                                     outbox=self.outbox_path)
            self.dynamodb_endpoint = self._moto.start()
            self.sim = self._moto.sim.describe()
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = self.dynamodb_endpoint
        for name in environment.LOCAL_AWS_ENDPOINTS:  # put back on stop, like the WebSocket URLs
            self._previous_urls.setdefault(name, os.environ.get(name))
        environment.point_at_local_aws(self.dynamodb_endpoint)
        self.s3_endpoint = os.environ["AWS_ENDPOINT_URL_S3"]
        self.ses_endpoint = os.environ["AWS_ENDPOINT_URL_SESV2"]
        send_unsigned_to(self.dynamodb_endpoint)
        post_unsigned()
        iam.enforce()
        self.app_module = self._import_app()
        self._prepare_tables()
        self._start_gateway()
        self.admin = seed_admin(self.data_dir)
        self._start_rest()
        self._prepare_s3_and_ses()
        if self.snapshot_path is not None:
            self._snapshotter = Snapshotter(self._snapshot_saver(self.snapshot_path), self.snapshot_path,
                                            self.snapshot_interval)
            self._snapshotter.start()
        if self.run_schedules:
            jobs = discover_jobs(self.app_module, self._app_name(), self._stage(), self._region)
            self._scheduler = Scheduler(jobs, self._region)
            self._scheduler.start()
        self._wait_until_answering()
        self._write_stack_file()

    def _import_app(self) -> ModuleType:
        if str(environment.PROJECT_DIR) not in sys.path:
            sys.path.insert(0, str(environment.PROJECT_DIR))
        from chalicelib.config import reload_config

        reload_config()
        app_module = importlib.import_module("app")
        from chalicelib.models import ALL_MODELS

        host = getattr(ALL_MODELS[0].Meta, "host", None)
        if host != self.dynamodb_endpoint:
            raise RuntimeError(
                f"chalicelib.models was imported before the stack set the environment: the models "
                f"talk to {host!r}, the stack to {self.dynamodb_endpoint!r}")
        return app_module

    def _start_gateway(self) -> None:
        from chalicelib.config import reload_config

        assert self.app_module is not None
        for route_key, config in self.app_module.app.websocket_handlers.items():
            handler = resolve_handler(self.app_module, config.name, config.handler_string)
            self._ws_handlers[route_key] = (config.name, config.handler_string, handler)
        self._gateway = WebSocketGateway(
            self._invoke_websocket_handler,
            self.host,
            self._ports["ws"],
            stage=self._api_stage(),
            idle_timeout=self._idle_timeout or environment.float_env("KEFU_WS_IDLE_TIMEOUT",
                                                                     IDLE_TIMEOUT_SECONDS),
            max_duration=self._max_duration or environment.float_env("KEFU_WS_MAX_DURATION",
                                                                     MAX_DURATION_SECONDS),
        )
        self._gateway.start()
        self._management = ManagementApi(self._gateway, self.host, self._ports["mgmt"])
        self._management.start()
        self.ws_url = self._gateway.url
        self.management_endpoint = self._management.endpoint
        # Pushes from REST handlers and jobs go through the management API too, so every function
        # sees the endpoint, exactly as the deployed template sets it for every function.
        for name, value in (("KEFU_WS_MANAGEMENT_ENDPOINT", self.management_endpoint),
                            ("KEFU_WEBSOCKET_URL", self.ws_url)):
            self._previous_urls[name] = os.environ.get(name)
            os.environ[name] = value
        reload_config()

    def _prepare_tables(self) -> None:
        from chalicelib.models.tables import create_all_tables

        client = self._dynamodb()
        created = create_all_tables(client)
        if created:
            log.info("created tables: %s", ", ".join(created))
        if self.snapshot_path is None:
            return
        if self._moto is not None:
            restored = self._moto.restore(self._table_names(), self.snapshot_path)
            self.loaded_items, self.replayed_writes = restored.items, restored.replayed
        else:
            self.loaded_items = load_snapshot(ClientTables(client), self._table_names(), self.snapshot_path).items
        log.info("loaded %d items from %s", self.loaded_items, self.snapshot_path)

    def _snapshot_saver(self, path: Path) -> Callable[[], int]:
        """A checkpoint of the journaled embedded DynamoDB; a plain snapshot of any other."""
        moto, names = self._moto, self._table_names()
        if moto is not None:
            return lambda: moto.checkpoint(names, path)
        store = ClientTables(self._dynamodb())
        return lambda: save_snapshot(store, names, path)

    def _start_rest(self) -> None:
        from devstack.rest import RestServer, chalice_config

        assert self.app_module is not None
        config = chalice_config(environment.PROJECT_DIR, self._stage())
        self._rest = RestServer(self.app_module.app, config, self.host, self._ports["http"], self.ws_url)
        self._rest.start()
        self.rest_url = f"http://{self.host}:{self._rest.port}"
        self.widget_url = f"{self.rest_url}/"
        self.console_url = f"{self.rest_url}/console/"
        self._allow_own_origin()

    def _prepare_s3_and_ses(self) -> None:
        """The attachments bucket (CORS for every origin the API admits, the stack's own too) and
        the mail sender, on the local S3 and SES."""
        from chalicelib.config import get_config
        from devstack.aws_local import prepare

        config = get_config()
        prepare(self.s3_endpoint, self._region, config.attachments_bucket, config.cors_origins, config.mail_from)

    def _allow_own_origin(self) -> None:
        """The stack's own origin may call its API whatever ``KEFU_CORS_ORIGINS`` says (its pages
        are same-origin anyway; this also covers a host name that is not localhost)."""
        from chalicelib.api.cors import allowed_origin
        from chalicelib.config import get_config, reload_config

        if allowed_origin(self.rest_url, get_config().cors_origins) is not None:
            return
        self._previous_urls.setdefault("KEFU_CORS_ORIGINS", os.environ.get("KEFU_CORS_ORIGINS"))
        os.environ["KEFU_CORS_ORIGINS"] = ",".join(filter(None, (os.environ.get("KEFU_CORS_ORIGINS"),
                                                                 self.rest_url)))
        reload_config()

    # ---- how Lambda would call the app --------------------------------------------------------

    def _invoke_websocket_handler(self, route_key: str, event: dict[str, Any]) -> dict[str, Any] | None:
        entry = self._ws_handlers.get(route_key)
        if entry is None:
            return None  # no such route: API Gateway lets $connect/$disconnect through
        name, handler_string, handler = entry
        context = LambdaContext(function_name(self._app_name(), self._stage(), name), self._region)
        with iam.acting_as(handler_string):
            result = handler(event, context)
        return result if isinstance(result, dict) else None

    # ---- helpers ----------------------------------------------------------------------------

    def _dynamodb(self) -> Any:
        import boto3

        return boto3.client("dynamodb", endpoint_url=self.dynamodb_endpoint, region_name=self._region)

    @staticmethod
    def _table_names() -> dict[str, str]:
        from chalicelib.models.tables import all_table_specs

        return {key: spec["TableName"] for key, spec in all_table_specs().items()}

    @staticmethod
    def _stage() -> str:
        from chalicelib.config import get_config

        return get_config().stage

    @staticmethod
    def _app_name() -> str:
        from chalicelib.config import get_config

        return get_config().app_name

    def _api_stage(self) -> str:
        from devstack.rest import chalice_config

        return chalice_config(environment.PROJECT_DIR, "dev").api_gateway_stage or "api"

    def _wait_until_answering(self, timeout: float = 15.0) -> None:
        """Each server gets a real request: REST health, an empty WebSocket GET (426), and a GET
        of an unknown connection (410)."""
        assert self._rest is not None and self._gateway is not None and self._management is not None
        probes = [
            (self._rest.port, "/api/system/health"),
            (self._gateway.port, "/"),
            (self._management.port, f"/{self._gateway.stage}/@connections/probe"),
        ]
        deadline = time.monotonic() + timeout
        for port, path in probes:
            while True:
                try:
                    connection = http.client.HTTPConnection(self.host, port, timeout=5)
                    connection.request("GET", path)
                    connection.getresponse().read()
                    connection.close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
