"""Running a ``socketserver`` server on a background thread, and stopping it cleanly."""

from __future__ import annotations

import socketserver
import threading


class BackgroundServer:
    """``server.serve_forever`` on a daemon thread; ``stop`` shuts down, joins and closes."""

    def __init__(self, server: socketserver.BaseServer, name: str) -> None:
        self.server = server
        self._name = name
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self.server.server_close()
