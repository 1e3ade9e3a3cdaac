"""Freshness for a bank: the chain it is served against the gateways' signed head statements.

Part of the bank's verifier (``feed_verify``), like it importing only ``gateway.wire``, the
standard library and PyNaCl (through wire), so a bank can vendor it. Checks, per gateway
(docs/wire-format.md §10.3, in this order):

1. every head statement served verifies with a key enrolled for that gateway (the same keys,
   and pins, as its batches) and names this gateway and enterprise;
2. the latest signed head (the highest seq among the statements served now and the one an
   earlier ``--state`` run kept) is not beyond the end of the chain served: otherwise the
   receiver dropped the tail (``seqs M+1..N missing``);
3. a statement for a seq the bank was served must name that batch's hash (else the gateway
   signed two batches for one seq: equivocation);
4. the receiver's stated chain head (``chain.seq`` on the heads page, read before the records)
   is not beyond what it served, and, with ``--state``, not before the tip an earlier run
   verified (``the receiver's head went back from seq N to M``);
5. ``heads_from``, learnt from any shown body, any statement or the state: from that seq a
   withheld stub without a head signature is a stripped head, and a gateway that declares it
   but has no head statement served at all fails;
6. a gateway with neither gets a notice (freshness cannot be checked: an older gateway); a
   latest statement older than ``STALE_NOTICE_S`` gets a notice, and fails when the bank set
   ``max_head_age`` and it is older than that.

Why the heads page is read **before** the records: an honest receiver's chain only grows, so
every statement and chain head read first is covered by the records read after; reading them
after could race with a batch accepted in between and fail an honest receiver.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from cloud_stub.texts import msg
from gateway import wire

STALE_NOTICE_S = 3600.0  # a latest head older than this gets a notice (gateways sign every 300 s by default)


class _Reporter(Protocol):
    def feed(self, message: str) -> None: ...


class _KeySource(Protocol):
    def get(self, gw: str, kid: str) -> bytes: ...


def _signed(d: Any) -> wire.SignedHeadStatement:
    return wire.SignedHeadStatement(body=wire.unb64(d["body"], "statement body"), sig=wire.unb64(d["sig"], "sig"),
                                    kid=d["kid"])


class Heads:
    """What the heads page and earlier runs say; checked against the chain once the records are read."""

    def __init__(self, page: dict[str, Any] | None, fetch_error: str | None, prior: dict[str, Any]) -> None:
        self.page = page
        self.fetch_error = fetch_error
        self.prior: dict[str, Any] = dict(prior or {})  # gateway -> {"statement": {...}, "heads_from": n}
        self.chain_seq: dict[str, int] = {}
        self.statements: dict[str, list[dict[str, Any]]] = {}
        if page is not None:
            for g in page.get("gateways", []):
                gw = g.get("gateway_id")
                if isinstance(gw, str):
                    seq = (g.get("chain") or {}).get("seq")
                    self.chain_seq[gw] = seq if isinstance(seq, int) else 0
                    self.statements[gw] = list(g.get("statements") or [])

    def check(self, report: _Reporter, enterprise: str, keys: _KeySource, served: dict[str, dict[int, str]],
              tips: dict[str, tuple[int, str]], prior_tips: dict[str, tuple[int, str]],
              body_heads_from: dict[str, int], stubs: dict[str, dict[str, Any]],
              max_head_age: float | None = None, now: float | None = None) -> tuple[dict[str, Any], list[str],
                                                                                        dict[str, Any]]:
        """Run checks 1-6. ``served``: gateway -> {seq: hash} of the batches (shown or withheld) read
        in this run; ``tips``: gateway -> the end of the chain verified so far (this run or earlier);
        ``prior_tips``: the tips an earlier run verified; ``body_heads_from``: the lowest
        ``heads_from`` among the shown bodies. Returns the per-gateway summary, notices, and the
        state to keep."""
        now = time.time() if now is None else now
        notices: list[str] = []
        summary: dict[str, Any] = {}
        keep: dict[str, Any] = {}
        gateways = sorted(set(served) | set(tips) | set(self.statements) | set(self.prior))
        stubs_of: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for h, s in stubs.items():
            if isinstance(s.get("gateway_id"), str) and isinstance(s.get("seq"), int):
                stubs_of.setdefault(s["gateway_id"], []).append((str(h), s))
        for gw in gateways:
            latest, latest_raw, stated_from = self._verified(report, enterprise, keys, gw, served.get(gw, {}), tips)
            heads_from = min([v for v in (body_heads_from.get(gw), stated_from,
                                          (self.prior.get(gw) or {}).get("heads_from")) if isinstance(v, int)],
                             default=None)
            tip_seq = tips.get(gw, (0, wire.GENESIS_PREV))[0]
            # 2. the chain served ends before the latest signed head
            if latest is not None and latest["seq"] > tip_seq:
                report.feed(msg("gateway {gateway}: the receiver serves up to seq {tip} but the gateway signed head "
                                "seq {signed} at {time}: seqs {first}..{signed} missing", gateway=gw, tip=tip_seq,
                                signed=latest["seq"], time=latest["time"], first=tip_seq + 1))
            # 4. the receiver's own chain head
            if self.page is not None:
                chain_seq = self.chain_seq.get(gw, 0)
                if chain_seq > tip_seq:
                    report.feed(msg("gateway {gateway}: the receiver states its chain ends at seq {stated} but serves "
                                    "up to seq {tip}: seqs {first}..{stated} missing", gateway=gw, stated=chain_seq,
                                    tip=tip_seq, first=tip_seq + 1))
                if gw in prior_tips and chain_seq < prior_tips[gw][0]:
                    report.feed(msg("gateway {gateway}: the receiver's head went back from seq {earlier} to {now} "
                                    "(an earlier run verified up to seq {earlier})", gateway=gw,
                                    earlier=prior_tips[gw][0], now=chain_seq))
            # 5. heads cannot be stripped
            if heads_from is not None:
                for h, s in stubs_of.get(gw, []):
                    if s["seq"] >= heads_from and s.get("head_sig") is None:
                        report.feed(msg("withheld batch {batch} (gateway {gateway} seq {seq}): no head signature, "
                                        "although the gateway signs every head from seq {heads_from} (heads_from): "
                                        "the head was stripped", batch=str(h)[:16], gateway=gw, seq=s["seq"],
                                        heads_from=heads_from))
                if latest is None:
                    if self.fetch_error:
                        report.feed(msg("gateway {gateway}: its batches declare heads_from {heads_from} but the "
                                        "receiver serves no head statement of it ({error})", gateway=gw,
                                        heads_from=heads_from, error=self.fetch_error))
                    else:
                        report.feed(msg("gateway {gateway}: its batches declare heads_from {heads_from} but the "
                                        "receiver serves no head statement of it", gateway=gw, heads_from=heads_from))
            elif latest is None and tip_seq > 0:  # (a gateway that sent nothing yet has nothing to check)
                notices.append(msg("gateway {gateway}: signs no head statements (a gateway from before them): whether "
                                   "the receiver serves its whole chain cannot be checked", gateway=gw))
            # 6. stale heads
            age = None
            if latest is not None:
                ts = wire.parse_time(latest["time"])
                age = None if ts is None else now - ts
                if age is not None and max_head_age is not None and age > max_head_age:
                    report.feed(msg("gateway {gateway}: the latest head statement served is from {time}, {age} s old, "
                                    "over --max-head-age {max_age} s", gateway=gw, time=latest["time"],
                                    age=f"{age:.0f}", max_age=f"{max_head_age:g}"))
                elif age is not None and age > STALE_NOTICE_S:
                    notices.append(msg("gateway {gateway}: the latest head statement is from {time} ({age} s old): "
                                       "the gateway may be offline, or the receiver withholds newer ones", gateway=gw,
                                       time=latest["time"], age=f"{age:.0f}"))
            summary[gw] = {"chain_seq": self.chain_seq.get(gw), "served_seq": tip_seq,
                           "signed_seq": latest["seq"] if latest else None,
                           "signed_time": latest["time"] if latest else None, "heads_from": heads_from,
                           "head_age_s": None if age is None else round(age, 3)}
            if latest_raw is not None or heads_from is not None:
                keep[gw] = {"statement": latest_raw, "heads_from": heads_from}
        return summary, notices, keep

    def _verified(self, report: _Reporter, enterprise: str, keys: _KeySource, gw: str, served: dict[int, str],
                  tips: dict[str, tuple[int, str]]) -> tuple[dict[str, Any] | None, dict[str, Any] | None,
                                                             int | None]:
        """Checks 1 and 3 for one gateway; the latest verified statement (decoded and as served) and the
        lowest heads_from any verified statement declares."""
        candidates = [(d, False) for d in self.statements.get(gw, [])]  # (statement, kept by an earlier run)
        kept = (self.prior.get(gw) or {}).get("statement")
        if isinstance(kept, dict):
            candidates.append((kept, True))
        latest: dict[str, Any] | None = None
        latest_raw: dict[str, Any] | None = None
        heads_from: int | None = None
        tip = tips.get(gw)
        for raw, kept_before in candidates:
            try:
                signed = _signed(raw)
                stmt = wire.verify_head_statement(signed, keys.get(gw, signed.kid))
                if stmt["gateway"] != gw or stmt["enterprise"] != enterprise:
                    raise wire.WireError("gateway_mismatch", msg("it is about {gateway} of {enterprise}",
                                                                 gateway=stmt["gateway"],
                                                                 enterprise=stmt["enterprise"]))
            except (wire.WireError, KeyError, TypeError, ValueError, AttributeError, OSError) as exc:
                report.feed(msg("gateway {gateway}: a head statement kept by an earlier run does not verify: {error}",
                                gateway=gw, error=exc) if kept_before else
                            msg("gateway {gateway}: a head statement served does not verify: {error}", gateway=gw,
                                error=exc))
                continue
            known = served.get(stmt["seq"]) or (tip[1] if tip and tip[0] == stmt["seq"] else None)
            if known is not None and known != stmt["hash"]:
                report.feed(msg("gateway {gateway}: the gateway signed head seq {seq} with hash {hash} but the "
                                "receiver serves batch {batch} at that seq (equivocation)", gateway=gw,
                                seq=stmt["seq"], hash=stmt["hash"][:16], batch=known[:16]))
            heads_from = min(heads_from or stmt["heads_from"], stmt["heads_from"])
            if latest is None or (stmt["seq"], stmt["time"]) > (latest["seq"], latest["time"]):
                latest, latest_raw = stmt, {"body": raw["body"], "sig": raw["sig"], "kid": raw["kid"]}
        return latest, latest_raw, heads_from
