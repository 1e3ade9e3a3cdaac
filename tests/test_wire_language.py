"""The one locale-tag / Accept-Language parser (gateway/wire/language.py) that the gateway and the receiver share.

Property-based: any header a client sends gives a supported locale or None, never an exception; q-values rank
(the earlier member wins a tie), q=0 and malformed weights exclude, a wildcard names no catalog. Both i18n
modules answer with this very parser (one implementation, not two copies that could drift apart).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_stub import i18n as receiver_i18n
from gateway import i18n as gateway_i18n
from gateway.wire import language

TAGS = {"en": "en", "en-GB": "en", "en_US": "en", "zh": "zh-CN", "zh-CN": "zh-CN", "zh-Hans-CN": "zh-CN",
        "zh_cn.UTF-8": "zh-CN", "zh-TW": None, "zh-Hant": None, "zh-HK": None, "fr": None, "*": None, "C": None,
        "POSIX": None, "": None}

tags = st.sampled_from(sorted(TAGS))
# a weight as a browser writes it, 0 to 1 with up to three decimals
weights = st.integers(0, 1000).map(lambda n: f"{n / 1000:.3f}".rstrip("0").rstrip("."))


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_header_gives_a_supported_locale_or_none(header):
    assert language.from_accept_language(header) in (None, *language.SUPPORTED)
    assert language.resolve(header) in language.SUPPORTED
    assert language.normalise(header) in (None, *language.SUPPORTED)


@given(st.lists(st.tuples(tags, st.one_of(st.none(), weights)), max_size=8))
@settings(max_examples=300, deadline=None)
def test_the_highest_weight_wins_and_the_earlier_breaks_a_tie(members):
    header = ", ".join(t if q is None else f"{t};q={q}" for t, q in members)
    ranked = [(1.0 if q is None else float(q), -i, TAGS[t]) for i, (t, q) in enumerate(members)]
    candidates = [r for r in ranked if r[2] is not None and r[0] > 0]
    want = max(candidates)[2] if candidates else None
    assert language.from_accept_language(header) == want


@given(tags, st.sampled_from(["q=", "q=abc", "q=nan", "q=inf", "q=-1", "q=1.5", "q=1e400", "q", "Q=0"]))
def test_a_malformed_or_zero_weight_excludes_the_member(tag, param):
    assert language.from_accept_language(f"{tag};{param}") is None
    # ...and never outranks a well-formed member
    assert language.from_accept_language(f"{tag};{param}, zh-CN;q=0.1") == "zh-CN"


def test_examples():
    assert language.from_accept_language("en;q=0.4, zh-CN;q=0.9") == "zh-CN"
    assert language.from_accept_language("zh-TW, zh;q=0.8, en;q=0.9") == "en"
    assert language.from_accept_language("*, zh-CN;q=0.5") == "zh-CN"  # the wildcard names no catalog
    assert language.from_accept_language("*") is None
    assert language.from_accept_language("en;q=5, zh-CN") == "zh-CN"  # q above 1 is malformed, not a trump
    assert language.from_accept_language(None) is None
    assert language.from_env({"LANGUAGE": "fr:zh_CN", "LANG": "en_US"}) == "zh-CN"
    assert language.from_env({"LANGUAGE": "fr", "LANG": "C.UTF-8"}) is None


def test_both_i18n_modules_use_this_parser():
    for mod in (gateway_i18n, receiver_i18n):
        assert mod.from_accept_language is language.from_accept_language
        assert mod.from_env is language.from_env
        assert mod.normalise is language.normalise
        assert mod.resolve is language.resolve
        assert mod.SUPPORTED is language.SUPPORTED


def test_one_catalog_class_serves_both_domains():
    """The gettext loading and the CLI's locale switch are one class too (language.Catalog), one per domain."""
    for mod, domain in ((gateway_i18n, "edgeproof"), (receiver_i18n, "edgeproof_receiver")):
        assert isinstance(mod._catalog, language.Catalog) and mod._catalog.domain == domain
        cat = language.Catalog(domain, mod.LOCALE_DIR)
        zh = cat.translation("zh-CN")
        msgid, msgstr = next((k, v) for k, v in getattr(zh, "_catalog", {}).items() if isinstance(k, str) and k and v)
        assert cat.set_locale("zh_CN.UTF-8") == "zh-CN" and cat.gettext(msgid) == msgstr
        assert cat.set_locale("fr") == "en" and cat.gettext(msgid) == msgid  # unsupported: the messages as written
        assert cat.translation("zh-CN") is zh  # loaded once
