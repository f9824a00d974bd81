"""Running the application: the bind-address safety rule, uvicorn in the foreground, and a
background server on a free loopback port for tests and benchmarks."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from tunesmith.errors import UsageError


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_key: str | None, insecure: bool) -> None:
    """Refuse to expose the server beyond this machine without an API key (unless told)."""
    if is_loopback(host) or api_key or insecure:
        return
    raise UsageError(
        f"refusing to listen on {host} without an API key: anyone who can reach this machine "
        "could use (and, with admin routes, change) the models",
        hint="set TUNESMITH_API_KEY (or --api-key), or pass --insecure if the network is trusted",
    )


def serve_forever(app: FastAPI, host: str, port: int, *, log_level: str = "info") -> None:
    """Serve until Ctrl-C (uvicorn handles the signal and drains open requests)."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5
    )
    uvicorn.Server(config).run()


class BackgroundServer:
    """The real server (uvicorn) in a thread on a free loopback port; a context manager."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", log_level: str = "warning") -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, 0))  # bound here so the port is known and cannot be taken
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(
            app, log_level=log_level, access_log=False, timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
