"""The local status page: a read-only HTTP server for the enterprise's staff, on the LAN only.

Standard library only (ThreadingHTTPServer in a daemon thread): a Pi runs it beside the
gateway without a web framework. Every request is GET or HEAD; anything else gets 405.
With ``[status] password_file`` every path except /healthz needs HTTP Basic auth
checked against a salted scrypt hash. Nothing on the page is secret (see collect.py);
responses carry a strict Content-Security-Policy and nothing is loaded from elsewhere.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import socket
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway import i18n
from gateway.i18n import N_
from gateway.status import collect, enterprise, metrics, page_template
from gateway.status.auth import BasicAuth
from gateway.user_error import UserError

if TYPE_CHECKING:
    from gateway.runtime import Gateway

log = logging.getLogger("edgeproof.status")

STATIC = {"/": ("page.html", "text/html; charset=utf-8"),
          "/static/page.css": ("page.css", "text/css; charset=utf-8"),
          "/static/page.js": ("page.js", "text/javascript; charset=utf-8")}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


# Carrier-grade NAT (RFC 6598): an LTE modem's WAN side. Not "global" to Python's ipaddress,
# but reachable by the carrier's other customers: as public as the internet for this page.
SHARED_ADDRESS_SPACE = (ipaddress.ip_network("100.64.0.0/10"),)


class BindError(UserError, ValueError):
    """The [status] bind address is malformed or not a LAN/loopback address."""


def parse_bind(bind: str) -> tuple[str, int]:
    """'host:port' or '[v6]:port'. A public (globally routable) address is refused: the
    page is for the staff on site, never for the internet."""
    host, sep, port_s = bind.rpartition(":")
    if not sep or not port_s.isdigit() or not 0 <= int(port_s) <= 65535:
        raise BindError(N_("[status] bind must be 'address:port' (found {bind})"), bind=f'{bind!r}')
    host = host.strip("[]") or "127.0.0.1"
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        try:
            addr = ipaddress.ip_address(socket.gethostbyname(host))
        except (OSError, ValueError) as exc:
            raise BindError(N_("[status] bind host {host} does not resolve"), host=f'{host!r}') from exc
    if addr.is_global or any(addr in net for net in SHARED_ADDRESS_SPACE if addr.version == net.version):
        raise BindError(N_("[status] bind {bind} is a public address; bind the LAN address or 127.0.0.1"),
                        bind=f'{bind!r}')
    return host, int(port_s)


def _load_static() -> dict[str, bytes]:
    pkg = resources.files("gateway.status")
    return {path: pkg.joinpath(name).read_bytes() for path, (name, _) in STATIC.items()}


def page_locale(query: dict[str, list[str]], accept_language: str | None, site_locale: str | None) -> str:
    """The page's language: ``?lang=`` (the page's language links), else the profile's ``site.locale``
    (the installer's deliberate choice for this site), else the browser's Accept-Language, else English."""
    return i18n.resolve(query.get("lang", [None])[0], site_locale, i18n.from_accept_language(accept_language))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # At most this many connections are served at once; more are closed at once. A page
    # opens 2-4; a flood on the LAN must not grow threads (and memory) without bound.
    max_connections = 32
    # ... and one host holds at most this many of them, so idle sockets from one machine
    # (a crashed script, a scanner) cannot starve the others (the staff's browsers, /healthz).
    max_per_client = 6
    status: StatusServer

    def __init__(self, addr: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, handler)
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self._per_client: dict[str, int] = {}
        self._per_client_lock = threading.Lock()

    def _take_client_slot(self, host: str) -> bool:
        with self._per_client_lock:
            n = self._per_client.get(host, 0)
            if n >= self.max_per_client:
                return False
            self._per_client[host] = n + 1
            return True

    def _release_client_slot(self, host: str) -> None:
        with self._per_client_lock:
            n = self._per_client.get(host, 0) - 1
            if n <= 0:
                self._per_client.pop(host, None)
            else:
                self._per_client[host] = n

    def process_request(self, request: Any, client_address: Any) -> None:
        host = str(client_address[0])
        if not self._take_client_slot(host):
            self.shutdown_request(request)
            return
        if not self._slots.acquire(blocking=False):
            self._release_client_slot(host)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            self._release_client_slot(host)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()
            self._release_client_slot(str(client_address[0]))


class Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "EdgeProof-status"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections (and clients that connect and send nothing) are dropped
    # so a few stuck clients cannot pin threads on a Pi.
    timeout = 10

    def __getattr__(self, name: str) -> Any:
        # Any method other than GET/HEAD (POST, PUT, DELETE, PATCH, OPTIONS, made-up ones)
        # is answered 405 instead of http.server's default 501.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        log.debug("status request", extra={"client": self.client_address[0], "line": format % args})

    def _send(self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: Any, code: int = 200) -> None:
        self._send(code, json.dumps(obj, default=str, allow_nan=False).encode(), "application/json")

    def _error(self, code: int, message: str, extra: dict[str, str] | None = None) -> None:
        self._send(code, json.dumps({"error": HTTPStatus(code).phrase, "message": message}).encode(),
                   "application/json", extra)

    def _locale(self, query: dict[str, list[str]]) -> str:
        site = getattr(getattr(self.server.status.gw, "profile", None), "site", None)
        return page_locale(query, self.headers.get("Accept-Language"), getattr(site, "locale", None))

    def _not_allowed(self) -> None:
        self._error(405, "the status page is read-only: GET and HEAD only", {"Allow": "GET, HEAD"})

    def do_POST(self) -> None:
        """The staff's few actions (dispute, confirm, fetch the view now; gateway/status/enterprise.py):
        behind the page's password only, JSON bodies only, same origin only."""
        st = self.server.status
        path = urllib.parse.urlsplit(self.path).path
        if path not in ("/api/disputes", "/api/confirm", "/api/enterprise/refresh"):
            return self._not_allowed()
        if st.auth is None:
            return self._error(403, "actions need the page's password: set [status] password_file (`edgeproof "
                                    "status set-password`), or use `edgeproof dispute` / `edgeproof confirm`")
        if not st.auth.check(self.headers.get("Authorization")):
            return self._error(401, "password required",
                               {"WWW-Authenticate": f'Basic realm="{st.auth.realm}", charset="UTF-8"'})
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{self.headers.get('Host', '')}":
            return self._error(403, "cross-origin request refused")
        if (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
            return self._error(415, "send application/json")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= enterprise.MAX_BODY:
            self.close_connection = True
            return self._error(413, f"a body of at most {enterprise.MAX_BODY} bytes")
        try:
            code, obj = enterprise.handle_post(st.gw, path, self.rfile.read(length))
        except Exception as exc:  # noqa: BLE001 - never a traceback to the visitor
            log.exception("status page action failed", extra={"path": path, "error": str(exc)})
            return self._error(500, "internal error (see the gateway log)")
        return self._json(obj, code)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        st = self.server.status
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if path == "/healthz":
            return self._json({"ok": True})
        if st.auth is not None and not st.auth.check(self.headers.get("Authorization")):
            return self._error(401, "password required",
                               {"WWW-Authenticate": f'Basic realm="{st.auth.realm}", charset="UTF-8"'})
        query = urllib.parse.parse_qs(url.query)
        try:
            if path == "/":
                return self._send(200, st.page(self._locale(query)), STATIC[path][1],
                                  {"Content-Language": self._locale(query), "Vary": "Accept-Language"})
            if path == "/api/i18n":
                loc = self._locale(query)
                return self._json({"locale": loc, "messages": i18n.catalog(loc)})
            if path in STATIC:
                return self._send(200, st.static[path], STATIC[path][1])
            if path == "/api/status":
                return self._json(st.status())
            if path == "/api/devices":
                return self._json(collect.devices_view(st.gw))
            if path == "/api/series":
                minutes = min(max(_float(query, "minutes", 15.0), 1.0), 24.0 * 60)
                return self._json(st.cached(("series", minutes), 4.0, lambda: collect.series(st.gw, minutes)))
            if path == "/api/batches":
                limit = int(min(max(_float(query, "limit", 20), 1), 200))
                before = _seq(query.get("before", [None])[0], "before")
                return self._json(collect.batches(st.gw.store, limit, before, _dest(st.gw)))
            if path.startswith("/api/batches/"):
                seq = path.rsplit("/", 1)[1]
                if not (seq.isascii() and seq.isdigit()) or int(seq) >= MAX_SEQ:
                    return self._error(404, "no such batch")
                found = collect.batches(st.gw.store, 1, int(seq) + 1, _dest(st.gw))["batches"]
                if not found or found[0]["seq"] != int(seq):
                    return self._error(404, f"no batch {seq} in the outbox")
                return self._json(found[0])
            if path == "/api/consent":
                return self._json(collect.consent_view(st.gw))
            if path == "/api/enterprise":
                return self._json(enterprise.view(st.gw, st.auth is not None))
            if path == "/metrics":
                return self._send(200, metrics.render(st.status()).encode(), metrics.CONTENT_TYPE)
        except ValueError as exc:
            return self._error(400, f"bad query: {exc}")
        except Exception as exc:  # noqa: BLE001 - a page error must never reach the visitor as a traceback
            log.exception("status page error", extra={"path": path, "error": str(exc)})
            return self._error(500, "internal error (see the gateway log)")
        return self._error(404, f"no page {path}")


# Sequence numbers are SQLite integers: a larger one overflows in the driver (a 500).
MAX_SEQ = 2**63 - 1


def _float(query: dict[str, list[str]], key: str, default: float) -> float:
    """A finite number (nan would pass every min/max clamp unchanged)."""
    vals = query.get(key)
    if not vals:
        return default
    value = float(vals[0])
    if not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number (found {vals[0][:40]!r})")
    return value


def _seq(text: str | None, key: str) -> int | None:
    """An optional batch sequence number: digits, at most 2**63-1."""
    if text is None or text == "":
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > MAX_SEQ:
        raise ValueError(f"{key} must be a batch sequence number 0..{MAX_SEQ} (found {text[:40]!r})")
    return int(text)


def _dest(gw: Gateway) -> str | None:
    sender = getattr(gw, "sender", None)
    return sender.dest if sender is not None else None


class StatusServer:
    """Owns the HTTP server thread. ``start()`` binds (port 0 picks a free port); ``url``
    is then the address to open."""

    def __init__(self, gw: Gateway, bind: str, password_file: str | Path | None = None) -> None:
        self.gw = gw
        self.host, self.port = parse_bind(bind)
        self.auth = BasicAuth(Path(password_file)) if password_file else None
        self.static = _load_static()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._cache_lock = threading.Lock()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def page(self, locale: str) -> bytes:
        """page.html with its marked strings in ``locale`` (made once per locale)."""
        return self.cached(("page", locale), float("inf"), lambda: page_template.render(
            self.static["/"].decode("utf-8"), i18n.translation(locale).gettext, locale).encode("utf-8"))

    def status(self) -> dict[str, Any]:
        """The status document, computed at most once a second however many visitors poll."""
        return self.cached(("status",), 1.0, lambda: collect.status(self.gw))

    def cached(self, key: tuple[Any, ...], ttl_s: float, make: Any) -> Any:
        """Several browsers (and Prometheus) polling cost the Pi one computation per ``ttl_s``."""
        with self._cache_lock:
            now = time.monotonic()
            hit = self._cache.get(key)
            if hit is None or now - hit[0] > ttl_s:
                if len(self._cache) > 32:
                    self._cache.clear()
                hit = (now, make())
                self._cache[key] = hit
            return hit[1]

    def start(self) -> None:
        httpd = _Server((self.host, self.port), Handler)
        httpd.status = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="status-http", daemon=True)
        self._thread.start()
        if self.host in ("0.0.0.0", "::"):
            log.warning("status page listens on every interface; bind the LAN address instead",
                        extra={"bind": f"{self.host}:{self.port}"})
        log.info("status page serving", extra={"url": self.url, "password": self.auth is not None})

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
