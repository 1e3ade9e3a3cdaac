"""Shared by the replay and scenario tests: a real receiver on loopback, the real CLI in a
subprocess (a replay is a separate process from the receiver, as in an onboarding), and the
independent recipe for the data hash that docs/replay.md documents."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from cloud_stub import receiver_key
from cloud_stub.db import ReceiverDB
from cloud_stub.enrollment import issue_token
from cloud_stub.http_api import create_app
from cloud_stub.server import Running

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LiveReceiver:
    url: str
    rdb: ReceiverDB
    key: SigningKey
    running: Running

    def token(self, enterprise: str) -> str:
        return issue_token(self.rdb, enterprise)["token"]

    def batches(self, gateway: str) -> list[dict[str, Any]]:
        """Every accepted batch body of one gateway, in seq order, with its replayed column."""
        with self.rdb.read() as conn:
            rows = conn.execute("SELECT seq, body, replayed FROM batches WHERE gateway_id = ? ORDER BY seq",
                                (gateway,)).fetchall()
        out = []
        for seq, body, replayed in rows:
            b = json.loads(bytes(body))
            assert b["seq"] == seq
            out.append({**b, "_replayed": replayed})
        return out

    def stop(self) -> None:
        self.running.stop()
        self.rdb.close()


def start_receiver(d: Path) -> LiveReceiver:
    d.mkdir(parents=True, exist_ok=True)
    rdb = ReceiverDB(d / "receiver.db")
    key = receiver_key.load_or_create(d / "receiver.key")
    running = Running(create_app(rdb, key))
    return LiveReceiver(running.url, rdb, key, running)


def edgeproof(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The real CLI, as an installer runs it."""
    proc = subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=240)
    if check and proc.returncode != 0:
        raise AssertionError(f"edgeproof {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def replay_identity(receiver: LiveReceiver, state: Path, enterprise: str, gateway_id: str,
                    profile: str = "sim-history") -> None:
    """What the installer does once per enterprise: a separate history identity, enrolled."""
    edgeproof("init", "--profile", profile, "--state", str(state), "--gateway-id", gateway_id)
    edgeproof("enroll", "--state", str(state), "--token", receiver.token(enterprise), "--receiver", receiver.url)


def run_replay(receiver: LiveReceiver | None, state: Path, data: Path, *extra: str,
               profile: str = "sim-history") -> dict[str, Any]:
    target = receiver.url if receiver is not None else "none"
    proc = edgeproof("replay", "--profile", profile, "--data", str(data), "--state", str(state),
                     "--receiver", target, *extra)
    return json.loads(proc.stdout)


def data_sha256(root: Path) -> str:
    """The documented recipe (docs/replay.md), written independently of gateway/replay/data.py."""
    files = sorted(p for p in root.glob("*.csv"))
    exports = root / "exports"
    if exports.is_dir():
        files += sorted(p for p in exports.rglob("*") if p.is_file() and not p.name.startswith("."))
    h = hashlib.sha256()
    for p in files:
        h.update(f"{p.relative_to(root).as_posix()}\t{hashlib.sha256(p.read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()


def get_json(url: str, token: str) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
