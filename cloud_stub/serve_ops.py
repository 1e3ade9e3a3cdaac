"""The operational options of ``edgeproof cloud serve``: TLS, access log, metrics token, rate limits,
alert delivery. Declared here (one decorator) and started here, so cli.py's ``serve`` stays short.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import click

from cloud_stub.i18n import _

_DEFAULT_TOKEN_LIMIT = "20/s,burst=100"
_DEFAULT_ADDRESS_LIMIT = "100/s,burst=500"

_OPTIONS = [
    click.option("--tls-cert", default=None, type=click.Path(dir_okay=False, exists=True),
                 help=_("Serve HTTPS with this PEM certificate (chain first to last); needs --tls-key.")),
    click.option("--tls-key", default=None, type=click.Path(dir_okay=False, exists=True),
                 help=_("The certificate's PEM private key (mode 0600 or 0400).")),
    click.option("--access-log", default=None, metavar="PATH|-",
                 help=_("Write one JSON line per HTTP request (method, path, status, duration, client, actor kind; "
                      "never tokens or query strings) to PATH, or '-' for stderr.")),
    click.option("--metrics-token", default=None, envvar="EDGEPROOF_METRICS_TOKEN", show_envvar=True,
                 help=_("Bearer token that may read /metrics from anywhere (without it: direct clients on this host "
                      "only). Best given in the environment variable.")),
    click.option("--rate-limit", "rate_limit", default=_DEFAULT_TOKEN_LIMIT, show_default=True,
                 metavar="RATE/UNIT[,burst=N]|off", help=_("Per bank token.")),
    click.option("--rate-limit-address", default=_DEFAULT_ADDRESS_LIMIT, show_default=True,
                 metavar="RATE/UNIT[,burst=N]|off",
                 help=_("Per client address, for requests without a known token (direct loopback clients exempt).")),
    click.option("--deliver-every", default=2.0, show_default=True, type=click.FloatRange(min=0.1),
                 metavar="SECONDS", help=_("How often the background worker delivers queued alerts.")),
    click.option("--no-deliver", is_flag=True, help=_("Do not deliver alerts from this process (run `cloud deliver` "
                                                   "elsewhere).")),
]


def options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(_OPTIONS):
        fn = opt(fn)
    return fn


def _limit(text: str, flag: str) -> Any:
    from cloud_stub.rate_limit import Limit

    if text.strip().lower() == "off":
        return None
    try:
        return Limit.parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=flag) from None


def _check_tls(cert: str | None, key: str | None) -> None:
    if bool(cert) != bool(key):
        raise click.UsageError(_("--tls-cert and --tls-key go together"))
    if key:
        mode = Path(key).stat().st_mode & 0o777
        if mode & 0o077:
            raise click.BadParameter(_("{key} is readable by others (mode {mode}); run chmod 600 on it").format(
                key=key, mode=oct(mode)),
                                     param_hint="--tls-key")


@dataclass
class Running:
    options: Any
    _stops: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        for stop in reversed(self._stops):
            stop()


def start(rdb: Any, key: Any, ops: dict[str, Any]) -> Running:
    """Validate the options, open the access log, start the delivery worker; ``Running.options`` for create_app."""
    from cloud_stub.ops_options import OpsOptions
    from cloud_stub.rate_limit import Limit, RateLimits

    _check_tls(ops["tls_cert"], ops["tls_key"])
    token_limit = _limit(ops["rate_limit"], "--rate-limit")
    address_limit = _limit(ops["rate_limit_address"], "--rate-limit-address")
    limits = None
    if token_limit is not None or address_limit is not None:
        unlimited = Limit(1e12, 10**12)
        limits = RateLimits(token=token_limit or unlimited, address=address_limit or unlimited)
    stops: list[Callable[[], None]] = []
    out: IO[str] | None = None
    if ops["access_log"] == "-":
        out = sys.stderr
    elif ops["access_log"]:
        fd = os.open(ops["access_log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # client addresses: private
        out = os.fdopen(fd, "a", encoding="utf-8")
        stops.append(out.close)
    token = ops["metrics_token"] or None
    if token is not None and len(token) < 16:
        raise click.BadParameter(_("use at least 16 characters (e.g. `openssl rand -hex 24`)"),
                                 param_hint="--metrics-token / EDGEPROOF_METRICS_TOKEN")
    running = Running(OpsOptions(metrics_token=token, rate_limits=limits, access_log=out), stops)
    if not ops["no_deliver"]:
        from cloud_stub.outbox import DeliveryWorker

        worker = DeliveryWorker(rdb, key, interval=ops["deliver_every"])
        worker.start()
        stops.append(worker.stop)
    return running
