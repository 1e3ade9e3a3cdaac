"""``edgeproof cloud facility | price | coverage | portfolio``: the operator's side of issue 15.

``facility add|update|list|remove`` keeps a bank's facilities (the bank does the same through its API,
cloud_stub/http_facility.py); ``price import`` loads a bank's daily price CSV; ``coverage run`` assesses
every facility of a bank (findings, margin-call alerts); ``portfolio`` prints the bank's enterprises worst
first. Registered on the ``cloud`` group by one line at the end of cloud_stub/cli.py. ``--json`` outputs are
contracts (docs/receiver.md, "Facilities"): keys are added, never renamed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cloud_stub.cli import _epoch, _fail, _open
from cloud_stub.errors import ReceiverError
from cloud_stub.i18n import N_, _, display_width, pad, text
from cloud_stub.status_text import covenant_status, coverage_level, warning_level
from cloud_stub.texts import Msg

# The repayment column's words that are codes (portfolio.NOT_ASSESSED, repayment/assessment.py's statuses and
# its grade when data was insufficient); a grade letter is shown as it is.
REPAYMENT_WORDS = {"not assessed": N_("not assessed"), "not_assessed": N_("not assessed"),
                   "insufficient_data": N_("insufficient data")}


def _t(table: dict[str, str], code: object) -> str:
    return _(table[code]) if isinstance(code, str) and code in table else str(code)


_DB = click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
                   help=_("SQLite file, or a postgresql://user@host/dbname URL."))
_BANK = click.option("--bank", "bank", required=True, help=_("The bank the facilities and prices belong to."))


def _doc(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(_("{path}: cannot read: {error}").format(path=path, error=exc)) from None
    except json.JSONDecodeError as exc:
        raise click.ClickException(_("{path}: not JSON: line {line} column {column}: {error}").format(
            path=path, line=exc.lineno, column=exc.colno, error=exc.msg)) from None


def _echo(out: Any) -> None:
    click.echo(json.dumps(out, indent=2, sort_keys=True, ensure_ascii=False))


@click.group("facility", help=_("A bank's facilities to its enterprises (amount, drawn, term, covenants, pledges)."))
def facility_cmd() -> None:
    pass


def _put(db_path: str, bank: str, facility_id: str, file: str, create: bool) -> None:
    from cloud_stub import facilities

    rdb = _open(db_path)
    try:
        _echo(facilities.put(rdb, bank, facility_id, _doc(file), create=create))
    except ReceiverError as exc:
        m = exc.message  # name the file where the message says "facility" (the document)
        named = Msg(m.template, **{**m.params, "where": file}) if isinstance(m, Msg) and m.params.get("where") == \
            "facility" else m.replace("facility:", f"{file}:", 1)
        _fail(ReceiverError(exc.code, named, exc.http_status))
    finally:
        rdb.close()


@facility_cmd.command("add", help=_("Add a facility from a JSON file (docs/receiver.md, \"Facilities\")."))
@_DB
@_BANK
@click.argument("facility_id")
@click.option("--file", "file", required=True, type=click.Path(dir_okay=False, exists=True))
def facility_add(db_path: str, bank: str, facility_id: str, file: str) -> None:
    _put(db_path, bank, facility_id, file, True)


@facility_cmd.command("update", help=_("Replace a facility's terms, covenants and pledges from a JSON file."))
@_DB
@_BANK
@click.argument("facility_id")
@click.option("--file", "file", required=True, type=click.Path(dir_okay=False, exists=True))
def facility_update(db_path: str, bank: str, facility_id: str, file: str) -> None:
    _put(db_path, bank, facility_id, file, False)


@facility_cmd.command("list", help=_("The bank's live facilities with their latest coverage."))
@_DB
@_BANK
@click.option("--enterprise", default=None, help=_("Only this enterprise (default: all)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def facility_list(db_path: str, bank: str, enterprise: str | None, as_json: bool) -> None:
    from cloud_stub.http_facility import with_coverage

    rdb = _open(db_path)
    try:
        with rdb.read() as conn:
            items = with_coverage(conn, bank, enterprise)
    finally:
        rdb.close()
    if as_json:
        _echo({"bank": bank, "facilities": items})
        return
    for f in items:
        c = f["coverage"] or {}
        cov = "-" if not c else (_("not observed") if c.get("coverage") is None else f"{c['coverage']:.2f}x")
        click.echo(_("{facility}  {enterprise}  drawn {drawn}/{amount} {currency}  coverage {coverage}  {level}")
                   .format(
            facility=f["facility_id"], enterprise=f["enterprise_id"], drawn=f"{f['drawn']:,.0f}",
            amount=f"{f['amount']:,.0f}", currency=f["currency"], coverage=cov,
            level=coverage_level(c["level"]) if c.get("level") else _("not assessed"))
            + (f"  [{', '.join(c['flags'])}]" if c.get("flags") else ""))
        _echo_covenants((f.get("covenant_results") or {}).get("results", []))
    click.echo(_("{n} facility(ies) of {bank}").format(n=len(items), bank=bank))


def _echo_covenants(checks: list[dict[str, Any]]) -> None:
    """Each covenant's result, one line each (the facilities list and coverage run say it the same way)."""
    for c in checks:
        seen = _("not observed") if c["observed"] is None else f"{c['observed']:g}"
        click.echo("    " + _("covenant {covenant}  limit {limit}  observed {observed}  {status}").format(
            covenant=c["covenant"] + (":" + c["side"] if c.get("side") else ""), limit=f"{c['limit']:g}",
            observed=seen, status=covenant_status(c["status"])))


