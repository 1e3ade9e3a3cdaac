"""The status page in headless Chromium, in English and Chinese, at a laptop's, a desktop's and a
phone's size: measured in the browser (DevTools protocol), not eyeballed.

* no badge, point name or device name breaks over two lines ("goo d"): the text's line boxes are counted;
* nothing widens the page sideways: the document's scrollWidth is its clientWidth, and no element
  outside a scrolling box reaches past the viewport;
* in Chinese the page says so (``<html lang="zh-CN">``), its headings and tiles are Chinese, the CJK
  font installed by scripts/sysdeps.sh (fonts-noto-cjk) is available to the page.

Screenshots of every size and language are kept: in ``$EDGEPROOF_SCREENSHOTS`` when set, else in
pytest's temporary directory (the path is printed; ``pytest -s`` shows it).
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest
from cdp import Browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="chromium not installed (make sysdeps)")

SIZES = {"laptop": (1366, 768), "desktop": (1920, 1080), "phone": (390, 844)}
LANGS = ("en", "zh-CN")

MEASURE = r"""
(() => {
  const lines = el => {
    const r = document.createRange(); r.selectNodeContents(el);
    const tops = new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top)));
    return tops.size;
  };
  const wrapped = [];
  for (const el of document.querySelectorAll(".badge, td.pname .name, .card-head h3, nav a")) {
    if (!el.getClientRects().length) continue;
    const n = lines(el);
    if (n > 1) wrapped.push(`${el.className || el.tagName}: "${el.textContent}" on ${n} lines`);
  }
  const vw = document.documentElement.clientWidth, beyond = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest(".scroll")) continue;  // a wide table scrolls inside its own box
    const r = el.getBoundingClientRect();
    if (r.width && r.right > vw + 1) beyond.push(`${el.tagName}.${el.className} right=${Math.round(r.right)}`);
  }
  return {wrapped, beyond: beyond.slice(0, 10), scrollWidth: document.documentElement.scrollWidth,
          clientWidth: vw, lang: document.documentElement.lang,
          h2: [...document.querySelectorAll("h2")].map(h => h.textContent),
          tiles: [...document.querySelectorAll(".tile .label")].map(t => t.textContent),
          badges: document.querySelectorAll(".badge").length,
          cjkFont: document.fonts.check("14px 'Noto Sans CJK SC'", "设备")};
})()
"""


@pytest.fixture(scope="module")
def shots_dir(tmp_path_factory) -> Path:
    named = os.environ.get("EDGEPROOF_SCREENSHOTS")
    d = Path(named) if named else tmp_path_factory.mktemp("screenshots")
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def measured(live, tmp_path_factory, shots_dir):
    """Every (language, size): the measurements and the screenshot, from one browser."""
    browser = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    out = {}
    try:
        browser.open_tab()
        for lang in LANGS:
            for name, (w, h) in SIZES.items():
                browser.load(f"{live['url']}/?lang={lang}", w, h, "document.body && document.body.dataset.loaded"
                             " === '1' && document.fonts.status === 'loaded'")
                shot = browser.screenshot(shots_dir / f"status-{lang}-{name}-{w}x{h}.png")
                out[(lang, name)] = (browser.evaluate(MEASURE), shot)
    finally:
        browser.close()
    print(f"status page screenshots: {shots_dir}")
    return out


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("size", list(SIZES))
def test_no_wrapped_words_and_no_sideways_scroll(measured, lang, size):
    m, shot = measured[(lang, size)]
    assert m["badges"] >= 10, "the devices' quality badges are on the page"
    assert m["wrapped"] == [], f"{lang} at {SIZES[size]}: broken inside a word: {m['wrapped']}"
    assert m["scrollWidth"] <= m["clientWidth"], f"{lang} at {SIZES[size]}: page scrolls sideways"
    assert m["beyond"] == [], f"{lang} at {SIZES[size]}: reaching past the viewport: {m['beyond']}"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == SIZES[size][0] and height >= SIZES[size][1] // 2
    assert len(data) > 30_000  # rendered, not blank


def test_chinese_page_is_chinese(measured):
    en, _ = measured[("en", "desktop")]
    zh, _ = measured[("zh-CN", "desktop")]
    assert en["lang"] == "en" and zh["lang"] == "zh-CN"
    assert en["h2"][:2] == ["Devices", "Indicators"]
    assert zh["h2"][:2] == ["设备", "指标"], zh["h2"]
    assert "Buffer" in en["tiles"] and "缓存" in zh["tiles"], zh["tiles"]
    # Every heading and tile label is translated (no English word left in them).
    assert not [t for t in zh["h2"] + zh["tiles"] if any("a" <= c.lower() <= "z" for c in t.replace("MES", "")
                                                          .replace("ERP", ""))], zh["h2"] + zh["tiles"]
    assert zh["cjkFont"], "Noto Sans CJK is not available to Chromium: run scripts/sysdeps.sh (fonts-noto-cjk)"


def _fetch(url: str, accept: str | None = None) -> tuple[str, dict[str, str]]:
    import urllib.request

    req = urllib.request.Request(url, headers={"Accept-Language": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read().decode("utf-8"), dict(resp.headers)


def test_server_renders_the_page_and_serves_the_script_catalog_per_language(live):
    en, h_en = _fetch(live["url"] + "/")
    assert '<html lang="en">' in en and "<h2>Devices</h2>" in en and h_en["Content-Language"] == "en"
    assert '_("' not in en, "every mark is replaced"
    zh, h_zh = _fetch(live["url"] + "/", "zh-CN,zh;q=0.9,en;q=0.8")
    assert '<html lang="zh-CN">' in zh and "<h2>设备</h2>" in zh and h_zh["Content-Language"] == "zh-CN"
    assert "<title>EdgeProof 网关状态</title>" in zh
    # ?lang= (the page's language links) wins over the browser.
    assert '<html lang="en">' in _fetch(live["url"] + "/?lang=en", "zh-CN")[0]
    import json

    cat = json.loads(_fetch(live["url"] + "/api/i18n?lang=zh-CN")[0])
    assert cat["locale"] == "zh-CN" and cat["messages"]["Devices healthy"] == "设备正常"
    assert cat["messages"]["{n} batches"] == "{n} 个批次"
    assert json.loads(_fetch(live["url"] + "/api/i18n")[0]) == {"locale": "en", "messages": {}}


def test_page_locale_order_and_escaping():
    from gateway.status.page_template import render
    from gateway.status.server import page_locale

    assert page_locale({"lang": ["zh-CN"]}, "en", "en") == "zh-CN"
    assert page_locale({}, "en-US", "zh-CN") == "zh-CN"  # the site's choice before the browser's guess
    assert page_locale({}, "zh-TW, zh-CN;q=0.5", None) == "zh-CN"
    assert page_locale({"lang": ["xx"]}, "de", None) == "en"
    out = render('<p title="_("a")">_("b \\"q\\"")</p>', {"a": '"><script>', 'b "q"': "<b>"}.get, "zh-CN")
    assert out == '<p title="&quot;&gt;&lt;script&gt;">&lt;b&gt;</p>'
