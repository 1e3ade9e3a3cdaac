"""`feed verify` end to end with category grants: the real gateway batcher, withheld batches, tampering.

The gateway side is the real Store + Batcher + identity (enrolled over HTTP); the receiver is real on
loopback; tampering is done in the receiver's database or in transit through a small HTTP proxy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cloud_helpers import CATS, T0, FakeGateway, pin_of, uplink
from test_bank_api import insert_analysis, signed_finding

from cloud_stub.banks import add_bank
from cloud_stub.enrollment import issue_token
from cloud_stub.feed_verify import verify_all, verify_feed
from gateway import wire
from gateway.identity import enroll, init_identity, load_identity
from gateway.store import Store
from gateway.uplink.batcher import Batcher

REPO = Path(__file__).resolve().parents[2]


def test_real_batcher_packs_one_category_per_batch(site):
    with site["receiver"].rdb.read() as conn:
        per_batch = conn.execute("SELECT seq, count(DISTINCT category) FROM records GROUP BY seq").fetchall()
    assert len(site["seqs"]) == len(per_batch) >= 6  # 6 per category, max 4 per batch: 2 batches each
    assert all(n == 1 for _, n in per_batch)
    assert site["store"].unbatched_indicators(10) == []


def test_partial_grants_verify_with_withheld_links(site):
    receiver, t, pin = site["receiver"], site["tokens"], site["pin"]
    full = verify_feed(receiver.url, "ent-1", t["all"], pin, page_limit=5)
    assert full["failures"] == [] and (full["records"], full["withheld"]) == (18, 0)
    part = verify_feed(receiver.url, "ent-1", t["energy"], pin, page_limit=5)
    assert part["failures"] == [] and part["failed"] == 0
    assert (part["records"], part["withheld"], part["indicators"]) == (6, 4, 6)
    assert part["categories"] == ["energy"] and part["gateways"] == ["gw-real"]
    em = verify_feed(receiver.url, "ent-1", t["em"], pin)
    assert em["failures"] == [] and (em["records"], em["withheld"]) == (12, 2)


def test_a_consent_change_goes_alone_and_every_bank_sees_it(receiver, tmp_path: Path):
    state = tmp_path / "gw"
    init_identity(state, "gw-consent", "t")
    enroll(state, receiver.url, issue_token(receiver.rdb, "ent-c")["token"])
    store = Store(state / "edgeproof.db", "NORMAL")
    try:
        # machine first: a change riding with the oldest pending category would be hidden from an energy bank
        store.add_indicators([{"name": CATS[cat], "category": cat, "subject": "press-1", "window_start": T0,
                               "window_len": 900, "value": 1.0, "unit": "u", "quality": [], "version": 1,
                               "detail": {}} for cat in ("machine", "env", "energy")])
        batcher = Batcher(store, load_identity(state))
        change = {"type": "consent", "name": "consent.change", "category": "consent", "subject": "gw-consent",
                  "event": "narrowed", "allowed": ["energy"], "denied": [], "stopped": ["machine"]}
        first = batcher.pack_once(extra_records=[change])
        batcher.pack_all()
        uplink(store, load_identity(state), receiver.url)
        assert [wire.decode_body(b)["records"] for s_, _h, b, _s, _k, _hs in store.outbox_after(0, 10)
                if s_ == first] == [[change]]  # alone: no indicator rides with it
    finally:
        store.close()
    token = add_bank(receiver.rdb, "bank-energy", "ent-c", "energy")["token"]
    out = verify_feed(receiver.url, "ent-c", token, pin_of(receiver))
    assert out["failures"] == [] and (out["records"], out["withheld"]) == (2, 2)  # consent + energy shown
    status, page = http_get(receiver.url + "/v1/feed/ent-c/records", token)
    assert status == 200 and [r["record"]["type"] for r in page["records"]] == ["consent", "indicator"]


def http_get(url: str, token: str) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


def test_old_mixed_batches_are_withheld_unless_every_category_is_granted(receiver):
    old = FakeGateway("gw-old", "ent-1")
    receiver.enroll(old)
    mixed = [{"type": "indicator", "name": n, "category": c, "subject": "s", "window": {"start": T0, "len": 900},
              "value": 1.0, "unit": "u", "q": [], "def": 1} for c, n in CATS.items() if c != "env"]
    for recs in (mixed, mixed[:1], mixed):
        receiver.post(old.next(records=recs).envelope())
    energy = add_bank(receiver.rdb, "b-e", "ent-1", "energy")["token"]
    both = add_bank(receiver.rdb, "b-em", "ent-1", "machine,energy")["token"]
    s1 = verify_feed(receiver.url, "ent-1", energy, pin_of(receiver))
    assert s1["failures"] == [] and (s1["records"], s1["withheld"]) == (1, 2)
    s2 = verify_feed(receiver.url, "ent-1", both, pin_of(receiver))
    assert s2["failures"] == [] and (s2["records"], s2["withheld"]) == (5, 0)


def _one(conn, sql: str, *args: Any) -> Any:
    return conn.execute(sql, args).fetchone()


def _swap_hash(receiver, seq: int, gateway: str = "gw-real") -> None:
    """The receiver rewrites the stored hash of batch ``seq`` (as if it had substituted that batch)."""
    with receiver.rdb.write() as conn:
        h = _one(conn, "SELECT hash FROM batches WHERE gateway_id = ? AND seq = ?", gateway, seq)[0]
        fake = "f" * 64
        conn.execute("UPDATE records SET batch_hash = ? WHERE batch_hash = ?", (fake, h))
        conn.execute("UPDATE batches SET hash = ? WHERE hash = ?", (fake, h))


def test_a_rewritten_withheld_link_breaks_the_chain_at_the_next_shown_batch(site):
    receiver, t = site["receiver"], site["tokens"]
    with receiver.rdb.read() as conn:
        cat = dict(conn.execute("SELECT DISTINCT seq, category FROM records WHERE gateway_id = 'gw-real'"))
    # a withheld (not energy) batch directly followed by an energy batch the energy bank can see
    seq = next(s for s in sorted(cat) if cat[s] != "energy" and cat.get(s + 1) == "energy")
    _swap_hash(receiver, seq)
    s = verify_feed(receiver.url, "ent-1", t["energy"], site["pin"])
    assert s["failed"] == 2, s["failures"]
    # The stub no longer matches the head the gateway signed, and the next shown batch's signed
    # prev names the real hash.
    assert f"(gateway gw-real seq {seq}): the stub is not what the gateway signed" in s["failures"][0]
    assert f"gateway gw-real seq {seq + 1} " in s["failures"][1] and "does not chain" in s["failures"][1]


def test_links_inside_a_run_of_withheld_batches_are_proven_by_their_head_signatures(site):
    receiver, t = site["receiver"], site["tokens"]
    with receiver.rdb.read() as conn:
        cat = dict(conn.execute("SELECT DISTINCT seq, category FROM records WHERE gateway_id = 'gw-real'"))
    seq = next(s for s in sorted(cat) if cat[s] != "energy" and cat.get(s + 1) not in ("energy", None))
    assert verify_feed(receiver.url, "ent-1", t["energy"], site["pin"])["withheld_signed"] > 0
    _swap_hash(receiver, seq)
    s = verify_feed(receiver.url, "ent-1", t["energy"], site["pin"])
    assert any(f"(gateway gw-real seq {seq}): the stub is not what the gateway signed" in f for f in s["failures"])
    # seq + 1 is withheld too: its signed head's prev names the real hash of seq.
    assert any(f"gateway gw-real seq {seq + 1} (withheld batch" in f and "does not chain" in f
               for f in s["failures"]), s["failures"]


def test_a_relabelled_withheld_batch_is_caught_by_its_head_signature(site):
    """A receiver hiding an energy batch from the energy bank by calling it machine data."""
    receiver, t = site["receiver"], site["tokens"]
    with receiver.rdb.write() as conn:
        h = _one(conn, "SELECT batch_hash FROM records WHERE gateway_id = 'gw-real' AND category = 'energy' "
                       "ORDER BY id LIMIT 1")[0]
        conn.execute("UPDATE records SET category = 'machine' WHERE batch_hash = ?", (h,))
        body = json.loads(_one(conn, "SELECT body FROM batches WHERE hash = ?", h)[0])
        for r in body["records"]:
            r["category"] = "machine"
        # the stored body must say so too, or the head the receiver rebuilds still says energy;
        # the hash stays (the bank never sees this body, only its stub)
        conn.execute("UPDATE batches SET body = ? WHERE hash = ?", (wire.canonical_json(body), h))
    s = verify_feed(receiver.url, "ent-1", t["energy"], site["pin"])
    assert any(f"withheld batch {h[:16]}" in f and "not what the gateway signed" in f for f in s["failures"]), \
        s["failures"]


def test_links_inside_a_run_of_batches_from_an_older_gateway_are_not_provable(receiver):
    """Documented limit for batches sent without a head signature (gateways before issue 7's
    head signatures): only the last link of a withheld run is anchored by a shown batch."""
    old = FakeGateway("gw-old", "ent-1")
    receiver.enroll(old)
    for c in ("energy", "machine", "machine", "energy"):
        rec = {"type": "indicator", "name": CATS[c], "category": c, "subject": "s",
               "window": {"start": T0, "len": 900}, "value": 1.0, "unit": "u", "q": [], "def": 1}
        b = old.next(records=[rec])
        assert receiver.post(wire.SignedBatch(b.body, b.sig, b.kid).envelope())[1]["status"] == "accepted"
    energy = add_bank(receiver.rdb, "b-e-old", "ent-1", "energy")["token"]
    every = add_bank(receiver.rdb, "b-all-old", "ent-1")["token"]
    s0 = verify_feed(receiver.url, "ent-1", energy, pin_of(receiver))
    assert (s0["failures"], s0["withheld"], s0["withheld_signed"]) == ([], 2, 0)
    _swap_hash(receiver, 2, "gw-old")
    assert verify_feed(receiver.url, "ent-1", energy, pin_of(receiver))["failed"] == 0
    s = verify_feed(receiver.url, "ent-1", every, pin_of(receiver))  # a bank that sees them catches it
    assert any(f.startswith("batch ffffffffffffffff: bad_hash") for f in s["failures"]), s["failures"]


def test_tampered_score_report_and_replayed_flag_are_named(site):
    receiver, t = site["receiver"], site["tokens"]
    sid = insert_analysis(receiver.rdb, receiver.key, "ent-1", [signed_finding("r1", ["energy.kwh"])])
    assert verify_feed(receiver.url, "ent-1", t["all"], site["pin"])["failures"] == []
    with receiver.rdb.write() as conn:
        report = json.loads(_one(conn, "SELECT report FROM scores WHERE id = ?", sid)[0])
        report["score"] = 990.0
        conn.execute("UPDATE scores SET report = ?, score = 990.0 WHERE id = ?",
                     (wire.canonical_json(report).decode(), sid))
        rid = _one(conn, "SELECT min(id) FROM records WHERE category = 'energy'")[0]
        conn.execute("UPDATE records SET replayed = 1 WHERE id = ?", (rid,))
    for token in (t["all"], t["energy"]):
        s = verify_feed(receiver.url, "ent-1", token, site["pin"])
        assert any(f.startswith(f"score {sid}:") for f in s["failures"]), s["failures"]
        assert any(f.startswith(f"record {rid} ") and "replayed flag" in f for f in s["failures"]), s["failures"]
        assert s["failed"] >= 2


def test_a_corrupted_stored_body_names_its_records(site):
    receiver, t = site["receiver"], site["tokens"]
    with receiver.rdb.write() as conn:
        h, body = _one(conn, "SELECT b.hash, b.body FROM batches b JOIN records r ON r.batch_hash = b.hash"
                             " WHERE r.category = 'energy' ORDER BY b.seq LIMIT 1")
        ids = [r[0] for r in conn.execute("SELECT id FROM records WHERE batch_hash = ?", (h,))]
        conn.execute("UPDATE batches SET body = ? WHERE hash = ?", (body.replace(b"100.0", b"900.0", 1), h))
    s = verify_feed(receiver.url, "ent-1", t["energy"], site["pin"])
    for rid in ids:
        assert any(f.startswith(f"record {rid} ") and "its batch failed" in f for f in s["failures"])
    assert any(f.startswith(f"batch {h[:16]}") for f in s["failures"])


class _Proxy:
    """Forwards GETs to the receiver, letting a test rewrite the JSON of chosen answers in transit."""

    def __init__(self, upstream: str, rewrite: Callable[[str, Any], Any]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                req = urllib.request.Request(upstream + self.path, headers=dict(self.headers))
                try:
                    with urllib.request.urlopen(req, timeout=10) as resp:
                        status, data = resp.status, resp.read()
                except urllib.error.HTTPError as exc:
                    status, data = exc.code, exc.read()
                if status == 200:
                    data = json.dumps(rewrite(self.path, json.loads(data))).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _tamper_indicator(path: str, page: Any) -> Any:
    if "/indicators" in path and page["items"]:
        page["items"][0]["value"] = 12345.0
    return page


def _tamper_finding(path: str, page: Any) -> Any:
    if "/findings" in path:
        for key in ("items", "findings"):
            for f in page[key]:
                if "detail" in f:
                    f["detail"]["compared"] = {"claimed": 1.0}
    return page


def _drop_stub(path: str, page: Any) -> Any:
    if "/records" in path and page["withheld"]:
        page["withheld"] = page["withheld"][1:]
    return page


def _flip_replayed(path: str, page: Any) -> Any:
    if "/records" in path and page["records"]:
        page["records"][0]["replayed"] = True  # not signed by the page; checked against the body
    return page


def _swap_score(path: str, page: Any) -> Any:
    if "/scores" in path:
        for s in page["items"]:
            s["score"] = 999.0
    return page


@pytest.mark.parametrize(("rewrite", "expect"), [
    (_tamper_indicator, "indicators page 1 (cursor None): receiver signature"),
    (_tamper_finding, "findings page 1 (cursor None): receiver signature"),
    (_drop_stub, "records page 1 (cursor None): receiver signature"),
    (_flip_replayed, "replayed flag differs from the signed batch"),
    (_swap_score, "score differs from the signed report"),
])
def test_tampering_in_transit_is_caught(site, rewrite, expect):
    receiver, t = site["receiver"], site["tokens"]
    insert_analysis(receiver.rdb, receiver.key, "ent-1", [signed_finding("r1", ["energy.kwh"])])
    proxy = _Proxy(receiver.url, rewrite)
    try:
        s = verify_feed(proxy.url, "ent-1", t["energy"], site["pin"])
    finally:
        proxy.close()
    assert s["failed"] >= 1 and any(expect in f for f in s["failures"]), s["failures"]


def _resigned(receiver, edit: Callable[[str, Any], None]) -> Callable[[str, Any], Any]:
    """A dishonest receiver: it edits a page and signs the result with its own key, so every
    page signature holds and only the gateways' signatures can catch the edit."""
    from cloud_stub.feed_verify import _records_signed_shape

    def rewrite(path: str, page: Any) -> Any:
        if "page_signature" not in page or edit(path, page) is False:
            return page
        page.pop("page_signature")
        shape = _records_signed_shape(page) if "/records" in path else page
        page["page_signature"] = wire.sign_report(shape, receiver.key)
        return page
    return rewrite


