"""``edgeproof cloud gateways | check-fleet | fleet-settings | operator``: the operator's fleet commands.

Registered on the ``cloud`` group by one line at the end of cloud_stub/cli.py. ``--json`` outputs
are contracts (docs/receiver.md, "Fleet"): keys are added, never renamed.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from cloud_stub.cli import _epoch, _fail, _open
from cloud_stub.errors import ReceiverError
from cloud_stub.i18n import _, display_width, pad
from cloud_stub.status_text import gateway_state

_DB = click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
                   help=_("SQLite file, or a postgresql://user@host/dbname URL."))


def _age(seconds: float) -> str:
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    return f"{s // 3600}h" if s < 172800 else f"{s // 86400}d"


def _health_cells(h: dict[str, Any] | None) -> list[str]:
    if h is None:
        return ["-", "-", "-", "-"]
    d, b = h["devices"], h["backlog"]
    devices = f"{d['healthy']}/{d['total']}" + (
        " (" + ",".join(f"{k}:{v}" for k, v in sorted(d["errors"].items())) + ")" if d["errors"] else "")
    clock = _("synced") if h["clock"].get("synced") else _("UNSYNCED")
    days = h["store"].get("days_left")
    return [devices, clock, f"{b['batches']}b/{b['records']}r", "-" if days is None else f"{days:g}d"]


def fleet_table(page: dict[str, Any]) -> str:
    """The fleet list for people: one line per gateway, the worst states first."""
    head = [_("GATEWAY"), _("ENTERPRISE"), _("STATE"), _("LAST CONTACT"), _("SEQ"), _("VERSION"), _("KEY"),
            _("DEVICES OK"), _("CLOCK"), _("BACKLOG"), _("STORE")]
    order = {"silent": 0, "late": 1, "online": 2, "revoked": 3}
    rows = [[g["gateway_id"], g["enterprise_id"], gateway_state(g["state"]),
             _("{age} ago").format(age=_age(g["last_contact_age_s"])) if g["last_contact"] else _("never"),
             str(g["last_seq"]), g["version"] or "-", g.get("key_protection") or "-", *_health_cells(g["health"])]
            for g in sorted(page["gateways"], key=lambda g: (order.get(g["state"], 9), g["enterprise_id"],
                                                              g["gateway_id"]))]
    widths = [max(display_width(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(pad(c, w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
    c = page["counts"]
    lines.append(_("{n} gateway(s): {online} online, {late} late, {silent} silent, {revoked} revoked").format(
        n=len(rows), online=c["online"], late=c["late"], silent=c["silent"], revoked=c["revoked"]))
    return "\n".join(lines)


@click.command("gateways", help=_("List every gateway: last contact, last seq, version, key protection (file / tpm "
                                "/ tpm-attested), state (online / late / silent / revoked) and its latest health "
                                "summary."))
@_DB
@click.option("--enterprise", default=None, help=_("Only this enterprise's gateways."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def gateways_cmd(db_path: str, enterprise: str | None, as_json: bool) -> None:
    from cloud_stub.fleet_api import fleet_page

    rdb = _open(db_path)
    try:
        page = fleet_page(rdb, enterprise)
    finally:
        rdb.close()
    click.echo(json.dumps(page, indent=2, sort_keys=True) if as_json else fleet_table(page))


@click.command("check-fleet", help=_("Raise and clear fleet alarms now (silent gateways, unhealthy devices, clock, "
                                   "backlog); `cloud serve` runs the same check every minute."))
@_DB
@click.option("--enterprise", default=None, help=_("Only this enterprise's gateways."))
@click.option("--now", "now_text", default=None, metavar="TIME",
              help=_("Judge as of this time (ISO 8601 or epoch seconds; default: now). For drills and tests."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def check_fleet_cmd(db_path: str, enterprise: str | None, now_text: str | None, as_json: bool) -> None:
    from cloud_stub.fleet_alerts import check_fleet

    now = _epoch(now_text)
    rdb = _open(db_path)
    try:
        alerts = check_fleet(rdb, None if now is None else float(now), enterprise)
    finally:
        rdb.close()
    if as_json:
        click.echo(json.dumps({"alerts": alerts}, indent=2, sort_keys=True))
        return
    for a in alerts:
        click.echo(f"{a['level']:<6} {a['kind']:<18} {a['enterprise_id']} {a['detail'].get('gateway_id')} "
                   + _("(alert {id})").format(id=a["id"]))
    click.echo(_("{n} alert(s) raised or cleared").format(n=len(alerts)))


@click.command("fleet-settings", help=_("Show or set an enterprise's silence thresholds (seconds) and how many hours "
                                      "a backlog must grow before it alarms."))
@_DB
@click.option("--enterprise", required=True, help=_("The enterprise's ID."))
@click.option("--late-after", type=click.IntRange(min=1), default=None, metavar="SECONDS")
@click.option("--silent-after", type=click.IntRange(min=1), default=None, metavar="SECONDS",
              help=_("The expected interval: silent longer than this raises gateway_silent."))
@click.option("--backlog-hours", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def fleet_settings_cmd(db_path: str, enterprise: str, late_after: int | None, silent_after: int | None,
                       backlog_hours: float | None, as_json: bool) -> None:
    from cloud_stub import fleet

    rdb = _open(db_path)
    try:
        if late_after is None and silent_after is None and backlog_hours is None:
            with rdb.read() as conn:
                s = fleet.settings_of(conn, enterprise)
        else:
            s = fleet.set_settings(rdb, enterprise, late_after_s=late_after, silent_after_s=silent_after,
                                   backlog_hours=backlog_hours)
    except ReceiverError as exc:
        _fail(exc)
    finally:
        rdb.close()
    out = {"enterprise_id": enterprise, **s.to_json()}
    click.echo(json.dumps(out) if as_json else " ".join(f"{k}={v}" for k, v in out.items()))


@click.group("operator", help=_("Operators of the receiver: bearer tokens for the fleet API."))
def operator() -> None:
    pass


@operator.command("add", help=_("Create an operator (or rotate its token); prints the token once."))
@_DB
@click.option("--name", required=True)
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def operator_add(db_path: str, name: str, as_json: bool) -> None:
    from cloud_stub.operators import add_operator

    rdb = _open(db_path)
    try:
        out = add_operator(rdb, name)
    except ReceiverError as exc:
        _fail(exc)
    finally:
        rdb.close()
    click.echo(json.dumps(out) if as_json else out["token"])


@operator.command("revoke", help=_("Revoke an operator's token."))
@_DB
@click.option("--name", required=True)
def operator_revoke(db_path: str, name: str) -> None:
    from cloud_stub.operators import revoke_operator

    rdb = _open(db_path)
    try:
        revoke_operator(rdb, name)
    except ReceiverError as exc:
        _fail(exc)
        sys.exit(1)
    finally:
        rdb.close()
    click.echo(_("revoked operator {name}").format(name=name))


COMMANDS = (gateways_cmd, check_fleet_cmd, fleet_settings_cmd, operator)
