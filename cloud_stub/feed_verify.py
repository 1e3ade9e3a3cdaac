"""A bank's verifier for the receiver's feed: trust the gateways' signatures, not the receiver.

Imports only ``gateway.wire``, the standard library and PyNaCl (through wire), so a bank
can vendor this file and wire.py alone. For every record it checks, itself:

* the batch body hashes to the batch hash the record names, and the gateway's
  Ed25519 signature over those body bytes holds under a key enrolled for that gateway
  (``wire.verify``), and the body names this enterprise, the gateway and seq the
  record claims;
* the record equals ``decoded body["records"][index]``, and no (batch, index) or record id
  appears twice; every record of every batch seen was delivered (nothing withheld);
* per gateway, the batches form one chain: seq 1 with the genesis ``prev`` first, then
  ``prev`` = hash of the previous batch, with gaps allowed only where the gateway itself
  declared ``"dropped": [first, last]``; two batches with one seq is equivocation;
* each page's receiver signature covers that page (``wire.verify_report``), against a
  pinned receiver key when one is given.

The receiver serves the gateway keys too; a bank that wants to be independent of it
should compare them with keys it learnt at enrollment (``key_pins``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from typing import Any

from gateway import wire

PAGE_LIMIT = 1000


class _Http:
    def __init__(self, base: str, token: str | None, timeout: float) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.timeout = timeout

    def get(self, path: str, auth: bool = False) -> Any:
        req = urllib.request.Request(self.base + path, headers={"Accept": "application/json"})
        if auth and self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            return json.loads(resp.read())


def _signed_shape(page: dict[str, Any]) -> dict[str, Any]:
    """What the receiver's page signature must cover, recomputed from the page as received."""
    recs = page.get("records", [])
    return {
        "enterprise_id": page.get("enterprise_id"),
        "cursor": page.get("cursor"),
        "next_cursor": page.get("next_cursor"),
        "record_ids": [r.get("id") for r in recs],
        "batch_hashes": list(page.get("batches", {}).keys()),
        "locators": [[r.get("id"), r.get("batch_hash"), r.get("index")] for r in recs],
    }


