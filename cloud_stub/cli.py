"""Command line: the ``cloud`` group (operate a receiver) and the ``feed`` group (a bank's checks).

Registered under the ``edgeproof.commands`` entry-point group, so ``edgeproof cloud ...``
works without the gateway importing the receiver; ``python -m cloud_stub`` runs the same
commands. Secrets (tokens) are printed once on stdout and never logged.
"""

from __future__ import annotations

import json
import logging
import ssl
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from cloud_stub import serve_ops as _serve_ops
from cloud_stub.errors import ReceiverError
from cloud_stub.i18n import _, text


def _open(db: str) -> Any:
    """A SQLite file path or a ``postgresql://`` URL (password best kept in PGPASSWORD or ~/.pgpass)."""
    from cloud_stub.db import open_db

    try:
        return open_db(db)
    except RuntimeError as exc:  # unreachable server, schema version refused: say so, no traceback
        raise click.ClickException(text(exc)) from None


def _fail(exc: ReceiverError) -> None:
    click.echo(_("error: {code}: {message}").format(code=exc.code, message=text(exc.message)), err=True)
    sys.exit(1)


@click.group(help=_("Run and administer the EdgeProof receiver."))
def cloud() -> None:
    pass


@cloud.command(help=_("Serve the HTTP API (and MQTT ingest with --mqtt) until interrupted."))
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help=_("SQLite file, or a postgresql://user@host/dbname URL (needs --key)."))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8600, show_default=True, type=int, help=_("0 picks a free port."))
@click.option("--mqtt", "mqtt_addr", default=None, metavar="HOST:PORT", help=_("Also ingest from this broker."))
@click.option("--mqtt-topic-prefix", default="edgeproof/v1", show_default=True)
@click.option("--mqtt-share-group", default="edgeproof-receivers", show_default=True, metavar="NAME",
              help=_("MQTT shared-subscription group: receivers with the same group split the batches."))
@click.option("--mqtt-client-id", default=None, metavar="NAME",
              help=_("A fixed MQTT client id with a persistent session: messages this receiver had not acknowledged "
                     "when it stopped come back to it on restart. One id per receiver."))
@click.option("--mqtt-group-max", default=64, show_default=True, type=click.IntRange(min=1), metavar="N",
              help=_("At most this many batches stored in one transaction (group commit)."))
@click.option("--ready-file", default=None, type=click.Path(dir_okay=False),
              help=_('Written atomically as {"url", "pid"} once listening.'))
@click.option("--key", "key_path", default=None, type=click.Path(dir_okay=False),
              help=_("Receiver signing key (created 0600 if missing; default: next to a SQLite db)."))
@click.option("--analyse-every", default=None, type=click.FloatRange(min=1.0), metavar="SECONDS",
              help=_("Also analyse and score every enterprise this often (90-day period, shipped table)."))
@click.option("--tsa-url", default=None, metavar="URL",
              help=_("RFC 3161 Time-Stamping Authority: timestamp chain tips and the access-log head daily."))
@click.option("--fleet-check-every", default=60.0, show_default=True, type=click.FloatRange(min=0), metavar="SECONDS",
              help=_("Raise silence and health alarms this often (cloud_stub/fleet_alerts.py); 0 turns it off."))
