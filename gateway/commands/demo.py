"""`edgeproof demo`: the whole chain on this machine, no hardware, nothing to start by hand.

Emulated devices (sim-factory) -> the gateway -> the receiver (a separate process, as in
real life) -> a bank pull that verifies every record's signature itself. Exits 0 only
when the chain held: readings stored, indicators made, every batch acknowledged, every
record in the bank's feed verified, nothing rejected.
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

DEMO_ENTERPRISE = "ent-demo"
DEMO_BANK = "bank-demo"


def _cloud(*args: str, timeout: float = 60) -> str:
    """Run a receiver admin command in its own process (the gateway never imports it)."""
    res = subprocess.run([sys.executable, "-m", "cloud_stub", *args], capture_output=True, text=True,
                         timeout=timeout)
    if res.returncode != 0:
        raise click.ClickException(f"receiver command {args[0]} failed: {res.stderr.strip()[-2000:]}")
    return res.stdout.strip()


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
            raise click.ClickException(f"receiver exited: {(workdir / 'receiver.log').read_text()[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    raise click.ClickException("receiver did not start within 30 s")


async def run_gateway(profile: Any, state: Path, seconds: float) -> dict[str, Any]:
    from gateway.runtime import Gateway

    gw = Gateway(profile, state, simulate=True, grace_s=1.0)
    await gw.start()
    t0 = time.time()
    try:
        await asyncio.sleep(seconds)
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


@click.command("demo")
@profile_option
@click.option("--seconds", default=30.0, show_default=True, type=click.FloatRange(3, 86400),
              help="How long the gateway runs.")
@click.option("--window", "windows", multiple=True, default=("10s",), show_default=True,
              help="Indicator windows for the demo, on top of the profile's (15m and 1h do not close in 30 s).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the demo's state (store, receiver db, logs) in this directory.")
def command(profile: str | None, seconds: float, windows: tuple[str, ...], as_json: bool, keep: Path | None) -> None:
    """Run sim-factory, the receiver and a bank pull on this machine; print a summary."""
    from gateway.identity import enroll, init_identity
    from gateway.logs import setup_logging

    setup_logging(os.environ.get("EDGEPROOF_LOG_LEVEL", "WARNING"))
    prof = get_profile(profile)
    workdir = keep or Path(tempfile.mkdtemp(prefix="edgeproof-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    state = workdir / "gateway"
    proc, url = start_receiver(workdir)
    try:
        token = _cloud("token", "--db", str(workdir / "receiver.db"), "--enterprise", DEMO_ENTERPRISE)
        bank_token = _cloud("bank", "add", "--db", str(workdir / "receiver.db"), "--name", DEMO_BANK,
                            "--enterprise", DEMO_ENTERPRISE)
        init_identity(state, None, prof.site.id)
        enroll(state, url, token)
        win = list(dict.fromkeys([*windows, *prof.indicators.windows]))
        prof = msgspec.structs.replace(
            prof,
            indicators=msgspec.structs.replace(prof.indicators, windows=win, grace_s=1.0, interval_s=2.0),
            uplink=msgspec.structs.replace(prof.uplink, transport="http", url=url, interval_s=2.0),
        )
        summary = asyncio.run(run_gateway(prof, state, seconds))
        verify = json.loads(_cloud("feed", "verify", "--url", url, "--enterprise", DEMO_ENTERPRISE,
                                   "--token", bank_token, "--json", timeout=120) or "{}")
    except subprocess.CalledProcessError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    summary.update({
        "enterprise_id": DEMO_ENTERPRISE,
        "feed_records": verify.get("records", 0),
        "feed_batches": verify.get("batches", 0),
        "records_verified": verify.get("verified", 0),
        "records_failed": verify.get("failed", 0),
        "workdir": str(workdir),
    })
    ok = (summary["readings_stored"] > 0 and summary["indicators_made"] > 0 and summary["batches_made"] > 0
          and summary["batches_acknowledged"] == summary["batches_made"] and summary["batches_rejected"] == 0
          and summary["feed_batches"] == summary["batches_made"] and summary["records_failed"] == 0
          and summary["records_verified"] == summary["feed_records"] > 0)
    summary["ok"] = ok
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
    else:
        click.echo(
            f"EdgeProof demo ({prof.site.id}, {summary['seconds']} s, {summary['devices']} devices)\n"
            f"  readings stored      {summary['readings_stored']}\n"
            f"  indicators made      {summary['indicators_made']}\n"
            f"  batches sent/acked   {summary['batches_sent']} / {summary['batches_acknowledged']} "
            f"(of {summary['batches_made']} made)\n"
            f"  bank feed verified   {summary['records_verified']} of {summary['feed_records']} records "
            f"in {summary['feed_batches']} batches\n"
            f"  rejected             {summary['batches_rejected']} batches, {summary['records_failed']} records\n"
            f"  result               {'CHAIN HELD' if ok else 'FAILED'}  (state in {workdir})")
    sys.exit(0 if ok else 1)