def _indicator_value(path: str, page: Any) -> Any:
    if "/indicators" not in path or not page["items"]:
        return False
    page["items"][1]["value"] = 12345.0
    page["items"][1]["unit"] = "kg"


def _indicator_dropped(path: str, page: Any) -> Any:
    if "/indicators" not in path or not page["items"]:
        return False
    page["items"].pop(0)


def _indicator_invented(path: str, page: Any) -> Any:
    if "/indicators" not in path or not page["items"]:
        return False
    page["items"].append(dict(page["items"][0], id=999_999))


def _batch_left_off_page(path: str, page: Any) -> Any:
    if "/records" not in path or not page["batches"]:
        return False
    page["batches"].pop(page["records"][0]["batch_hash"])


def _record_served_twice(path: str, page: Any) -> Any:
    if "/records" not in path or "cursor=" not in path:
        return False  # the second page repeats the first page's first record, its batch with it
    first = json.loads(json.dumps(_FIRST_PAGE["records"][0]))
    page["records"].insert(0, first)
    page["batches"].setdefault(first["batch_hash"], _FIRST_PAGE["batches"][first["batch_hash"]])


_FIRST_PAGE: dict[str, Any] = {}


@pytest.mark.parametrize(("edit", "expect"), [
    (_indicator_value, "value, unit differ from the signed record"),
    (_indicator_dropped, "indicators feed leaves out 4 verified indicator record(s), e.g. [1, 6, 11, 16]"),
    (_indicator_invented, "indicator 999999: no verified record in the records feed"),
    (_batch_left_off_page, "its batch is not on the page"),
    (_record_served_twice, "record id delivered twice"),
])
def test_a_receiver_that_re_signs_its_edits_is_caught_by_the_gateway_signatures(site, edit, expect):
    receiver, t = site["receiver"], site["tokens"]
    _FIRST_PAGE.clear()
    _FIRST_PAGE.update(http_get(receiver.url + "/v1/feed/ent-1/records?limit=5", t["all"])[1])
    proxy = _Proxy(receiver.url, _resigned(receiver, edit))
    try:
        s = verify_feed(proxy.url, "ent-1", t["all"], site["pin"], page_limit=5)
    finally:
        proxy.close()
    assert not any("receiver signature" in f for f in s["failures"]), s["failures"]
    assert s["failed"] >= 1 and any(expect in f for f in s["failures"]), s["failures"]