@_serve_ops.options
def serve(db_path: str, host: str, port: int, mqtt_addr: str | None, mqtt_topic_prefix: str,
          mqtt_share_group: str, mqtt_client_id: str | None, mqtt_group_max: int, ready_file: str | None,
          key_path: str | None,
          analyse_every: float | None, tsa_url: str | None = None, fleet_check_every: float = 60.0,
          **ops: Any) -> None:
    from cloud_stub import logsetup, receiver_key
    from cloud_stub.db import is_postgres_url
    from cloud_stub.http_api import create_app
    from cloud_stub.server import serve as run_server

    logsetup.configure()
    if is_postgres_url(db_path) and key_path is None:
        # There is no file to put the key next to; receivers sharing a database should
        # also share one key file, so a bank can pin a single receiver key.
        raise click.UsageError(_("--key is required with a PostgreSQL --db"))
    if mqtt_addr:
        from cloud_stub.mqtt_ingest import check_share_group

        try:
            check_share_group(mqtt_share_group)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--mqtt-share-group") from exc
    rdb = _open(db_path)
    try:
        key = receiver_key.load_or_create(key_path or receiver_key.default_key_path(db_path))
    except (OSError, ValueError) as exc:
        rdb.close()
        raise click.ClickException(_("receiver key: {error}").format(error=text(exc))) from exc
    mq = None
    if mqtt_addr:
        from cloud_stub.mqtt_ingest import MqttIngest, parse_hostport

        try:
            mhost, mport = parse_hostport(mqtt_addr)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--mqtt") from exc
        mq = MqttIngest(rdb, mhost, mport, mqtt_topic_prefix, client_id=mqtt_client_id, share_group=mqtt_share_group,
                        group_max=mqtt_group_max, persistent=mqtt_client_id is not None)
        mq.start()
    periodic = None
    if analyse_every is not None:
        from cloud_stub.analysis import PeriodicAnalysis

        periodic = PeriodicAnalysis(lambda: _open(db_path), analyse_every, key)
        periodic.start()
    stamper = None
    if tsa_url:
        from cloud_stub.timestamps import DailyStamper

        stamper = DailyStamper(rdb, tsa_url)
        stamper.start()
    fleet_check = None
    if fleet_check_every > 0:
        from cloud_stub.fleet_alerts import PeriodicFleetCheck

        fleet_check = PeriodicFleetCheck(lambda: _open(db_path), fleet_check_every)
        fleet_check.start()
    running = _serve_ops.start(rdb, key, ops)
    app = create_app(rdb, key, running.options)
    try:
        run_server(app, host, port, ready_file, ops["tls_cert"], ops["tls_key"])
    except ssl.SSLError as exc:  # an OSError too: a certificate or key uvicorn could not load
        raise click.ClickException(_("--tls-cert/--tls-key: cannot load them: {error}").format(error=exc)) from exc
    except OSError as exc:
        raise click.ClickException(_("cannot listen on {host}:{port}: {error}").format(
            host=host, port=port, error=exc.strerror or exc)) from exc
    finally:
        running.stop()
        app.state.access_log.close()  # what is still pending is written before the database closes
        if stamper is not None:
            stamper.stop()
        if periodic is not None:
            periodic.stop()
        if fleet_check is not None:
            fleet_check.stop()
        if mq is not None:
            mq.stop()
        rdb.close()


@cloud.command(help=_("Issue a one-time enrollment token for an enterprise (created if new)."))
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help=_("Receiver database: a SQLite file or a postgresql:// URL."))
@click.option("--enterprise", required=True, help=_("The enterprise's ID."))
@click.option("--ttl-hours", default=72.0, show_default=True, type=float)
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def token(db_path: str, enterprise: str, ttl_hours: float, as_json: bool) -> None:
    from cloud_stub.enrollment import issue_token

    try:
        out = issue_token(_open(db_path), enterprise, timedelta(hours=ttl_hours))
    except ReceiverError as exc:
        _fail(exc)
    click.echo(json.dumps(out) if as_json else out["token"])


@cloud.group(help=_("Banks and the enterprises that authorised them."))
def bank() -> None:
    pass


