"""The latest verified copy of the enterprise view, kept in the state directory (mode 0600).

It holds the enterprise's findings and scores (its own business data, as the bank sees it): not
secret from the enterprise, but not for other users of the device either, hence 0600.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.identity import write_json_atomic

VIEW_FILE = "enterprise_view.json"


def save(state_dir: Path, doc: dict[str, Any]) -> Path:
    path = state_dir / VIEW_FILE
    write_json_atomic(path, doc, mode=0o600)
    path.chmod(0o600)  # an older copy written with another mode is tightened too
    return path


def load(state_dir: Path) -> dict[str, Any] | None:
    """``{"fetched_at", "receiver", "view"}`` as last saved, or None when never fetched (or unreadable)."""
    try:
        doc = json.loads((state_dir / VIEW_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("view"), dict) else None


def decisions_by_dispute(doc: dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """``<gateway>/<id>`` -> the banks' decisions, as the receiver signed them, from a saved copy."""
    view = (doc or {}).get("view") or {}
    out: dict[str, list[dict[str, Any]]] = {}
    for item in view.get("disputes") or []:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out[item["key"]] = [{"bank": d.get("bank"), "decision": d.get("decision"), "reason": d.get("reason"),
                                 "decided_at": d.get("decided_at")} for d in item.get("decisions") or []
                                if isinstance(d, dict)]
    return out
