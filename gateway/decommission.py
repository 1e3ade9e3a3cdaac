"""Ending a gateway's life: a last signed record, then every secret and every copy of data wiped,
with a destruction certificate the gateway signs before its key goes.

Order, and why:

1. pack what is still pending (under consent, as always) and a final ``decommission`` record
   (reason, counters, the last seq before it) in a batch of its own; send the outbox and wait
   for the receiver's ack: the bank then learns from the gateway itself that the chain ends here,
   instead of reading silence as an outage;
2. refuse while batches remain unacknowledged, unless ``force``: then the certificate names
   exactly which seqs (and how many records of which categories) are lost;
3. take the inventory (every file with its size and SHA-256, measured before anything is
   touched), delete everything but the key, check each item is gone;
4. sign the certificate with the gateway key and write it where the operator said (never in
   the state directory), then overwrite and delete the key, then remove the service unit.

The dry run does step 3's inventory and says what steps 1, 2 and 4 would do, touching nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway import wire
from gateway.i18n import N_
from gateway.identity import ENROLLMENT_FILE, IDENTITY_FILE, KEY_FILE, Identity
from gateway.store import indicators as indicators_db
from gateway.store import outbox as outbox_db
from gateway.user_error import UserError

SECRET_KINDS = frozenset({"gateway_key", "privacy_key", "evidence_key"})
SERVICE_NAME = "edgeproof.service"
CERT_KIND = "edgeproof.gateway.destruction"


class DecommissionError(UserError, RuntimeError):
    """The decommission cannot go ahead; the message says why and what to do."""


@dataclass
class Item:
    """One thing to destroy: a file (with size and digest) or a directory's files."""

    kind: str
    path: Path
    bytes: int = 0
    sha256: str | None = None
    files: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path), "bytes": self.bytes, "sha256": self.sha256,
                "files": self.files}


@dataclass
class Inventory:
    items: list[Item] = field(default_factory=list)
    kept: list[dict[str, str]] = field(default_factory=list)
    seen: set[Path] = field(default_factory=set)

    def add(self, kind: str, path: Path) -> None:
        """A file (digest of its bytes) or a directory (digest over its files' relative paths and digests)."""
        path = Path(os.path.abspath(path))
        if path in self.seen or not (path.exists() or path.is_symlink()):
            return
        self.seen.add(path)
        if path.is_dir() and not path.is_symlink():
            h = hashlib.sha256()
            size = count = 0
            for f in sorted(p for p in path.rglob("*") if p.is_file()):
                self.seen.add(f)
                digest, n = _file_digest(f)
                h.update(f"{f.relative_to(path)}\0{digest}\n".encode())
                size += n
                count += 1
            self.items.append(Item(kind, path, size, h.hexdigest(), count))
        else:
            digest, n = _file_digest(path)
            self.items.append(Item(kind, path, n, digest))


def _file_digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def _inside(path: Path, parent: Path) -> bool:
    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(parent))
    except ValueError:
        return False
    return True