@bank.command("add", help=_("Create the bank if new, grant it the enterprise, print its (new) bearer token."))
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help=_("Receiver database: a SQLite file or a postgresql:// URL."))
@click.option("--name", required=True)
@click.option("--enterprise", required=True, help=_("The enterprise's ID."))
@click.option("--categories", default="*", show_default=True, metavar="CAT,CAT,...",
              help=_("Indicator categories the enterprise lets this bank see (energy,machine,...), or '*'."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def bank_add(db_path: str, name: str, enterprise: str, categories: str, as_json: bool) -> None:
    from cloud_stub.banks import add_bank

    try:
        out = add_bank(_open(db_path), name, enterprise, categories)
    except ReceiverError as exc:
        _fail(exc)
    click.echo(json.dumps(out) if as_json else out["token"])
    from cloud_stub.cli_consent import warn_wider

    warn_wider(out["consent"], name, enterprise)


@bank.command("revoke", help=_("Withdraw an enterprise's authorisation of a bank."))
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help=_("Receiver database: a SQLite file or a postgresql:// URL."))
@click.option("--name", required=True)
@click.option("--enterprise", required=True, help=_("The enterprise's ID."))
def bank_revoke(db_path: str, name: str, enterprise: str) -> None:
    from cloud_stub.banks import revoke_grant

    try:
        out = revoke_grant(_open(db_path), name, enterprise)
    except ReceiverError as exc:
        _fail(exc)
    click.echo(json.dumps(out))


@cloud.command("revoke-key", help=_("Revoke a gateway key; later batches signed with it are rejected."))
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help=_("Receiver database: a SQLite file or a postgresql:// URL."))
@click.option("--kid", required=True)
def revoke_key(db_path: str, kid: str) -> None:
    from cloud_stub.enrollment import revoke_key as revoke

    try:
        out = revoke(_open(db_path), kid)
    except ReceiverError as exc:
        _fail(exc)
    click.echo(json.dumps(out))


@cloud.command("findings", help=_("List findings: gaps, equivocations, rejected batches."))
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help=_("Receiver database: a SQLite file or a postgresql:// URL."))
@click.option("--enterprise", default=None, help=_("Only this enterprise (default: all)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def findings_cmd(db_path: str, enterprise: str | None, as_json: bool) -> None:
    from cloud_stub.findings import list_findings

    rdb = _open(db_path)
    with rdb.read() as conn:
        items = list_findings(conn, enterprise, limit=1_000_000)
    if as_json:
        click.echo(json.dumps(items))
        return
    from cloud_stub.finding_text import render_finding
    from cloud_stub.i18n import get_locale

    for f in items:
        click.echo(f"{f['id']:>6} {f['created']} {f['severity']:<14} {f['kind']:<15} "
                   f"{f['gateway_id'] or '-'} {json.dumps(f['detail'], sort_keys=True)}")
        text = render_finding(f, get_locale()).get("text")
        if text and text != f["kind"]:  # the finding in words, in the operator's language (finding_text.py)
            click.echo(f"       {text}")
    if not items:
        click.echo(_("no findings"))


_DB_HELP = _("SQLite file, or a postgresql://user@host/dbname URL (needs --key).")


def _epoch(value: str | None) -> int | None:
    """--as-of: ISO 8601 (UTC when no offset is given) or epoch seconds."""
    from datetime import UTC, datetime

    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(_("{value} is not an ISO 8601 time or epoch seconds").format(value=repr(value)),
                                 param_hint="--as-of") from exc
    return int((ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp())


def _analysis_key(db_path: str, key_path: str | None) -> Any:
    from cloud_stub import receiver_key

    if key_path is None and "://" in db_path:
        raise click.UsageError(_("--key is required with a PostgreSQL --db"))
    try:
        return receiver_key.load_or_create(key_path or receiver_key.default_key_path(db_path))
    except (OSError, ValueError) as exc:
        raise click.ClickException(_("receiver key: {error}").format(error=text(exc))) from exc


def _score_line(a: Any) -> str:
    r = a.report
    if a.score_id is None:
        return _("{enterprise}: FAILED {error}").format(enterprise=a.enterprise_id, error=r["error"])
    reasons = ",".join(x["code"] for x in r["reasons"]) or "-"
    line = _("{enterprise}: score {score} grade {grade} warning {level} reasons {reasons} findings {findings} "
             "alerts {alerts} (score id {score_id})").format(
        enterprise=a.enterprise_id, score=f"{r['score']:.1f}", grade=r["grade"], level=r["warning_level"],
        reasons=reasons, findings=len(r["findings"]), alerts=len(a.alerts), score_id=a.score_id)
    rep = r.get("repayment")
    if isinstance(rep, dict):  # the second assessment, beside the first (docs/scoring.md, "Repayment capacity")
        cov = rep.get("coverage") or {}
        score = "-" if rep.get("score") is None else f"{rep['score']:.1f}"
        line += _("; repayment {score} grade {grade} level {level} reasons {reasons} "
                  "(rules observed {observed}/{rules})").format(
            score=score, grade=rep.get("grade"), level=rep.get("level") or "-",
            reasons=",".join(x["code"] for x in rep.get("reasons") or []) or "-",
            observed=cov.get("observed"), rules=cov.get("rules"))
    return line


@cloud.command("analyse", help=_("Cross-verify and score enterprises; stores findings, scores and alerts."))
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False), help=_DB_HELP)
@click.option("--enterprise", default=None, help=_("One enterprise (or --all)."))
@click.option("--all", "all_", is_flag=True, help=_("Every enterprise."))
@click.option("--as-of", default=None, help=_("End of the period (ISO 8601 or epoch s; default: this hour)."))
@click.option("--days", default=90, show_default=True, type=click.IntRange(min=1))
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False, exists=True),
              help=_("Scorecard table (default: the shipped current version)."))
