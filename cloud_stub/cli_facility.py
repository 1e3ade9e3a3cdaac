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

_DB = click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
                   help="SQLite file, or a postgresql://user@host/dbname URL.")
_BANK = click.option("--bank", "bank", required=True, help="The bank the facilities and prices belong to.")


def _doc(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{path}: not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def _echo(out: Any) -> None:
    click.echo(json.dumps(out, indent=2, sort_keys=True, ensure_ascii=False))


@click.group("facility", help="A bank's facilities to its enterprises (amount, drawn, term, covenants, pledges).")
def facility_cmd() -> None:
    pass


def _put(db_path: str, bank: str, facility_id: str, file: str, create: bool) -> None:
    from cloud_stub import facilities

    rdb = _open(db_path)
    try:
        _echo(facilities.put(rdb, bank, facility_id, _doc(file), create=create))
    except ReceiverError as exc:
        _fail(ReceiverError(exc.code, exc.message.replace("facility:", f"{file}:", 1), exc.http_status))
    finally:
        rdb.close()


@facility_cmd.command("add", help="Add a facility from a JSON file (docs/receiver.md, \"Facilities\").")
@_DB
@_BANK
@click.argument("facility_id")
@click.option("--file", "file", required=True, type=click.Path(dir_okay=False, exists=True))
def facility_add(db_path: str, bank: str, facility_id: str, file: str) -> None:
    _put(db_path, bank, facility_id, file, True)


@facility_cmd.command("update", help="Replace a facility's terms, covenants and pledges from a JSON file.")
@_DB
@_BANK
@click.argument("facility_id")
@click.option("--file", "file", required=True, type=click.Path(dir_okay=False, exists=True))
def facility_update(db_path: str, bank: str, facility_id: str, file: str) -> None:
    _put(db_path, bank, facility_id, file, False)


@facility_cmd.command("list", help="The bank's live facilities with their latest coverage.")
@_DB
@_BANK
@click.option("--enterprise", default=None)
@click.option("--json", "as_json", is_flag=True)
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
        cov = "-" if not c else ("not observed" if c.get("coverage") is None else f"{c['coverage']:.2f}x")
        click.echo(f"{f['facility_id']}  {f['enterprise_id']}  drawn {f['drawn']:,.0f}/{f['amount']:,.0f} "
                   f"{f['currency']}  coverage {cov}  {c.get('level', 'not assessed')}"
                   + (f"  [{', '.join(c['flags'])}]" if c.get("flags") else ""))
    click.echo(f"{len(items)} facility(ies) of {bank}")


@facility_cmd.command("remove", help="Remove a facility (its findings and alerts stay).")
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


@click.group("price", help="A bank's price series per product class.")
def price_cmd() -> None:
    pass


@price_cmd.command("import", help="Import a daily price CSV: day,product_class,price,currency,unit.")
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


@price_cmd.command("pull", help="Fetch a day's prices from a price API (adapter) and store them.")
@_DB
@_BANK
@click.option("--adapter", default="http-json", show_default=True, help="A registered price adapter.")
@click.option("--url", required=True, help="The price service's URL.")
@click.option("--token-env", default=None, metavar="VAR", help="Environment variable holding its bearer token.")
@click.option("--class", "classes", multiple=True,
              help="Product class to fetch (repeatable; default: every class the bank's facilities pledge).")
@click.option("--day", default=None, help="YYYY-MM-DD (default: today, UTC).")
def price_pull(db_path: str, bank: str, adapter: str, url: str, token_env: str | None, classes: tuple[str, ...],
               day: str | None) -> None:
    import os
    from datetime import UTC, date, datetime

    from cloud_stub import facilities, price_http, prices  # price_http registers the http-json adapter

    _ = price_http
    cls = prices.adapters().get(adapter)
    if cls is None:
        raise click.BadParameter(f"one of {sorted(prices.adapters())}", param_hint="--adapter")
    try:
        when = date.fromisoformat(day) if day else datetime.now(UTC).date()
    except ValueError:
        raise click.BadParameter(f"expected YYYY-MM-DD, got {day!r}", param_hint="--day") from None
    token = os.environ.get(token_env) if token_env else None
    if token_env and not token:
        raise click.BadParameter(f"${token_env} is empty or unset", param_hint="--token-env")
    rdb = _open(db_path)
    try:
        wanted = sorted(set(classes) or {p["product_class"] for f in facilities.list_facilities(rdb, bank)
                                          for p in f["pledges"]})
        if not wanted:
            raise click.ClickException(f"bank {bank} pledges no product class: name one with --class")
        _echo(prices.pull(rdb, bank, cls(url, token), wanted, when))  # type: ignore[call-arg]
    except ReceiverError as exc:
        _fail(exc)
    finally:
        rdb.close()


@click.group("coverage", help="Collateral value and coverage of a bank's facilities.")
def coverage_cmd() -> None:
    pass


@coverage_cmd.command("run", help="Assess every facility of a bank (or of every bank) now: coverage, margin-call "
                                   "findings and alerts. Run it daily after the price import (cron, a timer).")
@_DB
@click.option("--bank", "bank", default=None, help="The bank (or --all-banks).")
@click.option("--all-banks", "all_banks", is_flag=True, help="Every bank with a live facility.")
@click.option("--enterprise", default=None)
@click.option("--as-of", "as_of", default=None, help="ISO 8601 or epoch seconds (default: now).")
@click.option("--json", "as_json", is_flag=True)
def coverage_run_cmd(db_path: str, bank: str | None, all_banks: bool, enterprise: str | None, as_of: str | None,
                     as_json: bool) -> None:
    from cloud_stub import coverage_run

    if (bank is None) == (not all_banks):
        raise click.UsageError("give --bank BANK or --all-banks (one of them)")
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
            cov = "not observed" if a["coverage"] is None else f"{a['coverage']:.2f}x"
            click.echo(f"{out['bank']}  {a['facility_id']}  {a['enterprise_id']}  coverage {cov}  {a['level']}"
                       + (f"  [{', '.join(a['flags'])}]" if a["flags"] else ""))
            for c in a.get("covenants", []):
                seen = "not observed" if c["observed"] is None else f"{c['observed']:g}"
                click.echo(f"    covenant {c['covenant']}{':' + c['side'] if c.get('side') else ''}  limit "
                           f"{c['limit']:g}  observed {seen}  {c['status'].replace('_', ' ')}")
        for sk in out["skipped"]:
            click.echo(f"{out['bank']}  {sk['facility_id']}  {sk['enterprise_id']}  skipped: {sk['reason']}")
        click.echo(f"{out['bank']}: {len(out['facilities'])} facility(ies), {out['findings']} finding(s), "
                   f"{len(out['alerts'])} alert(s)")


@click.command("portfolio", help="Every enterprise of a bank, worst first: score, repayment, coverage, changes.")
@_DB
@_BANK
@click.option("--key", "key_path", default=None, type=click.Path(dir_okay=False),
              help="Receiver signing key (default: next to a SQLite db).")
@click.option("--json", "as_json", is_flag=True)
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
    head = ["ENTERPRISE", "SCORE", "GRADE", "LEVEL", "REPAYMENT", "COVERAGE", "CHANGED"]
    rows = []
    for e in page["enterprises"]:
        a = e["authenticity"] or {}
        facs = e["coverage"]["facilities"]
        cov = ", ".join(f"{f['facility_id']} " + ("n/o" if f["coverage"] is None else f"{f['coverage']:.2f}x")
                        + f" {f['level']}" for f in facs) or "-"
        rep = e["repayment"]
        rows.append([e["enterprise_id"], "-" if a.get("score") is None else f"{a['score']:g}", a.get("grade") or "-",
                     a.get("warning_level") or "not scored",
                     rep.get("status") if rep.get("status") != "assessed" else str(rep.get("grade") or rep),
                     cov, "; ".join(f"{c['field']} {c['before']}->{c['after']}" for c in e["changes"]) or "-"])
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
    lines.append(f"{len(rows)} enterprise(s) of {page['bank']}; previous run {page['previous_run_at'] or 'none'}")
    return "\n".join(lines)


COMMANDS = (facility_cmd, price_cmd, coverage_cmd, portfolio_cmd)
