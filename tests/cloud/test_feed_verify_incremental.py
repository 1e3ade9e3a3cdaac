"""`feed verify --state FILE`: a bank's daily run checks only what is new, and still proves it joins on.

The gateway side is the real Store + Batcher + identity (the `site` fixture in conftest); the
receiver is real on loopback; the receiver's lies are made in its database or in transit
through the HTTP proxy of test_feed_verify_categories.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cloud_helpers import CATS, T0, uplink
from test_feed_verify_categories import REPO, _Proxy

from cloud_stub import feed_verify_state
from cloud_stub.feed_verify import verify_feed
from gateway import wire
from gateway.identity import load_identity
from gateway.uplink.batcher import Batcher


def deliver(site: dict[str, Any], windows: range) -> int:
    """The gateway measures more windows (all three categories), packs them and the receiver
    accepts them; returns how many records were added."""
    store, receiver = site["store"], site["receiver"]
    rows = [{"name": name, "category": cat, "subject": "press-1", "window_start": T0 + 900 * i, "window_len": 900,
             "value": 200.0 + i, "unit": "u", "quality": [], "version": 1, "detail": {}}
            for i in windows for cat, name in CATS.items()]
    store.add_indicators(rows)
    site["seqs"] = site["seqs"] + Batcher(store, load_identity(store.path.parent), max_records=4).pack_all()
    uplink(store, load_identity(store.path.parent), receiver.url)
    return len(rows)


def run(site: dict[str, Any], since: dict[str, Any] | None, bank: str = "all", url: str | None = None,
        **kw: Any) -> dict[str, Any]:
    return verify_feed(url or site["receiver"].url, "ent-1", site["tokens"][bank], site["pin"], page_limit=5,
                       since=since, **kw)


def run_through(site: dict[str, Any], since: dict[str, Any], rewrite: Any) -> dict[str, Any]:
    """``run`` with the receiver's answers passing through the test proxy and ``rewrite``."""
    proxy = _Proxy(site["receiver"].url, rewrite)
    try:
        return run(site, since, url=proxy.url)
    finally:
        proxy.close()


@pytest.mark.parametrize(("bank", "shown_first", "withheld_first"), [("all", 18, 0), ("energy", 6, 4)])
def test_each_run_pulls_only_what_is_new_and_the_chain_goes_on(site, bank, shown_first, withheld_first):
    first = run(site, {}, bank)
    assert first["failures"] == [] and (first["records"], first["withheld"]) == (shown_first, withheld_first)
    assert first["total_records"] == shown_first
    tip = first["state"]["chains"]["gw-real"]
    assert tip == [max(site["seqs"]), tip[1]] and first["state"]["keys"]

    idle = run(site, first["state"], bank)
    assert idle["failures"] == [] and (idle["records"], idle["batches"], idle["withheld"]) == (0, 0, 0)
    assert idle["total_records"] == shown_first and idle["state"]["chains"] == first["state"]["chains"]

    added = deliver(site, range(6, 10))  # 12 records, 3 categories -> 6 batches of up to 4
    second = run(site, idle["state"], bank)
    assert second["failures"] == [] and second["failed"] == 0
    shown_now = added if bank == "all" else added // 3
    assert second["records"] == second["indicators"] == shown_now
    assert second["total_records"] == shown_first + shown_now
    assert second["state"]["chains"]["gw-real"][0] == max(site["seqs"]) > tip[0]
    assert second["pages"] < first["pages"] + 3  # not the whole feed again


def test_a_batch_removed_after_the_last_run_breaks_the_chain_there(site):
    first = run(site, {})
    deliver(site, range(6, 10))
    gone = max(site["seqs"]) - 1  # one of the new batches, not the last
    with site["receiver"].rdb.write() as conn:
        h = conn.execute("SELECT hash FROM batches WHERE seq = ?", (gone,)).fetchone()[0]
        conn.execute("DELETE FROM records WHERE batch_hash = ?", (h,))
        conn.execute("DELETE FROM batches WHERE hash = ?", (h,))
    s = run(site, first["state"])
    assert any(f"seq {gone}..{gone} missing, not declared dropped" in f for f in s["failures"]), s["failures"]


def test_a_resume_point_that_goes_back_re_serves_nothing_unnoticed(site):
    """The records page's resume cursor is not signed; a receiver that sends the bank back to
    the beginning gets every old record flagged, and every old batch as a repeated seq."""
    first = run(site, {})
    state = json.loads(json.dumps(first["state"]))
    state["cursors"]["records"] = None
    s = run(site, state)
    assert s["failed"] >= 18
    assert any("record id is not after" in f for f in s["failures"]), s["failures"]
    assert any("seq 1 again, after an earlier run verified up to" in f for f in s["failures"]), s["failures"]


def test_a_gateway_key_swapped_after_the_last_run_is_caught(site):
    first = run(site, {})
    deliver(site, range(6, 8))
    forged = wire.b64(bytes(__import__("nacl.signing", fromlist=["SigningKey"]).SigningKey.generate().verify_key))

    def swap_key(path: str, page: Any) -> Any:
        if path.startswith("/v1/gateways/"):
            for k in page["keys"]:
                k["public_key"] = forged
        return page

    s = run_through(site, first["state"], swap_key)
    assert s["failed"] >= 1 and any("receiver serves a different key" in f for f in s["failures"]), s["failures"]
    assert run(site, {}, url=site["receiver"].url)["failures"] == []  # the real receiver is fine