@facility_cmd.command("remove", help=_("Remove a facility (its findings and alerts stay)."))
@_DB
@_BANK
@click.argument("facility_id")
def facility_remove(db_path: str, bank: str, facility_id: str) -> None:
    from cloud_stub import facilities

    rdb = _open(db_path)
    try:
        _echo(facilities.remove(rdb, bank, facility_id))
    except ReceiverError as exc:
        _fail(exc)
    finally:
        rdb.close()


@click.group("price", help=_("A bank's price series per product class."))
def price_cmd() -> None:
    pass


@price_cmd.command("import", help=_("Import a daily price CSV: day,product_class,price,currency,unit."))
@_DB
@_BANK
@click.option("--file", "file", required=True, type=click.Path(dir_okay=False))
def price_import(db_path: str, bank: str, file: str) -> None:
    from cloud_stub import prices

    rdb = _open(db_path)
    try:
        _echo(prices.import_csv(rdb, bank, file))
    except ReceiverError as exc:
        _fail(exc)
    finally:
        rdb.close()


@price_cmd.command("pull", help=_("Fetch a day's prices from a price API (adapter) and store them."))
@_DB
@_BANK
@click.option("--adapter", default="http-json", show_default=True, help=_("A registered price adapter."))
@click.option("--url", required=True, help=_("The price service's URL."))
@click.option("--token-env", default=None, metavar="VAR", help=_("Environment variable holding its bearer token."))
@click.option("--class", "classes", multiple=True,
              help=_("Product class to fetch (repeatable; default: every class the bank's facilities pledge)."))
@click.option("--day", default=None, help=_("YYYY-MM-DD (default: today, UTC)."))
def price_pull(db_path: str, bank: str, adapter: str, url: str, token_env: str | None, classes: tuple[str, ...],
               day: str | None) -> None:
    import os
    from datetime import UTC, date, datetime

    from cloud_stub import facilities, price_http, prices  # price_http registers the http-json adapter

    assert price_http  # imported for its registration
    cls = prices.adapters().get(adapter)
    if cls is None:
        raise click.BadParameter(_("one of {choices}").format(choices=sorted(prices.adapters())),
                                 param_hint="--adapter")
    try:
        when = date.fromisoformat(day) if day else datetime.now(UTC).date()
    except ValueError:
        raise click.BadParameter(_("expected YYYY-MM-DD, got {day}").format(day=repr(day)),
                                 param_hint="--day") from None
    token = os.environ.get(token_env) if token_env else None
    if token_env and not token:
        raise click.BadParameter(_("${name} is empty or unset").format(name=token_env), param_hint="--token-env")
    rdb = _open(db_path)
    try:
        wanted = sorted(set(classes) or {p["product_class"] for f in facilities.list_facilities(rdb, bank)
                                          for p in f["pledges"]})
        if not wanted:
            raise click.ClickException(
                _("bank {bank} pledges no product class: name one with --class").format(bank=bank))
        _echo(prices.pull(rdb, bank, cls(url, token), wanted, when))  # type: ignore[call-arg]
    except ReceiverError as exc:
        _fail(exc)
    finally:
        rdb.close()


@click.group("coverage", help=_("Collateral value and coverage of a bank's facilities."))
def coverage_cmd() -> None:
    pass


@coverage_cmd.command("run", help=_("Assess every facility of a bank (or of every bank) now: coverage, margin-call "
                                   "findings and alerts. Run it daily after the price import (cron, a timer)."))
