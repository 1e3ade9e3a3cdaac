"""Rule inputs built from signed bytes only: the batch bodies as accepted and the record locators.

Why: a receiver's derived columns (``records.value``, ``window_start``, ``name``, ...) are
its own copy of what the gateway signed and an operator can edit them. The analysis must
read what a bank can check, so every value a rule uses (value, window start and length,
name, subject, quality flags, detail, category, and per batch: created, clock, replay) is
taken from the decoded body whose hash is the batch hash, and the receiver's database only
says *which* records (``(record id, batch hash, index)`` locators, which it also signs on
every records page) and which chain findings. ``build_inputs`` is a pure function of those,
so a bank that pulled and verified the same batches (``edgeproof feed rescore``) calls the
very same function and gets the very same :class:`RuleInputs`.

Loader versions (``RuleInputs.loader``, stated in a report's ``basis.loader``):

* 1 — reports made before this module (no ``basis``). Its digest also covers each batch's
  ``received`` time, which only the receiver knows. On an honest database the values are
  the same as the columns held, so old scores recompute to the same digest.
* 2 — every report since: the digest leaves ``received`` out (a bank cannot know it) and
  states the loader and the category view it was computed for.

Speed: each batch body is decoded once (msgspec), never each record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from cloud_stub import declarations
from cloud_stub.rule_inputs import (
    DETAIL_NAMES,
    DETAIL_ONLY_NONZERO,
    ROLE_NAMES,
    ROLES,
    BatchMeta,
    ChainFinding,
    RuleInputs,
    _build_series,
    _canon,
)
from gateway.wire import record_category

LOADER = 2
# as cloud_stub/banks.py
ALWAYS_VISIBLE = frozenset({"consent", "declaration", "decommission", "dispute", "confirmation", "health"})
_decode = msgspec.json.Decoder().decode
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                         allow_nan=False).encode


@dataclass(frozen=True)
class AcceptedBatch:
    """One batch as accepted: its hash, its decoded signed body, and (loader 1 only) when it arrived."""

    hash: str
    body: dict[str, Any]
    received: str | None = None


def decode_batch(h: str, body: bytes, received: str | None = None) -> AcceptedBatch:
    """Decode a stored body, refusing one that does not hash to its batch hash (an edited body)."""
    if hashlib.sha256(body).hexdigest() != h:
        raise ValueError(f"batch {h[:16]}: stored body does not hash to its batch hash")
    obj = _decode(body)
    if not isinstance(obj, dict):
        raise ValueError(f"batch {h[:16]}: body is not a JSON object")
    return AcceptedBatch(h, obj, received)


def batch_visible(body: Mapping[str, Any], categories: frozenset[str] | None) -> bool:
    """Whether a bank granted ``categories`` (None = all) is shown this batch: every category in it granted."""
    if categories is None:
        return True
    recs = body.get("records")
    return all(record_category(r) in categories or record_category(r) in ALWAYS_VISIBLE
               for r in (recs if isinstance(recs, list) else []))


def _number(v: Any) -> float | None:
    if isinstance(v, bool | int | float):
        return float(v)
    return None


def build_inputs(
    enterprise_id: str, period_start: int, period_end: int, max_record_id: int, max_finding_id: int,
    batches: Iterable[AcceptedBatch], locators: Mapping[str, Sequence[tuple[int, int]]],
    chain_findings: Sequence[ChainFinding], *, loader: int = LOADER, categories: Iterable[str] | None = None,
) -> RuleInputs:
    """The rule inputs of ``[period_start, period_end)`` from signed bodies and locators.

    ``locators`` maps a batch hash to its ``(record id, index)`` pairs; records above
    ``max_record_id`` are left out. ``categories`` (a category-limited bank's grant) keeps
    only the batches such a bank is shown. Selection and de-duplication are those
    documented in :mod:`cloud_stub.rule_inputs`.
    """
    if period_end <= period_start:
        raise ValueError(f"empty period [{period_start}, {period_end})")
    cats = None if categories is None else frozenset(categories)
    ev = RuleInputs(enterprise_id, int(period_start), int(period_end), int(max_record_id), int(max_finding_id))
    ev.loader, ev.categories = loader, (None if cats is None else sorted(cats))
    rows: list[tuple[Any, ...]] = []
    recs: dict[int, dict[str, Any]] = {}
    ranges: dict[str, list[int]] = {}
    by_gw_seq: dict[tuple[str, int], AcceptedBatch] = {}
    locs: list[tuple[int, str, int]] = []
    qcache: dict[tuple[Any, ...], str] = {}
    declared: list[tuple[int, str, bool, Any]] = []
    for b in batches:
        body = b.body
        if not batch_visible(body, cats):
            continue
        gw, seq = body.get("gateway"), body.get("seq")
        if not isinstance(gw, str) or not isinstance(seq, int):
            continue
        by_gw_seq[(gw, seq)] = b
        records = body.get("records")
        if not isinstance(records, list):
            continue
        replayed = 1 if isinstance(body.get("replay"), dict) else 0
        n, hit = len(records), False
        for rid, idx in locators.get(b.hash, ()):
            if rid > max_record_id or not 0 <= idx < n:
                continue
            rec = records[idx]
            if type(rec) is dict and rec.get("type") == "declaration":
                declared.append((rid, gw, bool(replayed), rec))
                continue
            if type(rec) is not dict or rec.get("type") != "indicator":
                continue
            name, window = rec.get("name"), rec.get("window")
            if type(name) is not str or type(window) is not dict:
                continue
            start, length = window.get("start"), window.get("len")
            if not isinstance(start, int) or not isinstance(length, int) or start < period_start \
                    or start + length > period_end:
                continue
            hit = True
            subj, cat, q = rec.get("subject"), rec.get("category"), rec.get("q")
            if not isinstance(subj, str):
                continue
            if isinstance(q, list):
                try:  # a handful of distinct flag lists: encode each once
                    qtext = qcache[tuple(q)]
                except (KeyError, TypeError):
                    qtext = _dumps(q)
                    if all(isinstance(x, str) for x in q):
                        qcache[tuple(q)] = qtext
            else:
                qtext = None
            rows.append((name, subj, length, start, replayed, rid, _number(rec.get("value")), qtext,
                         cat if isinstance(cat, str) else None))
            recs[rid] = rec
            locs.append((rid, b.hash, idx))
        if hit:  # every record of a batch has the batch's seq: the seq range is kept per batch
            rng = ranges.setdefault(gw, [seq, seq])
            rng[0], rng[1] = min(rng[0], seq), max(rng[1], seq)
    rows.sort()  # by name, subject, length, start (ids are unique, so later fields never compare)
    _build_series(ev, rows)
    kept: list[int] = sorted(int(i) for by in ev.series_by_name.values() for s in by.values() for i in s.ids)
    ev.locators_sha256 = _locators_digest(locs, set(kept))
    for name in DETAIL_NAMES:
        for s in ev.series_by_name.get(name, {}).values():
            for rid in s.ids.tolist():
                rec = recs[rid]
                if name in DETAIL_ONLY_NONZERO:
                    v = _number(rec.get("value"))
                    if v is None or v == 0:
                        continue
                d = rec.get("detail")
                if isinstance(d, dict) and d:
                    ev.details[int(rid)] = d
    for name in ROLE_NAMES:
        newest: dict[str, int] = {}
        for (subject, _length), s in ev.series_by_name.get(name, {}).items():
            if len(s.ids):
                newest[subject] = max(newest.get(subject, 0), int(s.ids.max()))
        for subject, rid in sorted(newest.items()):
            detail = recs[rid].get("detail") if subject not in ev.roles else None
            role = detail.get("role") if isinstance(detail, dict) else None
            if role in ROLES:
                ev.roles[subject] = role
    ev.chain_findings = list(chain_findings)
    ev.declarations = declarations.from_records(declared, period_start, period_end)
    ev.batches = []
    for gw in sorted(ranges):
        lo, hi = ranges[gw]
        for seq in range(lo, hi + 1):
            b = by_gw_seq.get((gw, seq))
            if b is None:
                continue
            body = b.body
            created, clock = body.get("created"), body.get("clock")
            ev.batches.append(BatchMeta(gw, seq, created if isinstance(created, str) else None,
                                        b.received if loader == 1 else None,  # type: ignore[arg-type]
                                        isinstance(body.get("replay"), dict),
                                        clock if isinstance(clock, dict) else None))
    return ev


def _locators_digest(locs: list[tuple[int, str, int]], kept: set[int]) -> str:
    """sha256 of the canonical JSON ``[[record id, batch hash, index], ...]`` of the records the
    rules read (after de-duplication), in id order: which signed records a report was computed from."""
    chosen = sorted(loc for loc in locs if loc[0] in kept)
    return hashlib.sha256(_canon([list(loc) for loc in chosen])).hexdigest()


def load_signed(conn: Any, enterprise_id: str, period_start: int, period_end: int, max_record_id: int,
                max_finding_id: int, chain_kinds: Sequence[str], *, loader: int = LOADER,
                categories: Iterable[str] | None = None) -> RuleInputs:
    """The receiver's side: locators, bodies and chain findings from its database, then :func:`build_inputs`.

    Only ``records.(id, batch_hash, idx)`` and ``batches.(hash, body)`` are read for values
    (plus ``received`` for a loader-1 score); the body must hash to its batch hash.
    """
    got = _read(conn, enterprise_id, max_record_id, max_finding_id, chain_kinds)
    return build_inputs(enterprise_id, period_start, period_end, max_record_id, max_finding_id, *got,
                        loader=loader, categories=categories)


def load_with_views(conn: Any, enterprise_id: str, period_start: int, period_end: int, max_record_id: int,
                    max_finding_id: int, chain_kinds: Sequence[str], views: Sequence[str], *,
                    loader: int = LOADER) -> tuple[RuleInputs, dict[str, RuleInputs]]:
    """The full inputs and one per category view (``"energy,machine"``), reading and decoding once."""
    got = _read(conn, enterprise_id, max_record_id, max_finding_id, chain_kinds)
    args = (enterprise_id, period_start, period_end, max_record_id, max_finding_id, *got)
    return (build_inputs(*args, loader=loader),
            {k: build_inputs(*args, loader=loader, categories=k.split(",")) for k in views})


def _read(conn: Any, enterprise_id: str, max_record_id: int, max_finding_id: int, chain_kinds: Sequence[str],
          ) -> tuple[list[AcceptedBatch], dict[str, list[tuple[int, int]]], list[ChainFinding]]:
    locators: dict[str, list[tuple[int, int]]] = {}
    for rid, h, idx in conn.execute("SELECT id, batch_hash, idx FROM records WHERE enterprise_id = ? AND id <= ?",
                                    (enterprise_id, max_record_id)):
        locators.setdefault(h, []).append((int(rid), int(idx)))
    batches = [decode_batch(h, bytes(body), received) for h, body, received in conn.execute(
        "SELECT hash, body, received FROM batches WHERE enterprise_id = ? AND rec_pos < ? ORDER BY id",
        (enterprise_id, max_record_id))]
    kinds = ",".join("?" for _ in chain_kinds)
    findings = [ChainFinding(int(i), k, g, json.loads(d), c) for i, k, g, d, c in conn.execute(
        "SELECT id, kind, gateway_id, detail, created FROM findings WHERE enterprise_id = ? AND id <= ?"
        f" AND kind IN ({kinds}) ORDER BY id", (enterprise_id, max_finding_id, *chain_kinds))]
    return batches, locators, findings


def chain_finding_rows(ev: RuleInputs) -> list[list[Any]]:
    """The chain findings a report states it used: ``[id, kind, gateway_id, detail, created]`` each."""
    return [[f.id, f.kind, f.gateway_id, f.detail, f.created] for f in ev.chain_findings]
