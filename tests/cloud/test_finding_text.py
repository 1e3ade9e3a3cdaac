"""The bank feed in words, in English and Chinese (cloud_stub/http_text.py, finding_text.py).

Real receiver on loopback: real signed batches, a real equivocation (a chain finding raised by
ingest), a real analysis (a thin history: graded "insufficient data", reason DS01) and a rule
finding stored in the shape analysis stores it. The structured, signed feeds are unchanged;
the ``.../text`` routes say the same in the bank's language (``?lang=`` or Accept-Language),
are signed by the receiver, and keep every number.
"""

from __future__ import annotations

import json
import urllib.request

from cloud_helpers import FakeGateway, http
from test_bank_api import T0, energy, insert_analysis, signed_finding

from cloud_stub import finding_text
from cloud_stub.analysis import analyse
from cloud_stub.banks import add_bank
from cloud_stub.rules import all_rules
from gateway import wire


def _setup(receiver):
    gw = FakeGateway("gw-t", "ent-t")
    receiver.enroll(gw)
    for i in range(3):
        assert receiver.post(gw.next(records=[energy(i)]).envelope())[1]["status"] == "accepted"
    status, res = receiver.post(gw.make(seq=3, prev=gw.prev, records=[energy(9, 1.0)]).envelope())
    assert (status, res["code"]) == (409, "equivocation")
    insert_analysis(receiver.rdb, receiver.key, "ent-t",
                    [signed_finding("mes_vs_camera", ["mes.produced_qty", "camera.count"])])
    analyse(receiver.rdb, "ent-t", T0 + 3 * 86400, 30, signing_key=receiver.key)
    return {"all": add_bank(receiver.rdb, "bank-t", "ent-t")["token"],
            "energy": add_bank(receiver.rdb, "bank-t-energy", "ent-t", "energy")["token"]}


def _get(receiver, path, token, accept=None):
    headers = {"Authorization": f"Bearer {token}"}
    if accept:
        headers["Accept-Language"] = accept
    status, page = http("GET", receiver.url + path, token=token) if accept is None else _raw(receiver, path, headers)
    assert status == 200, page
    signed = wire.verify_report(page["page_signature"], bytes(receiver.key.verify_key))
    assert signed == {k: v for k, v in page.items() if k != "page_signature"}
    return page


def _raw(receiver, path, headers):
    with urllib.request.urlopen(urllib.request.Request(receiver.url + path, headers=headers), timeout=10) as r:
        return r.status, json.loads(r.read())


def test_findings_alerts_and_reasons_in_english_and_chinese(receiver):
    tokens = _setup(receiver)
    structured = _get(receiver, "/v1/feed/ent-t/findings", tokens["all"])

    en = _get(receiver, "/v1/feed/ent-t/findings/text?lang=en", tokens["all"])
    zh = _get(receiver, "/v1/feed/ent-t/findings/text?lang=zh-CN", tokens["all"])
    assert (en["locale"], zh["locale"]) == ("en", "zh-CN")
    assert [i["id"] for i in en["items"]] == [i["id"] for i in zh["items"]] == [i["id"] for i in structured["items"]]
    by_kind_en = {i["kind"]: i for i in en["items"]}
    by_kind_zh = {i["kind"]: i for i in zh["items"]}
    # The rule finding: English is the rule's own message; Chinese says it from the structured fields.
    assert by_kind_en["mes_vs_camera"]["text"] == "claims 4321.5 vs 1234.5"
    rule_zh = by_kind_zh["mes_vs_camera"]
    assert rule_zh["title"] == "MES 产量与产线摄像头计数的比对"
    assert rule_zh["severity_text"] == "红色"
    assert "企业记录申报的数量多于设备实际显示" in rule_zh["text"] and "生产真实性" in rule_zh["text"]
    assert {"key": "compared.claimed", "value": 4321.5} in rule_zh["numbers"]
    assert {"key": "threshold.ratio", "value": 1.5} in rule_zh["numbers"]
    # The equivocation ingest raised.
    assert by_kind_en["equivocation"]["text"].startswith("The gateway signed two different batches")
    assert by_kind_zh["equivocation"]["text"] == "网关对同一序号签发了两个不同的批次。"

    # Accept-Language chooses when ?lang= is absent; ?lang= wins over it.
    path = "/v1/feed/ent-t/findings/text"
    assert _get(receiver, path, tokens["all"], "fr, zh-CN;q=0.8, en;q=0.5")["locale"] == "zh-CN"
    assert _get(receiver, "/v1/feed/ent-t/findings/text?lang=en", tokens["all"], "zh-CN")["locale"] == "en"
    assert _get(receiver, "/v1/feed/ent-t/findings/text", tokens["all"], "de-DE")["locale"] == "en"

    # A bank granted energy only: the camera/MES finding's numbers stay withheld, in its language too.
    narrow = {i["kind"]: i for i in _get(receiver, "/v1/feed/ent-t/findings/text?lang=zh-CN",
                                         tokens["energy"])["items"]}
    assert narrow["mes_vs_camera"]["text"].startswith("详情不予显示") and narrow["mes_vs_camera"]["numbers"] == []
    assert "4321.5" not in str(narrow["mes_vs_camera"])

    # Reason codes of the real (thin-history) analysis, and the alerts.
    score_en = _get(receiver, "/v1/feed/ent-t/scores/latest/text", tokens["all"])
    score_zh = _get(receiver, "/v1/feed/ent-t/scores/latest/text?lang=zh-CN", tokens["all"])
    assert score_en["reasons"][0]["code"] == score_zh["reasons"][0]["code"] == "DS01"
    assert score_en["reasons"][0]["text"].startswith("Insufficient data to grade")
    assert score_zh["reasons"][0]["text"].startswith("数据不足，无法评级")
    assert score_zh["warning_level_text"] in ("黄色", "橙色", "红色")
    alerts_zh = _get(receiver, "/v1/feed/ent-t/alerts/text?lang=zh-CN", tokens["all"])["items"]
    texts = [a["text"] for a in alerts_zh]
    assert "红色发现：MES 产量与产线摄像头计数的比对" in texts, texts