def verify_feed(
    url: str, enterprise: str, token: str, pin: str | None = None, *, page_limit: int = PAGE_LIMIT,
    timeout: float = 30.0, key_pins: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Pull every page of ``enterprise``'s feed and verify it; returns a summary dict.

    ``{"records", "batches", "verified", "failed", "failures", "gateways", ...}``; ``failed``
    counts records that did not verify plus feed-level failures (page signatures, chain
    breaks, withheld records). ``pin`` is the receiver's base64 public key; ``key_pins``
    maps kid -> base64 gateway public key known out of band.
    """
    http = _Http(url, token, timeout)
    failures: list[str] = []
    feed_failures = 0
    records: list[dict[str, Any]] = []
    batches: dict[str, dict[str, Any]] = {}
    pages = 0

    try:
        rkey = http.get("/v1/receiver/key")
        receiver_pk = wire.unb64(pin if pin else rkey["public_key"], "receiver key")
        if pin and rkey.get("public_key") != pin:
            failures.append("receiver key served differs from the pinned key")
            feed_failures += 1
        cursor: str | None = None
        seen_cursors: set[str | None] = set()
        while True:
            q = {"limit": str(page_limit)}
            if cursor:
                q["cursor"] = cursor
            ent = urllib.parse.quote(enterprise, safe="")
            page = http.get(f"/v1/feed/{ent}/records?{urllib.parse.urlencode(q)}", auth=True)
            pages += 1
            try:
                signed = wire.verify_report(page["page_signature"], receiver_pk)
                if signed != _signed_shape(page) or signed.get("enterprise_id") != enterprise \
                        or signed.get("cursor") != cursor:
                    raise wire.WireError("page_mismatch", "signature does not cover this page as received")
            except (wire.WireError, KeyError, TypeError, ValueError) as exc:
                failures.append(f"page {pages} (cursor {cursor}): receiver signature: {exc}")
                feed_failures += 1
            records.extend(page.get("records", []))
            for h, b in page.get("batches", {}).items():
                batches.setdefault(h, b)
            seen_cursors.add(cursor)
            cursor = page.get("next_cursor")
            if cursor is None:
                break
            if cursor in seen_cursors:
                failures.append(f"page {pages}: next_cursor repeats an earlier cursor")
                feed_failures += 1
                break
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        failures.append(f"fetching the feed failed: {exc}")
        feed_failures += 1

    # 1. Batches: hash, gateway signature, enterprise.
    keys_by_gateway: dict[str, dict[str, str]] = {}
    bodies: dict[str, dict[str, Any]] = {}
    bad_batches: dict[str, str] = {}
    for h, b in batches.items():
        try:
            sb = wire.SignedBatch(
                body=wire.unb64(b["body"], "body"), sig=wire.unb64(b["sig"], "sig"), kid=b["kid"]
            )
            if sb.hash != h:
                raise wire.WireError("bad_hash", "body does not hash to the batch hash")
            gw = json.loads(sb.body).get("gateway")
            if not isinstance(gw, str):
                raise wire.WireError("bad_body", "body names no gateway")
            if gw not in keys_by_gateway:
                info = http.get(f"/v1/gateways/{urllib.parse.quote(gw, safe='')}/keys")
                keys_by_gateway[gw] = {
                    k["kid"]: k["public_key"] for k in info.get("keys", [])
                    if info.get("enterprise_id") == enterprise
                }
            pk = (key_pins or {}).get(sb.kid) or keys_by_gateway[gw].get(sb.kid)
            if pk is None:
                raise wire.WireError("unknown_key", f"key {sb.kid} is not enrolled for {gw} of {enterprise}")
            served = keys_by_gateway[gw].get(sb.kid)
            if key_pins and sb.kid in key_pins and served not in (None, key_pins[sb.kid]):
                raise wire.WireError("key_mismatch", f"receiver serves a different key for {sb.kid}")
            body = wire.verify(sb, wire.unb64(pk, "gateway key"))
            if body["enterprise"] != enterprise or body["gateway"] != gw:
                raise wire.WireError("gateway_mismatch", "batch belongs to another enterprise")
            bodies[h] = body
        except (wire.WireError, KeyError, TypeError, ValueError, urllib.error.URLError, OSError) as exc:
            bad_batches[h] = str(exc)
            failures.append(f"batch {h[:16]}: {exc}")
            feed_failures += 1

    # 2. Records against their batch bodies.
    failed_ids: set[Any] = set()
    seen_ids: set[Any] = set()
    seen_locs: dict[str, set[int]] = defaultdict(set)
    for r in records:
        rid, h, idx = r.get("id"), r.get("batch_hash"), r.get("index")
        problem = None
        if rid in seen_ids:
            problem = "record id delivered twice"
        elif h not in batches:
            problem = "its batch is not on the page"
        elif h in bad_batches:
            problem = f"its batch failed: {bad_batches[h]}"
        else:
            body = bodies[h]
            if not isinstance(idx, int) or not 0 <= idx < len(body["records"]):
                problem = f"index {idx} is outside the batch"
            elif idx in seen_locs[h]:
                problem = f"batch {h[:16]} index {idx} delivered twice"
            else:
                seen_locs[h].add(idx)  # delivered (if altered, it fails below, but was not withheld)
                if r.get("gateway_id") != body["gateway"] or r.get("seq") != body["seq"]:
                    problem = "gateway_id/seq differ from the signed batch"
                elif r.get("record") != body["records"][idx]:
                    problem = "record differs from the signed batch"
        seen_ids.add(rid)
        if problem:
            failed_ids.add(rid)
            if len(failures) < 10_000:
                failures.append(f"record {rid}: {problem}")

    # 3. Completeness and chains, per gateway.
    chains: dict[str, list[tuple[int, str, dict[str, Any]]]] = defaultdict(list)
    for h, body in bodies.items():
        if len(seen_locs[h]) != len(body["records"]):
            missing = len(body["records"]) - len(seen_locs[h])
            failures.append(
                f"batch {h[:16]} (gateway {body['gateway']} seq {body['seq']}): {missing} record(s) withheld"
            )
            feed_failures += 1
        chains[body["gateway"]].append((body["seq"], h, body))
    gateways: list[str] = sorted(chains)
    declared_gaps: list[dict[str, Any]] = []
    for gw in gateways:
        chain = sorted(chains[gw], key=lambda t: t[0])
        prev_seq, prev_hash = 0, wire.GENESIS_PREV
        for seq, h, body in chain:
            dropped = body.get("dropped")
            if seq == prev_seq:
                failures.append(f"gateway {gw}: two batches with seq {seq} (equivocation)")
                feed_failures += 1
            elif seq == prev_seq + 1:
                if body["prev"] != prev_hash:
                    failures.append(f"gateway {gw}: seq {seq} does not chain to seq {prev_seq}")
                    feed_failures += 1
            elif dropped == [prev_seq + 1, seq - 1]:
                declared_gaps.append({"gateway_id": gw, "first": prev_seq + 1, "last": seq - 1})
            else:
                failures.append(f"gateway {gw}: seq {prev_seq + 1}..{seq - 1} missing, not declared dropped")
                feed_failures += 1
            prev_seq, prev_hash = seq, h

    verified = len(records) - len(failed_ids)
    return {
        "enterprise_id": enterprise,
        "records": len(records),
        "batches": len(batches),
        "pages": pages,
        "verified": verified,
        "failed": len(failed_ids) + feed_failures,
        "failures": failures,
        "gateways": gateways,
        "declared_gaps": declared_gaps,
    }