@_DB
@click.option("--bank", "bank", default=None, help=_("The bank (or --all-banks)."))
@click.option("--all-banks", "all_banks", is_flag=True, help=_("Every bank with a live facility."))
@click.option("--enterprise", default=None, help=_("Only this enterprise (default: all)."))
@click.option("--as-of", "as_of", default=None, help=_("ISO 8601 or epoch seconds (default: now)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def coverage_run_cmd(db_path: str, bank: str | None, all_banks: bool, enterprise: str | None, as_of: str | None,
                     as_json: bool) -> None:
    from cloud_stub import coverage_run

    if (bank is None) == (not all_banks):
        raise click.UsageError(_("give --bank BANK or --all-banks (one of them)"))
    rdb = _open(db_path)
    try:
        if bank is None:
            with rdb.read() as conn:
                names = [r[0] for r in conn.execute("SELECT DISTINCT bank_id FROM facilities WHERE removed_at IS NULL"
                                                    " ORDER BY bank_id").fetchall()]
        else:
            names = [bank]
        runs = [coverage_run.run_bank(rdb, b, _epoch(as_of), enterprise) for b in names]
    except ReceiverError as exc:
        _fail(exc)
        return
    finally:
        rdb.close()
    if as_json:
        _echo(runs[0] if bank is not None else {"banks": runs})
        return
    for out in runs:
        for a in out["facilities"]:
            cov = _("not observed") if a["coverage"] is None else f"{a['coverage']:.2f}x"
            click.echo(_("{bank}  {facility}  {enterprise}  coverage {coverage}  {level}").format(
                bank=out["bank"], facility=a["facility_id"], enterprise=a["enterprise_id"], coverage=cov,
                level=coverage_level(a["level"])) + (f"  [{', '.join(a['flags'])}]" if a["flags"] else ""))
            _echo_covenants(a.get("covenants", []))
        for sk in out["skipped"]:
            click.echo(_("{bank}  {facility}  {enterprise}  skipped: {reason}").format(
                bank=out["bank"], facility=sk["facility_id"], enterprise=sk["enterprise_id"],
                reason=text(sk["reason"])))
        click.echo(_("{bank}: {facilities} facility(ies), {findings} finding(s), {alerts} alert(s)").format(
            bank=out["bank"], facilities=len(out["facilities"]), findings=out["findings"], alerts=len(out["alerts"])))


@click.command("portfolio", help=_("Every enterprise of a bank, worst first: score, repayment, coverage, changes."))
@_DB
@_BANK
@click.option("--key", "key_path", default=None, type=click.Path(dir_okay=False),
              help=_("Receiver signing key (default: next to a SQLite db)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def portfolio_cmd(db_path: str, bank: str, key_path: str | None, as_json: bool) -> None:
    from cloud_stub import portfolio
    from cloud_stub.cli import _analysis_key

    key = _analysis_key(db_path, key_path)
    rdb = _open(db_path)
    try:
        page = portfolio.portfolio(rdb, bank, key)
    finally:
        rdb.close()
    if as_json:
        _echo(page)
        return
    click.echo(portfolio_table(page))


def portfolio_table(page: dict[str, Any]) -> str:
    """The portfolio for people: one line per enterprise, worst first, then what changed."""
    head = [_("ENTERPRISE"), _("SCORE"), _("GRADE"), _("LEVEL"), _("REPAYMENT"), _("COVERAGE"), _("CHANGED")]
    rows = []
    for e in page["enterprises"]:
        a = e["authenticity"] or {}
        facs = e["coverage"]["facilities"]
        cov = ", ".join(f"{f['facility_id']} " + ("n/o" if f["coverage"] is None else f"{f['coverage']:.2f}x")
                        + f" {coverage_level(f['level'])}" for f in facs) or "-"
        rep = e["repayment"]
        rows.append([e["enterprise_id"], "-" if a.get("score") is None else f"{a['score']:g}", a.get("grade") or "-",
                     warning_level(a["warning_level"]) if a.get("warning_level") else _("not scored"),
                     _t(REPAYMENT_WORDS, rep.get("status")) if rep.get("status") != "assessed"
                     else _t(REPAYMENT_WORDS, str(rep.get("grade") or rep)),
                     cov, "; ".join(f"{c['field']} {c['before']}->{c['after']}" for c in e["changes"]) or "-"])
    widths = [max(display_width(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(pad(str(c), w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
    lines.append(_("{n} enterprise(s) of {bank}; previous run {previous}").format(
        n=len(rows), bank=page["bank"], previous=page["previous_run_at"] or _("none")))
    return "\n".join(lines)


COMMANDS = (facility_cmd, price_cmd, coverage_cmd, portfolio_cmd)
