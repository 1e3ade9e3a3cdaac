"""Fetch the enterprise view from the receiver: a GET signed with the gateway's key, an answer
verified under the receiver key the gateway pinned when it enrolled.

What is checked before the copy replaces the last one: the page signature (the receiver's key
from ``enrollment.json``, not whatever key the answer names), ``kind``, the enterprise and
gateway it is for, and the nonce of this request (an old answer replayed by something between
the gateway and the receiver is refused). A failed fetch keeps the previous copy.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from gateway import wire
from gateway.enterprise_view import store
from gateway.i18n import N_
from gateway.identity import Identity
from gateway.user_error import UserError
from gateway.wire import request as wire_request

PATH = "/v1/enterprise/view"


class ViewError(UserError, RuntimeError):
    """The view could not be fetched or did not verify; the message says which and why."""


def receiver_url(identity: Identity, profile_url: str | None = None) -> str:
    url = profile_url or (identity.enrollment or {}).get("receiver_url")
    if not url:
        raise ViewError(N_("not enrolled with a receiver: run `edgeproof enroll` first"))
    return str(url).rstrip("/")


def verify_view(page: Any, receiver_pk: bytes, identity: Identity, nonce: str) -> dict[str, Any]:
    """The page when it is the receiver's signed answer to this request; else ViewError."""
    if not isinstance(page, dict) or not isinstance(page.get("page_signature"), dict):
        raise ViewError(N_("the receiver's answer is not a signed page"))
    try:
        signed = wire.verify_report(page["page_signature"], receiver_pk)
    except (wire.WireError, KeyError, ValueError) as exc:
        raise ViewError(N_("the receiver's signature on the view does not verify: {error}"), error=exc) from None
    if wire.canonical_json(signed) != wire.canonical_json({k: v for k, v in page.items() if k != "page_signature"}):
        raise ViewError(N_("the view differs from what the receiver signed"))
    want = {"kind": "enterprise_view", "enterprise_id": identity.enterprise_id, "gateway_id": identity.gateway_id,
            "request_nonce": nonce}
    wrong = [k for k, v in want.items() if page.get(k) != v]
    if wrong:
        raise ViewError(N_("the view is not the answer to this request (differs in {value})"), value=', '.join(wrong))
    return page


def fetch(state_dir: Path, identity: Identity, url: str | None = None, timeout_s: float = 10.0,
          now: float | None = None) -> dict[str, Any]:
    """Fetch, verify and save the view; returns the saved document ``{"fetched_at", "receiver", "view"}``."""
    enrollment = identity.enrollment or {}
    if identity.enterprise_id is None:
        raise ViewError(N_("not enrolled with a receiver: run `edgeproof enroll` first"))
    pin = enrollment.get("receiver_public_key")
    if not isinstance(pin, str):
        raise ViewError(N_("enrollment.json holds no receiver key to check the view with (enroll again)"))
    base = receiver_url(identity, url)
    stmt = wire_request.request_statement(identity.gateway_id, identity.kid, identity.enterprise_id, "GET", PATH,
                                          time.time() if now is None else now)
    headers = wire_request.sign_request(stmt, identity.signer)
    req = urllib.request.Request(base + PATH, method="GET", headers={**headers, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            page = json.loads(resp.read(16 * 1024 * 1024))
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read(65536))
        except ValueError:
            detail = {}
        raise ViewError(N_("the receiver refused: {value}: {value2}"),
                        value=detail.get('code', exc.code), value2=detail.get('message', '')
                        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ViewError(N_("cannot reach the receiver at {base}: {error}"), base=base, error=exc) from None
    view = verify_view(page, wire.unb64(pin, "receiver_public_key"), identity, stmt["nonce"])
    doc = {"fetched_at": wire.format_time(time.time()), "receiver": base, "view": view}
    store.save(state_dir, doc)
    return doc
