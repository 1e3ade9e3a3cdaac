"""`edgeproof cloud channel add|list|remove|test`, `cloud deliver` and `cloud deliveries`: alert delivery.

Secrets (an SMTP password, the tokens inside an apprise or webhook URL) can be given from an
environment variable instead of the command line (``--url-env``, ``--smtp-password-env``), so
they do not show in ``ps`` or the shell history; they are stored in the receiver database and
never printed back (``channel list`` shows a URL's scheme and host only).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import click

from cloud_stub.errors import ReceiverError
from cloud_stub.i18n import N_, _, pad

_DB = click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
                   help=_("SQLite file, or a postgresql://user@host/dbname URL (needs --key)."))
_KEY = click.option("--key", "key_path", default=None, type=click.Path(dir_okay=False),
                    help=_("Receiver signing key, which signs webhooks (default: next to a SQLite db)."))


def _open(db_path: str) -> Any:
    from cloud_stub.cli import _open as open_db

    return open_db(db_path)


def _key(db_path: str, key_path: str | None) -> Any:
    from cloud_stub.cli import _analysis_key

    return _analysis_key(db_path, key_path)


def _fail(exc: ReceiverError) -> None:
    from cloud_stub.cli import _fail as fail

    fail(exc)


def _env(name: str | None, what: str) -> str | None:
    if name is None:
        return None
    value = os.environ.get(name)
    if not value:
        raise click.BadParameter(_("environment variable {name} is not set or empty").format(name=name),
                                 param_hint=what)
    return value


@click.group("channel", help=_("Where alerts are delivered: signed webhooks, e-mail, DingTalk/WeCom/Feishu (apprise)."))
def channel() -> None:
    pass


@channel.command("add", help=_("Add a channel for the operator (every alert) or for a bank (--bank: alerts of the "
                             "enterprises it is granted). It receives alerts raised from now on."))
@_DB
@click.option("--name", required=True, help=_("A name for the channel, e.g. bank-a-webhook."))
@click.option("--kind", required=True, type=click.Choice(["webhook", "smtp", "apprise"]))
@click.option("--bank", "bank_id", default=None, help=_("The bank this channel belongs to (default: the operator)."))
@click.option("--url", default=None, help=_("webhook: http(s):// endpoint; apprise: e.g. dingtalk://TOKEN, "
                                          "wecombot://KEY, feishu://TOKEN, json://host/path."))
@click.option("--url-env", default=None, metavar="VAR", help=_("Read --url from this environment variable."))
@click.option("--smtp-host", default=None)
@click.option("--smtp-port", default=25, show_default=True, type=click.IntRange(1, 65535))
@click.option("--smtp-security", default="none", show_default=True, type=click.Choice(["none", "starttls", "tls"]))
@click.option("--smtp-user", default=None)
@click.option("--smtp-password-env", default=None, metavar="VAR", help=_("Read the SMTP password from this variable."))
@click.option("--mail-from", default=None)
@click.option("--mail-to", multiple=True, help=_("Recipient (repeat for several)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def channel_add(db_path: str, name: str, kind: str, bank_id: str | None, url: str | None, url_env: str | None,
                smtp_host: str | None, smtp_port: int, smtp_security: str, smtp_user: str | None,
                smtp_password_env: str | None, mail_from: str | None, mail_to: tuple[str, ...],
                as_json: bool) -> None:
    from cloud_stub import channels

    if kind == "smtp":
        config: dict[str, Any] = {"host": smtp_host, "port": smtp_port, "security": smtp_security,
                                  "from": mail_from or "", "to": list(mail_to)}
        if smtp_user:
            config.update(username=smtp_user, password=_env(smtp_password_env, "--smtp-password-env") or "")
    else:
        config = {"url": _env(url_env, "--url-env") if url_env else url}
    rdb = _open(db_path)
    try:
        ch = channels.add(rdb, name, kind, config, bank_id)
    except ReceiverError as exc:
        _fail(exc)
    finally:
        rdb.close()
    view = channels.public_view(ch)
    owner = _("bank {bank}").format(bank=view["bank"]) if view["bank"] else _("operator")
    click.echo(json.dumps(view) if as_json else _("channel {name} added: {kind} -> {target} ({owner})").format(
        name=view["name"], kind=view["kind"], target=view["target"], owner=owner))


@channel.command("list", help=_("List channels (secrets are never shown)."))
@_DB
@click.option("--all", "all_", is_flag=True, help=_("Include removed channels."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def channel_list(db_path: str, all_: bool, as_json: bool) -> None:
    from cloud_stub import channels

    rdb = _open(db_path)
    try:
        with rdb.read() as conn:
            views = [channels.public_view(c) for c in channels.list_channels(conn, include_removed=all_)]
    finally:
        rdb.close()
    for v in views:
        v["name"] = v["name"].split("~removed~")[0]
    if as_json:
        click.echo(json.dumps(views, indent=2))
        return
    for v in views:
        owner = _("bank {bank}").format(bank=v["bank"]) if v["bank"] else _("operator")
        gone = _("  removed {when}").format(when=v["removed_at"]) if v["removed_at"] else ""
        click.echo(f"{v['name']:24} {v['kind']:8} {pad(owner, 20)} {v['target']}{gone}")
    if not views:
        click.echo(_("no channels (add one with `edgeproof cloud channel add`)"))


@channel.command("remove", help=_("Stop delivering to a channel; what it had queued is cancelled, its log kept."))
@_DB
@click.option("--name", required=True)
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def channel_remove(db_path: str, name: str, as_json: bool) -> None:
    from cloud_stub import channels

    rdb = _open(db_path)
    try:
        out = channels.remove(rdb, name)
    except ReceiverError as exc:
        _fail(exc)
    finally:
        rdb.close()
    click.echo(json.dumps(out) if as_json else _("channel {name} removed ({n} queued cancelled)")
               .format(name=name, n=out["cancelled"]))


@channel.command("test", help=_("Send a test message to a channel now; exit 1 if it was not delivered."))
@_DB
@_KEY
@click.option("--name", required=True)
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(min=0.1))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def channel_test(db_path: str, key_path: str | None, name: str, timeout: float, as_json: bool) -> None:
    from cloud_stub.outbox import Policy, send_test

    key = _key(db_path, key_path)
    rdb = _open(db_path)
    try:
        out = send_test(rdb, key, name, Policy(timeout=timeout))
    except ReceiverError as exc:
        _fail(exc)
    finally:
        rdb.close()
    click.echo(json.dumps(out) if as_json else
               f"{name}: {out['status']}" + (f": {out['error']}" if out.get("error") else ""))
    if out["status"] != "delivered":
        raise SystemExit(1)


@click.command("deliver", help=_("Deliver queued alerts (as `cloud serve` does in the background): one round, or "
                               "--until-idle / --every."))
@_DB
@_KEY
@click.option("--until-idle", is_flag=True, help=_("Repeat until nothing is due now (retries later stay queued)."))
@click.option("--every", default=None, type=click.FloatRange(min=0.5), metavar="SECONDS",
              help=_("Keep delivering, a round every SECONDS, until interrupted."))
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help=_("Seconds per send."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def deliver(db_path: str, key_path: str | None, until_idle: bool, every: float | None, timeout: float,
            as_json: bool) -> None:
    from cloud_stub.outbox import Policy, deliver_due

    key = _key(db_path, key_path)
    rdb = _open(db_path)
    total: dict[str, int] = {}
    policy = Policy(timeout=timeout)
    try:
        while True:
            out = deliver_due(rdb, key, policy)
            for k, v in out.items():
                total[k] = total.get(k, 0) + v
            if every is not None:
                time.sleep(every)
            elif not (until_idle and out):
                break
    except KeyboardInterrupt:
        pass
    finally:
        rdb.close()
    click.echo(json.dumps(total) if as_json else
               (", ".join(_outcome(k, v) for k, v in sorted(total.items())) or _("nothing to deliver")))


# A round's outcomes (cloud_stub/outbox.py statuses stay codes in --json); an unknown one is shown as its code.
_OUTCOMES = {"delivered": N_("{n} delivered"), "retry": N_("{n} retry"), "failed": N_("{n} failed"),
             "cancelled": N_("{n} cancelled")}


def _outcome(status: str, n: int) -> str:
    return _(_OUTCOMES[status]).format(n=n) if status in _OUTCOMES else f"{n} {status}"


@click.command("deliveries", help=_("The alert delivery log, newest first: every attempt with its status and error."))
@_DB
@click.option("--channel", "channel_name", default=None)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def deliveries_cmd(db_path: str, channel_name: str | None, limit: int, as_json: bool) -> None:
    from cloud_stub.outbox import deliveries

    rdb = _open(db_path)
    try:
        rows = deliveries(rdb, channel_name, limit)
    except ReceiverError as exc:
        _fail(exc)
    finally:
        rdb.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        code = f" HTTP {r['http_status']}" if r["http_status"] else ""
        err = f"  {r['error']}" if r["error"] else ""
        click.echo(_("{time}  {channel} alert {alert} try {attempt}  {status}").format(
            time=r["time"], channel=f"{r['channel']:20}", alert=f"{r['alert_id']!s:6}", attempt=f"{r['attempt']:2}",
            status=f"{r['status']:10}") + code + err)
    if not rows:
        click.echo(_("no delivery attempts yet"))


def _install_service() -> click.Command:
    from cloud_stub.cli_service import install_service

    return install_service


COMMANDS = [channel, deliver, deliveries_cmd, _install_service()]
