"""A gateway upgraded in the field keeps its store: columns added since are added in place,
and batches signed before the upgrade are sent exactly as they were signed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from nacl.signing import SigningKey

from gateway import wire
from gateway.store import Store


def test_an_outbox_from_before_head_signatures_is_upgraded_and_its_batches_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "edgeproof.db"
    Store(path).close()
    con = sqlite3.connect(path)  # what the previous release left: no head_sig column, one batch
    con.execute("ALTER TABLE outbox DROP COLUMN head_sig")
    key = SigningKey(bytes(range(32)))
    kid = wire.key_id(bytes(key.verify_key))
    body = {"v": 1, "gateway": "gw", "enterprise": "ent", "kid": kid, "seq": 1, "prev": wire.GENESIS_PREV,
            "boot": 1, "created": "2026-11-27T00:00:00.000Z", "clock": {"synced": True}, "loss": {}, "records": []}
    old = wire.sign_body(body, key)
    con.execute("INSERT INTO outbox(seq, hash, body, sig, kid, created, n_records, categories) "
                "VALUES (1, ?, ?, ?, ?, 0, 0, '[]')", (old.hash, old.body, old.sig, kid))
    con.commit()
    con.close()

    st = Store(path)
    try:
        ((seq, h, b, sig, k, head_sig),) = st.outbox_after(0)
        assert (seq, h, b, sig, k, head_sig) == (1, old.hash, old.body, old.sig, kid, None)
        env = json.loads(wire.SignedBatch(b, sig, k, head_sig).envelope())
        assert "head_sig" not in env  # sent as it was signed
        body2 = dict(body, seq=2, prev=old.hash)
        new = wire.sign_body(body2, key)
        st.append_batch(2, new.hash, new.body, new.sig, kid, [], [], 0, {}, new.head_sig)
        assert st.outbox_after(1)[0][5] == new.head_sig
    finally:
        st.close()
    Store(path).close()  # a second open finds the column and changes nothing
