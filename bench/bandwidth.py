"""Cellular budget: bytes on the wire per indicator and per site per month, sim-factory, HTTP and MQTT.

The real gateway runtime (sim-factory profile, every device emulated) sends to a real receiver
(`cloud serve`, a separate process) over HTTP, or to a real Mosquitto the receiver subscribes to,
through a counting TCP proxy on loopback: every byte the gateway's side of the link sends and
receives is counted at the socket (HTTP headers, MQTT framing, acks and pings included; TCP/IP and
TLS overhead are not: add about 40 bytes per segment and, with TLS, about 5 kB per HTTP connection
for the handshake, which keep-alive would amortise).

A warm-up (the first import of the site's ERP/MES history, a one-time backfill) is not counted.
Time runs ``--speed`` times faster than in the field (windows 15 m / 1 h become 15 s / 60 s at 60x;
health summaries, head statements and the enterprise-view fetch are scaled alike), so ``--seconds``
of run stand for ``seconds x speed`` of a site's life; per month = bytes x (30 days / that).
Per indicator = bytes / indicator records acknowledged (everything else on the link, summaries,
heads, acks, included: it is what one indicator costs).

    PYTHONPATH=. .venv/bin/python bench/bandwidth.py                      # ~5 minutes, writes the JSON
    PYTHONPATH=. .venv/bin/python bench/bandwidth.py --write-docs         # and the table in docs/benchmarks.md
    PYTHONPATH=. .venv/bin/python bench/bandwidth.py --render bench/results/bandwidth.json --write-docs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.identity import enroll, init_identity  # noqa: E402
from gateway.profile import load_profile  # noqa: E402
from gateway.runtime import Gateway  # noqa: E402
from tests.support.processes import Mosquitto, ReceiverProc, free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "bandwidth.json"
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bandwidth-table:begin (bench/bandwidth.py --write-docs) -->", "<!-- bandwidth-table:end -->"
MONTH_S = 30 * 86400
CASES = [("http", "off"), ("http", "auto"), ("mqtt", "off"), ("mqtt", "auto")]


@dataclass
class Counter:
    up: int = 0
    down: int = 0
    connections: int = 0


class CountingProxy:
    """A TCP proxy on loopback counting the bytes each way (gateway -> server is ``up``)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.count = Counter()
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self) -> CountingProxy:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: bool) -> None:
        try:
            while data := await reader.read(65536):
                if up:
                    self.count.up += len(data)
                else:
                    self.count.down += len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - closing a dead socket
                pass

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.count.connections += 1
        try:
            r2, w2 = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, w2, True), self._pipe(r2, writer, False))

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


def _indicators_acked(gw: Gateway) -> tuple[int, int]:
    """(indicator records, batches) signed and acknowledged."""
    acked = gw.store.acked(gw.sender.dest) if gw.sender is not None else 0
    n = 0
    with gw.store._lock:
        rows = gw.store.db.execute("SELECT body FROM outbox WHERE seq <= ?", (acked,)).fetchall()
    for (body,) in rows:
        n += sum(1 for r in json.loads(body)["records"] if r.get("type") == "indicator")
    return n, acked