@click.option("--key", "key_path", default=None, type=click.Path(dir_okay=False),
              help=_("Receiver signing key (default: next to a SQLite db)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def analyse_cmd(db_path: str, enterprise: str | None, all_: bool, as_of: str | None, days: int,
                config_path: str | None, key_path: str | None, as_json: bool) -> None:
    from cloud_stub.analysis import analyse_all
    from cloud_stub.scoring import ConfigError

    if (enterprise is None) == (not all_):
        raise click.UsageError(_("give exactly one of --enterprise ID or --all"))
    at = _epoch(as_of)
    key = _analysis_key(db_path, key_path)
    rdb = _open(db_path)
    try:
        done = analyse_all(rdb, at, days, config_path, key, None if all_ else [enterprise])
    except ConfigError as exc:
        raise click.ClickException(text(exc)) from exc
    finally:
        rdb.close()
    if as_json:
        out = [{"enterprise_id": a.enterprise_id, "score_id": a.score_id, "alerts": a.alerts, "report": a.report}
               for a in done]
        click.echo(json.dumps(out if all_ else out[0]))
    else:
        for a in done:
            click.echo(_score_line(a))
    sys.exit(1 if any(a.score_id is None for a in done) else 0)


@cloud.command("scores", help=_("List an enterprise's stored scores, newest first."))
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help=_("SQLite file, or a postgresql://user@host/dbname URL."))
@click.option("--enterprise", required=True, help=_("The enterprise's ID."))
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def scores_cmd(db_path: str, enterprise: str, limit: int, as_json: bool) -> None:
    import time

    rdb = _open(db_path)
    try:
        with rdb.read() as conn:
            rows = conn.execute(
                "SELECT id, as_of, score, grade, warning_level, scoring_version, inputs_sha256, report, created"
                " FROM scores WHERE enterprise_id = ? ORDER BY id DESC LIMIT ?", (enterprise, limit)).fetchall()
    finally:
        rdb.close()
    items = [{"id": r[0], "as_of": r[1], "score": r[2], "grade": r[3], "warning_level": r[4],
              "scoring_version": r[5], "inputs_sha256": r[6],
              "reasons": [x["code"] for x in json.loads(r[7])["reasons"]], "created": r[8]} for r in rows]
    if as_json:
        click.echo(json.dumps(items))
        return
    for s in items:
        as_of = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(s["as_of"]))
        click.echo(_("{id} as of {as_of} score {score} grade {grade} {level} {version} reasons {reasons}").format(
            id=f"{s['id']:>6}", as_of=as_of, score=f"{s['score']:.1f}", grade=f"{s['grade']:<17}",
            level=f"{s['warning_level']:<6}", version=s["scoring_version"], reasons=",".join(s["reasons"]) or "-"))
    if not items:
        click.echo(_("no scores for {enterprise}").format(enterprise=enterprise))


