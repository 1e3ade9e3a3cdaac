"""A connector import's quarantine reasons: stored in English (old rows too), read in the reader's language.

A real import of a malformed export (tests/fixtures/erp/orders_malformed.csv) quarantines five lines; each stored
reason is found again as its template (gateway/connectors/reasons.py) and says the same in Chinese on the CLI's
render and on the status page's data, the stored English unchanged. The parsers' own errors (values.py, units.py)
are templates whose English text parses back to them; tests/test_user_error_guard.py fails on a new plain one.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.connectors import reasons, units, values
from gateway.connectors.config import load_connectors
from gateway.connectors.importer import Importer
from gateway.i18n import render, render_data, translation
from gateway.status.collect import imports_view
from gateway.store import Store

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "erp"
ORDERS = {"order_no": "订单号", "customer": "客户", "product": "产品", "qty": "数量", "unit_price": "单价",
          "order_date": "日期"}
CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH = re.compile(r"\b(not a|is empty|negative|duplicate|first on line|valid date)\b")


def test_stored_reasons_read_in_chinese_and_stay_english_in_the_store(store: Store, importer: Importer,
                                                                       tmp_path: Path) -> None:
    (tmp_path / "gw" / "m").mkdir(parents=True)
    shutil.copy(FIX / "orders_malformed.csv", tmp_path / "gw" / "m" / "orders_malformed.csv")
    cfg = load_connectors([{"name": "m", "kind": "folder", "dataset": "orders", "path": "m", "columns": ORDERS,
                            "pattern": "*"}])[0]
    [rep] = importer.run(cfg, tmp_path / "gw")
    stored = {ln: r for ln, r in rep.quarantined}
    assert sorted(stored) == [3, 4, 5, 6, 7] and stored[3] == "qty (数量): not a number: '三'"
    for ln, text in stored.items():
        assert reasons.parse(text) is not None, (ln, text)  # every reason the importer wrote has its template
        zh, en = render(reasons.reason(text), "zh-CN"), render(reasons.reason(text), "en")
        assert en == text, (en, text)  # English: the stored text, byte for byte
        assert CJK.search(zh.replace("数量", "").replace("客户", "").replace("日期", "")) and not ENGLISH.search(zh), zh
    assert render(reasons.reason(stored[3]), "zh-CN") == "qty（数量）：不是数字：'三'"  # field, column, cell as written
    # the status page: the English as before, and the same as data its script renders with its catalog
    view = imports_view(store)["quarantined"]
    assert {q["reason"] for q in view} == set(stored.values())
    for q in view:
        assert render_data(q["reason_text"], "en") == q["reason"]
        assert not ENGLISH.search(render_data(q["reason_text"], "zh-CN")), q


@pytest.mark.parametrize("call", [
    lambda: values.parse_number("abc"), lambda: values.parse_number(float("inf")),
    lambda: values.parse_datetime("tomorrow", ZoneInfo("UTC")), lambda: values.parse_datetime("2026-02-30",
                                                                                             ZoneInfo("UTC")),
    lambda: values.parse_datetime("1970-01-02", ZoneInfo("UTC")), lambda: values.parse_direction("sideways"),
    lambda: units.factor("furlong", "kg"), lambda: units.factor("h", "kg"), lambda: units.canonical("furlong"),
])
def test_every_parser_error_is_a_template_that_its_english_finds_again(call) -> None:  # noqa: ANN001
    with pytest.raises(reasons.RowError) as info:
        call()
    exc = info.value
    assert isinstance(exc, ValueError) and reasons.parse(str(exc)) == (exc.template, {k: str(v) for k, v in
                                                                                      exc.params.items()})
    assert translation("zh-CN").gettext(exc.template) != exc.template  # translated
    assert render(reasons.reason(str(exc)), "zh-CN") == render(exc, "zh-CN")


def test_a_reason_no_template_knows_is_shown_as_it_is() -> None:
    for text in ("[Errno 2] No such file or directory", "", "a reason of a newer version"):
        assert reasons.reason(text) == text and render(reasons.reason(text), "zh-CN") == text