def test_cli_verifies_every_enterprise_of_the_bank_and_names_failures(site, receiver):
    c = FakeGateway("gw-c", "ent-2")
    receiver.enroll(c)
    receiver.post(c.next().envelope())
    token = add_bank(receiver.rdb, "bank-energy", "ent-2", "energy")["token"]  # rotates bank-energy's token
    out = verify_all(receiver.url, token, site["pin"])
    assert out["failures"] == [] and [s["enterprise_id"] for s in out["enterprises"]] == ["ent-1", "ent-2"]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cloud_stub", "feed", "verify", "--url", receiver.url,
                               "--token", token, "--pin-receiver-key", site["pin"], *args],
                              cwd=REPO, capture_output=True, text=True, timeout=60)

    ok = cli()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "enterprise ent-1:" in ok.stdout and "enterprise ent-2:" in ok.stdout and "withheld" in ok.stdout
    with receiver.rdb.write() as conn:
        rid = _one(conn, "SELECT id FROM records WHERE enterprise_id = 'ent-2'")[0]
        conn.execute("UPDATE records SET record = replace(record, '1.5', '2.5') WHERE id = ?", (rid,))
    bad = cli("--json")
    assert bad.returncode == 1
    summary = json.loads(bad.stdout)
    assert any(f.startswith(f"ent-2: record {rid} ") and "differs from the signed batch" in f
               for f in summary["failures"]), summary["failures"]
    one = cli("--enterprise", "ent-1", "--json")
    assert one.returncode == 0 and json.loads(one.stdout)["enterprise_id"] == "ent-1"
    token = add_bank(receiver.rdb, "bank-vision", "ent-1", "vision")["token"]  # nothing of ent-1 is shown
    none = cli("--enterprise", "ent-1")
    assert none.returncode == 1 and "no record is shown to this bank" in none.stdout, none.stdout