def inventory(profile: Any, state_dir: Path, root: Path = Path("/")) -> Inventory:
    """Everything the gateway holds, by kind; the service unit under ``root``."""
    from gateway.connectors.config import PROFILE_DIR, load_connectors, resolve_path

    inv = Inventory()
    store = Path(profile.store.path)
    store = store if store.is_absolute() else state_dir / store
    inv.add("gateway_key", state_dir / KEY_FILE)
    for suffix in ("", "-wal", "-shm", "-journal"):
        inv.add("store", Path(str(store) + suffix))
    privacy_key = Path((profile.privacy or {}).get("key_file", "privacy.key"))
    inv.add("privacy_key", privacy_key if privacy_key.is_absolute() else state_dir / privacy_key)
    for dev in profile.devices:
        ev = (getattr(dev, "options", None) or {}).get("evidence")
        if isinstance(ev, dict):
            for key, kind in (("directory", "evidence_ring"), ("key_file", "evidence_key")):
                if isinstance(ev.get(key), str):
                    p = Path(ev[key])
                    inv.add(kind, p if p.is_absolute() else state_dir / p)
    for c in load_connectors(profile.connectors, "(profile)"):
        if c.kind != "folder" or not c.path:
            continue
        p = resolve_path(c.path, state_dir)
        if _inside(p, state_dir):
            inv.add("connector_copies", p)
        elif not _inside(p, PROFILE_DIR):
            inv.kept.append({"kind": "connector_folder", "path": str(p),
                             "why": "outside the state directory: the enterprise's own export folder"})
    inv.add("enrollment", state_dir / ENROLLMENT_FILE)
    inv.add("enrollment", state_dir / IDENTITY_FILE)
    if state_dir.is_dir():
        for p in sorted(state_dir.rglob("*")):
            if p.is_file() and Path(os.path.abspath(p)) not in inv.seen \
                    and not any(_inside(p, i.path) for i in inv.items if i.files > 1 or i.path.is_dir()):
                inv.add("other_state", p)
    unit = root / "etc/systemd/system" / SERVICE_NAME
    if _runs_state(unit, state_dir):
        inv.add("service_unit", unit)
        inv.add("service_unit", root / "etc/systemd/system/multi-user.target.wants" / SERVICE_NAME)
    elif unit.exists():
        inv.kept.append({"kind": "service_unit", "path": str(unit),
                         "why": f"runs another state directory than {state_dir}"})
    return inv


def _runs_state(unit: Path, state_dir: Path) -> bool:
    """Whether the installed unit runs this state directory (`--state DIR` in its ExecStart)."""
    try:
        text = unit.read_text(encoding="utf-8")
    except OSError:
        return False
    want = {str(state_dir), os.path.abspath(state_dir)}
    return any(f"--state {w}" in text or f"EDGEPROOF_STATE={w}" in text for w in want)


def outbox_loss(store: Any, dest: str | None) -> dict[str, Any]:
    """What is not acknowledged: seqs, records per category (it would be lost with the store)."""
    acked = store.acked(dest) if dest else 0
    head = store.outbox_head()
    cats: dict[str, int] = {}
    seqs: list[int] = []
    after = acked
    while True:
        rows = store.outbox_after(after, 200)
        if not rows:
            break
        for seq, _h, body, *_ in rows:
            seqs.append(seq)
            for r in wire.decode_body(body).get("records", []):
                c = wire.record_category(r)
                cats[c] = cats.get(c, 0) + 1
            after = seq
    pending = indicators_db.not_packed(store, include_held=True)
    return {"acknowledged_seq": acked, "head_seq": head, "unacknowledged_seqs": seqs,
            "unacknowledged_records": cats, "indicators_not_packed": int(pending)}


def counters(store: Any) -> dict[str, int]:
    return indicators_db.totals(store)


def final_record(identity: Identity, reason: str, store: Any, now: float) -> dict[str, Any]:
    return {"type": "decommission", "name": "gateway.decommission", "category": "decommission",
            "subject": identity.gateway_id, "window": {"start": int(now), "len": 0}, "reason": reason,
            "last_seq": store.outbox_head(), "counters": counters(store)}