@cloud.command("rescore", help=_("Recompute a stored score from its stored inputs; exit 1 unless identical."))
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False), help=_DB_HELP)
@click.option("--score-id", required=True, type=int)
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False, exists=True),
              help=_("Table for a score made with a custom one (default: the shipped file of its version)."))
@click.option("--key", "key_path", default=None, type=click.Path(dir_okay=False),
              help=_("Receiver key to check the stored signature with (default: next to a SQLite db)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def rescore_cmd(db_path: str, score_id: int, config_path: str | None, key_path: str | None,
                as_json: bool) -> None:
    from cloud_stub.analysis import verify_score

    key = _analysis_key(db_path, key_path)
    rdb = _open(db_path)
    try:
        out = verify_score(rdb, score_id, config_path, bytes(key.verify_key))
    except ReceiverError as exc:
        _fail(exc)
    finally:
        rdb.close()
    if as_json:
        click.echo(json.dumps(out))
    else:
        verdict = _("reproducible") if out["reproducible"] else _("NOT reproducible")
        click.echo(_("score {score_id}: {verdict}; inputs sha256 stored {stored} recomputed {recomputed}").format(
            score_id=score_id, verdict=verdict, stored=out["inputs_sha256"]["stored"],
            recomputed=out["inputs_sha256"]["recomputed"]))
        for p in out["problems"]:
            click.echo(f"  {p}")
    sys.exit(0 if out["reproducible"] else 1)


@cloud.command("move-store", help=_("Copy a SQLite receiver database into an empty PostgreSQL one and prove the "
                                   "copy (row counts and content digests per table). Stop the receiver first; "
                                   "keep its --key file."))
@click.option("--from", "source", required=True, type=click.Path(dir_okay=False, exists=True),
              help=_("The receiver's SQLite file."))
@click.option("--to", "target", required=True, metavar="URL",
              help=_("postgresql://user@host/dbname of an empty database."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def move_store_cmd(source: str, target: str, as_json: bool) -> None:
    from cloud_stub.db import is_postgres_url
    from cloud_stub.store_move import MoveError, move_store

    if not is_postgres_url(target):
        raise click.BadParameter(_("expected a postgresql:// URL, not {target}").format(target=repr(target)),
                                param_hint="--to")
    try:
        out = move_store(source, target)
    except (MoveError, RuntimeError) as exc:
        raise click.ClickException(_("{error} (nothing was committed to the target)").format(error=text(exc))) from None
    if as_json:
        click.echo(json.dumps(out))
        return
    for name, t in out["tables"].items():
        click.echo(_("{table} {rows} rows  digest {digest}  identical").format(
            table=f"{name:14}", rows=f"{t['rows']:>12,}", digest=t["digest"][:16]))
    click.echo(_("moved {source} to {target} in {seconds} s; start the receiver with --db {target} and the same "
                 "--key file").format(source=out["source"], target=out["target"], seconds=out["seconds"]))


@click.group(help=_("Bank-side tools for the receiver's feed."))
def feed() -> None:
    pass


@feed.command("verify", help=_("Pull the whole feed and verify every record, page and score report independently."))
@click.option("--url", required=True, help=_("Receiver base URL, e.g. http://127.0.0.1:8600"))
@click.option("--enterprise", default=None, help=_("Verify this enterprise only (default: every one the bank sees)."))
@click.option("--token", required=True, envvar="EDGEPROOF_BANK_TOKEN",
              help=_("The bank's bearer token (or $EDGEPROOF_BANK_TOKEN)."))
@click.option("--pin-receiver-key", "pin", default=None, help=_("Expected receiver public key (base64)."))
@click.option("--state", "state_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help=_("Incremental: verify only what was added since the last clean run recorded in this file "
                   "(created on first use), continuing its chains and pinning the keys it saw."))
@click.option("--max-head-age", "max_head_age", default=None, type=click.FloatRange(min=0),
              help=_("Fail when a gateway's latest signed head statement is older than this many seconds "
                   "(default: a notice only; gateways sign one every 300 s while up)."))
@click.option("--require-hardware-keys", is_flag=True,
              help=_("Fail when a gateway key of the enterprise is a file on the device (protection 'file'), not a "
                   "key in a TPM ('tpm' or 'tpm-attested')."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def feed_verify(url: str, enterprise: str | None, token: str, pin: str | None, state_path: Path | None,
                max_head_age: float | None, require_hardware_keys: bool, as_json: bool) -> None:
    from cloud_stub import feed_verify_state
    from cloud_stub.feed_verify import verify_all, verify_feed

    logging.basicConfig(level=logging.WARNING)
    state = None
    if state_path is not None:
        try:
            state = feed_verify_state.load(state_path, url)
        except feed_verify_state.StateError as exc:
            click.echo(_("Error: {error}").format(error=text(exc)), err=True)
            sys.exit(2)
        pin = pin or state["receiver_key"]
    states = None if state is None else state["enterprises"]
    if enterprise is not None:
        since = None if states is None else states.get(enterprise, {})
        summaries = [verify_feed(url, enterprise, token, pin, since=since, max_head_age=max_head_age,
                                 require_hardware_keys=require_hardware_keys)]
        out: dict[str, Any] = summaries[0]
    else:
        out = verify_all(url, token, pin, states=states, max_head_age=max_head_age,
                         require_hardware_keys=require_hardware_keys)
        summaries = out["enterprises"]
    if state is not None and state_path is not None:
        receiver_key = next((s.get("receiver_key") for s in summaries if s.get("receiver_key")), None)
        moved = feed_verify_state.advance(state, [s for s in summaries if not s.get("terminated")], receiver_key)
        if moved:
            feed_verify_state.save(state_path, state)
        for s in summaries:
            s.pop("state", None)
    if as_json:
        click.echo(json.dumps(out))
    else:
        for summary in summaries:
            if summary.get("terminated"):
                click.echo(_("enterprise {enterprise}: terminated on {terminated} (offboarded by the receiver); "
                             "no feed to verify").format(enterprise=summary["enterprise_id"],
                                                         terminated=summary["terminated"]))
                continue
            counts = dict(enterprise=summary["enterprise_id"], records=summary["records"],
                          batches=summary["batches"], withheld=summary.get("withheld", 0),
                          gateways=len(summary["gateways"]), scores=summary.get("scores", 0),
                          verified=summary["verified"], failed=summary["failed"])
            if "total_records" in summary:
                click.echo(_("enterprise {enterprise}: {records} records new since the last run ({total} in all) in "
                             "{batches} batches ({withheld} withheld) from {gateways} gateway(s), {scores} score "
                             "report(s); verified {verified}, failed {failed}").format(
                    total=summary["total_records"], **counts))
            else:
                click.echo(_("enterprise {enterprise}: {records} records in {batches} batches ({withheld} withheld) "
                             "from {gateways} gateway(s), {scores} score report(s); verified {verified}, failed "
                             "{failed}").format(**counts))
        for f in out["failures"][:50]:
            click.echo(_("  FAIL {failure}").format(failure=text(f)))
        for s in summaries:
            for n in s.get("notices", []):
                click.echo(_("  NOTE {enterprise}: {notice}").format(enterprise=s["enterprise_id"], notice=text(n)))
        if len(out["failures"]) > 50:
            click.echo(_("  ... {n} more").format(n=len(out["failures"]) - 50))
        for s in summaries:
            if s.get("total_records", s["records"]) == 0 and not s["failures"] and not s.get("terminated"):
                click.echo(_("  FAIL {enterprise}: no record is shown to this bank, nothing was verified").format(
                    enterprise=s["enterprise_id"]))
    ok = out["failed"] == 0 and bool(summaries) and all(s.get("terminated") or s.get("total_records", s["records"]) > 0
                                                        for s in summaries)
    sys.exit(0 if ok else 1)


@feed.command("rescore", help=_("Recompute a served score report, its findings and its inputs digest from the "
                             "records this bank verified (pulled and checked as `feed verify` does); exit 1 naming "
                             "what differs."))
@click.option("--url", required=True, help=_("Receiver base URL, e.g. http://127.0.0.1:8600"))
@click.option("--enterprise", required=True, help=_("The enterprise whose score to recompute."))
@click.option("--token", required=True, envvar="EDGEPROOF_BANK_TOKEN",
              help=_("The bank's bearer token (or $EDGEPROOF_BANK_TOKEN)."))
@click.option("--pin-receiver-key", "pin", default=None, help=_("Expected receiver public key (base64)."))
@click.option("--score-id", type=int, default=None, help=_("The score to recompute (default: the latest)."))
@click.option("--config", "config_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help=_("The scorecard table the report names, when it is not one this installation ships."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def feed_rescore(url: str, enterprise: str, token: str, pin: str | None, score_id: int | None,
                 config_path: str | None, as_json: bool) -> None:
    from cloud_stub.feed_rescore import rescore

    logging.basicConfig(level=logging.WARNING)
    out = rescore(url, enterprise, token, pin, score_id=score_id, config_path=config_path)
    if as_json:
        click.echo(json.dumps(out))
    else:
        what = (_("its view for categories {categories}").format(categories=out.get("view"))
                if out.get("recomputed") == "view" else _("the report"))
        if out["ok"]:
            click.echo(_("score {score_id} of {enterprise}: recomputed {what} bit for bit from {verified} verified "
                         "records (score {score}, inputs {inputs})").format(
                score_id=out["score_id"], enterprise=enterprise, what=what, verified=out["verify"]["verified"],
                score=out["score"]["recomputed"], inputs=out["inputs_sha256"]["recomputed"][:16]))
        else:
            click.echo(_("score {score_id} of {enterprise}: NOT recomputed identically ({what})").format(
                score_id=out["score_id"], enterprise=enterprise, what=what))
            for p in out["problems"][:50]:
                click.echo(_("  FAIL {failure}").format(failure=text(p)))
    sys.exit(0 if out["ok"] else 1)


# Subcommands that live in their own modules, registered once the group exists.
from cloud_stub import cli_channels as _cli_channels  # noqa: E402
from cloud_stub import cli_facility as _cli_facility  # noqa: E402  facility, price, coverage, portfolio
from cloud_stub import cli_fleet as _cli_fleet  # noqa: E402  gateways, check-fleet, fleet-settings, operator
from cloud_stub.cli_backup import backup_cmd, restore_cmd  # noqa: E402
from cloud_stub.cli_consent import consent_cmd  # noqa: E402
from cloud_stub.cli_disputes import dispute as _dispute  # noqa: E402
from cloud_stub.cli_evidence import evidence as _evidence  # noqa: E402
from cloud_stub.cli_evidence import timestamp as _timestamp  # noqa: E402
from cloud_stub.cli_offboard import offboard_cmd  # noqa: E402
from cloud_stub.cli_outside import outside as _outside  # noqa: E402  outside data (issue 15)
from cloud_stub.cli_releases import releases as _releases  # noqa: E402

for _cmd in (_dispute, consent_cmd, offboard_cmd, _evidence, _timestamp, backup_cmd, restore_cmd, _releases, _outside,
             *_cli_channels.COMMANDS, *_cli_fleet.COMMANDS, *_cli_facility.COMMANDS):
    cloud.add_command(_cmd)


def main(argv: list[str] | None = None) -> None:
    """``python -m cloud_stub feed ...`` runs the feed group; anything else is the cloud group."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "feed":
        feed.main(args[1:], prog_name="python -m cloud_stub feed")
    else:
        if args and args[0] == "cloud":
            args = args[1:]
        cloud.main(args, prog_name="python -m cloud_stub")


if __name__ == "__main__":
    main(sys.argv[1:])
