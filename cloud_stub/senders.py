"""Sending one alert message to one channel: a signed webhook POST, an e-mail, or an apprise notification.

Each sender either returns (delivered, with the HTTP status where there is one) or raises
:class:`SendError` saying whether trying again later can help (``retry``). Every network call
has a timeout: a slow channel costs the delivery worker at most that long, never ingest.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from nacl.signing import SigningKey

from cloud_stub import webhook_sig
from cloud_stub.channels import Channel, redact_apprise, redact_url

# Statuses worth retrying: the endpoint is busy, rate-limiting or broken for now. Any other 4xx
# is an answer about the request itself, which will not change by sending it again.
RETRY_STATUSES = frozenset({408, 409, 425, 429})


class SendError(Exception):
    """Not delivered. ``retry``: the same attempt may succeed later. The message never holds a secret."""

    def __init__(self, message: str, retry: bool = True, http_status: int | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.http_status = http_status


@dataclass(frozen=True)
class Message:
    """One alert, rendered for a channel: ``payload`` is the JSON document, title/text for people."""

    payload: dict[str, Any]
    title: str
    text: str
    idempotency_key: str


def send(ch: Channel, msg: Message, key: SigningKey, kid: str, timeout: float) -> int | None:
    """Deliver ``msg`` on ``ch``; returns the HTTP status (webhooks) or None."""
    if ch.kind == "webhook":
        return _webhook(ch.config["url"], msg, key, kid, timeout)
    if ch.kind == "smtp":
        _smtp(ch.config, msg, timeout)
        return None
    if ch.kind == "apprise":
        _apprise(ch.config["url"], msg, timeout)
        return None
    raise SendError(f"unknown channel kind {ch.kind!r}", retry=False)


class _Refuse(urllib.request.HTTPRedirectHandler):
    """A webhook is never redirected: the signed alert goes to the configured URL or nowhere (a 3xx is an error
    the operator fixes in the channel, not a hop to a host nobody configured)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_REDIRECTS = urllib.request.build_opener(_Refuse)


def _webhook(url: str, msg: Message, key: SigningKey, kid: str, timeout: float) -> int:
    body = json.dumps(msg.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "edgeproof-receiver",
               **webhook_sig.sign(key, body, msg.idempotency_key, kid)}
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with _NO_REDIRECTS.open(req, timeout=timeout) as resp:
            resp.read(65536)
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        code = exc.code
        what = f"HTTP {code} (redirects are not followed: configure the final URL)" if 300 <= code < 400 \
            else f"HTTP {code}"
        raise SendError(f"{redact_url(url)} answered {what}", retry=code >= 500 or code in RETRY_STATUSES,
                        http_status=code) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SendError(f"{redact_url(url)}: {type(reason).__name__}: {reason}") from None


def _smtp(cfg: dict[str, Any], msg: Message, timeout: float) -> None:
    mail = EmailMessage()
    mail["Subject"] = msg.title
    mail["From"] = cfg["from"]
    mail["To"] = ", ".join(cfg["to"])
    # The idempotency key as the Message-ID: a mail system that saw it already can drop a resend.
    mail["Message-ID"] = f"<{msg.idempotency_key}@edgeproof>"
    mail.set_content(msg.text)
    where = f"smtp://{cfg['host']}:{cfg['port']}"
    try:
        if cfg["security"] == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(cfg["host"], cfg["port"], timeout=timeout,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(cfg["host"], cfg["port"], timeout=timeout)
        with client:
            if cfg["security"] == "starttls":
                client.starttls(context=ssl.create_default_context())
            if cfg.get("username"):
                client.login(cfg["username"], cfg.get("password", ""))
            refused = client.send_message(mail)
    except smtplib.SMTPAuthenticationError as exc:
        raise SendError(f"{where}: login refused ({exc.smtp_code})", retry=False) from None
    except smtplib.SMTPResponseException as exc:
        raise SendError(f"{where}: {exc.smtp_code} {exc.smtp_error!r}", retry=exc.smtp_code < 500) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SendError(f"{where}: {type(exc).__name__}: {exc}") from None
    if refused:
        raise SendError(f"{where}: recipients refused: {sorted(refused)}", retry=False)


def _apprise(url: str, msg: Message, timeout: float) -> None:
    import apprise

    ap = apprise.Apprise()
    sep = "&" if "?" in url else "?"
    # apprise's own connect/read timeouts (cto/rto), unless the URL sets them.
    full = url if ("cto=" in url or "rto=" in url) else f"{url}{sep}cto={timeout:g}&rto={timeout:g}"
    if not ap.add(full):
        raise SendError(f"apprise does not understand {redact_apprise(url)}", retry=False)
    with apprise.LogCapture(level=apprise.logging.WARNING) as log:
        ok = ap.notify(body=msg.text, title=msg.title)
    if not ok:
        lines = [ln for ln in log.getvalue().splitlines() if ln.strip()]
        detail = lines[-1].split(" - ", 2)[-1] if lines else "notification failed"
        raise SendError(f"{redact_apprise(url)}: {detail[:300]}")
