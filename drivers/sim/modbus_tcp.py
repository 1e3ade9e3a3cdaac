"""Twins for Modbus TCP devices: one emulator per (host, port) endpoint, units by unit id."""

from __future__ import annotations

from typing import Any

import msgspec

from drivers.sim.modbus_server import ModbusEmulator, UnitState, sim_identity
from drivers.sim.scenarios import Scenario
from drivers.support.bus import BusHandle
from drivers.support.types import DeviceSpec as Device
from drivers.support.types import ModelSpec as Model


def scenario_for(dev: Device) -> Scenario:
    sim = dict(dev.sim)
    kind = str(sim.pop("scenario", "press"))
    seed = int(sim.pop("seed", abs(hash(dev.name)) % 10000))
    return Scenario(kind, params=sim, seed=seed)


async def start_twins(items: list[tuple[Device, Model | None]], buses: dict[str, BusHandle]
                      ) -> tuple[dict[str, Device], list[Any], list[Any]]:
    endpoints: dict[tuple[str | None, int | None], list[tuple[Device, Model]]] = {}
    for dev, model in items:
        assert model is not None
        endpoints.setdefault((dev.host, dev.port), []).append((dev, model))
    overrides: dict[str, Device] = {}
    stoppers, emulators = [], []
    for group in endpoints.values():
        emu = await ModbusEmulator({d.unit_id: UnitState(m, scenario_for(d), dead=bool(d.sim.get("dead")),
                                                      identity=sim_identity(d.name, m))
                                    for d, m in group}).start()
        for d, _ in group:
            overrides[d.name] = msgspec.structs.replace(d, host="127.0.0.1", port=emu.port)
        stoppers.append(emu.stop)
        emulators.append(emu)
    return overrides, stoppers, emulators
