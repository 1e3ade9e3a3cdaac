"""Alert channels: where alerts are delivered, configured per bank or for the operator.

Three kinds, one delivery path (cloud_stub/outbox.py):

* ``webhook``: the receiver's own signed POST (cloud_stub/webhook_sig.py) to an ``http(s)://`` URL;
* ``smtp``: e-mail through an SMTP server (stdlib ``smtplib``), optional STARTTLS/TLS and login;
* ``apprise``: any apprise URL, e.g. ``dingtalk://``, ``wecombot://``, ``feishu://`` (the messaging
  apps Chinese banks and factories use) or ``json://`` -- a well-kept library instead of hand-written
  clients.

The configuration is stored as JSON in the receiver database. Parts of it are secrets (the SMTP
password, the tokens inside an apprise or webhook URL): :func:`public_view` is the only form ever
printed or returned, and it shows a URL's scheme and host only.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from cloud_stub.db import iso, utc_now
from cloud_stub.enrollment import check_id
from cloud_stub.errors import ReceiverError
from cloud_stub.texts import msg

KINDS = ("webhook", "smtp", "apprise")
OWNER_OPERATOR = "operator"
OWNER_BANK = "bank"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ADDR_RE = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+$")


@dataclass(frozen=True)
class Channel:
    """One configured channel, secrets included (never print this: use :func:`public_view`)."""

    id: int
    name: str
    owner: str  # operator | bank
    bank_id: str | None
    kind: str
    config: dict[str, Any]
    created: str
    from_alert: int
    removed_at: str | None = None


def _bad(message: str) -> ReceiverError:
    return ReceiverError("bad_channel", message, 400, status="error")


def _check_url(url: str, schemes: tuple[str, ...], what: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise _bad(msg("{what}: expected a URL starting with {schemes} and naming a host, got {url}", what=what,
                       schemes=' or '.join(s + '://' for s in schemes), url=repr(redact_url(url))))
    return url


def validate_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a channel's settings; a bad value is a 400 naming the setting."""
    if kind == "webhook":
        return {"url": _check_url(str(config.get("url") or ""), ("http", "https"), "webhook --url")}
    if kind == "apprise":
        url = str(config.get("url") or "")
        if "://" not in url:
            raise _bad(msg("apprise --url: expected an apprise URL such as dingtalk://TOKEN, wecombot://KEY, "
                           "feishu://TOKEN or json://host/path"))
        import apprise

        if apprise.Apprise.instantiate(url) is None:
            raise _bad(msg("apprise --url: apprise does not understand {url}",
                           url=repr(redact_apprise(url))))
        return {"url": url}
    if kind == "smtp":
        host = str(config.get("host") or "")
        if not host:
            raise _bad(msg("smtp --smtp-host: required"))
        port = config.get("port") or 25
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise _bad(msg("smtp --smtp-port: expected 1..65535, got {port}", port=repr(port)))
        raw_to = config.get("to") or []
        if not isinstance(raw_to, list) or not all(isinstance(a, str) for a in raw_to):
            raise _bad(msg("smtp --mail-to: expected a list of e-mail addresses"))
        to = [a.strip() for a in raw_to if a.strip()]
        sender = str(config.get("from") or "")
        for addr in [*to, sender]:
            if not _ADDR_RE.match(addr):
                raise _bad(msg("smtp --mail-to/--mail-from: {addr} is not an e-mail address", addr=repr(addr)))
        if not to:
            raise _bad(msg("smtp --mail-to: at least one recipient"))
        security = config.get("security") or "none"
        if security not in ("none", "starttls", "tls"):
            raise _bad(msg("smtp --smtp-security: expected none, starttls or tls, got {security}",
                           security=repr(security)))
        out: dict[str, Any] = {"host": host, "port": port, "from": sender, "to": to, "security": security}
        if config.get("username"):
            out["username"] = str(config["username"])
            out["password"] = str(config.get("password") or "")
        return out
    raise _bad(msg("--kind: expected one of {kinds}, got {kind}", kinds=', '.join(KINDS), kind=repr(kind)))


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: whatever else a URL holds (tokens in the path, query or userinfo) is hidden."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparseable URL)"
    rest = "/…" if (parts.path not in ("", "/") or parts.query or parts.username) else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def redact_apprise(url: str) -> str:
    """``scheme://…`` only: many apprise URLs carry the secret where a host would be (``dingtalk://TOKEN``)."""
    return url.split("://", 1)[0][:32] + "://…" if "://" in url else "(not an apprise URL)"


