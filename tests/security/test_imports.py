"""Volunteer lists in XLSX: a crafted workbook cannot make the server unpack or read without end.

An XLSX is a zip archive; a 60 KB sheet that unpacks to 60 MB of XML took 50 s and 60 MB of
memory to refuse. The archive's declared sizes are now checked before openpyxl sees it, and the
sheet is read only up to the row limit. (No timings are asserted: the tests show which check
answers, and that reading stops.)
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

from server.volunteers import imports


def _workbook(rows: list[list[Any]]) -> bytes:
    """A real XLSX made by openpyxl."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _bomb(unpacked_mb: int) -> bytes:
    """A valid workbook whose first sheet is padded with `unpacked_mb` MB of XML whitespace:
    tiny on the wire, huge once unpacked."""
    source = zipfile.ZipFile(io.BytesIO(_workbook([["name", "phone"], ["甲", "13900000001"]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for member in source.infolist():
            data = source.read(member)
            if member.filename == "xl/worksheets/sheet1.xml":
                head, _, tail = data.partition(b"<sheetData>")
                data = head + b"<sheetData>" + b" " * (unpacked_mb * 1024 * 1024) + tail
            bomb.writestr(member.filename, data)
    return out.getvalue()


def test_a_workbook_that_unpacks_to_too_much_is_refused_before_parsing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The declared size answers: openpyxl is never called, and the error names the file, the
    size and the limit."""
    import openpyxl

    data = _bomb(imports.MAX_XLSX_MB + 10)
    assert len(data) < 500_000, f"the bomb is {len(data)} bytes on the wire"

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("openpyxl was asked to parse the bomb")

    monkeypatch.setattr(openpyxl, "load_workbook", never)
    parsed = imports.parse_volunteers("bomb.xlsx", data, set())
    assert not parsed.rows
    messages = [e.describe(parsed.filename) for e in parsed.errors]
    assert len(messages) == 1, messages
    assert messages[0].startswith("bomb.xlsx:0: file: 工作簿解压后有 60 MB"), messages
    assert f"超过志愿者名单允许的 {imports.MAX_XLSX_MB} MB" in messages[0]
    print(f"{len(data)} bytes on the wire, refused with: {messages[0]}")


def test_a_workbook_under_the_size_limit_is_still_read() -> None:
    """The size check does not refuse an ordinary list."""
    data = _bomb(1)
    parsed = imports.parse_volunteers("ok.xlsx", data, set())
    assert parsed.ok, parsed.errors
    assert [r.name for r in parsed.rows] == ["甲"]


def test_reading_stops_at_the_row_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sheet with more rows than the limit is refused after reading one row past the limit,
    not after reading the whole sheet."""
    monkeypatch.setattr(imports, "MAX_ROWS", 10)
    rows = [["name", "phone"]] + [[f"v{n}", f"139{n:08d}"] for n in range(500)]
    data = _workbook(rows)
    read: list[object] = []
    real_cell = imports._cell

    def counting(value: object) -> str:
        if value is not None:  # rows are padded with None to the columns read
            read.append(value)
        return real_cell(value)

    monkeypatch.setattr(imports, "_cell", counting)
    parsed = imports.parse_volunteers("long.xlsx", data, set())
    assert [e.message for e in parsed.errors] == ["超过 10 行，请拆分文件"]
    rows_read = len(read) // 2
    assert rows_read <= 12, f"{rows_read} of {len(rows)} rows were read"
    print(f"{rows_read} of {len(rows)} rows read before the refusal")
