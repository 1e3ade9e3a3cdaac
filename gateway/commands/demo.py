"""`edgeproof demo`: the whole chain on this machine, no hardware, nothing to start by hand.

Emulated devices (sim-factory) -> the gateway -> the receiver (a separate process, as in
real life) -> a bank pull that verifies every record's signature itself. Exits 0 only
when the chain held: readings stored, indicators made, every batch acknowledged, every
record in the bank's feed verified, nothing rejected.

A bank lends on months of history, not seconds, so the demo also onboards a generated
honest history (``edgeproof replay`` into a separate history identity of the same
enterprise, as an installer would backfill) and then runs the receiver's
cross-verification and scoring; the signed score is part of what the bank verifies.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import msgspec

from gateway.commands._common import get_profile, profile_option
from gateway.commands._progress import Progress
from gateway.i18n import N_, _, render

DEMO_ENTERPRISE = "ent-demo"
DEMO_BANK = "bank-demo"
# The onboarded history is a second factory of the demo: mixing its generated weeks with the
# live workshop's sample MES/ERP exports (which claim weeks of output no machine of the
# 30-second run could show) would, rightly, be flagged as claims without evidence.
DEMO_HISTORY_ENTERPRISE = "ent-demo-history"


def _cloud(*args: str, timeout: float = 60) -> str:
    """Run a receiver admin command in its own process (the gateway never imports it)."""
    res = subprocess.run([sys.executable, "-m", "cloud_stub", *args], capture_output=True, text=True,
                         timeout=timeout)
    if res.returncode != 0:  # a failed check says why on stdout (its JSON), an error on stderr
        why = res.stderr.strip()[-2000:] or res.stdout.strip()[-2000:]
        raise click.ClickException(_("receiver command {command} failed (exit {code}): {why}").format(
            command=" ".join(args[:2]), code=res.returncode, why=why))
    return res.stdout.strip()


def _cloud_json(*args: str, timeout: float = 60) -> dict[str, Any]:
    """A receiver or bank command whose JSON answer matters whatever its exit status (e.g. a failed check)."""
    res = subprocess.run([sys.executable, "-m", "cloud_stub", *args], capture_output=True, text=True,
                         timeout=timeout)
    try:
        out = json.loads(res.stdout.strip() or "{}")
    except ValueError:
        out = {}
    if not isinstance(out, dict) or not out:
        raise click.ClickException(_("command {command} failed: {why}").format(
            command=" ".join(args[:2]), why=res.stderr.strip()[-2000:]))
    return out


def start_receiver(workdir: Path, mqtt: str | None = None) -> tuple[subprocess.Popen[bytes], str]:
    ready = workdir / "receiver.ready"
    cmd = [sys.executable, "-m", "cloud_stub", "serve", "--db", str(workdir / "receiver.db"),
           "--host", "127.0.0.1", "--port", "0", "--ready-file", str(ready)]
    if mqtt:
        cmd += ["--mqtt", mqtt]
    log = open(workdir / "receiver.log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        if ready.exists():
            try:
                return proc, json.loads(ready.read_text())["url"]
            except (ValueError, KeyError):
                pass
        if proc.poll() is not None:
            raise click.ClickException(_("receiver exited: {log}").format(
                log=(workdir / "receiver.log").read_text()[-2000:]))
        time.sleep(0.1)
    proc.kill()
    raise click.ClickException(_("receiver did not start within 30 s"))


def onboard_history(workdir: Path, url: str, token: str, days: int) -> dict[str, Any]:
    """Generate an honest factory history ending yesterday and replay it through the real path."""
    from datetime import UTC, datetime, timedelta

    from gateway.identity import enroll, init_identity
    from gateway.replay.scenarios import ScenarioConfig, write_scenario
    from gateway.replay.session import replay

    data = workdir / "history"
    start = datetime.now(UTC).date() - timedelta(days=days)
    write_scenario(ScenarioConfig(scenario="honest", days=days, seed=1, start=start), data)
    state = workdir / "gateway-history"
    prof = get_profile("sim-history")
    init_identity(state, f"{prof.site.id}-history", prof.site.id)
    enroll(state, url, token)
    # One packing step per simulated day, as `edgeproof replay` does by default (fewer, fuller batches).
    return asyncio.run(replay(prof, data, state, url, pack_every_s=86400.0))


DEMO_FACILITY = "loan-demo-1"
DEMO_PRICE_CLASS, DEMO_PRICE = "copper-rod", 60.0  # CNY per kg of the pledged stack (a made-up series)


def history_coverage(workdir: Path) -> dict[str, Any]:
    """The bank's view of repayment: a facility on the history enterprise, a small price series, coverage.

    The bank's own data reaches the receiver by its CLI (as `cloud facility add`, `cloud price import`);
    `cloud coverage run` then values the verified pledged weight and checks the covenants. The history
    ended at local midnight, so the facility allows a weight up to 48 h old (the bank's covenant)."""
    from datetime import UTC, datetime, timedelta

    db = str(workdir / "receiver.db")
    doc = {"enterprise_id": DEMO_HISTORY_ENTERPRISE, "amount": 200000, "drawn": 70000, "currency": "CNY",
           "covenants": {"min_coverage": 1.3, "max_concentration_pct": 40, "min_monthly_output": 20000,
                         "max_price_age_days": 3, "max_weight_age_hours": 48},
           "pledges": [{"subject": "pallet-stack-1", "product_class": DEMO_PRICE_CLASS, "unit": "kg"}]}
    fac = workdir / "facility.json"
    fac.write_text(json.dumps(doc), encoding="utf-8")
    fac.chmod(0o600)
    today = datetime.now(UTC).date()
    px = workdir / "prices.csv"
    px.write_text("day,product_class,price,currency,unit\n" + "".join(
        f"{today - timedelta(days=n)},{DEMO_PRICE_CLASS},{DEMO_PRICE},CNY,kg\n" for n in (2, 1, 0)), encoding="utf-8")
    px.chmod(0o600)
    _cloud("facility", "add", "--db", db, "--bank", DEMO_BANK, DEMO_FACILITY, "--file", str(fac))
    _cloud("price", "import", "--db", db, "--bank", DEMO_BANK, "--file", str(px))
    run = _cloud_json("coverage", "run", "--db", db, "--bank", DEMO_BANK, "--enterprise", DEMO_HISTORY_ENTERPRISE,
                      "--json", timeout=300)
    a = next((f for f in run.get("facilities", []) if f.get("facility_id") == DEMO_FACILITY), None)
    if a is None:
        why = "; ".join(s.get("reason", "") for s in run.get("skipped", [])) or "not assessed"
        return {"facility_id": DEMO_FACILITY, "coverage": None, "level": "not_observed", "reason": why,
                "value_range": None, "currency": "CNY", "outstanding": doc["drawn"], "covenants": [],
                "findings": run.get("findings", 0), "alerts": len(run.get("alerts", []))}
    return {"facility_id": DEMO_FACILITY, "coverage": a.get("coverage"), "level": a.get("level"),
            "value_range": a.get("value_range"), "currency": a.get("currency"), "outstanding": a.get("outstanding"),
            "flags": a.get("flags", []),
            "covenants": [{k: c.get(k) for k in ("covenant", "side", "limit", "observed", "status")}
                          for c in a.get("covenants", [])],
            "findings": run.get("findings", 0), "alerts": len(run.get("alerts", []))}


# A covenant's status is data (`cloud coverage run --json`); this is how each reads (``_(status)``).
COVENANT_STATUS_TEXTS = (N_("met"), N_("breached"), N_("not observed"), N_("undetermined"))


def _coverage_text(c: dict[str, Any] | None) -> str:
    if not c:
        return _("not run (no history)")
    if c.get("coverage") is None:
        why = c.get("reason") or _("no verified pledged weight or no price")
        return _("facility {facility}: not observed ({why}), level {level}").format(
            facility=c["facility_id"], why=why, level=c["level"])
    lo, hi = c["value_range"] or (None, None)
    worth = f"{lo:,.0f}-{hi:,.0f}" if hi is not None else (
        _("over {n}").format(n=f"{lo:,.0f}") if lo is not None else _("unknown"))
    cov = "; ".join(f"{x['covenant']}{':' + x['side'] if x.get('side') else ''} {_(x['status'].replace('_', ' '))}"
                    for x in c["covenants"]) or _("no covenants")
    return _("facility {facility}: {coverage}x the drawn {drawn} {currency} (collateral worth {worth} {currency}), "
             "level {level}; covenants: {covenants}").format(
        facility=c["facility_id"], coverage=f"{c['coverage']:.2f}", drawn=f"{c['outstanding']:,.0f}",
        currency=c["currency"], worth=worth, level=c["level"], covenants=cov)


def _score_text(score: dict[str, Any]) -> str:
    if score.get("score") is None:
        return _("none")
    reasons = "; ".join(score["reasons"]) or _("no reason codes")
    return _("{score:.0f} points, grade {grade}, warning {warning}, {findings} findings ({reasons})").format(
        score=score["score"], grade=score["grade"], warning=score["warning_level"], findings=score["findings"],
        reasons=reasons)


def _repayment_text(rep: dict[str, Any]) -> str:
    """The second assessment, beside the authenticity score (docs/scoring.md, "Repayment capacity")."""
    if not rep.get("status"):
        return _("none")
    seen = _("{observed} of {rules} rules had their inputs").format(observed=rep["rules_observed"], rules=rep["rules"])
    if rep["status"] != "assessed":
        return _("not assessed ({seen})").format(seen=seen)
    reasons = "; ".join(rep["reasons"]) or _("no reason codes")
    return _("{score:.0f} of 100, grade {grade}, level {level}, {seen} ({reasons})").format(
        score=rep["score"], grade=rep["grade"], level=rep["level"], seen=seen, reasons=reasons)


def _order_progress_text(oo: dict[str, Any] | None) -> str:
    """Open orders against due dates (the repayment assessment's ``open_orders``; docs/scoring.md)."""
    if not oo:
        return _("none")
    if not oo.get("assessed"):
        return _("not observed ({why})").format(why=oo.get("reason") or _("no due dates"))
    s, d = oo.get("shortfall") or {}, oo.get("deliveries") or {}
    rate = d.get("on_time_rate")
    return _("{due:,.0f} units due within {h} days ({overdue:,.0f} overdue); shortfall against the production "
             "forecast {lo:,.0f}-{hi:,.0f}; on time {rate}").format(
        due=oo.get(f"due_within_{oo.get('horizon_days')}d_qty") or 0, h=oo.get("horizon_days"),
        overdue=oo.get("overdue_qty") or 0, lo=s.get("lower") or 0, hi=s.get("upper") or 0,
        rate=_("unknown") if rate is None else f"{rate:.0%}")


def _rescore_text(r: dict[str, Any] | None) -> str:
    if r is None:
        return _("not run (no history)")
    if r["ok"]:
        return _("score {score_id} recomputed bit for bit by the bank from {records} verified records "
                 "(inputs {inputs})").format(score_id=r["score_id"], records=r["records_verified"],
                                             inputs=str(r["inputs_sha256"])[:16])
    return _("FAILED: {why}").format(why="; ".join(r["problems"][:3]) or _("no answer"))


def export_and_verify_evidence(workdir: Path, enterprise: str) -> dict[str, Any]:
    """`cloud evidence export` of the enterprise, then the offline check an expert would run. The demo has no
    Time-Stamping Authority, so the bundle carries no RFC 3161 tokens and the check says so."""
    from gateway.evidence_verify import verify_bundle

    out = workdir / f"evidence-{enterprise}.tar"
    info = _cloud_json("evidence", "export", "--db", str(workdir / "receiver.db"), "--enterprise", enterprise,
                       "--out", str(out), "--json", timeout=300)
    res = verify_bundle(out)
    return {"path": str(out), "sha256": info.get("sha256"), "counts": info.get("counts", {}), "ok": res.ok,
            "failures": res.failures[:20], "notes": res.notes, "timestamps": info.get("counts", {}).get("timestamps")}


WEBHOOK_DOMAIN = b"edgeproof-webhook/1\n"  # docs/receiver.md, "Webhook signatures" (what a bank's endpoint checks)


def deliver_one_alert(workdir: Path, url: str) -> dict[str, Any]:
    """The operator's alert path end to end: a signed-webhook channel to an endpoint on loopback, the fleet
    check run as an hour later (the demo gateway has stopped by then, so it is silent), delivery from the
    outbox, and the endpoint's check of the signature with the receiver key, as a bank's would."""
    import base64
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from nacl.signing import VerifyKey

    got: list[tuple[dict[str, str], bytes]] = []

    class Endpoint(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            got.append(({k.lower(): v for k, v in self.headers.items()},
                        self.rfile.read(int(self.headers.get("Content-Length") or 0))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    db = str(workdir / "receiver.db")
    try:
        _cloud("channel", "add", "--db", db, "--name", "demo-ops", "--kind", "webhook",
               "--url", f"http://127.0.0.1:{server.server_port}/alerts", "--json")
        _cloud("check-fleet", "--db", db, "--enterprise", DEMO_ENTERPRISE, "--now", str(int(time.time()) + 3600),
               "--json")
        deadline = time.time() + 60
        while not got and time.time() < deadline:
            _cloud("deliver", "--db", db, "--until-idle", "--json")
        if not got:
            return {"ok": False, "kind": None, "error": "no webhook arrived within 60 s"}
        with urllib.request.urlopen(url + "/v1/receiver/key", timeout=10) as resp:  # noqa: S310 - loopback
            public_key = base64.b64decode(json.loads(resp.read())["public_key"])
        headers, body = got[0]
        signed = (WEBHOOK_DOMAIN + headers["edgeproof-timestamp"].encode() + b"\n"
                  + headers["idempotency-key"].encode() + b"\n" + body)
        VerifyKey(public_key).verify(signed, base64.b64decode(headers["edgeproof-signature"].split("=", 1)[1]))
        alert = json.loads(body)
        kind = alert.get("kind") or (alert.get("alert") or {}).get("kind")
        return {"ok": True, "kind": kind, "idempotency_key": headers["idempotency-key"], "deliveries": len(got)}
    except (KeyError, ValueError, OSError) as exc:  # nacl's BadSignatureError is a ValueError
        return {"ok": False, "kind": None, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        server.shutdown()


def _alert_text(a: dict[str, Any]) -> str:
    if not a["ok"]:
        return _("FAILED: {why}").format(why=a.get("error", ""))
    return _("{kind} -> signed webhook on loopback, signature checked with the receiver key").format(kind=a["kind"])


def _evidence_text(ev: dict[str, Any]) -> str:
    c = ev.get("counts") or {}
    state = _("verified offline") if ev["ok"] else _("FAILED: {why}").format(why="; ".join(ev["failures"][:3]))
    tsa = _(" (no TSA configured: no trusted timestamps)") if not ev.get("timestamps") else ""
    return _("{batches} batches, {entries} access-log entries, {state}{tsa} -> {path}").format(
        batches=c.get("batches", 0), entries=c.get("access_log_entries", 0), state=state, tsa=tsa, path=ev["path"])


TICK_S = 10.0  # a progress line this often while the gateway runs


async def run_gateway(profile: Any, state: Path, seconds: float,
                      progress: Progress | None = None) -> dict[str, Any]:
    from gateway.runtime import Gateway

    gw = Gateway(profile, state, simulate=True, grace_s=1.0)
    await gw.start()
    t0 = time.time()
    try:
        end = t0 + seconds
        while (left := end - time.time()) > 0:
            await asyncio.sleep(min(TICK_S, left))
            if progress is not None and end - time.time() > 0.5:
                s = gw.sender.status if gw.sender else None
                progress.note(_("gateway running {elapsed:.0f}/{seconds:.0f} s: {sent} batches sent, "
                                "{errors} uplink errors").format(elapsed=time.time() - t0, seconds=seconds,
                                                                 sent=s.sent if s else 0,
                                                                 errors=s.failures if s else 0))
    finally:
        await gw.scheduler.stop()
        # Close every window that has ended, pack and send what is left.
        await asyncio.sleep(max(0.0, 1.2 - (time.time() % 1)))
        await gw.close_windows_and_pack()
        await gw.stop(drain_s=15.0)
    store_stats = gw.store  # closed; counts were taken below before close
    del store_stats
    s = gw.sender.status if gw.sender else None
    from gateway.store import Store

    st = Store(gw.store.path, "NORMAL")
    try:
        out = {
            "seconds": round(time.time() - t0, 1),
            "devices": len(gw.drivers),
            "devices_healthy": sum(1 for p in gw.scheduler.pollers if p.health.state == "healthy"),
            "readings_stored": st.count("readings"),
            "indicators_made": st.count("indicators"),
            "batches_made": st.outbox_head(),
            "batches_sent": s.sent if s else 0,
            "batches_acknowledged": st.acked(gw.sender.dest) if gw.sender else 0,
            "batches_rejected": sum((s.rejected or {}).values()) if s else 0,
            "uplink_errors": s.failures if s else 0,
            "gateway_id": gw.identity.gateway_id,
        }
    finally:
        st.close()
    return out


@click.command("demo", help=_("Run sim-factory, the receiver and a bank pull on this machine; print a summary."))
@profile_option
@click.option("--seconds", default=30.0, show_default=True, type=click.FloatRange(3, 86400),
              help=_("How long the gateway runs."))
@click.option("--window", "windows", multiple=True, default=("10s",), show_default=True,
              help=_("Indicator windows for the demo, on top of the profile's (15m and 1h do not close in 30 s)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the summary as one JSON object."))
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=_("Keep the demo's state (store, receiver db, logs) in this directory."))
@click.option("--history-days", default=28, show_default=True, type=click.IntRange(0, 400),
              help=_("Days of generated honest history to onboard with `replay` before scoring (0: none)."))
def command(profile: str | None, seconds: float, windows: tuple[str, ...], as_json: bool, keep: Path | None,
            history_days: int) -> None:
    """Run sim-factory, the receiver and a bank pull on this machine; print a summary (the help is above)."""
    from gateway.identity import enroll, init_identity
    from gateway.logs import setup_logging

    setup_logging(os.environ.get("EDGEPROOF_LOG_LEVEL", "WARNING"))
    prof = get_profile(profile)
    workdir = keep or Path(tempfile.mkdtemp(prefix="edgeproof-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    state = workdir / "gateway"
    steps = Progress(13 if history_days else 8, enabled=not as_json)
    steps.step(_("starting the receiver (its own process; state in {workdir})").format(workdir=workdir))
    proc, url = start_receiver(workdir)
    try:
        steps.step(_("receiver at {url}: issuing the enrollment token and the bank's token").format(url=url))
        token = _cloud("token", "--db", str(workdir / "receiver.db"), "--enterprise", DEMO_ENTERPRISE)
        bank_token = _cloud("bank", "add", "--db", str(workdir / "receiver.db"), "--name", DEMO_BANK,
                            "--enterprise", DEMO_ENTERPRISE)
        if history_days:  # each `bank add` issues a new token for the bank; the last one is valid
            bank_token = _cloud("bank", "add", "--db", str(workdir / "receiver.db"), "--name", DEMO_BANK,
                                "--enterprise", DEMO_HISTORY_ENTERPRISE)
        steps.step(_("gateway: making its key on this machine and enrolling it"))
        init_identity(state, None, prof.site.id)
        enroll(state, url, token)
        win = list(dict.fromkeys([*windows, *prof.indicators.windows]))
        prof = msgspec.structs.replace(
            prof,
            indicators=msgspec.structs.replace(prof.indicators, windows=win, grace_s=1.0, interval_s=2.0),
            # Health summaries every few seconds (300 s in production), so the fleet list below has one.
            uplink=msgspec.structs.replace(prof.uplink, transport="http", url=url, interval_s=2.0,
                                           health_interval_s=max(1.0, min(10.0, seconds / 3))),
        )
        steps.step(_("gateway: running {site} against emulated devices for {seconds:.0f} s").format(
            site=prof.site.id, seconds=seconds))
        summary = asyncio.run(run_gateway(prof, state, seconds, steps))
        steps.note(_("{readings} readings, {indicators} indicators, {acked} of {made} batches acknowledged").format(
            readings=summary["readings_stored"], indicators=summary["indicators_made"],
            acked=summary["batches_acknowledged"], made=summary["batches_made"]))
        history: dict[str, Any] = {}
        analysis: dict[str, Any] = {}
        history_verify: dict[str, Any] = {}
        coverage: dict[str, Any] | None = None
        rescored: dict[str, Any] = {}
        if history_days:
            steps.step(_("onboarding {days} days of generated history by `edgeproof replay`").format(days=history_days))
            history = onboard_history(workdir, url, _cloud("token", "--db", str(workdir / "receiver.db"),
                                                           "--enterprise", DEMO_HISTORY_ENTERPRISE), history_days)
            steps.note(_("{n} history batches accepted").format(n=history.get("accepted", 0)))
            steps.step(_("receiver: cross-verification and the signed score"))
            analysis = json.loads(_cloud("analyse", "--db", str(workdir / "receiver.db"), "--enterprise",
                                         DEMO_HISTORY_ENTERPRISE, "--json", timeout=300) or "{}")
            steps.step(_("bank: verifying the history's feed (every signature, the chain, the score)"))
            history_verify = json.loads(_cloud("feed", "verify", "--url", url, "--enterprise",
                                               DEMO_HISTORY_ENTERPRISE, "--token", bank_token, "--json",
                                               timeout=300) or "{}")
            # The bank recomputes the score it was served from the records it verified, bit for bit.
            steps.step(_("bank: recomputing the score from the records it verified"))
            rescored = _cloud_json("feed", "rescore", "--url", url, "--enterprise", DEMO_HISTORY_ENTERPRISE,
                                   "--token", bank_token, "--json", timeout=300)
            steps.step(_("bank: a facility on the history, a price series, and the collateral coverage"))
            coverage = history_coverage(workdir)
        steps.step(_("bank: pulling and verifying the live gateway's feed"))
        verify = json.loads(_cloud("feed", "verify", "--url", url, "--enterprise", DEMO_ENTERPRISE,
                                   "--token", bank_token, "--json", timeout=120) or "{}")
        # The operator's fleet list: every gateway with its state and latest signed health summary.
        steps.step(_("operator: the fleet list (every gateway, its state and latest signed health summary)"))
        fleet = _cloud_json("gateways", "--db", str(workdir / "receiver.db"), "--json")
        fleet_text = _cloud("gateways", "--db", str(workdir / "receiver.db"))
        steps.step(_("operator: an alert delivered (the stopped gateway is silent an hour later) by signed webhook"))
        alert = deliver_one_alert(workdir, url)
    except subprocess.CalledProcessError as exc:
        raise click.ClickException(render(exc)) from exc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    steps.step(_("receiver: exporting the enterprise's evidence bundle; an expert's offline check of it"))
    evidence = export_and_verify_evidence(workdir, DEMO_ENTERPRISE)  # the receiver stopped: its log is complete
    summary.update({
        "enterprise_id": DEMO_ENTERPRISE,
        "feed_records": verify.get("records", 0),
        "feed_batches": verify.get("batches", 0),
        "records_verified": verify.get("verified", 0),
        "records_failed": verify.get("failed", 0),
        "history_days": history_days,
        "history_batches_accepted": history.get("accepted", 0),
        "history_records_verified": history_verify.get("verified", 0),
        "history_records_failed": history_verify.get("failed", 0),
        "history_scores_verified": history_verify.get("scores", 0),
        "workdir": str(workdir),
    })
    summary["score_rescored"] = {"ok": bool(rescored.get("ok")), "score_id": rescored.get("score_id"),
                                 "score": (rescored.get("score") or {}).get("recomputed"),
                                 "inputs_sha256": (rescored.get("inputs_sha256") or {}).get("recomputed"),
                                 "records_verified": (rescored.get("verify") or {}).get("verified"),
                                 "problems": rescored.get("problems", [])[:20]} if history_days else None
    mine = next((g for g in fleet.get("gateways", []) if g["gateway_id"] == summary["gateway_id"]), None)
    summary["fleet"] = {"gateways": len(fleet.get("gateways", [])), "counts": fleet.get("counts", {}),
                        "state": mine["state"] if mine else None,
                        "health_seq": mine["health_seq"] if mine else None}
    report = analysis.get("report") or {}
    summary["score"] = {k: report.get(k) for k in ("score", "grade", "warning_level", "scoring_version",
                                                   "inputs_sha256")}
    summary["score"]["reasons"] = [f"{r['code']} {r['text']}" for r in report.get("reasons", [])]
    summary["score"]["findings"] = len(report.get("findings", []))
    rep = report.get("repayment") or {}
    cov = rep.get("coverage") or {}
    summary["repayment"] = {k: rep.get(k) for k in ("status", "score", "grade", "level")} | {
        "reasons": [f"{r['code']} {r['text']}" for r in rep.get("reasons") or []],
        "rules_observed": cov.get("observed"), "rules": cov.get("rules")}
    summary["order_progress"] = rep.get("open_orders")
    ok = (summary["readings_stored"] > 0 and summary["indicators_made"] > 0 and summary["batches_made"] > 0
          and summary["batches_acknowledged"] == summary["batches_made"] and summary["batches_rejected"] == 0
          and summary["feed_batches"] == summary["batches_made"] and summary["records_failed"] == 0
          and summary["records_verified"] == summary["feed_records"] > 0
          and (not history_days or (
              analysis.get("score_id") is not None and summary["history_records_failed"] == 0
              and summary["history_batches_accepted"] == history.get("batches", 0) > 0
              and summary["history_records_verified"] > 0 and summary["history_scores_verified"] > 0
              and summary["score_rescored"]["ok"]))
          and summary["fleet"]["state"] == "online" and summary["fleet"]["health_seq"] is not None
          and alert["ok"])
    summary["coverage"] = coverage
    summary["alert_delivered"] = alert
    summary["evidence_bundle"] = evidence
    ok = ok and evidence["ok"]
    summary["ok"] = ok
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
    else:
        fleet_lines = "\n".join("    " + line for line in fleet_text.splitlines())
        lines = [
            _("EdgeProof demo ({site}, {seconds} s, {devices} devices)").format(
                site=prof.site.id, seconds=summary["seconds"], devices=summary["devices"]),
            _("  readings stored      {n}").format(n=summary["readings_stored"]),
            _("  indicators made      {n}").format(n=summary["indicators_made"]),
            _("  batches sent/acked   {sent} / {acked} (of {made} made)").format(
                sent=summary["batches_sent"], acked=summary["batches_acknowledged"], made=summary["batches_made"]),
            _("  bank feed verified   {verified} of {records} records in {batches} batches").format(
                verified=summary["records_verified"], records=summary["feed_records"],
                batches=summary["feed_batches"]),
            _("  rejected             {batches} batches, {records} records").format(
                batches=summary["batches_rejected"], records=summary["records_failed"]),
            _("  history onboarded    {days} days of {enterprise} by replay, {batches} batches accepted, "
              "{records} records and {scores} signed score verified by the bank").format(
                days=history_days, enterprise=DEMO_HISTORY_ENTERPRISE,
                batches=summary["history_batches_accepted"], records=summary["history_records_verified"],
                scores=summary["history_scores_verified"]),
            _("  score                {text}").format(text=_score_text(summary["score"])),
            _("  repayment capacity   {text}").format(text=_repayment_text(summary["repayment"])),
            _("  order progress       {text}").format(text=_order_progress_text(summary["order_progress"])),
            _("  collateral coverage  {text}").format(text=_coverage_text(coverage)),
            _("  bank rescore         {text}").format(text=_rescore_text(summary["score_rescored"])),
            _("  evidence bundle      {text}").format(text=_evidence_text(evidence)),
            _("  alert delivered      {text}").format(text=_alert_text(alert)),
            _("  fleet (cloud gateways)"),
            fleet_lines,
            _("  result               {result}  (state in {workdir})").format(
                result=_("CHAIN HELD") if ok else _("FAILED"), workdir=workdir),
        ]
        click.echo("\n".join(lines))
    sys.exit(0 if ok else 1)
