"""`edgeproof probe`: read every configured device once, before the installer leaves.

Builds the same drivers the gateway runs (against the emulated twins when the profile is
simulated, or with --simulate), reads each device once, and prints every point's decoded
value, unit and quality with the device's latency, then per-unit error counters and the
wire-time budget of each serial line. Exit status 1 if any device failed, so a
commissioning script can stop on it. Stop the gateway service first: a serial port or
GPIO pin has one owner.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import unicodedata
from typing import Any

import click

from gateway.commands._common import get_profile, profile_option
from gateway.i18n import N_, _
from gateway.i18n import render as render_error

# Devices whose first reading needs a moment of data (a pulse sampler, an NMEA stream, a
# camera pipeline that must see frames).
SETTLE_DRIVERS = {"gnss": 1.5, "pulse": 0.5, "camera": 2.0}


async def probe(profile: Any, simulate: bool, only: tuple[str, ...] = ()) -> dict[str, Any]:
    from drivers.modbus.bustime import bits_per_char
    from drivers.support.base import DriverError
    from gateway.quality import PointQuality
    from gateway.runtime import build_drivers

    drivers, buses, stoppers, _emulators = await build_drivers(profile, simulate)
    if only:
        drivers = [d for d in drivers if d.device.name in only]
    report: dict[str, Any] = {"profile": profile.site.id, "simulated": simulate, "devices": [], "buses": []}
    try:
        settling = [d for d in drivers if d.kind in SETTLE_DRIVERS]
        for d in settling:  # start samplers and streams early; the read below reports failures
            try:
                await asyncio.wait_for(d.open(), d.device.timeout_s * 4 + 1)
            except (DriverError, TimeoutError, OSError):
                pass
        if settling:
            await asyncio.sleep(max(SETTLE_DRIVERS[d.kind] for d in settling))
        for d in drivers:
            entry: dict[str, Any] = {"device": d.device.name, "driver": d.kind, "model": d.device.model,
                                     "bus": d.device.bus, "ok": False,
                                     "error": None, "latency_ms": None, "points": []}
            try:
                result = await asyncio.wait_for(d.timed_read(), d.device.timeout_s * 4 + 1)
            except DriverError as exc:
                entry["error"] = render_error(exc)
            except TimeoutError:
                d.errors["timeout"] += 1
                entry["error"] = _("timeout: no answer within the probe's limit")
            except OSError as exc:
                d.errors["io"] += 1
                entry["error"] = f"io: {exc}"
            else:
                entry["ok"] = True
                entry["latency_ms"] = round(result.latency_s * 1000, 1)
                for p in d.points():
                    q = PointQuality(p, d.device.ranges.get(p.name))
                    if p.name in result.values:
                        v = result.values[p.name]
                        quality = q.classify(0.0, v)
                    else:
                        v, quality = None, "comm_error"
                    entry["points"].append({"point": p.name, "meaning": p.meaning, "value": v, "unit": p.unit,
                                            "quality": quality, "note": result.errors.get(p.name)})
            if entry["ok"]:
                # Identity registers (issue 17): the installer checks the serial against the meter's label.
                try:
                    ident = await asyncio.wait_for(d.identify(), d.device.timeout_s * 4 + 1)
                except (DriverError, TimeoutError, OSError) as exc:
                    entry["identity_error"] = render_error(exc) or type(exc).__name__
                else:
                    if ident is not None:
                        entry["identity"] = ident
            entry["requests"] = d.requests
            entry["errors"] = dict(d.errors)
            wire = getattr(d, "wire_s", None)
            if wire is not None:
                entry["wire_ms"] = round(wire * 1000, 1)
            report["devices"].append(entry)
        for name, bus in buses.items():
            cfg = bus.cfg
            on_bus = [d for d in drivers if d.device.bus == name]
            line: dict[str, Any] = {"bus": name, "kind": cfg.kind, "devices": len(on_bus), "stats": dict(bus.stats)}
            if cfg.kind == "serial":
                wires = [(getattr(d, "wire_s", 0.0) or 0.0, d.device.poll_interval_s) for d in on_bus]
                line.update({"baudrate": cfg.baudrate, "format": f"{cfg.bytesize}{cfg.parity}{cfg.stopbits}",
                             "bits_per_char": bits_per_char(cfg.bytesize, cfg.parity, cfg.stopbits),
                             "utilisation_pct": round(100 * sum(w / t for w, t in wires), 1)})
            report["buses"].append(line)
    finally:
        for d in drivers:
            try:
                await d.close()
            except Exception:  # noqa: BLE001 - closing must not hide the report
                pass
        for stop in stoppers:
            try:
                await stop()
            except Exception:  # noqa: BLE001
                pass
    report["ok"] = bool(report["devices"]) and all(e["ok"] for e in report["devices"])
    return report


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.6g}" if abs(v) < 1e6 else f"{v:.1f}"


def _width(text: str) -> int:
    """Columns a terminal gives ``text``: CJK characters are two wide, so Chinese headers still line up."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _ljust(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


