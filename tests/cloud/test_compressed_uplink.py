"""Compact zstd envelopes on the uplink: negotiated, smaller, and verified exactly as JSON envelopes.

A real gateway runtime with ``compression = "auto"`` against a real receiver on loopback asks
``GET /v1/capabilities``, then sends compressed compact envelopes; the receiver stores the very
body bytes the gateway signed. Then the receiver alone, with hostile bodies: a corrupt frame, a
decompression bomb (bounded by the envelope limit), a truncated container, an unknown encoding:
each a clear 400 with nothing stored.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cloud_helpers import FakeGateway, http, indicator
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_stub.enrollment import issue_token
from gateway import wire
from gateway.identity import enroll, init_identity
from gateway.profile import load_profile
from gateway.runtime import Gateway
from gateway.wire import compress as wire_compress

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "one-meter.toml"


def post(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(f"{url}/v1/batches", data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


COMPACT = {"Content-Type": wire_compress.COMPACT_TYPE, "Content-Encoding": "zstd"}


def stored(receiver: Any) -> int:
    with receiver.rdb.read() as conn:
        return int(conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0])


def test_the_gateway_negotiates_and_the_signed_bytes_arrive_unchanged(receiver: Any, tmp_path: Path) -> None:
    state = tmp_path / "gw"
    init_identity(state, "gw-z", "t")
    enroll(state, receiver.url, issue_token(receiver.rdb, "ent-1")["token"])
    prof = load_profile(PROFILE)
    prof = msgspec.structs.replace(prof, uplink=msgspec.structs.replace(prof.uplink, compression="auto"))

    async def run() -> tuple[Gateway, dict[int, bytes]]:
        gw = Gateway(prof, state, simulate=True)
        await gw.start()
        deadline = time.monotonic() + 20
        try:
            while gw.store.acked(gw.sender.dest) < 3:
                assert time.monotonic() < deadline, "no compressed batch acknowledged"
                await asyncio.sleep(0.1)
            with gw.store._lock:
                bodies = {int(s): bytes(b) for s, b in gw.store.db.execute("SELECT seq, body FROM outbox")}
            return gw, bodies
        finally:
            await gw.stop(drain_s=5)

    gw, bodies = asyncio.run(run())
    assert gw.sender.transport.compact is True  # negotiated, not assumed
    with receiver.rdb.read() as conn:
        got = {int(s): bytes(b) for s, b in conn.execute("SELECT seq, body FROM batches WHERE gateway_id = 'gw-z'")}
    assert got and all(got[s] == bodies[s] for s in got)  # the exact signed bytes


def test_capabilities_are_public(receiver: Any) -> None:
    status, caps = http("GET", f"{receiver.url}/v1/capabilities")
    assert status == 200 and "zstd" in caps["content_encodings"]
    assert wire_compress.COMPACT_TYPE in caps["content_types"] and caps["max_envelope_bytes"] == wire.MAX_ENVELOPE_BYTES


def test_compact_zstd_json_zstd_and_plain_json_are_all_accepted(receiver: Any, gw: FakeGateway) -> None:
    b1 = gw.next([indicator(i) for i in range(50)])
    assert post(receiver.url, wire_compress.encode(b1.envelope()), COMPACT)[0] == 200
    b2 = gw.next()
    assert post(receiver.url, wire_compress.compress(b2.envelope()), {"Content-Type": "application/json",
                                                                      "Content-Encoding": "zstd"})[0] == 200
    b3 = gw.next()
    assert post(receiver.url, wire_compress.encode(b3.envelope(), zstd=False),
                {"Content-Type": wire_compress.COMPACT_TYPE})[0] == 200
    assert stored(receiver) == 3
    # smaller on the wire than the JSON envelope it stands for
    assert len(wire_compress.encode(b1.envelope())) < len(b1.envelope()) / 3


@pytest.mark.parametrize("case", ["corrupt_frame", "truncated_frame", "bad_container", "bomb", "gzip"])
def test_hostile_bodies_are_a_clear_400_and_nothing_is_stored(receiver: Any, gw: FakeGateway, case: str) -> None:
    good = wire_compress.encode(gw.make().envelope())
    headers = dict(COMPACT)
    if case == "corrupt_frame":
        body = good[:8] + bytes(b ^ 0x5A for b in good[8:])
    elif case == "truncated_frame":
        body = good[: len(good) // 2]
    elif case == "bad_container":
        body = wire_compress.compress(wire_compress.MAGIC + b"\x00\x00\x10\x00abc")
    elif case == "bomb":  # 100 MB of zeros in a few kB: refused at the envelope limit, never inflated
        body = wire_compress.compress(b"\x00" * (100 * 1024 * 1024))
        assert len(body) < 10_000
    else:
        body, headers = good, {**COMPACT, "Content-Encoding": "gzip"}
    status, out = post(receiver.url, body, headers)
    assert status == 400, out
    assert out["code"] == ("too_large" if case == "bomb" else "bad_encoding"), out
    assert out["message"]
    assert stored(receiver) == 0


def test_a_bomb_is_refused_within_the_limit_of_memory() -> None:
    import tracemalloc

    bomb = wire_compress.compress(b"\x00" * (64 * 1024 * 1024))
    tracemalloc.start()
    with pytest.raises(wire_compress.EncodingError) as err:
        wire_compress.decompress(bomb, limit=1024 * 1024)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert err.value.code == "too_large" and peak < 4 * 1024 * 1024, peak


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([None, "zstd", "identity", "br"]),
       st.sampled_from([None, wire_compress.COMPACT_TYPE, "application/json"]))
def test_decode_raises_only_encoding_error(data: bytes, enc: str | None, ctype: str | None) -> None:
    for body in (data, wire_compress.compress(data), wire_compress.compress(wire_compress.MAGIC + data)):
        try:
            out = wire_compress.decode(body, enc, ctype, limit=4096)
        except wire_compress.EncodingError as exc:
            assert exc.code in ("bad_encoding", "too_large")
        else:
            assert isinstance(out, bytes)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=2000), st.binary(min_size=64, max_size=64), st.text(min_size=1, max_size=40),
       st.none() | st.binary(min_size=64, max_size=64))
def test_compact_round_trips_the_exact_bytes(body: bytes, sig: bytes, kid: str, head_sig: bytes | None) -> None:
    batch = wire.SignedBatch(body=body, sig=sig, kid=kid, head_sig=head_sig)
    back = wire_compress.from_compact(wire_compress.to_compact(batch))
    assert (back.body, back.sig, back.kid, back.head_sig) == (body, sig, kid, head_sig)


class _Stub:
    """A loopback HTTP server playing an older receiver (no capabilities route) or one that refuses a compressed
    batch after listing it, answering JSON batches with a real ack shape."""

    def __init__(self, caps: dict[str, Any] | None, refuse_compressed: bool) -> None:
        import http.server
        import threading

        stub = self
        self.requests: list[tuple[str, str, str | None]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_a: Any) -> None:
                return None

            def _answer(self, code: int, obj: dict[str, Any]) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                stub.requests.append(("GET", self.path, None))
                if caps is None:
                    self._answer(404, {"detail": "Not Found"})
                else:
                    self._answer(200, caps)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                enc = self.headers.get("Content-Encoding")
                stub.requests.append(("POST", self.path, enc))
                if enc and refuse_compressed:
                    self._answer(400, {"status": "rejected", "code": "bad_encoding", "message": "no"})
                    return
                b = wire.parse_envelope(body)
                self._answer(200, {"status": "accepted", "seq": wire.decode_body(b.body)["seq"], "hash": b.hash})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("caps, refuse", [(None, False), (wire_compress.capabilities(), True)])
def test_an_older_or_refusing_receiver_gets_json(gw: FakeGateway, caps: dict[str, Any] | None, refuse: bool) -> None:
    from gateway.uplink.http import HttpTransport

    stub = _Stub(caps, refuse)
    try:
        t = HttpTransport(stub.url, 5.0, compression="auto")
        for _ in range(2):
            b = gw.next()
            ack = asyncio.run(t.send(gw.seq, b.hash, b.envelope()))
            assert ack.status == "accepted" and ack.seq == gw.seq
        assert t.compact is False
        posts = [enc for m, _, enc in stub.requests if m == "POST"]
        # older receiver: asked once, JSON throughout; refusing one: one compressed try, then JSON
        assert posts == ([None, None] if caps is None else ["zstd", None, None])
        assert sum(1 for m, _, _ in stub.requests if m == "GET") == 1
    finally:
        stub.close()
