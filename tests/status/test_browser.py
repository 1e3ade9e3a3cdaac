"""The status page in a real browser: headless Chromium loads it from a running gateway,
runs its JavaScript, and we check what a person would see (the DOM after JS) and that a
screenshot renders."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess

from status_helpers import assert_no_secret, gateway_secrets

from tests.support.services import require_for_module

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
require_for_module(shutil.which(CHROMIUM) is not None, "chromium", "chromium")


def chromium(tmp_path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=8000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_page_renders_what_staff_need(live, tmp_path):
    res = chromium(tmp_path, "--dump-dom", live["url"] + "/")
    dom = res.stdout
    assert 'data-loaded="1"' in dom, res.stderr[-2000:]
    text = re.sub(r"<[^>]+>", " ", dom)
    # Every device with its values and quality.
    for dev in ("press-1-meter", "press-2-meter", "compressor-meter"):
        assert f'data-device="{dev}"' in dom
    assert 'data-point="voltage_l1"' in dom and "good" in text and "healthy" in text
    # Charts (inline SVG) for readings and indicators.
    assert dom.count("<svg") >= 27 and 'class="line"' in dom and 'class="bar"' in dom
    # Buffer, retention at the current rate, uplink, last ack, backlog.
    for label in ("Buffer", "Retention at current rate", "Last acknowledged batch", "Backlog", "Uplink"):
        assert f'data-tile="{label}"' in dom
    assert re.search(r"#\d+", text)
    # Consent and the decoded audit of what left.
    assert "Categories that have left the site" in text
    # The page lists the 20 newest batches; on a slow machine #1 has scrolled off by now.
    assert re.search(r"Batch #\d+ ", text) and "acknowledged" in text and "<details" in dom
    newest = re.search(r"<details[^>]*>(.*?)</details>", dom, re.S)
    assert newest and " open" in newest.group(0)[:60], "the newest batch is shown open"
    # Each batch holds one category (a bank may be granted only some): the newest batch, open,
    # lists its own decoded records; the older ones (energy among them) are listed, decoded on opening.
    category = re.search(r"records · ([a-z_]+) ·", newest.group(1))
    assert category and f"{category.group(1)}." in newest.group(1), "its decoded records are listed"
    listed = {c for b in re.findall(r"<details[^>]*>(.*?)</details>", dom, re.S)
              for c in re.findall(r"records · ([a-z_]+) ·", b)[:1]}
    assert {"energy", "machine", "env"} <= listed, listed
    assert "Cannot reach the gateway" not in text or 'hidden=""' in dom
    assert_no_secret(dom.encode(), gateway_secrets(live["state"], live["token"]), "rendered DOM")


def test_screenshot(live, tmp_path):
    shot = tmp_path / "status.png"
    res = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", live["url"] + "/")
    assert shot.exists(), res.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 2000)
    assert len(data) > 50_000  # a blank page compresses to a few kB; a rendered one does not
    keep = shutil.copy(shot, "/tmp/edgeproof-status-screenshot.png")
    print(f"screenshot: {keep}")
