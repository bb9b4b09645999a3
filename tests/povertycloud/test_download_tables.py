"""The streaming table writer's converted rows (povertycloud.downloads.tables, `converters`): rows of stored
values, each column's distinct values converted once, give exactly the bytes that the same rows converted by
the caller give, in XLSX (sheets continued past max_rows included) and CSV; bad use is refused and a failing
disk reaches the caller."""

import datetime as dt
import io
import zipfile
from decimal import Decimal

import pytest

from povertycloud.downloads import tables

HEADERS = ["代码", "文本", "数", "金额", "日期", "时间", "是否", "空"]
LABELS = {"1": "一般农户", "2": "脱贫户", None: ""}


def stored_rows(count: int) -> list[tuple]:
    texts = ["王大山", "=SUM(A1)", "<&>\x01", "", None, "  空格 ", "x" * 40_000, "-2+3"]
    return [
        (
            "1" if n % 3 else "2",
            texts[n % len(texts)],
            n,
            Decimal("3.50") if n % 2 else Decimal("0"),
            dt.date(1980, 1, 1) + dt.timedelta(days=n % 5),
            dt.datetime(2024, 5, 17, 8, 30, tzinfo=dt.UTC) if n % 4 == 0 else None,
            n % 2 == 0,
            None,
        )
        for n in range(count)
    ]


def neutralise(value):
    return "'" + value if isinstance(value, str) and value.startswith(("=", "+", "-", "@")) else value


CONVERTERS = [LABELS.get, neutralise, None, None, None, None, None, None]


def converted(rows):
    return [[v if c is None else c(v) for c, v in zip(CONVERTERS, row, strict=True)] for row in rows]


def parts(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.parametrize("max_rows", [None, 4])
def test_converted_rows_write_the_same_workbook_as_rows_converted_first(max_rows):
    rows = stored_rows(25)
    plain, fast = io.BytesIO(), io.BytesIO()
    with tables.XlsxTables(plain, max_rows=max_rows) as book:
        assert book.sheet("户档案", HEADERS, converted(rows), bold_header=True, freeze_header=True) == 25
    with tables.XlsxTables(fast, max_rows=max_rows) as book:
        written = book.sheet("户档案", HEADERS, iter(rows), bold_header=True, freeze_header=True, converters=CONVERTERS)
        assert written == 25 and book.rows == 25
    assert parts(fast.getvalue()) == parts(plain.getvalue())
    if max_rows:
        assert len(parts(fast.getvalue())) == 5 + 9  # 25 rows, 3 a sheet: 9 sheets


def test_converted_rows_write_the_same_csv_as_rows_converted_first():
    rows = stored_rows(25)
    rows = [tuple(v.astimezone(dt.UTC).isoformat() if isinstance(v, dt.datetime) else v for v in r) for r in rows]
    plain, fast = io.BytesIO(), io.BytesIO()
    tables.CsvTables(plain).sheet("户档案", HEADERS, converted(rows))
    tables.CsvTables(fast).sheet("户档案", HEADERS, rows, converters=CONVERTERS)
    assert fast.getvalue() == plain.getvalue()
    assert fast.getvalue().decode("utf-8-sig").splitlines()[2].startswith("一般农户,'=SUM(A1),1,3.50,")


def test_each_distinct_value_of_a_column_is_converted_once_and_columns_past_the_cache_start_again(monkeypatch):
    calls = []

    def label(value):
        calls.append(value)
        return LABELS.get(value)

    rows = [(code,) for code in ["1", "2", "1", "1", "2"] * 100]
    with tables.XlsxTables(io.BytesIO()) as book:
        book.sheet("t", ["代码"], rows, converters=[label])
    assert sorted(calls) == ["1", "2"]
    monkeypatch.setattr(tables, "COLUMN_CACHE", 2)
    calls.clear()
    numbers = [(str(n % 7),) for n in range(70)]
    out = io.BytesIO()
    with tables.XlsxTables(out) as book:
        book.sheet("t", ["n"], numbers, converters=[lambda v: calls.append(v) or f"#{v}"])
    sheet = parts(out.getvalue())["xl/worksheets/sheet1.xml"].decode()
    assert sheet.count("#6") == 10 and '<c r="A71" t="inlineStr"><is><t xml:space="preserve">#6</t>' in sheet
    assert len(calls) > 7  # more distinct values than the cache holds: converted again after a clear


def test_one_converter_per_column_is_required():
    with tables.XlsxTables(io.BytesIO()) as book, pytest.raises(ValueError):
        book.sheet("t", ["a", "b"], [], converters=[None])
    with pytest.raises(ValueError):
        tables.CsvTables(io.BytesIO()).sheet("t", ["a", "b"], [], converters=[None])


class FullDisk(io.BytesIO):
    def write(self, data):
        if self.tell() > 50_000:
            raise OSError("No space left on device")
        return super().write(data)


def test_a_disk_error_while_compressing_reaches_the_caller():
    rows = [(f"第{n}行 " * 20,) for n in range(20_000)]
    with pytest.raises(OSError, match="No space left"), tables.XlsxTables(FullDisk()) as book:
        book.sheet("t", ["a"], rows, converters=[None])


def test_an_error_in_the_rows_leaves_no_writing_thread_behind():
    import threading

    def failing():
        yield ("a",)
        raise RuntimeError("database gone")

    before = threading.active_count()
    with pytest.raises(RuntimeError, match="database gone"), tables.XlsxTables(io.BytesIO()) as book:
        book.sheet("t", ["a"], failing(), converters=[None])
    assert threading.active_count() == before
