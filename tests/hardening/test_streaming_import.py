"""Issue 18: exports are streamed (rows in chunks; memory does not grow with the file), and a
cut-off export keeps its complete rows and names the line where it was cut."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from gateway.connectors import importer as importer_mod
from gateway.connectors.importer import Importer
from gateway.connectors.readers import read_csv
from gateway.store import Store
from tests.connectors.test_import import connector

HEADER = "订单号,客户,产品,数量,单价,日期\n"


def orders(n: int, start: int = 0) -> str:
    return "".join(f"SO-{i:07d},苏州博远汽配{i % 7},支架 ZJ-{i % 13},{1 + i % 9},10,2026-10-{1 + i % 28:02d}\n"
                   for i in range(start, start + n))


def test_a_file_cut_inside_a_quoted_field_keeps_the_complete_rows(store: Store, importer: Importer,
                                                                  tmp_path: Path) -> None:
    d = tmp_path / "gw" / "cut"
    d.mkdir(parents=True)
    (d / "orders.csv").write_text(HEADER + orders(3) + 'SO-9,"苏州博远汽配\n', encoding="utf-8")
    [rep] = importer.run(connector("cut"), tmp_path / "gw")
    assert rep.status == "imported" and rep.rows_ok == 3
    assert rep.quarantined == [(5, "line 5: the file ends inside a quoted field opened on this line "
                                   "(a cut-off export?)")]


def test_a_file_cut_inside_a_character_keeps_the_complete_rows(store: Store, importer: Importer,
                                                               tmp_path: Path) -> None:
    d = tmp_path / "gw" / "cut"
    d.mkdir(parents=True)
    data = (HEADER + orders(3) + "SO-9,苏州博远汽配").encode("utf-8")[:-2]  # half of the last character
    (d / "orders.csv").write_bytes(data)
    [rep] = importer.run(connector("cut"), tmp_path / "gw")
    assert rep.status == "imported" and rep.rows_ok == 3
    assert rep.quarantined == [(5, "line 5: the file ends inside a character (a cut-off export?)")]


def test_a_bad_byte_in_the_middle_still_fails_the_file_naming_the_line(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_bytes((HEADER + orders(2)).encode() + b"SO-3,\xff\xfe,x,1,1,2026-10-01\n" + orders(2, 5).encode())
    from gateway.connectors.readers import SourceError

    with pytest.raises(SourceError, match=r"line 4 is not utf-8-sig"):
        read_csv(p, "auto")


def test_rows_are_read_lazily_in_pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A multi-piece file (pieces end at newlines) gives every row once, with the right lines."""
    import gateway.connectors.readers as readers

    monkeypatch.setattr(readers, "PIECE_BYTES", 256)
    p = tmp_path / "o.csv"
    p.write_text(HEADER + orders(500), encoding="utf-8")
    src = read_csv(p, "auto")
    assert not isinstance(src.rows, list)
    got = list(src.rows)
    assert len(got) == 500 and got[0].line == 2 and got[-1].line == 501
    assert got[-1].values["订单号"] == "SO-0000499"


def _peak_import(tmp_path: Path, n: int) -> tuple[int, int]:
    st = Store(tmp_path / f"s{n}.db", "NORMAL")
    try:
        from gateway.privacy.tokens import Tokeniser

        imp = Importer(st, Tokeniser(b"k" * 32), "Asia/Shanghai")
        d = tmp_path / "gw" / f"big{n}"
        d.mkdir(parents=True)
        (d / "orders.csv").write_text(HEADER + orders(n), encoding="utf-8")
        tracemalloc.start()
        [rep] = imp.run(connector(f"big{n}"), tmp_path / "gw")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return rep.rows_ok, peak
    finally:
        st.close()


def test_memory_does_not_grow_with_the_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.connectors.readers as readers

    monkeypatch.setattr(importer_mod, "CHUNK_ROWS", 200)
    monkeypatch.setattr(readers, "PIECE_BYTES", 8192)
    ok_small, small = _peak_import(tmp_path, 500)
    ok_big, big = _peak_import(tmp_path, 3_000)
    assert (ok_small, ok_big) == (500, 3_000)
    # Six times the rows: the peak is one chunk's worth either way (a whole-file reader was ~6x).
    assert big < 1.6 * small, (small, big)
