"""Zero-touch first boot: `edgeproof provision --boot-dir DIR` against a real receiver process.

A boot-partition folder in tmp holds edgeproof-provision.toml; the receiver is down at first
(enroll fails, the state says so, the command backs off), comes up on the same port, and the
next attempt enrolls; the token is then gone from the file, the state file, the output and
the log. Wrong files fail at once naming the file and the key.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.i18n import render_data
from gateway.identity import load_identity
from gateway.provision.config import ProvisionFileError, load_provisioning
from gateway.provision.state import read_provision_state
from gateway.provision.steps import with_site_id
from gateway.provision.tokenfile import without_token
from tests.support.processes import ReceiverProc, free_port

EDGEPROOF = str(Path(sys.executable).parent / "edgeproof")


def provision(boot: Path, state: Path, conf: Path, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([EDGEPROOF, "provision", "--boot-dir", str(boot), "--state", str(state),
                           "--config-dir", str(conf), *extra],
                          capture_output=True, text=True, timeout=timeout)


def write_file(boot: Path, body: str) -> Path:
    boot.mkdir(parents=True, exist_ok=True)
    p = boot / "edgeproof-provision.toml"
    p.write_text(body)
    return p


def wait_until(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_first_boot_fails_then_succeeds_and_wipes_the_token(tmp_path):
    port = free_port()
    rx = ReceiverProc(tmp_path / "rx", port)
    rx.workdir.mkdir()
    token = rx.token()  # issued into the receiver's database before it serves
    boot, state, conf = tmp_path / "boot", tmp_path / "state", tmp_path / "etc"
    f = write_file(boot, f'# from the bank\nprofile = "sim-factory"\nreceiver = "{rx.url}"\n'
                         f'token = "{token}"\nsite_id = "bakery-01"\nlocale = "zh-CN"\n')
    log = tmp_path / "provision.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([EDGEPROOF, "provision", "--boot-dir", str(boot), "--state", str(state),
                                 "--config-dir", str(conf), "--backoff", "0.2", "--backoff-max", "0.5"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        # Nothing listens yet: init passes, enroll fails and is retried; the state says which and why.
        wait_until(lambda: (read_provision_state(state) or {}).get("status") == "retrying", 60, "a failed attempt")
        doc = read_provision_state(state)
        steps = {s["name"]: s for s in doc["steps"]}
        assert steps["profile"]["status"] == "ok" and steps["init"]["status"] == "ok", steps
        assert steps["enroll"]["status"] == "failed" and "cannot reach receiver" in steps["enroll"]["message"]
        assert steps["probe"]["status"] == "pending" and steps["enroll"]["at"] is not None
        # an installer reads the failure in the page's or the CLI's language (summary_line renders message_text)
        assert "cannot reach receiver" not in render_data(steps["enroll"]["message_text"], "zh-CN")
        assert render_data(steps["enroll"]["message_text"], "en") == steps["enroll"]["message"]
        assert token in f.read_text()  # not used yet: kept for the next attempt
        gateway_id = load_identity(state).gateway_id
        assert gateway_id.startswith("bakery-01-")

        rx.start()
        assert proc.wait(120) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        rx.stop()
    doc = read_provision_state(state)
    assert doc["status"] == "done" and doc["attempt"] >= 2, doc
    assert [s["status"] for s in doc["steps"]] == ["ok"] * 6, doc["steps"]
    for s in doc["steps"]:  # each step's outcome as data too: the same English, and Chinese for zh-CN
        assert render_data(s["message_text"], "en") == s["message"], s
        assert render_data(s["message_text"], "zh-CN") != s["message"], s
    assert load_identity(state).gateway_id == gateway_id  # the key was made once
    assert load_identity(state).enterprise_id == "ent-test"
    # The token is gone from the file, which still parses with every other key and the comment.
    text = f.read_text()
    assert token not in text and "# from the bank" in text and "token used and removed" in text
    assert tomllib.loads(text) == {"profile": "sim-factory", "receiver": rx.url, "site_id": "bakery-01",
                                   "locale": "zh-CN"}
    for path in (state / "provision.json", log):
        assert token not in path.read_text(), path
    assert (state / "provision.json").stat().st_mode & 0o777 == 0o600
    installed = tomllib.loads((conf / "profile.toml").read_text())
    assert installed["site"]["id"] == "bakery-01"
    assert "LANG=zh_CN.UTF-8" in (conf / "environment").read_text().splitlines()

    # A second boot: nothing to do, nothing changed.
    before = (state / "provision.json").read_bytes()
    res = provision(boot, state, conf)
    assert res.returncode == 0 and "already provisioned" in res.stdout, res.stderr
    assert (state / "provision.json").read_bytes() == before

    # `edgeproof status` shows the provisioning result even with no gateway running.
    res = subprocess.run([EDGEPROOF, "status", "--state", str(state)], capture_output=True, text=True, timeout=60)
    assert "provisioning" in res.stdout + res.stderr and "done (6 of 6 steps ok" in res.stdout + res.stderr


def test_gives_up_after_max_attempts_with_a_clear_state(tmp_path):
    boot, state, conf = tmp_path / "boot", tmp_path / "state", tmp_path / "etc"
    write_file(boot, f'profile = "sim-factory"\nreceiver = "http://127.0.0.1:{free_port()}"\n'
                     'token = "enr_secret_never_logged"\nsite_id = "s1"\n')
    res = provision(boot, state, conf, "--max-attempts", "2", "--backoff", "0.05")
    assert res.returncode == 1
    doc = read_provision_state(state)
    assert doc["status"] == "failed" and doc["attempt"] == 2
    assert "enroll failed" in res.stdout + res.stderr
    assert "enr_secret_never_logged" not in res.stdout + res.stderr + (state / "provision.json").read_text()


@pytest.mark.parametrize("body, key, expect", [
    ('profile = "sim-factory"\nreceiver = "http://127.0.0.1:1"\nsite_id = \n', "(file)", "not valid TOML"),
    ('profile = "sim-factory"\nsite_id = "s1"\n', "receiver", "missing"),
    ('profile = "no-such-board"\nreceiver = "http://127.0.0.1:1"\nsite_id = "s1"\n', "profile",
     "unknown profile 'no-such-board'"),
    ('profile = "mine.toml"\nreceiver = "http://127.0.0.1:1"\nsite_id = "s1"\n', "profile", "not found"),
    ('profile = "sim-factory"\nreceiver = "ftp://x"\nsite_id = "s1"\n', "receiver", "http"),
    ('profile = "sim-factory"\nreceiver = "http://127.0.0.1:1"\nsite_id = "a b"\n', "site_id", "letters"),
    ('profile = "sim-factory"\nreceiver = "http://127.0.0.1:1"\nsite_id = "s1"\nlocale = "fr"\n', "locale", "zh-CN"),
    ('profile = "sim-factory"\nreceiver = "http://127.0.0.1:1"\nsite_id = "s1"\ntokn = "x"\n', "tokn", "unknown key"),
])
def test_wrong_file_names_file_and_key(tmp_path, body, key, expect):
    boot, state, conf = tmp_path / "boot", tmp_path / "state", tmp_path / "etc"
    f = write_file(boot, body)
    res = provision(boot, state, conf, "--max-attempts", "1")
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"{f}: {key}:" in res.stderr and expect in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    doc = read_provision_state(state)
    assert doc["status"] == "failed" and f"{key}:" in doc["error"]
    assert not (state / "gateway.key").exists()


def test_missing_file_and_a_profile_that_does_not_validate(tmp_path):
    boot, state, conf = tmp_path / "boot", tmp_path / "state", tmp_path / "etc"
    boot.mkdir()
    res = provision(boot, state, conf)
    assert res.returncode == 1 and "edgeproof-provision.toml: (file): not found" in res.stderr
    (boot / "mine.toml").write_text('schema_version = 1\n[site]\nid = "x"\n[uplink]\ntransport = "carrier-pigeon"\n')
    write_file(boot, 'profile = "mine.toml"\nreceiver = "http://127.0.0.1:1"\nsite_id = "s1"\n')
    res = provision(boot, state, conf)
    assert res.returncode == 2 and "profile: " in res.stderr and "uplink.transport" in res.stderr, res.stderr
    assert not (conf / "profile.toml").exists()


_value = st.one_of(st.text(max_size=30), st.integers(), st.booleans(), st.none())


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["profile", "receiver", "token", "site_id", "locale", "other"]), _value))
def test_any_file_parses_or_names_a_key(tmp_path_factory, data):
    lines = []
    for k, v in data.items():
        if v is None:
            continue
        lines.append(f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}")
    p = tmp_path_factory.mktemp("p") / "edgeproof-provision.toml"
    p.write_text("\n".join(lines) + "\n")
    try:
        prov = load_provisioning(p)
    except ProvisionFileError as exc:
        assert str(exc).startswith(f"{p}: ") and exc.key
        tok = data.get("token")
        if isinstance(tok, str) and len(tok.strip()) > 3:
            assert tok.strip() not in str(exc)
    else:
        assert prov.site_id and prov.receiver.startswith("http") and "token" not in prov.public()
        assert "token=set" in repr(prov) if prov.token else "token=none" in repr(prov)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40),
       st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20))
def test_token_removal_keeps_every_other_key(token, comment):
    text = (f"# {comment}\nprofile = {json.dumps('x')}\ntoken = {json.dumps(token, ensure_ascii=False)}  # one-time\n"
            f"site_id = \"s\"\nreceiver = {json.dumps('http://r')}\n")
    out = without_token(text)
    assert tomllib.loads(out) == {"profile": "x", "site_id": "s", "receiver": "http://r"}
    # the token's value is gone from every line the file keeps (a token equal to another key's value, e.g.
    # the profile "x", is only absent from where the token stood)
    kept = [line for line in out.splitlines()[1:]  # not the operator's own comment line either
            if not line.startswith(("profile =", "site_id =", "receiver ="))]
    assert not any(json.dumps(token, ensure_ascii=False) in line for line in kept)
    assert "token =" not in out


def test_site_id_replaced_only_in_site_table():
    text = '[site]\nid = "sim-factory"  # c\nname = "n"\n[[devices]]\nid = "keep"\n'
    out = with_site_id(text, "bakery-01")
    assert 'id = "bakery-01"  # c' in out and 'id = "keep"' in out