# Quality codes are data (JSON); these are how they read in the table (``_(quality)``).
QUALITY_TEXTS = (N_("good"), N_("stale"), N_("comm_error"), N_("out_of_range"))


def render(report: dict[str, Any]) -> str:
    # Driver and model beside the device: a wrong register map (model) reads plausible-looking
    # nonsense, and the installer must see which map each device was read with.
    rows = [(_("DEVICE"), _("DRIVER"), _("MODEL"), _("POINT"), _("VALUE"), _("UNIT"), _("QUALITY"), _("LATENCY"))]
    for e in report["devices"]:
        lat = f"{e['latency_ms']} ms" if e["latency_ms"] is not None else "-"
        who = (e["device"], e.get("driver") or "-", e.get("model") or "-")
        if not e["ok"]:
            rows.append((*who, "-", "-", "-", _("FAILED"), lat))
            continue
        for i, p in enumerate(e["points"]):
            quality = _(p["quality"]) + (f" ({p['note']})" if p.get("note") else "")
            rows.append((*(who if i == 0 else ("", "", "")), p["point"], _fmt(p["value"]), p["unit"], quality,
                         lat if i == 0 else ""))
    widths = [max(_width(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(_ljust(str(c), w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    out.append("")
    out.append(_("Per-unit counters (this probe):"))
    for e in report["devices"]:
        errs = ", ".join(f"{_(k)}={v}" for k, v in sorted(e["errors"].items())) or _("none")  # drivers.support.messages
        wire = _(", wire {ms} ms/poll").format(ms=e["wire_ms"]) if "wire_ms" in e else ""
        status = _("ok") if e["ok"] else _("FAILED {error}").format(error=e["error"])
        out.append(f"  {e['device']}: " + _("{status}; requests={requests}; errors: {errors}").format(
            status=status, requests=e["requests"], errors=errs) + wire)
        if e.get("identity") is not None or e.get("identity_error"):
            ident = ", ".join(f"{k} {v}" for k, v in sorted((e.get("identity") or {}).items())) or _("none answered")
            out.append("    " + (_("identity: {identity}").format(identity=ident) if not e.get("identity_error")
                                 else _("identity: not read ({error})").format(error=e["identity_error"])))
    serial = [b for b in report["buses"] if b["kind"] == "serial" and "utilisation_pct" in b]
    if serial:
        out.append("")
        out.append(_("Serial lines (wire time incl. t3.5 gaps, at the configured polls):"))
        for b in serial:
            out.append(f"  {b['bus']}: " + _("{baud} baud {format} ({bits} bits/char), {n} device(s), {pct}% of the "
                                             "line").format(baud=b["baudrate"], format=b["format"],
                                                            bits=b["bits_per_char"], n=b["devices"],
                                                            pct=b["utilisation_pct"]))
    failed = [e["device"] for e in report["devices"] if not e["ok"]]
    out.append("")
    n = len(report["devices"])
    out.append(_("{ok} of {n} devices answered").format(ok=n - len(failed), n=n)
               + (_("; FAILED: {devices}").format(devices=", ".join(failed)) if failed else "")
               + (_(" (emulated twins)") if report["simulated"] else ""))
    return "\n".join(out)


@click.command("probe", help=_("Read every configured device once and show values, quality, latency and error "
                               "counters."))
@profile_option
@click.option("--simulate/--no-simulate", default=None,
              help=_("Read the emulated twins instead of hardware (default: the profile's site.simulated)."))
@click.option("--device", "-d", "only", multiple=True, help=_("Probe only this device (repeatable)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the report as one JSON object."))
def command(profile: str | None, simulate: bool | None, only: tuple[str, ...], as_json: bool) -> None:
    """Read every configured device once and show values, quality, latency and error counters."""
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # failures are reported per unit below
    prof = get_profile(profile)
    sim = prof.site.simulated if simulate is None else simulate
    unknown = [n for n in only if n not in {d.name for d in prof.devices}]
    if unknown:
        raise click.ClickException(_("no such device in the profile: {devices}").format(devices=", ".join(unknown)))
    report = asyncio.run(probe(prof, sim, only))
    click.echo(json.dumps(report, sort_keys=True) if as_json else render(report))
    sys.exit(0 if report["ok"] else 1)
