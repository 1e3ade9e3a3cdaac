"""Real `edgeproof` processes: init/enroll/run from the CLI, a second gateway on the same
store refused, SIGHUP reloads only a validating profile, `edgeproof status` from another
process, and no key or token in any output or log line."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from status_helpers import assert_no_secret, gateway_secrets, get_json, wait_for

from gateway.profile.load import PROFILE_DIR

EDGEPROOF = str(Path(sys.executable).parent / "edgeproof")


def sim_profile_text(receiver_url: str) -> str:
    """sim-factory with a fast window, an HTTP uplink to the test receiver and the page on a free port."""
    text = (PROFILE_DIR / "sim-factory.toml").read_text()
    subs = [(r'(?m)^transport = "http"$', f'transport = "http"\nurl = "{receiver_url}"'),
            (r"(?m)^bind = .*$", 'bind = "127.0.0.1:0"'),
            (r"(?m)^windows = .*$", 'windows = ["5s"]\ninterval_s = 1'),
            (r"(?m)^grace_s = .*$", "grace_s = 1")]
    for pat, rep in subs:
        text, n = re.subn(pat, rep, text, count=1)
        assert n == 1, f"sim-factory.toml changed: {pat} not found"
    return text


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EDGEPROOF, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


class Proc:
    def __init__(self, state: Path, profile: Path, log: Path) -> None:
        self.log = log
        self.fh = open(log, "wb")  # noqa: SIM115
        self.p = subprocess.Popen([EDGEPROOF, "run", "--state", str(state), "--profile", str(profile), "--simulate"],
                                  stdout=self.fh, stderr=subprocess.STDOUT,
                                  env={**os.environ, "EDGEPROOF_LOG_LEVEL": "DEBUG"})

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self.fh.close()


@pytest.fixture(scope="module")
def site(receiver, tmp_path_factory):
    """init and enroll through the CLI, then `edgeproof run` as a real process."""
    d = tmp_path_factory.mktemp("proc")
    state, profile = d / "state", d / "profile.toml"
    profile.write_text(sim_profile_text(receiver.url))
    token = receiver.token()
    outputs = [run_cli("init", "--state", str(state), "--profile", str(profile))]
    outputs.append(run_cli("enroll", "--state", str(state), "--receiver", receiver.url,
                           env={"EDGEPROOF_ENROLL_TOKEN": token}))
    for o in outputs:
        assert o.returncode == 0, o.stderr
    proc = Proc(state, profile, d / "run.log")
    try:
        doc = wait_for(lambda: _status(state), 60, what="the gateway's status snapshot")
        assert doc["running"]
        from gateway.profile import load_profile

        devices = {x.name for x in load_profile(profile).devices if x.enabled}
        yield {"state": state, "profile": profile, "proc": proc, "token": token, "outputs": outputs, "dir": d,
               "devices": devices}
    finally:
        proc.stop()


def _status(state: Path) -> dict | None:
    res = run_cli("status", "--state", str(state), "--json")
    return json.loads(res.stdout) if res.returncode == 0 else None


def test_status_command_reads_the_running_gateway(site):
    doc = wait_for(lambda: (d := _status(site["state"])) and d["uplink"]["acked_seq"] >= 1 and d, 60,
                   what="an acknowledged batch")
    assert doc["source"].startswith("live from http://127.0.0.1:") and doc["pid"] == site["proc"].p.pid
    assert {d["name"] for d in doc["devices"]} == site["devices"]
    text = run_cli("status", "--state", str(site["state"]))
    assert text.returncode == 0 and f"of {len(site['devices'])} healthy" in text.stdout
    assert "press-1-meter" in text.stdout


def test_second_gateway_on_the_same_store_refuses(site):
    res = run_cli("run", "--state", str(site["state"]), "--profile", str(site["profile"]), "--simulate",
                  timeout=60)
    assert res.returncode != 0
    assert f"in use by pid {site['proc'].p.pid}" in res.stderr and "only one gateway process" in res.stderr
    assert site["proc"].p.poll() is None, "the first gateway keeps running"


def test_sighup_with_a_broken_profile_keeps_the_running_one(site):
    proc, profile = site["proc"], site["profile"]
    good = profile.read_text()
    profile.write_text(good.replace("poll_interval_s = 1.0", "poll_interval_s = -1.0", 1))
    try:
        proc.p.send_signal(signal.SIGHUP)
        line = wait_for(lambda: next((json.loads(x) for x in proc.text().splitlines()
                                      if "profile reload refused" in x), None), 30, what="the refusal in the log")
        assert line["level"] == "error" and re.fullmatch(r"devices\[\d+\]\.poll_interval_s", line["key"])
        assert line["file"].endswith(".toml")  # long paths are redacted by the log filter (key-like runs)
        time.sleep(1)
        assert proc.p.poll() is None
        doc = _status(site["state"])
        assert doc and {d["name"] for d in doc["devices"]} == site["devices"] and doc["source"].startswith("live")
    finally:
        profile.write_text(good)


def test_sighup_with_a_valid_profile_reloads(site):
    proc, profile = site["proc"], site["profile"]
    before = _status(site["state"])
    text = profile.read_text()
    new = text.replace('name = "compressor-meter"\n', 'name = "compressor-meter"\nenabled = false\n', 1)
    assert new != text
    profile.write_text(new)
    proc.p.send_signal(signal.SIGHUP)
    wait_for(lambda: "profile reloaded" in proc.text(), 60, what="the reload in the log")
    expected = site["devices"] - {"compressor-meter"}
    doc = wait_for(lambda: (d := _status(site["state"])) and {x["name"] for x in d["devices"]} == expected and d,
                   30, what="the new profile's devices")
    assert doc["pid"] == before["pid"] and doc["boot"] == before["boot"] + 1
    assert proc.p.poll() is None


def test_sighup_with_a_profile_that_cannot_start_falls_back(site):
    """Valid on paper, fails at start (the store cannot be created): the previous profile runs again."""
    proc, profile = site["proc"], site["profile"]
    good = profile.read_text()
    before = _status(site["state"])
    profile.write_text(good.replace('path = "edgeproof.db"', 'path = "/proc/edgeproof-no/edgeproof.db"', 1))
    try:
        proc.p.send_signal(signal.SIGHUP)
        wait_for(lambda: "restarting the previous one" in proc.text(), 60, what="the fallback in the log")
        doc = wait_for(lambda: (d := _status(site["state"])) and d["boot"] > before["boot"] and d, 30,
                       what="the previous profile running again")
        assert {d["name"] for d in doc["devices"]} == {d["name"] for d in before["devices"]}
        assert proc.p.poll() is None
    finally:
        profile.write_text(good)


def test_logs_are_structured_and_hold_no_key_or_token(site):
    proc = site["proc"]
    lines = [x for x in proc.text().splitlines() if x.strip()]
    assert len(lines) > 5
    for x in lines:
        obj = json.loads(x)  # every line is one JSON object
        assert {"ts", "level", "logger", "msg"} <= set(obj)
    secrets = gateway_secrets(site["state"], site["token"])
    assert_no_secret(proc.text().encode(), secrets, "the gateway log")
    for o in site["outputs"]:
        assert_no_secret((o.stdout + o.stderr).encode(), secrets, "init/enroll output")


def test_status_after_stop(site):
    site["proc"].stop()
    res = run_cli("status", "--state", str(site["state"]))
    assert res.returncode == 3 and "gateway stopped" in res.stderr


def test_status_with_nothing_there(tmp_path):
    res = run_cli("status", "--state", str(tmp_path))
    assert res.returncode == 3 and "no running gateway found" in res.stderr


def test_set_password_writes_a_hash(tmp_path):
    res = run_cli("status", "set-password", "--file", str(tmp_path / "pw"),
                  env={"EDGEPROOF_STATUS_PASSWORD": "s3cret-staff"})
    assert res.returncode == 0, res.stderr
    content = (tmp_path / "pw").read_text()
    assert content.startswith("scrypt$") and "s3cret-staff" not in content
    from gateway.status.auth import verify_password

    assert verify_password("s3cret-staff", content) and not verify_password("nope", content)
    assert get_json is not None