def public_view(ch: Channel) -> dict[str, Any]:
    """What may be shown of a channel: no password, no URL tokens."""
    cfg = ch.config
    if ch.kind == "smtp":
        target = f"smtp://{cfg['host']}:{cfg['port']} ({cfg['security']}) -> {', '.join(cfg['to'])}"
        extra = {"login": "yes" if cfg.get("username") else "no"}
    elif ch.kind == "apprise":
        target, extra = redact_apprise(cfg["url"]), {}
    else:
        target, extra = redact_url(cfg["url"]), {}
    return {"name": ch.name, "kind": ch.kind, "owner": ch.owner, "bank": ch.bank_id, "target": target,
            "created": ch.created, "removed_at": ch.removed_at, **extra}


def add(rdb: Any, name: str, kind: str, config: dict[str, Any], bank_id: str | None = None) -> Channel:
    """Store a new channel; a bank channel needs an existing bank. It receives alerts raised from now on."""
    if not NAME_RE.match(name or ""):
        raise _bad(msg("--name: {name} must match {pattern}", name=repr(name), pattern=NAME_RE.pattern))
    stored = validate_config(kind, config)
    owner = OWNER_BANK if bank_id is not None else OWNER_OPERATOR
    now = iso(utc_now())
    with rdb.write() as conn:
        if bank_id is not None:
            check_id(bank_id, "bank name")
            if conn.execute("SELECT 1 FROM banks WHERE id = ?", (bank_id,)).fetchone() is None:
                raise ReceiverError("unknown_bank", msg("no bank {bank_id} (add it with `edgeproof cloud bank "
                                                        "add`)", bank_id=repr(bank_id)),
                                    404, status="error")
        if conn.execute("SELECT 1 FROM alert_channels WHERE name = ?", (name,)).fetchone() is not None:
            raise ReceiverError("channel_exists", msg("a channel named {name} exists (remove it first)",
                                                      name=repr(name)), 409,
                                status="error")
        top = conn.execute("SELECT coalesce(max(id), 0) FROM alerts").fetchone()[0]
        cid = conn.execute(
            "INSERT INTO alert_channels (name, owner, bank_id, kind, config, created, from_alert)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (name, owner, bank_id, kind, json.dumps(stored, sort_keys=True), now, top),
        ).fetchone()[0]
    return Channel(cid, name, owner, bank_id, kind, stored, now, top)


def _row(r: Any) -> Channel:
    return Channel(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7], r[8])


_COLS = "id, name, owner, bank_id, kind, config, created, from_alert, removed_at"


def list_channels(conn: Any, include_removed: bool = False) -> list[Channel]:
    where = "" if include_removed else " WHERE removed_at IS NULL"
    return [_row(r) for r in conn.execute(f"SELECT {_COLS} FROM alert_channels{where} ORDER BY id")]


def get(conn: Any, name: str) -> Channel:
    r = conn.execute(f"SELECT {_COLS} FROM alert_channels WHERE name = ? AND removed_at IS NULL",
                     (name,)).fetchone()
    if r is None:
        raise ReceiverError("unknown_channel", msg("no channel named {name}", name=repr(name)), 404, status="error")
    return _row(r)


def by_id(conn: Any, cid: int) -> Channel | None:
    r = conn.execute(f"SELECT {_COLS} FROM alert_channels WHERE id = ?", (cid,)).fetchone()
    return None if r is None else _row(r)


def remove(rdb: Any, name: str) -> dict[str, Any]:
    """Stop delivering to a channel: it is marked removed (its delivery log stays) and what it had
    queued is cancelled. Its name can then be used again."""
    now = iso(utc_now())
    with rdb.write() as conn:
        ch = get(conn, name)
        conn.execute("UPDATE alert_channels SET removed_at = ?, name = ? WHERE id = ?",
                     (now, f"{name}~removed~{ch.id}", ch.id))
        n = conn.execute("UPDATE alert_outbox SET state = 'cancelled', done_at = ?, last_error = ?"
                         " WHERE channel_id = ? AND state = 'pending'", (now, "channel removed", ch.id)).rowcount
    return {"name": name, "removed_at": now, "cancelled": n}