def send_final(profile: Any, state_dir: Path, store: Any, identity: Identity, reason: str, transport: Any,
               wait_s: float, now: float | None = None) -> dict[str, Any]:
    """Pack what is pending and the final record, send everything, wait for the acks."""
    from gateway.consent.gate import build_gate
    from gateway.uplink.batcher import Batcher
    from gateway.uplink.packing import pack_step
    from gateway.uplink.sender import Sender
    from gateway.uplink.transport import TransportError

    now = time.time() if now is None else now
    dest = transport.name if transport is not None else None
    batcher = Batcher(store, identity, profile.uplink.batch_max_records)
    gate = build_gate(profile, state_dir, store, dest or "none")
    batcher.policy = gate.policy
    pack_step(batcher, gate, now=now)
    seq, rec = _pending_final(store)
    if seq is None:  # a refused run before signed one already: send that, do not sign a second end
        rec = final_record(identity, reason, store, now)
        seq = batcher.pack_once(extra_records=[rec])
    error = None
    if transport is not None:
        sender = Sender(store, transport, backoff_initial_s=0.2, backoff_max_s=2.0)

        async def drain() -> None:
            try:
                await sender.drain(wait_s)
            finally:
                closed = getattr(transport, "close", None)
                if closed is not None:
                    res = closed()
                    if asyncio.iscoroutine(res):
                        await res

        try:
            asyncio.run(drain())
        except TransportError as exc:
            error = str(exc)
    else:
        error = "no uplink (transport none, or not enrolled): the final record cannot be sent"
    return {"seq": seq, "hash": outbox_db.batch_hash(store, seq), "record": rec,
            "acknowledged": bool(dest) and store.acked(dest) >= (seq or 0), "error": error,
            "loss": outbox_loss(store, dest)}


def _pending_final(store: Any) -> tuple[int | None, dict[str, Any]]:
    """The outbox's last batch when it is a final record nothing was packed after."""
    head = store.outbox_head()
    rows = store.outbox_after(head - 1, 1) if head else []
    if rows:
        recs = wire.decode_body(rows[0][2]).get("records", [])
        if len(recs) == 1 and recs[0].get("type") == "decommission":
            return rows[0][0], recs[0]
    return None, {}


def _overwrite(path: Path) -> None:
    """Zero a small secret before unlinking (best effort on flash: wear levelling may keep old blocks)."""
    try:
        n = path.stat().st_size
        with open(path, "r+b") as fh:
            fh.write(b"\0" * n)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError:
        pass


def destroy(item: Item) -> None:
    p = item.path
    if item.kind in SECRET_KINDS and p.is_file():
        _overwrite(p)
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink(missing_ok=True)
    if p.exists() or p.is_symlink():
        raise DecommissionError(N_("{p} could not be deleted"), p=p)


def service_running(root: Path, state_dir: Path) -> bool:
    """Whether this gateway's service is active on the live system: its process holds the store, and
    a final record signed beside it would fork the chain, so decommission asks for a stop first."""
    if not _runs_state(root / "etc/systemd/system" / SERVICE_NAME, state_dir) \
            or Path(os.path.abspath(root)) != Path("/") or shutil.which("systemctl") is None:
        return False
    return subprocess.run(["systemctl", "is-active", "--quiet", SERVICE_NAME]).returncode == 0


def stop_service(root: Path, state_dir: Path) -> str | None:
    """On the live system, stop and disable this gateway's service before its files go; None when
    not installed (or installed for another state directory)."""
    unit = root / "etc/systemd/system" / SERVICE_NAME
    if not _runs_state(unit, state_dir) or Path(os.path.abspath(root)) != Path("/") \
            or shutil.which("systemctl") is None:
        return None
    res = subprocess.run(["systemctl", "disable", "--now", SERVICE_NAME], capture_output=True, text=True)
    return f"systemctl disable --now {SERVICE_NAME}: exit {res.returncode} {res.stderr.strip()}".strip()


def certificate(identity: Identity, reason: str, inv: Inventory, final: dict[str, Any] | None, forced: bool,
                now: float) -> dict[str, Any]:
    return {"kind": CERT_KIND, "version": 1, "gateway_id": identity.gateway_id, "kid": identity.kid,
            "enterprise_id": identity.enterprise_id, "reason": reason,
            "time": _iso(now),
            "final_record": None if final is None else {k: final[k] for k in ("seq", "hash", "acknowledged")},
            "forced": forced, "lost": None if final is None or not forced else final["loss"],
            "destroyed": [i.as_dict() for i in inv.items], "kept": inv.kept,
            "note": "the gateway key was deleted after signing this certificate"}


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def write_certificate(signed: dict[str, Any], out_dir: Path, gateway_id: str, now: float) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"destruction-{gateway_id}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))}.json"
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(signed, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
