"""Running the receiver: uvicorn on a socket we bind ourselves, plus optional MQTT ingest.

Binding the socket before uvicorn starts is what makes ``--port 0`` useful: we know the
real port and can publish it in the ready file, which is written (atomically, via a
rename) only once uvicorn is accepting connections.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI

log = logging.getLogger("cloud_stub.server")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; IPv6 hosts are accepted too (``::1``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def write_ready_file(path: str | Path, url: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    os.replace(tmp, path)


class Running:
    """A uvicorn server on its own thread (tests, embedding); ``stop()`` shuts it down cleanly."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = bind(host, port)
        self.url = f"http://{_url_host(host)}:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def serve(app: FastAPI, host: str, port: int, ready_file: str | None, tls_cert: str | None = None,
          tls_key: str | None = None) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (uvicorn handles both); HTTPS with ``tls_cert``/``tls_key``
    (PEM files; the certificate file may hold the chain)."""
    sock = bind(host, port)
    scheme = "https" if tls_cert else "http"
    url = f"{scheme}://{_url_host(host)}:{sock.getsockname()[1]}"
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", ssl_certfile=tls_cert,
                            ssl_keyfile=tls_key)
    if tls_cert:
        config.load()  # loads the certificate and key now: a bad file is an error before we announce anything
    server = uvicorn.Server(config)

    def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.02)
        if ready_file:
            write_ready_file(ready_file, url)
        log.info("listening", extra={"event": "listening", "url": url})

    threading.Thread(target=announce, daemon=True).start()
    server.run(sockets=[sock])
