"""Modbus figures for the sim-factory profile: requests per poll cycle, RTU cycle time at
9600 baud against the theoretical wire time, and the time one dead unit costs a cycle.

Method. Ptys and sockets do not pace at the baud rate, so the line is modelled by a paced
relay (drivers/sim/paced_line.py): half duplex, each frame takes bytes x bits/char / baud
and a new frame starts only t3.5 after the last one ended. The driver stack (pymodbus
async serial client over pyserial socket://, coalesced plan, bus lock) and the pymodbus
RTU emulator run for real, so measured cycle / theoretical wire time is the software's
overhead factor. Theoretical wire time per request (drivers/modbus/bustime.py):
(8 + 5 + 2N) chars + 2 x 3.5 chars, a char being 1 + 8 + parity + stop bits
(10 at 8N1, 11 at 8E1). Slave response latency is not modelled (a real meter adds a few
ms per request; the emulator answers in well under 1 ms).

Run: .venv/bin/python bench/modbus_rtu_cycle.py [--cycles 20] [--baud 9600] [--parity N] [--write-docs]
Writes bench/results/modbus_rtu_cycle.json; ``--write-docs`` regenerates the table in
docs/benchmarks.md and bench/README.md from it (``--render FILE`` without a run). Failures
are counted per device and kind, so "one timeout per cycle, healthy units all answered" is
checked, not assumed; cycles are counted, not equated with seconds; the lost time is divided
by the configured timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from drivers.modbus.bustime import bits_per_char, plan_wire_s
from drivers.modbus.device import RegisterMap
from drivers.modbus_rtu import ModbusRtuDriver
from drivers.sim.modbus_server import ModbusEmulator, UnitState
from drivers.sim.modbus_tcp import scenario_for
from drivers.sim.paced_line import PacedLine
from drivers.support.bus import BusHandle
from gateway.profile.load import load_profile, resolve_model
from gateway.runtime import build_drivers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doc_tables import host_line, load_result, save_result, write_block  # noqa: E402


async def requests_per_cycle(profile: Any) -> list[tuple[str, str, int, int]]:
    """Planned and served (counted at the emulators) Modbus requests for one poll of each device."""
    drivers, _buses, stoppers, emulators = await build_drivers(profile, simulate=True)
    modbus = [d for d in drivers if d.kind in ("modbus_tcp", "modbus_rtu")]
    before = sum(sum(e.requests.values()) for e in emulators if isinstance(e, ModbusEmulator))
    rows = []
    try:
        for d in modbus:
            await d.timed_read()
            rows.append((d.device.name, d.kind, len(d.regmap.requests), len(d.model.points)))
    finally:
        for d in drivers:
            await d.close()
    served = sum(sum(e.requests.values()) for e in emulators if isinstance(e, ModbusEmulator)) - before
    for stop in stoppers:
        await stop()
    rows.append(("(served at the emulators)", "", served, 0))
    return rows


async def rtu_cycles(profile: Any, bus_name: str, cycles: int, baud: int, parity: str,
                     dead_unit: int | None = None, timeout_s: float = 0.5, paced: bool = True) -> dict[str, Any]:
    bus_cfg = next(b for b in profile.buses if b.name == bus_name)
    bus_cfg = msgspec.structs.replace(bus_cfg, baudrate=baud, parity=parity, timeout_s=timeout_s)
    items = [(d, resolve_model(profile, d)) for d in profile.devices if d.bus == bus_name]
    units = {d.unit_id: UnitState(m, scenario_for(d)) for d, m in items}
    if dead_unit is not None:
        m = items[0][1]
        units[dead_unit] = UnitState(m, scenario_for(items[0][0]), dead=True)
        dead_dev = msgspec.structs.replace(items[0][0], name="dead-unit", unit_id=dead_unit, timeout_s=timeout_s)
        items = [*items, (dead_dev, m)]
    emu = await ModbusEmulator(units, framer="rtu").start()
    line = await PacedLine(emu.port, baud, bus_cfg.bytesize, parity, bus_cfg.stopbits).start()
    port = line.port if paced else emu.port
    handle = BusHandle(msgspec.structs.replace(bus_cfg, port=f"socket://127.0.0.1:{port}"))
    drivers = [ModbusRtuDriver(d, m, handle, handle.cfg) for d, m in items]
    healthy = [d for d in drivers if d.device.name != "dead-unit"]
    wire = sum(plan_wire_s(RegisterMap(d.model).requests, handle.cfg) for d in healthy)
    times: list[float] = []
    # failures by device and kind (timeout, crc, ...): what the summary claims is checked from these
    failures: dict[str, dict[str, int]] = {}
    try:
        for d in drivers:  # connect and warm up outside the measurement
            try:
                await d.timed_read()
            except Exception:  # noqa: BLE001 - the dead unit
                pass
        for _ in range(cycles):
            t0 = time.perf_counter()
            for d in drivers:
                try:
                    await d.timed_read()
                except Exception as exc:  # noqa: BLE001 - counted by kind below
                    kind = getattr(exc, "kind", type(exc).__name__)
                    per = failures.setdefault(d.device.name, {})
                    per[kind] = per.get(kind, 0) + 1
            times.append(time.perf_counter() - t0)
    finally:
        for d in drivers:
            await d.close()
        await line.stop()
        await emu.stop()
    dead = failures.pop("dead-unit", {})
    return {"devices": len(healthy), "requests": sum(len(d.regmap.requests) for d in healthy),
            "cycles": cycles, "timeout_s": timeout_s,
            "wire_s": wire, "mean_s": statistics.mean(times), "p95_s": sorted(times)[int(0.95 * (len(times) - 1))],
            "max_s": max(times), "dead_failures": dead, "healthy_failures": failures,
            "bits": bits_per_char(8, parity, 1)}


async def scheduled_with_dead_unit(profile: Any, bus_name: str, seconds: float, baud: int, parity: str,
                                   dead: bool = True) -> dict[str, Any]:
    """The real scheduler (per-unit tasks, backoff) on the paced line, with or without one dead
    unit that is started first (so it holds the line when the healthy units' polls come due)."""
    import tempfile
    from pathlib import Path

    from gateway.scheduler import Scheduler
    from gateway.store import Store

    bus_cfg = next(b for b in profile.buses if b.name == bus_name)
    timeout_s = 0.5
    bus_cfg = msgspec.structs.replace(bus_cfg, baudrate=baud, parity=parity, timeout_s=timeout_s)
    items = [(msgspec.structs.replace(d, poll_interval_s=1.0), resolve_model(profile, d))
             for d in profile.devices if d.bus == bus_name]
    units = {d.unit_id: UnitState(m, scenario_for(d)) for d, m in items}
    m = items[0][1]
    if dead:
        units[99] = UnitState(m, scenario_for(items[0][0]), dead=True)
        items.insert(0, (msgspec.structs.replace(items[0][0], name="dead-unit", unit_id=99, timeout_s=timeout_s), m))
    emu = await ModbusEmulator(units, framer="rtu").start()
    line = await PacedLine(emu.port, baud, bus_cfg.bytesize, parity, bus_cfg.stopbits).start()
    handle = BusHandle(msgspec.structs.replace(bus_cfg, port=f"socket://127.0.0.1:{line.port}"))
    with tempfile.TemporaryDirectory() as tmp:
        sched = Scheduler([ModbusRtuDriver(d, m, handle, handle.cfg) for d, m in items], Store(Path(tmp) / "s.db"),
                          0.25)
        await sched.start()
        await asyncio.sleep(seconds)
        await sched.stop()
        sched.store.close()
    await line.stop()
    await emu.stop()
    healthy = [p for p in sched.pollers if p.device.name != "dead-unit"]
    dead_p = [p for p in sched.pollers if p.device.name == "dead-unit"]
    # all healthy units are due on the same 1 s ticks: a cycle ends when the last one has read
    n = min(len(p.health.latencies) for p in healthy)
    cycle_end = [max(p.health.latencies[i] for p in healthy) for i in range(n)]
    return {"dead_attempts": dead_p[0].health.polls if dead_p else 0,
            "healthy_polls": sum(p.health.polls for p in healthy),
            "healthy_failures": sum(p.health.failures for p in healthy),
            "cycles": n, "timeout_s": timeout_s,
            "cycle_mean": statistics.mean(cycle_end), "cycle_max": max(cycle_end), "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--baud", type=int, default=9600)
    ap.add_argument("--parity", default="N", choices=["N", "E", "O"])
    ap.add_argument("--profile", default="sim-factory")
    ap.add_argument("--out", type=Path, default=None, help="result JSON (default bench/results/modbus_rtu_cycle.json)")
    ap.add_argument("--write-docs", action="store_true", help="replace the generated table in the docs")
    ap.add_argument("--render", type=Path, help="no run: print (and --write-docs) the table of a saved result")
    args = ap.parse_args()
    if args.render:
        table = render(load_result(args.render))
        print(table)
        if args.write_docs:
            write_block("modbus_rtu_cycle", table)
        return
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    logging.getLogger("edgeproof").setLevel(logging.ERROR)
    profile = load_profile(args.profile)

    rows = asyncio.run(requests_per_cycle(profile))
    print(f"Modbus requests per poll cycle ({args.profile}, one poll of every Modbus device):")
    total_points = 0
    for name, kind, n, points in rows[:-1]:
        total_points += points
        print(f"  {name:22s} {kind:11s} {points:3d} points -> {n} request(s)")
    planned = sum(r[2] for r in rows[:-1])
    print(f"  total: {total_points} points in {planned} requests planned; {rows[-1][2]} served at the emulators")

    serial = next(b.name for b in profile.buses if b.kind == "serial"
                  and any(d.driver == "modbus_rtu" and d.bus == b.name for d in profile.devices))
    r = asyncio.run(rtu_cycles(profile, serial, args.cycles, args.baud, args.parity))
    fmt = f"8{args.parity}1"
    print(f"\nRTU cycle on {serial!r} at {args.baud} baud {fmt} ({r['bits']} bits/char), paced line, "
          f"{args.cycles} cycles:")
    print(f"  {r['devices']} units, {r['requests']} requests per cycle")
    print(f"  theoretical wire time {r['wire_s'] * 1000:.1f} ms; achieved mean {r['mean_s'] * 1000:.1f} ms, "
          f"p95 {r['p95_s'] * 1000:.1f} ms -> {r['mean_s'] / r['wire_s']:.3f}x wire time (target <= 1.3x)")

    u = asyncio.run(rtu_cycles(profile, serial, args.cycles, args.baud, args.parity, paced=False))
    print(f"  unpaced (software only: client, framing, emulator, loopback): {u['mean_s'] * 1000:.2f} ms per cycle, "
          f"{u['mean_s'] / r['requests'] * 1000:.2f} ms per request; it overlaps the t3.5 gaps on a real line")

    d = asyncio.run(rtu_cycles(profile, serial, max(5, args.cycles // 2), args.baud, args.parity, dead_unit=99,
                               timeout_s=0.5))
    lost = d["mean_s"] - r["mean_s"]
    dead_timeouts = d["dead_failures"].get("timeout", 0)
    healthy_fail = sum(sum(k.values()) for k in d["healthy_failures"].values())
    print(f"\nOne dead unit (unit 99, bus timeout {d['timeout_s']} s) polled every cycle, no backoff (worst case):")
    print(f"  cycle mean {d['mean_s'] * 1000:.1f} ms vs {r['mean_s'] * 1000:.1f} ms healthy: "
          f"{lost * 1000:.1f} ms lost per cycle = {lost / d['timeout_s']:.2f} timeouts (target <= 1)")
    one_timeout_each = dead_timeouts == d["cycles"] == sum(d["dead_failures"].values())
    print(f"  dead unit: {sum(d['dead_failures'].values())} failures in {d['cycles']} cycles {d['dead_failures']} "
          f"({'one timeout per cycle' if one_timeout_each else 'NOT one timeout per cycle'}); "
          f"healthy units: {healthy_fail} failures "
          f"({'all answered' if healthy_fail == 0 else d['healthy_failures']})")

    base = asyncio.run(scheduled_with_dead_unit(profile, serial, 20.0, args.baud, args.parity, dead=False))
    s = asyncio.run(scheduled_with_dead_unit(profile, serial, 20.0, args.baud, args.parity))
    extra_mean = s["cycle_mean"] - base["cycle_mean"]
    extra_max = s["cycle_max"] - base["cycle_max"]
    print(f"\nSame line under the scheduler (every unit every 1 s; the dead unit starts first, then backs off), "
          f"{s['seconds']:.0f} s:")
    print(f"  dead unit tried {s['dead_attempts']} times in {s['cycles']} cycles; healthy units: {s['healthy_polls']} "
          f"polls, {s['healthy_failures']} failures")
    print(f"  time from tick to the last healthy read: mean {s['cycle_mean'] * 1000:.0f} ms, max "
          f"{s['cycle_max'] * 1000:.0f} ms vs {base['cycle_mean'] * 1000:.0f} / {base['cycle_max'] * 1000:.0f} ms "
          f"without it -> {extra_mean * 1000:.0f} ms per cycle on average, {extra_max * 1000:.0f} ms in the worst "
          f"cycle ({extra_max / s['timeout_s']:.2f} timeouts)")
    result = {"bench": "modbus_rtu_cycle", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "profile": args.profile, "baud": args.baud, "format": fmt,
              "host": {"cores": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)},
              "requests": {"points": total_points, "planned": planned, "served": rows[-1][2]},
              "paced": r, "unpaced": u, "dead_unit_no_backoff": {**d, "lost_s": lost},
              "scheduler_healthy": base, "scheduler_dead_unit": s}
    out = save_result("modbus_rtu_cycle", result, args.out)
    print(f"\nresult: {out}")
    print("JSON " + json.dumps(result))
    if args.write_docs:
        write_block("modbus_rtu_cycle", render(result))


def render(res: dict[str, Any]) -> str:
    """The docs table (docs/benchmarks.md, bench/README.md) from a result."""
    r, d, s, b = res["paced"], res["dead_unit_no_backoff"], res["scheduler_dead_unit"], res["scheduler_healthy"]
    healthy_fail = sum(sum(k.values()) for k in d["healthy_failures"].values())
    return "\n".join([
        "| | value |", "|---|---|",
        f"| Modbus requests per poll cycle, whole {res['profile']} profile | {res['requests']['planned']} requests "
        f"planned for {res['requests']['points']} Modbus points, {res['requests']['served']} served at the emulators |",
        f"| RTU cycle at {res['baud']} {res['format']}: theoretical wire time / achieved mean / p95 | "
        f"{r['wire_s'] * 1000:.1f} ms / {r['mean_s'] * 1000:.1f} ms / {r['p95_s'] * 1000:.1f} ms -> "
        f"**{r['mean_s'] / r['wire_s']:.3f}x** (target <= 1.3x) |",
        f"| One dead unit ({d['timeout_s']} s timeout), polled every cycle with no backoff (worst case) | "
        f"{d['lost_s'] * 1000:.0f} ms lost per cycle = **{d['lost_s'] / d['timeout_s']:.2f} timeouts** (target <= 1); "
        f"dead unit {d['dead_failures']} in {d['cycles']} cycles; healthy units {healthy_fail} failures |",
        f"| One dead unit under the scheduler, {s['seconds']:.0f} s | tried {s['dead_attempts']} times in "
        f"{s['cycles']} cycles; healthy cycles {(s['cycle_mean'] - b['cycle_mean']) * 1000:.0f} ms longer on "
        f"average, {(s['cycle_max'] - b['cycle_max']) * 1000:.0f} ms "
        f"({(s['cycle_max'] - b['cycle_max']) / s['timeout_s']:.2f} timeouts) in the worst cycle; "
        f"{s['healthy_failures']} failures on healthy units |",
        "", host_line(res)])


if __name__ == "__main__":
    main()
