"""The provisioning result, ``<state>/provision.json``: each step's status, message and time.

Read by `edgeproof status`, the status page and the signed health summary
(``read_provision_state``). Written atomically, 0600 in the 0700 state directory. Holds
no token: messages pass through ``redact`` first.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from gateway.i18n import N_, _, render_data

STATE_FILE = "provision.json"
STEPS = ("profile", "init", "enroll", "token", "probe", "selftest")
# The outcome is a code in provision.json and the health summary; its display text is translated in summary_line.
OUTCOMES = (N_("running"), N_("retrying"), N_("failed"), N_("done"))


def read_provision_state(state_dir: Path) -> dict[str, Any] | None:
    """The last provisioning result, or None if this gateway was never provisioned from a file.

    Shape: ``{"status": "running"|"retrying"|"failed"|"done", "attempt": n, "started_at",
    "finished_at", "next_retry_at", "file", "profile", "receiver", "site_id", "locale",
    "steps": [{"name", "status": "ok"|"failed"|"pending"|"skipped", "message", "at"}]}``.
    """
    try:
        doc = json.loads((Path(state_dir) / STATE_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def write_provision_state(state_dir: Path, doc: dict[str, Any]) -> None:
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state_dir / STATE_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(doc, indent=2, sort_keys=True).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def redact(message: str, secret: str | None) -> str:
    return message.replace(secret, "[token]") if secret else message


def new_state(public: dict[str, Any], attempt: int) -> dict[str, Any]:
    return {**public, "status": "running", "attempt": attempt, "started_at": time.time(), "finished_at": None,
            "next_retry_at": None,
            "steps": [{"name": s, "status": "pending", "message": "", "at": None} for s in STEPS]}


def summary_line(doc: dict[str, Any]) -> str:
    """One line for `edgeproof status`: the outcome and the first failed step."""
    steps = doc.get("steps", [])
    ok = sum(1 for s in steps if s.get("status") in ("ok", "skipped"))
    failed = [s for s in steps if s.get("status") == "failed"]
    line = _("{status} ({ok} of {total} steps ok, attempt {attempt})").format(
        status=_(str(doc.get("status"))), ok=ok, total=len(steps), attempt=doc.get("attempt"))
    if failed:
        said = failed[0].get("message_text", failed[0]["message"])  # records before message_text: the English
        line += _("; {step} failed: {message}").format(step=failed[0]["name"], message=render_data(said))
    if doc.get("status") == "retrying" and doc.get("next_retry_at"):
        line += _("; next try {time}").format(time=time.strftime("%H:%M:%S", time.localtime(doc["next_retry_at"])))
    return line