def test_indicators_of_a_batch_that_arrives_mid_run_are_caught_up_not_failed(site):
    """A batch accepted between the records pass and the indicators pass: its indicators are
    in the indicators feed but were not in the records the verifier had checked. The verifier
    catches the records feed up and checks them; nothing fails and nothing is skipped."""
    first = run(site, {})
    arrived: list[int] = []

    def ingest_after_records_pass(path: str, page: Any) -> Any:
        if "/scores" in path and not arrived:  # the verifier reads scores right after the records
            arrived.append(deliver(site, range(6, 8)))
        return page

    s = run_through(site, first["state"], ingest_after_records_pass)
    assert arrived == [6]
    assert s["failures"] == [] and s["records"] == 6 and s["indicators"] == 6, s["failures"]
    assert s["state"]["pending_indicators"] == {}


def test_indicators_still_pending_at_the_end_of_a_run_are_checked_by_the_next(site):
    """A second batch lands after the indicators feed was read but before the catch-up: its
    records are verified in the catch-up, its indicators were not listed yet. They are
    pending, not failed, and the next run checks them (and does not skip them as old)."""
    first = run(site, {})
    arrived: list[str] = []

    def ingest_twice(path: str, page: Any) -> Any:
        if "/scores" in path and not arrived:  # after the records pass: caught up later
            deliver(site, range(6, 7))
            arrived.append("a")
        elif "/findings" in path and arrived == ["a"]:  # after the indicators pass: pending
            deliver(site, range(7, 8))
            arrived.append("b")
        return page

    s = run_through(site, first["state"], ingest_twice)
    assert arrived == ["a", "b"] and s["failures"] == [], s["failures"]
    assert s["records"] == 6 and s["indicators_pending"] == 3 and len(s["state"]["pending_indicators"]) == 3
    nxt = run(site, s["state"])
    assert nxt["failures"] == [] and nxt["records"] == 0 and nxt["indicators"] == 3, nxt["failures"]
    assert nxt["state"]["pending_indicators"] == {}
    assert run(site, nxt["state"])["indicators"] == 0


def test_cli_keeps_the_state_only_after_a_clean_run(site, tmp_path: Path):
    state_file = tmp_path / "bank" / "verify-state.json"
    url, token = site["receiver"].url, site["tokens"]["all"]

    def cli(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cloud_stub", "feed", "verify", "--url", url, "--token", token,
                               "--enterprise", "ent-1", "--state", str(state_file), "--json", *extra],
                              cwd=REPO, capture_output=True, text=True, timeout=60)

    first = cli()
    assert first.returncode == 0, first.stdout + first.stderr
    saved = json.loads(state_file.read_text())
    assert saved["receiver_key"] == site["pin"] and saved["enterprises"]["ent-1"]["totals"]["records"] == 18
    assert "state" not in json.loads(first.stdout)

    idle = cli()
    assert idle.returncode == 0 and json.loads(idle.stdout)["records"] == 0  # nothing new is not a failure
    saved = json.loads(state_file.read_text())  # the access log did move on: it holds the first run's reads

    deliver(site, range(6, 8))
    with site["receiver"].rdb.write() as conn:
        rid = conn.execute("SELECT max(id) FROM records").fetchone()[0]
        conn.execute("UPDATE records SET record = replace(record, '207.0', '1207.0') WHERE id = ?", (rid,))
    bad = cli()
    assert bad.returncode == 1 and f"record {rid} " in bad.stdout
    assert json.loads(state_file.read_text()) == saved  # not moved past the failure
    assert cli().returncode == 1  # and so reported again

    state_file.write_text('{"v": 1, "url": "' + url + '", "receiver_key": null, "enterprises": {"ent-1": 3}}')
    broken = cli()
    assert broken.returncode == 2 and f"{state_file}: key 'enterprises.ent-1': expected an object" in broken.stderr


def test_state_file_for_another_receiver_is_refused(tmp_path: Path):
    path = tmp_path / "s.json"
    feed_verify_state.save(path, feed_verify_state.empty("http://a.example"))
    with pytest.raises(feed_verify_state.StateError, match="key 'url': this state is for 'http://a.example'"):
        feed_verify_state.load(path, "http://b.example")
    assert feed_verify_state.load(path, "http://a.example")["enterprises"] == {}


def test_every_enterprise_of_a_bank_runs_incrementally_from_its_own_state(site):
    from cloud_stub.feed_verify import verify_all

    url, token = site["receiver"].url, site["tokens"]["all"]
    first = verify_all(url, token, site["pin"], states={})
    assert first["failed"] == 0 and [s["total_records"] for s in first["enterprises"]] == [18]
    states = {s["enterprise_id"]: s["state"] for s in first["enterprises"]}
    deliver(site, range(6, 7))
    again = verify_all(url, token, site["pin"], states=states)
    assert again["failed"] == 0 and again["records"] == 3
    assert [s["total_records"] for s in again["enterprises"]] == [21]
