"""`edgeproof status [--json]`: the running gateway's state, from another process.

Reads the live status API (the URL the gateway recorded in its snapshot, or --url, or
the profile's ``[status] bind``); when the page is off, password-protected or not
answering, falls back to the snapshot file the gateway writes atomically into its state
directory every 15 seconds. Exit status: 0 running, 3 not running (as systemctl does).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from gateway.commands._common import get_state, profile_option, state_option
from gateway.i18n import N_, _, render, render_data

NOT_RUNNING = 3
STALE_AFTER_S = 60.0  # the gateway rewrites the snapshot every 15 s
# Device and uplink states are codes in the status document; these are how they read (``_(state)``).
STATE_TEXTS = (N_("healthy"), N_("unhealthy"), N_("starting"), N_("idle"), N_("sending"), N_("rejected"),
               N_("backoff"), N_("off"))


def fetch_live(url: str, timeout_s: float = 3.0) -> tuple[dict[str, Any] | None, str]:
    """(document, why not) from the status API."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/api/status", timeout=timeout_s) as resp:
            return json.loads(resp.read()), ""
    except urllib.error.HTTPError as exc:
        return None, _("the status page needs a password") if exc.code == 401 else f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, _("no answer ({reason})").format(reason=getattr(exc, "reason", exc))


def _ago(ts: float | None, now: float) -> str:
    if not ts:
        return _("never")
    s = max(0.0, now - ts)
    if s < 120:
        return _("{n} s ago").format(n=f"{s:.0f}")
    return _("{n} min ago").format(n=f"{s / 60:.0f}") if s < 7200 else _("{n} h ago").format(n=f"{s / 3600:.1f}")


def _mb(n: float | None) -> str:
    return "-" if n is None else f"{n / 1e6:.1f} MB"


def render_text(doc: dict[str, Any], source: str) -> str:
    now = doc.get("now", time.time())
    ident, store, up, clock = doc["identity"], doc["store"], doc["uplink"], doc.get("clock", {})
    devs = doc["devices"]
    def row(label: str, text: str) -> str:
        return f"  {label:<14}{text}" if label.isascii() else f"  {label}  {text}"

    lines = [
        _("gateway {gateway} (site {site}){stopped}, up {uptime} s, boot {boot}, pid {pid}, clock {clock}").format(
            gateway=ident["gateway_id"], site=doc["site"]["id"], stopped=_(" STOPPED") if doc.get("stopped") else "",
            uptime=f"{doc['uptime_s']:.0f}", boot=doc["boot"], pid=doc.get("pid"),
            clock=_("synchronised") if clock.get("synced") else _("NOT synchronised")),
        row(_("source"), source),
        row(_("enrolled"), _("{enterprise} (key {kid})").format(enterprise=ident.get("enterprise_id") or _("no"),
                                                               kid=ident["kid"])),
        row(_("devices"), _("{ok} of {n} healthy").format(ok=sum(d["state"] == "healthy" for d in devs), n=len(devs))),
    ]
    width = max((len(d["name"]) for d in devs), default=0)
    for d in devs:
        errs = ", ".join(f"{_(k)} x{n}" for k, n in sorted(d["errors"].items())) or _("no errors")
        lat = "-" if d["latency_ms"] is None else f"{d['latency_ms']:.1f} ms"
        lines.append(f"    {d['name']:<{width}}  {_(d['state']):<10} " + _(
            "polls {polls} failed {failed} latency {latency} {errors}").format(
            polls=f"{d['polls']:<6}", failed=f"{d['failures']:<5}", latency=f"{lat:<9}", errors=errs))
        if d.get("last_error") and d["state"] != "healthy":
            error = render_data(d["last_error_text"]) if d.get("last_error_text") else d["last_error"]
            lines.append(f"    {'':<{width}}  " + _("last error: {error}").format(error=error))
    full = store.get("days_until_full")
    lines += [
        row(_("store"), _("{size} of {max}, {rate} readings/s, {days} days until full, {waiting} indicators waiting")
            .format(size=_mb(store["size_bytes"]), max=_mb(store["max_bytes"]), rate=store["readings_per_s"],
                    days="-" if full is None else f"{full:.1f}", waiting=store["indicators_unbatched"])),
        row(_("uplink"), _("{transport} {state}, last ack {ack} ({ago}), backlog {backlog} of {head} batches").format(
            transport=up["transport"], state=_(up["state"]),
            ack=("#" + str(up["acked_seq"])) if up.get("acked_seq") else _("none"),
            ago=_ago(up.get("last_ack_at"), now), backlog=up["backlog"], head=up["head_seq"])
            + (_(", last error: {error}").format(error=render_data(up.get("last_error_text") or up["last_error"]))
               if up.get("last_error") else "")),
    ]
    if doc.get("status_url"):
        lines.append(row(_("status page"), doc["status_url"]))
    return "\n".join(lines)