def test_text_routes_need_a_bank_token_and_a_grant(receiver):
    tokens = _setup(receiver)
    for path in ("findings/text", "alerts/text", "scores/latest/text"):
        assert http("GET", f"{receiver.url}/v1/feed/ent-t/{path}", token=None)[0] == 401
        assert http("GET", f"{receiver.url}/v1/feed/other/{path}", token=tokens["all"])[0] == 403
    assert http("GET", f"{receiver.url}/v1/feed/ent-t/findings/text?limit=0", token=tokens["all"])[0] == 400


def test_every_rule_and_reason_has_words():
    """A new rule without a title, or a reason code text without a translation, is caught here."""
    missing = sorted(set(all_rules()) - set(finding_text.RULE_TITLES))
    assert missing == [], f"add these rules' titles to cloud_stub/finding_text.RULE_TITLES: {missing}"
    _ = finding_text.render_finding({"kind": "no_such_rule", "severity": "weird", "detail": {"rule": "x"}}, "zh-CN")


def _directions_used() -> set[str]:
    """Every ``direction="..."`` literal the rules write (and both branches of ``"a" if ... else "b"``)."""
    import ast
    from pathlib import Path

    out: set[str] = set()
    for path in (Path(finding_text.__file__).parent / "rules").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "direction":
                todo = [node.value]
                while todo:  # the value, or the branches of "a" if ... else "b" (not the condition's strings)
                    v = todo.pop()
                    if isinstance(v, ast.IfExp):
                        todo += [v.body, v.orelse]
                    elif isinstance(v, ast.Constant) and isinstance(v.value, str):
                        out.add(v.value)
    return out


def test_every_repayment_rule_its_subscore_and_directions_have_words_in_zh_cn():
    """The repay_* findings (repay_order_due, repay_ageing_shift v2, ...) are rendered like the authenticity
    rules': a rule, sub-score or direction without a translated entry would come out as its English code."""
    from cloud_stub.i18n import translation
    from cloud_stub.rules.base import REPAYMENT_SUBSCORE, registered_repayment

    all_rules()
    repay = set(registered_repayment())
    assert {"repay_order_due", "repay_ageing_shift", "repay_covenants"} <= repay
    missing = sorted(repay - set(finding_text.RULE_TITLES))
    assert missing == [], f"add these rules' titles to cloud_stub/finding_text.RULE_TITLES: {missing}"
    directions = _directions_used()
    assert {"above", "below", "adverse", "changed"} <= directions
    assert sorted(directions - set(finding_text.DIRECTIONS)) == []
    zh = translation("zh-CN")
    words = [*finding_text.RULE_TITLES.values(), *finding_text.DIRECTIONS.values(),
             finding_text.SUBSCORES[REPAYMENT_SUBSCORE]]
    assert [w for w in words if zh.gettext(w) == w] == []


def test_a_repay_order_due_finding_reads_in_chinese_and_keeps_its_numbers():
    from cloud_stub.rules.repay_order_due import OrderDue

    f = OrderDue().finding(None, "orange", "overdue:1", 1_700_000_000, 1_700_432_000,  # type: ignore[arg-type]
                           compared={"overdue_qty_last": 120.0}, statistic={"mean_rise": 0.3},
                           threshold={"rise": 0.1}, direction="above",
                           message="overdue orders piling up: 40% of the open quantity with a due date is overdue")
    item = {"id": 7, "kind": "repay_order_due", "severity": "orange", "detail": f.to_json()}
    zh, en = finding_text.render_finding(item, "zh-CN"), finding_text.render_finding(item, "en")
    assert en["text"] == f.message and en["title"] == "Orders falling behind their due dates"
    assert "overdue" not in zh["text"] and "repay" not in zh["title"] and "repayment" not in zh["text"], zh
    assert any("\u4e00" <= c <= "\u9fff" for c in zh["title"]) and {"key": "compared.overdue_qty_last",
                                                                       "value": 120.0} in zh["numbers"]
    rep = finding_text.render_reasons({"repayment": {"grade": "C", "level": "orange", "reasons": [
        {"code": "RC11", "text": "Orders falling behind their due dates", "rule": "repay_order_due"}]}}, "zh-CN")
    assert rep["repayment"]["reasons"][0]["text"] != "Orders falling behind their due dates"