async def _run_case(transport: str, compression: str, seconds: float, speed: float, work: Path,
                    warmup: float = 10.0) -> dict[str, Any]:
    broker = None
    if transport == "mqtt":
        broker = Mosquitto(work, free_port()).start()
        receiver = ReceiverProc(work, free_port(), mqtt=f"127.0.0.1:{broker.port}").start()
        proxy = await CountingProxy(broker.port).start()
    else:
        receiver = ReceiverProc(work, free_port()).start()
        proxy = await CountingProxy(receiver.port).start()
    state = work / "gw"
    init_identity(state, None, "sim-factory")
    enroll(state, receiver.url, receiver.token())  # enrollment is once in a gateway's life: not counted
    prof = load_profile("sim-factory")
    up = prof.uplink
    up = msgspec.structs.replace(
        # MQTT: the gateway asks the receiver's capabilities over HTTP once (not through the broker's proxy).
        up, transport=transport, url=f"http://127.0.0.1:{proxy.port}" if transport == "http" else receiver.url,
        compression=compression,
        interval_s=up.interval_s / speed * 10, health_interval_s=up.health_interval_s / speed,
        head_interval_s=up.head_interval_s / speed, view_interval_s=up.view_interval_s / speed,
        mqtt=msgspec.structs.replace(up.mqtt, port=proxy.port))
    prof = msgspec.structs.replace(prof, uplink=up, status=msgspec.structs.replace(prof.status, enabled=False),
                                   indicators=msgspec.structs.replace(prof.indicators, interval_s=0.5))
    windows = [f"{int(15 * 60 / speed)}s", f"{int(3600 / speed)}s"]
    gw = Gateway(prof, state, simulate=True, windows=windows, grace_s=1.0)
    try:
        await gw.start()
        # Warm-up, not counted: the first import of the site's ERP/MES history (a one-time backfill of
        # months of daily figures) and the first connections. Measured: the steady state after it.
        deadline = time.monotonic() + 120
        await asyncio.sleep(warmup)
        while gw.sender.backlog() > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        base_ind, base_batches = _indicators_acked(gw)
        base_up, base_down = proxy.count.up, proxy.count.down
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - t0
        try:
            await gw.sender.drain(10)  # what was signed in the run is delivered (and counted)
        except Exception as exc:  # noqa: BLE001 - counted as not acknowledged
            logging.warning("not drained: %s", exc)
        indicators, batches = _indicators_acked(gw)
        indicators, batches = indicators - base_ind, batches - base_batches
        bytes_up, bytes_down = proxy.count.up - base_up, proxy.count.down - base_down
        await gw.stop()
    finally:
        await proxy.stop()
        receiver.stop()
        if broker is not None:
            broker.stop()
    total = bytes_up + bytes_down
    field_s = elapsed * speed
    return {"transport": transport, "compression": compression, "seconds": round(elapsed, 1),
            "field_seconds": round(field_s), "bytes_up": bytes_up, "bytes_down": bytes_down,
            "connections": proxy.count.connections, "indicators": indicators, "batches": batches,
            "bytes_per_indicator": round(total / indicators, 1) if indicators else None,
            "mb_per_month": round(total * MONTH_S / field_s / 1e6, 2)}


def render(result: dict[str, Any]) -> str:
    lines = [f"Run: sim-factory, {result['seconds']} s per case at {result['speed']}x "
             f"({result['date']}, {result['machine']}).", "",
             "| transport | encoding | bytes up / down | connections | indicators acked | bytes per indicator "
             "| MB per site per month |", "|---|---|---|---|---|---|---|"]
    for c in result["cases"]:
        enc = "compact + zstd (negotiated)" if c["compression"] == "auto" else "JSON envelope"
        lines.append(f"| {c['transport'].upper()} | {enc} | {c['bytes_up']:,} / {c['bytes_down']:,} | "
                     f"{c['connections']} | {c['indicators']} | {c['bytes_per_indicator']} | {c['mb_per_month']} |")
    return "\n".join(lines)


def write_docs(result: dict[str, Any]) -> None:
    text = DOCS.read_text()
    body = render(result)
    if BEGIN not in text:
        text = text.rstrip() + ("\n\n## Cellular budget (`bench/bandwidth.py`)\n\nBytes on the wire for the "
                                "sim-factory site, counted at the socket by a proxy between the gateway and the "
                                "receiver (HTTP) or the broker (MQTT); see the module's docstring for what is and is "
                                f"not counted.\n\n{BEGIN}\n{END}\n")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOCS.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="measured run time per case (default 60)")
    ap.add_argument("--speed", type=float, default=60.0, help="field seconds per run second (default 60)")
    ap.add_argument("--only", choices=[f"{t}-{c}" for t, c in CASES], action="append", help="run these cases only")
    ap.add_argument("--json-out", type=Path, default=RESULTS)
    ap.add_argument("--render", type=Path, help="no run: print (and --write-docs) the table of a saved result")
    ap.add_argument("--write-docs", action="store_true", help="replace the generated table in docs/benchmarks.md")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.render:
        result = json.loads(args.render.read_text())
    else:
        cases = [(t, c) for t, c in CASES if not args.only or f"{t}-{c}" in args.only]
        out = []
        for t, c in cases:
            with tempfile.TemporaryDirectory() as tmp:
                out.append(asyncio.run(_run_case(t, c, args.seconds, args.speed, Path(tmp))))
            print(json.dumps(out[-1]), flush=True)
        result = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "speed": args.speed,
                  "seconds": args.seconds, "machine": f"{platform.machine()} {platform.python_version()}",
                  "cases": out}
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    print(render(result))
    if args.write_docs:
        write_docs(result)


if __name__ == "__main__":
    main()
