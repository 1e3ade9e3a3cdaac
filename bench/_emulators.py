"""Bench helper: N emulated Modbus TCP meters in their own process (so only the gateway is measured).

Each meter is the project's ModbusEmulator (a real pymodbus TCP server on loopback, one unit,
``unit_id`` 1) serving the bench model: ``points`` float32 input registers, contiguous from
address 0. Values change on every request (voltages, currents, powers, a rising kWh counter).

Line protocol on stdin/stdout, for bench/gateway_poll.py:
  on start it prints   {"ports": [p1, p2, ...]}
  "counts"  ->         {"requests": [n1, n2, ...]}   (requests served per meter, cumulative)
  "quit"    ->         shuts the servers down and exits

    .venv/bin/python bench/_emulators.py [--devices 10] [--points 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.sim.modbus_server import ModbusEmulator, UnitState  # noqa: E402
from gateway.profile.schema import Model, PointDef  # noqa: E402

# name, meaning, unit, scale: a three-phase meter's first 20 values (all float32, each its own scale).
POINTS: list[tuple[str, str, str, float]] = [
    ("voltage_l1", "energy.voltage_l1_v", "V", 1.0),
    ("voltage_l2", "energy.voltage_l2_v", "V", 1.0),
    ("voltage_l3", "energy.voltage_l3_v", "V", 1.0),
    ("current_l1", "energy.current_l1_a", "A", 1.0),
    ("current_l2", "energy.current_l2_a", "A", 1.0),
    ("current_l3", "energy.current_l3_a", "A", 1.0),
    ("power_l1", "energy.power_l1_w", "W", 1000.0),
    ("power_l2", "energy.power_l2_w", "W", 1000.0),
    ("power_l3", "energy.power_l3_w", "W", 1000.0),
    ("power_total", "energy.power_kw", "kW", 1.0),
    ("apparent_l1", "energy.apparent_l1_va", "VA", 1000.0),
    ("apparent_l2", "energy.apparent_l2_va", "VA", 1000.0),
    ("apparent_l3", "energy.apparent_l3_va", "VA", 1000.0),
    ("pf_l1", "energy.pf_l1", "", 0.001),
    ("pf_l2", "energy.pf_l2", "", 0.001),
    ("pf_l3", "energy.pf_l3", "", 0.001),
    ("frequency", "energy.frequency_hz", "Hz", 1.0),
    ("import_kwh", "energy.total_kwh", "kWh", 1.0),
    ("export_kwh", "energy.export_kwh", "kWh", 1.0),
    ("thd_v_l1", "energy.thd_voltage_l1_pct", "%", 1.0),
]


def bench_points(n: int) -> list[dict[str, Any]]:
    """The model's points as profile dicts: contiguous float32 input registers from 0."""
    out = []
    for i in range(n):
        name, meaning, unit, scale = POINTS[i] if i < len(POINTS) else (f"p{i}", f"bench.p{i}", "", 1.0)
        p: dict[str, Any] = {"name": name, "meaning": meaning, "unit": unit, "address": 2 * i,
                             "table": "input", "type": "float32", "scale": scale}
        if meaning.startswith("energy.voltage"):
            p["range"] = [0.0, 300.0]
        if meaning == "energy.total_kwh":
            p["counter"] = True
        out.append(p)
    return out


def bench_model(n: int) -> Model:
    return Model(name="bench-meter", points=[PointDef(**p) for p in bench_points(n)])


class MeterValues:
    """Duck-typed Scenario: values by meaning, moving on every call."""

    def __init__(self, model: Model, seed: int) -> None:
        self.rng = random.Random(seed)
        self.meanings = [p.meaning for p in model.points]
        self.kwh = 12000.0 + seed
        self.last = time.time()

    def values(self) -> dict[str, float]:
        now = time.time()
        kw = 10.0 + 8.0 * math.sin(now / 20.0) + self.rng.uniform(-0.3, 0.3)
        self.kwh += kw * (now - self.last) / 3600.0
        self.last = now
        v = 230.0 + self.rng.uniform(-2, 2)
        a = kw * 1000 / (3 * v * 0.9)
        base = {
            "energy.voltage_l1_v": v, "energy.voltage_l2_v": v + 0.7, "energy.voltage_l3_v": v - 0.5,
            "energy.current_l1_a": a, "energy.current_l2_a": a * 1.01, "energy.current_l3_a": a * 0.99,
            "energy.power_l1_w": kw * 333, "energy.power_l2_w": kw * 334, "energy.power_l3_w": kw * 333,
            "energy.power_kw": kw, "energy.apparent_l1_va": kw * 370, "energy.apparent_l2_va": kw * 371,
            "energy.apparent_l3_va": kw * 369, "energy.pf_l1": 0.9, "energy.pf_l2": 0.91, "energy.pf_l3": 0.89,
            "energy.frequency_hz": 50.0 + self.rng.uniform(-0.02, 0.02), "energy.total_kwh": self.kwh,
            "energy.export_kwh": 3.25, "energy.thd_voltage_l1_pct": 2.0 + self.rng.uniform(0, 0.5),
        }
        return {m: base.get(m, self.rng.uniform(0, 100)) for m in self.meanings}


async def main(n_devices: int, n_points: int) -> None:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    model = bench_model(n_points)
    emus = [await ModbusEmulator({1: UnitState(model, MeterValues(model, i))}).start()  # type: ignore[arg-type]
            for i in range(n_devices)]
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def reader() -> None:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "counts":
                counts = [int(e.requests[1]) for e in emus]
                sys.stdout.write(json.dumps({"requests": counts}) + "\n")
                sys.stdout.flush()
            elif cmd == "quit":
                break
        loop.call_soon_threadsafe(done.set)

    print(json.dumps({"ports": [e.port for e in emus]}), flush=True)
    threading.Thread(target=reader, daemon=True).start()
    await done.wait()
    for e in emus:
        await e.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=10)
    ap.add_argument("--points", type=int, default=20)
    args = ap.parse_args()
    asyncio.run(main(args.devices, args.points))