def test_a_real_analysis_is_served_and_verifies_for_every_grant(site):
    """cloud_stub.analysis stores findings, a signed score and alerts; every bank can verify what it is served."""
    analysis = pytest.importorskip("cloud_stub.analysis")
    receiver, t = site["receiver"], site["tokens"]
    a = FakeGateway("gw-gap", "ent-1")
    receiver.enroll(a)
    receiver.post(a.next(records=[]).envelope())
    a.seq += 3
    receiver.post(a.next(records=[], dropped=[2, 4]).envelope())  # a declared gap: an integrity finding
    report = analysis.analyse(receiver.rdb, "ent-1", as_of=T0 + 86400, days=7, signing_key=receiver.key)
    for bank in ("all", "energy", "em"):
        s = verify_feed(receiver.url, "ent-1", t[bank], site["pin"])
        assert s["failures"] == [] and s["scores"] == 1 and s["findings"] >= 1, (bank, s)
    with receiver.rdb.read() as conn:
        sid = _one(conn, "SELECT max(id) FROM scores")[0]
    latest = json.loads(urllib.request.urlopen(urllib.request.Request(
        f"{receiver.url}/v1/feed/ent-1/scores/latest", headers={"Authorization": f"Bearer {t['all']}"})).read())
    assert latest["item"]["id"] == sid and latest["item"]["report"] == json.loads(wire.canonical_json(report))
