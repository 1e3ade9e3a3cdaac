"""The one-struct decoding path gives exactly what per-point decoding gives."""

from __future__ import annotations

import random

from drivers.modbus.decode import decode, encode
from drivers.modbus.device import RegisterMap
from gateway.profile.schema import Model, PointDef

TYPES = ["int16", "uint16", "int32", "uint32", "float32", "float64", "int64", "uint64"]
WIDTH = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "float64": 4, "int64": 4, "uint64": 4}


def test_fast_path_matches_per_point_decode() -> None:
    rng = random.Random(3)
    for trial in range(50):
        points, addr = [], 0
        for i in range(rng.randint(1, 12)):
            t = rng.choice(TYPES)
            addr += rng.randint(0, 3)  # gaps inside one request
            points.append(PointDef(name=f"p{i}", meaning=f"x.p{i}", address=addr, type=t,
                                   scale=rng.choice([1.0, 0.1, 0.001]), offset=rng.choice([0.0, -40.0])))
            addr += WIDTH[t]
        model = Model(name="m", points=points, max_gap=8)
        regmap = RegisterMap(model)
        assert all(f is not None for f in regmap._fast.values()), trial
        regs = [0] * addr
        for p in points:
            raw = rng.randint(0, 30000) if "int" in p.type else rng.uniform(-1e4, 1e4)
            regs[p.address:p.address + WIDTH[p.type]] = encode(raw * p.scale + p.offset, p.type, scale=p.scale,
                                                               offset=p.offset)
        fast: dict[str, float] = {}
        for req in regmap.requests:
            regmap.decode_response(req, regs[req.start:req.end], fast)
        slow = {p.name: decode(regs[p.address:p.address + WIDTH[p.type]], p.type, scale=p.scale, offset=p.offset)
                for p in points}
        assert fast == slow


def test_other_orders_take_the_general_path() -> None:
    model = Model(name="m", word_order="little", points=[PointDef(name="a", meaning="x.a", address=0)])
    regmap = RegisterMap(model)
    assert list(regmap._fast.values()) == [None]
    out: dict[str, float] = {}
    regmap.decode_response(regmap.requests[0], encode(1.5, "float32", word_order="little"), out)
    assert out == {"a": 1.5}