@click.group("status", invoke_without_command=True,
             help=_("Show the running gateway's devices, store, uplink (run `status set-password` to protect the "
                    "page)."))
@state_option
@profile_option
@click.option("--url", default=None, help=_("Status page URL (default: recorded in the snapshot, or the profile's "
                                            "[status] bind)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the status document as JSON."))
@click.pass_context
def command(ctx: click.Context, state_dir: Path | None, profile: str | None, url: str | None,
            as_json: bool) -> None:
    """Show the running gateway's devices, store, uplink (run `status set-password` to protect the page)."""
    if ctx.invoked_subcommand is not None:
        return
    from gateway.status.snapshot import read_snapshot

    state = get_state(state_dir)
    snap = read_snapshot(state)
    urls = [u for u in (url, snap[0].get("status_url") if snap else None) if u]
    if profile is not None:
        from gateway.commands._common import get_profile
        from gateway.status.server import BindError, parse_bind

        cfg = get_profile(profile).status
        if cfg.enabled:
            try:
                host, port = parse_bind(cfg.bind)
            except BindError as exc:
                raise click.ClickException(render(exc)) from exc
            host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            urls.append(f"http://{host}:{port}")
    why = []
    for u in dict.fromkeys(urls):
        doc, reason = fetch_live(u)
        if doc is not None:
            return _emit(doc, _("live from {url}").format(url=u), as_json, running=True)
        why.append(f"{u}: {reason}")
    if snap is None:
        _provision_line(state, as_json)
        click.echo(_("no running gateway found: no snapshot in {state}").format(state=state)
                   + (f"; {'; '.join(why)}" if why else ""), err=True)
        sys.exit(NOT_RUNNING)
    doc, age = snap
    running = not doc.get("stopped") and age <= STALE_AFTER_S
    source = _("snapshot {path}, {age} s old").format(path=state / "status.json", age=f"{age:.0f}") + (
        f" ({'; '.join(why)})" if why else "")
    _emit(doc, source, as_json, running)
    if not running:
        click.echo(_("gateway stopped") if doc.get("stopped") else
                   _("gateway not running? the snapshot is {age} s old").format(age=f"{age:.0f}"), err=True)
        sys.exit(NOT_RUNNING)


def _emit(doc: dict[str, Any], source: str, as_json: bool, running: bool) -> None:
    if as_json:
        click.echo(json.dumps({**doc, "source": source, "running": running}, sort_keys=True, default=str))
    else:
        click.echo(render_text(doc, source))
        if doc.get("provision"):
            from gateway.provision.state import summary_line

            click.echo(_("  provisioning  {summary}").format(summary=summary_line(doc["provision"])))


def _provision_line(state: Path, as_json: bool) -> None:
    """First-boot provisioning's result when no gateway runs yet (a failed step is why, often)."""
    from gateway.provision.state import read_provision_state, summary_line

    doc = read_provision_state(state)
    if doc is None:
        return
    if as_json:
        click.echo(json.dumps({"running": False, "provision": doc}, sort_keys=True, default=str))
        return
    click.echo(_("provisioning  {summary}").format(summary=summary_line(doc)))
    for step in doc.get("steps", []):
        when = time.strftime("%H:%M:%S", time.localtime(step["at"])) if step.get("at") else "-"
        click.echo(f"  {step['status']:<8} {step['name']:<9} {when}  {step.get('message', '')}")
    if doc.get("error"):
        click.echo(_("  error: {error}").format(error=doc["error"]))


@command.command("set-password", help=_("Write a salted scrypt hash of a status page password (mode 0600; the "
                                         "password itself is not kept)."))
@click.option("--file", "path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help=_("Password file to write (name it in the profile's [status] password_file)."))
@click.password_option(help=_("The password staff will type (prompted; or $EDGEPROOF_STATUS_PASSWORD)."),
                       envvar="EDGEPROOF_STATUS_PASSWORD")
def set_password(path: Path, password: str) -> None:
    """Write a salted scrypt hash of a status page password (mode 0600; the password itself is not kept)."""
    from gateway.status.auth import PasswordFileError, write_password_file

    try:
        write_password_file(path, password)
    except (PasswordFileError, OSError) as exc:
        raise click.ClickException(render(exc)) from exc
    click.echo(_("wrote {path}; set [status] password_file = \"{path}\" in the profile and restart the gateway")
               .format(path=path))
