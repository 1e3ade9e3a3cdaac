"""The status page's "What the bank sees" section and the staff's actions on it.

``GET /api/enterprise``: the last verified copy of the enterprise view (gateway/enterprise_view),
each finding with its numbers in plain words, the disputes and confirmations made on this gateway
with each bank's decision, and the complaint contact from the profile (``site.complaint_contact``).

``POST /api/disputes``, ``POST /api/confirm``, ``POST /api/enterprise/refresh``: the only writes the
page allows. They need the page's password (a gateway without ``[status] password_file`` refuses
them: anyone on the LAN could otherwise speak for the enterprise to its bank), a JSON body (so a
form on another site cannot post one without a CORS preflight, which this server refuses), and,
when the browser sends an ``Origin``, this page's own.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.disputes import ledger
from gateway.disputes.model import DisputeError, check_note, validate
from gateway.enterprise_view import plain, store
from gateway.i18n import N_, as_data
from gateway.user_error import Part

MAX_BODY = 4096


def view(gw: Any, actions_enabled: bool) -> dict[str, Any]:
    doc = store.load(gw.state_dir)
    decisions = store.decisions_by_dispute(doc)
    v = (doc or {}).get("view") or {}
    gw_id = v.get("gateway_id") or getattr(getattr(gw, "identity", None), "gateway_id", None)
    findings = [{**f, "numbers": plain.numbers(f.get("detail")),
                 "message": (f.get("detail") or {}).get("message") if isinstance(f.get("detail"), dict) else None}
                for f in v.get("findings") or [] if isinstance(f, dict)]
    mine = ledger.listing(gw.store)
    for i in mine:
        i["decisions"] = decisions.get(f"{gw_id}/{i['id']}", [])
    return {"fetched_at": (doc or {}).get("fetched_at"), "receiver": (doc or {}).get("receiver"),
            "score": v.get("score"), "warning_level": v.get("warning_level"),
            "warning_text": plain.LEVELS.get(str(v.get("warning_level"))), "reasons": v.get("reasons") or [],
            "findings": findings, "disputes": mine,
            # who read the enterprise's data in the last 30 days (the receiver's access log); null from a
            # receiver too old to serve it (the page then says it is not available)
            "access_log": v.get("access_log"),
            "complaint_contact": gw.profile.site.complaint_contact, "actions_enabled": actions_enabled}


def handle_post(gw: Any, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """One staff action; (HTTP status, JSON answer). Bad input is a 400 naming the field."""
    try:
        obj = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return 400, {"error": "Bad Request", "message": "the body must be a JSON object"}
    if not isinstance(obj, dict):
        return 400, {"error": "Bad Request", "message": "the body must be a JSON object"}
    try:
        if path == "/api/disputes":
            fid = obj.get("finding_id")
            d = validate(str(obj.get("kind") or ""), str(obj.get("finding") or ""), obj.get("reason") or None,
                         str(obj.get("note") or ""), fid if isinstance(fid, int) else None)
            did = ledger.add_dispute(gw.store, d, source="page")
            return 201, {"ok": True, "id": did, **_said(N_("dispute #{id} recorded; signed at the gateway's next "
                                                           "step, then shown to the bank"), id=did)}
        if path == "/api/confirm":
            cid = ledger.add_confirmation(gw.store, check_note(str(obj.get("note") or "")), source="page")
            return 201, {"ok": True, "id": cid, **_said(N_("confirmation #{id} recorded; signed at the gateway's "
                                                           "next step"), id=cid)}
        if path == "/api/enterprise/refresh":
            from gateway.enterprise_view.fetch import ViewError
            from gateway.enterprise_view.loop import fetch_now

            try:
                doc = fetch_now(gw)
            except ViewError as exc:
                return 502, {"error": "Bad Gateway", "message": str(exc), "message_text": as_data(exc)}
            return 200, {"ok": True, "fetched_at": doc["fetched_at"]}
    except DisputeError as exc:
        return 400, {"error": "Bad Request", "message": f"{exc.key}: {exc.message}", "field": exc.key,
                     "message_text": as_data(exc)}
    return 404, {"error": "Not Found", "message": f"no action {path}"}


def _said(template: str, **params: Any) -> dict[str, Any]:
    """An action's answer: ``message`` in English (scripts read it, as before) and ``message_text``, the same
    as data the page renders in its reader's language (page.js ``msgText``; docs/i18n.md)."""
    part = Part(template, params)
    return {"message": str(part), "message_text": as_data(part)}
