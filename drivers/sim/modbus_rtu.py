"""Twins for Modbus RTU lines: one emulated line (a pymodbus RTU server) per serial bus.

In simulate mode no pty is needed: the server speaks RTU framing over a loopback TCP
socket and the bus's port becomes ``socket://127.0.0.1:PORT``, which pyserial (and so
pymodbus's serial client) opens like a serial device. Tests also run the same emulator
on a real socat pty pair (``ModbusEmulator(serial_port=...)``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from drivers.sim.modbus_server import ModbusEmulator, UnitState, sim_identity
from drivers.sim.modbus_tcp import scenario_for
from drivers.support.bus import BusHandle
from drivers.support.types import DeviceSpec, ModelSpec


async def start_twins(items: list[tuple[DeviceSpec, ModelSpec | None]], buses: dict[str, BusHandle]
                      ) -> tuple[dict[str, DeviceSpec], list[Any], list[Any]]:
    lines: dict[str, list[tuple[DeviceSpec, ModelSpec]]] = {}
    for dev, model in items:
        if model is None or dev.bus is None:
            continue
        lines.setdefault(dev.bus, []).append((dev, model))
    stoppers, emulators = [], []
    for bus_name, group in lines.items():
        units = {d.unit_id: UnitState(m, scenario_for(d), identity=sim_identity(d.name, m)) for d, m in group}
        for d, _ in group:
            if d.sim.get("dead"):
                units[d.unit_id].dead = True
        emu = await ModbusEmulator(units, framer="rtu").start()
        handle = buses[bus_name]
        handle.cfg = msgspec.structs.replace(handle.cfg, port=f"socket://127.0.0.1:{emu.port}")
        stoppers.append(emu.stop)
        emulators.append(emu)
    return {}, stoppers, emulators
