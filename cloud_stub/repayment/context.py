"""Building the repayment context for a new assessment, and again for a stored one (rescore).

A new assessment uses the shipped current table, the current repayment rules and the
enterprise's outside records up to the highest id now. A stored one is recomputed with the
table version and sha256 it names, the rule versions it names, and the outside records up
to its ``basis.max_outside_id`` (the receiver, from its database) or exactly the records its
basis states, each checked against its digest (a bank, which has no database).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloud_stub.errors import ReceiverError
from cloud_stub.outside import records as outside_records
from cloud_stub.outside import store as outside_store
from cloud_stub.repayment.assessment import RepaymentContext
from cloud_stub.repayment.config import load_repayment_config, shipped_path
from cloud_stub.rules import all_rules
from cloud_stub.rules.base import Rule, registered_repayment, registered_version
from cloud_stub.texts import msg


class RepaymentRescoreError(ReceiverError):
    """A stored repayment assessment that this installation cannot reproduce (and why)."""


def current_rules() -> dict[str, type[Rule]]:
    """The repayment rules of the per-enterprise assessment: not the per-facility ones (``per_facility``,
    e.g. repay_covenants), which read one bank's facility and run only in ``cloud coverage run``."""
    all_rules()  # imports every rule module, which registers the repay_* ones too
    return {rid: cls for rid, cls in registered_repayment().items() if not getattr(cls, "per_facility", False)}


def current_context(conn: Any, enterprise_id: str) -> RepaymentContext:
    rules = current_rules()
    cfg = load_repayment_config(None, rules)
    bound = outside_store.max_id(conn, enterprise_id)
    return RepaymentContext(cfg, rules, outside_store.load_basis(conn, enterprise_id, bound), bound)


def _stored_rules(rep: Mapping[str, Any]) -> dict[str, type[Rule]]:
    have = current_rules()
    used = rep.get("rules")
    if not isinstance(used, dict):
        raise RepaymentRescoreError("bad_report", msg("the repayment assessment does not list its rules"))
    out: dict[str, type[Rule]] = {}
    for rid, ver in sorted(used.items()):
        cls = have[rid] if rid in have and have[rid].version == ver else registered_version(rid, int(ver))
        if cls is None:
            raise RepaymentRescoreError("rules_changed", msg("repayment rule {rule} v{version} is not shipped here",
                                                             rule=rid, version=ver))
        out[rid] = cls
    return out


def _stored_cfg(rep: Mapping[str, Any], rules: Mapping[str, type[Rule]], config_path: str | None = None) -> Any:
    version = str(rep.get("version"))
    try:
        path = config_path or shipped_path(version)
    except ValueError as exc:
        raise RepaymentRescoreError("unknown_repayment_version", str(exc)) from exc
    try:
        cfg = load_repayment_config(path, rules)
    except ValueError as exc:
        raise RepaymentRescoreError("unknown_repayment_version", msg("repayment table {version}: {error}",
                                                                              version=version, error=exc)) from exc
    if cfg.version != version or cfg.sha256 != rep.get("config_sha256"):
        raise RepaymentRescoreError("config_changed", msg(
            "the repayment assessment used {version} with table sha256 {stored}; this installation has {current} "
            "with {sha256}", version=version, stored=rep.get("config_sha256"), current=cfg.version, sha256=cfg.sha256))
    return cfg


def stored_context_db(conn: Any, enterprise_id: str, rep: Mapping[str, Any]) -> RepaymentContext:
    """For the receiver's ``cloud rescore``: records from its database up to the stored bound."""
    rules = _stored_rules(rep)
    cfg = _stored_cfg(rep, rules)
    bound = int((rep.get("basis") or {}).get("max_outside_id") or 0)
    return RepaymentContext(cfg, rules, outside_store.load_basis(conn, enterprise_id, bound), bound)


def stored_context_report(rep: Mapping[str, Any], problems: list[str]) -> RepaymentContext:
    """For a bank's ``feed rescore``: the outside records the report states, each digest recomputed."""
    rules = _stored_rules(rep)
    cfg = _stored_cfg(rep, rules)
    basis = rep.get("basis") or {}
    recs = list(basis.get("outside") or [])
    for rec in recs:
        try:
            sha = outside_records.digest({k: rec[k] for k in outside_records.FIELDS})
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(msg("repayment outside record {record}: malformed ({error})",
                                record=rec.get("id") if isinstance(rec, dict) else rec, error=exc))
            continue
        if sha != rec.get("sha256"):
            problems.append(msg("repayment outside record {record}: content digests to {sha}, the report states "
                                "{stated}", record=rec.get("id"), sha=sha, stated=rec.get("sha256")))
    return RepaymentContext(cfg, rules, recs, int(basis.get("max_outside_id") or 0))
