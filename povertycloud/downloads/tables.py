"""Tables written straight to disk for downloads, in XLSX or CSV, row by row: memory does not grow with rows.

XLSX is written here as the Office Open XML parts themselves (inline strings, one deflated zip entry per
sheet streamed as rows come), not through openpyxl or XlsxWriter: measured on 200,000 rows × 12 columns on
this machine, openpyxl's write-only workbook took 39.8 s, XlsxWriter's constant_memory mode 23.6 s, this
writer 1.7 s; at a county's 1,260,000 rows only this one is inside the minute an export may take. It
writes what the exports need and no more: text, numbers, dates and times, a bold header, a frozen first
row. A sheet holds at most XLSX_MAX_ROWS rows (Excel's limit, header included); a longer table continues on
further sheets named "<title>（续2）", "<title>（续3）"…, each with the header again.

CSV is UTF-8 with a byte order mark (so Excel opens Chinese text as such). One table is one .csv file; a
download of several tables (CsvTables(many=True)) is a .zip holding one .csv per table.

Cells arrive as the callers made them (masked, formula-neutralised): str, int, float, Decimal, date,
datetime, bool or None (CSV takes them as Python's csv module writes them: callers turn booleans into 是/否
and aware times into local text first, as reports.exports._cell does). Both writers are used as context
managers or closed with close().

A caller whose rows are stored values that a function of the value alone turns into cells (a code into its
label, a number into its mask) passes those functions as `converters`: each column then keeps what each of its
distinct values becomes (up to COLUMN_CACHE values) — for XLSX the finished <c> element, so a row of repeated
values is a string join with no Python work per cell. A county's household list (1,000,000 rows × 48 columns,
most of them codes) is written that way.
"""

import csv
import datetime as dt
import io
import itertools
import operator
import queue
import re
import threading
import zipfile
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from django.utils.translation import gettext as _

XLSX_MAX_ROWS = 1_048_576
XLSX_MAX_CELL_CHARS = 32_767
SHEET_TITLE_CHARS = 31
FLUSH_ROWS = 1000
ZIP_LEVEL = 1  # deflate: level 1 writes a county's file in a few seconds; higher levels gain little on XML

# Characters XML 1.0 does not allow (control characters other than tab, newline and carriage return).
_ILLEGAL = {code: None for code in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20))}
_TITLE_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})
_EPOCH = dt.datetime(1899, 12, 30)
_EPOCH_ORDINAL = _EPOCH.toordinal()
STYLE_DATE, STYLE_DATETIME, STYLE_BOLD = 1, 2, 3
_END = object()


def _columns(count: int) -> list[str]:
    letters = []
    for index in range(count):
        name, number = "", index + 1
        while number:
            number, rest = divmod(number - 1, 26)
            name = chr(65 + rest) + name
        letters.append(name)
    return letters


_NEEDS_CARE = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f]")
STRING_CACHE = 100_000  # distinct strings whose XML is kept (labels, masked numbers and names repeat a lot)


def _text(value: str) -> str:
    if len(value) > XLSX_MAX_CELL_CHARS:
        value = value[:XLSX_MAX_CELL_CHARS]
    if _NEEDS_CARE.search(value) is None:
        return value
    return escape(value).translate(_ILLEGAL)


def _xml_cell(ref: str, value: Any) -> str:
    """One <c> element; "" for an empty cell (left out of the row)."""
    kind = type(value)
    if kind is str:
        if not value:
            return ""
        return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{_text(value)}</t></is></c>'
    if value is None:
        return ""
    if kind is bool:
        return f'<c r="{ref}" t="inlineStr"><is><t>{_("是") if value else _("否")}</t></is></c>'
    if kind is int or kind is float:
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    if kind is Decimal:
        return f'<c r="{ref}"><v>{value}</v></c>' if value.is_finite() else ""
    if kind is dt.date:
        return f'<c r="{ref}" s="{STYLE_DATE}"><v>{value.toordinal() - _EPOCH_ORDINAL}</v></c>'
    if kind is dt.datetime:
        if value.tzinfo is not None:
            value = value.replace(tzinfo=None)
        days = (value - _EPOCH).total_seconds() / 86400
        return f'<c r="{ref}" s="{STYLE_DATETIME}"><v>{days!r}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    return _xml_cell(ref, str(value))


COLUMN_CACHE = 50_000  # distinct values per column whose cell is kept (codes have a few, birth dates ~40,000)
_ROW = b"\x00"  # stands for the row number in a kept <c> element: XML text never holds it (_text drops it)
_cell_of = operator.getitem


def _keep(column: dict, value: Any, cell: Any) -> None:
    """Keeps a worked-out cell; a column past COLUMN_CACHE values (names, ID numbers) starts again empty, so that
    what a household's rows repeat (its number, its phone) is still found for its next rows."""
    if len(column) >= COLUMN_CACHE:
        column.clear()
    column[value] = cell


class _XmlColumn(dict):
    """A column's stored values → their <c> elements as UTF-8 (b"" for an empty cell), the row number left as
    _ROW: a row is a bytes join of its columns' elements and one bytes replace, no Python work per cell on a
    hit (and no str → UTF-8 encoding of the row: Chinese text makes str joins and replaces several times
    slower than bytes ones)."""

    __slots__ = ("convert", "ref", "start")

    def __init__(self, letter: str, convert: Callable[[Any], Any] | None) -> None:
        super().__init__()
        self.ref = letter + _ROW.decode()
        self.start = f'<c r="{self.ref}" t="inlineStr"><is><t xml:space="preserve">'
        self.convert = convert

    def __missing__(self, value: Any) -> bytes:
        cell = self.convert(value) if self.convert is not None else value
        if type(cell) is str:  # most misses (names, masked numbers): _xml_cell's first case, inline
            element = f"{self.start}{_text(cell)}</t></is></c>".encode() if cell else b""
        else:
            element = _xml_cell(self.ref, cell).encode()
        _keep(self, value, element)
        return element


class _CsvColumn(dict):
    """A column's stored values → their cells, as _XmlColumn."""

    __slots__ = ("convert",)

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        super().__init__()
        self.convert = convert

    def __missing__(self, value: Any) -> Any:
        cell = self.convert(value)
        _keep(self, value, cell)
        return cell


class _Same:
    """A column written as stored (no converter): the value itself, not a kept one that is merely equal (1.50
    and 1.5, 0 and False would write differently in CSV)."""

    __slots__ = ()
    __getitem__ = staticmethod(lambda value: value)


class _Deflating:
    """Writes a zip entry's bytes on a thread of its own: zlib and crc32 let go of the GIL, so compressing one
    batch of rows overlaps with making the next. Errors come back at the next write or at close()."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.pending: queue.Queue = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="xlsx-deflate", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (data := self.pending.get()) is not None:
            if self.error is None:
                try:
                    self.out.write(data)
                except BaseException as exc:  # handed back to the thread making the rows
                    self.error = exc

    def write(self, data: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.pending.put(data)

    def close(self) -> None:
        self.pending.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    # Every other .xml part is a worksheet unless overridden: sheets are added as rows come, after this
    # part was written.
    '<Default Extension="xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy\\-mm\\-dd\\ hh:mm:ss"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
)
FROZEN_HEADER = (
    '<sheetViews><sheetView workbookViewId="0">'
    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
    '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
)


def continued_title(title: str, part: int) -> str:
    """The name of the part-th sheet of a table too long for one sheet: 家庭成员（续2）."""
    return _("%(title)s（续%(part)s）") % {"title": title, "part": part}


class XlsxTables:
    """An XLSX workbook written sheet by sheet, row by row."""

    suffix = ".xlsx"

    def __init__(self, target: Any, *, max_rows: int | None = None) -> None:
        self.zip = zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL)
        self.zip.writestr("[Content_Types].xml", CONTENT_TYPES)
        self.zip.writestr("_rels/.rels", ROOT_RELS)
        self.zip.writestr("xl/styles.xml", STYLES)
        self.max_rows = max_rows or XLSX_MAX_ROWS
        self.titles: list[str] = []
        self.rows = 0  # data rows written, headers not counted
        self.closed = False
        self._strings: dict[str, str] = {}

    def _title(self, title: str) -> str:
        base = (str(title).translate(_TITLE_FORBIDDEN).strip("'") or "Sheet")[:SHEET_TITLE_CHARS]
        name, number = base, 2
        taken = {t.lower() for t in self.titles}
        while name.lower() in taken:
            suffix = f" ({number})"
            name = base[: SHEET_TITLE_CHARS - len(suffix)] + suffix
            number += 1
        return name

    def sheet(
        self,
        title: str,
        headers: Iterable[Any],
        rows: Iterable[Iterable[Any]],
        *,
        bold_header: bool = False,
        freeze_header: bool = False,
        converters: list[Callable[[Any], Any] | None] | None = None,
    ) -> int:
        """Write one table; returns its number of data rows. Past max_rows it continues on new sheets.

        converters: one per header, each a function of a stored value alone giving its cell (None: the value
        is its cell); the rows then hold stored values, exactly one per header, and each column works out each
        distinct value once (see the module's docstring). A column's values are hashable and of one type (None
        aside), as a database column's are: values that are equal (1 and True) share their cell."""
        headers = list(headers)
        iterator = iter(rows)
        following = next(iterator, _END)
        count = part = 0
        columns = None
        if converters is not None:
            if len(converters) != len(headers):
                raise ValueError("one converter per column")
            columns = [_XmlColumn(letter, c) for letter, c in zip(_columns(len(headers)), converters, strict=True)]
        while True:
            part += 1
            name = self._title(title if part == 1 else continued_title(title, part))
            if columns is not None:
                written, following = self._converted_part(name, headers, following, iterator, bold_header,
                                                          freeze_header, columns)
            else:
                written, following = self._part(name, headers, following, iterator, bold_header, freeze_header)
            count += written
            if following is _END:
                break
        self.rows += count
        return count

    def _part(self, name: str, headers: list, first: Any, rows: Any, bold: bool, freeze: bool) -> tuple[int, Any]:
        """One sheet: the header, `first` and the rows after it up to max_rows; returns the number of data
        rows written and the first row left over (_END when none is)."""
        self.titles.append(name)
        letters = _columns(len(headers))
        limit = self.max_rows - 1
        written = 0
        row = first
        with self.zip.open(f"xl/worksheets/sheet{len(self.titles)}.xml", "w", force_zip64=True) as out:
            buffer = self._head(out, letters, headers, bold, freeze)
            strings = self._strings
            while row is not _END and written < limit:
                values = row if isinstance(row, list | tuple) else list(row)
                if len(values) > len(letters):
                    letters = _columns(len(values))
                written += 1
                line = str(written + 1)
                cells = [f'<row r="{line}">']
                # The common cells inline (a county's export is ~15 million of them); the rest in _xml_cell.
                for letter, value in zip(letters, values, strict=False):
                    if type(value) is str:
                        if not value:
                            continue
                        inner = strings.get(value)
                        if inner is None:
                            inner = f' t="inlineStr"><is><t xml:space="preserve">{_text(value)}</t></is></c>'
                            if len(strings) >= STRING_CACHE:
                                strings.clear()
                            strings[value] = inner
                        cells.append(f'<c r="{letter}{line}"{inner}')
                    elif value is None:
                        continue
                    elif type(value) is int:
                        cells.append(f'<c r="{letter}{line}"><v>{value}</v></c>')
                    else:
                        cells.append(_xml_cell(letter + line, value))
                cells.append("</row>")
                buffer.append("".join(cells))
                if len(buffer) >= FLUSH_ROWS:
                    out.write("".join(buffer).encode())
                    buffer.clear()
                row = next(rows, _END)
            buffer.append("</sheetData></worksheet>")
            out.write("".join(buffer).encode())
        return written, row

    def _head(self, out: Any, letters: list[str], headers: list, bold: bool, freeze: bool) -> list[str]:
        """Writes the sheet's start; returns the buffer of rows, holding the header row."""
        out.write((SHEET_HEAD + (FROZEN_HEADER if freeze else "") + "<sheetData>").encode())
        header_style = f' s="{STYLE_BOLD}"' if bold else ""
        cells = "".join(
            f'<c r="{letter}1" t="inlineStr"{header_style}><is><t xml:space="preserve">{_text(str(h))}</t></is></c>'
            for letter, h in zip(letters, headers, strict=False)
        )
        return [f'<row r="1">{cells}</row>']

    def _converted_part(
        self, name: str, headers: list, first: Any, rows: Any, bold: bool, freeze: bool, columns: list[_XmlColumn]
    ) -> tuple[int, Any]:
        """_part for rows of stored values: each row is its columns' kept elements joined, the row number put
        in with one replace; the bytes are compressed on a thread of their own. The same bytes as _part."""
        self.titles.append(name)
        limit = self.max_rows - 1
        written = 0
        row = first
        with self.zip.open(f"xl/worksheets/sheet{len(self.titles)}.xml", "w", force_zip64=True) as entry:
            out = _Deflating(entry)
            try:
                out.write("".join(self._head(out, _columns(len(headers)), headers, bold, freeze)).encode())
                buffer: list[bytes] = []
                append, join, cell_of = buffer.append, b"".join, _cell_of
                while row is not _END and written < limit:
                    written += 1
                    line = b"%d" % (written + 1)
                    append(join((b'<row r="', line, b'">', join(map(cell_of, columns, row)).replace(_ROW, line),
                                 b"</row>")))
                    if len(buffer) >= FLUSH_ROWS:
                        out.write(join(buffer))
                        buffer.clear()
                    row = next(rows, _END)
                buffer.append(b"</sheetData></worksheet>")
                out.write(join(buffer))
            finally:
                out.close()
        return written, row

    def close(self) -> None:
        if self.closed:
            return
        if not self.titles:
            self._part("Sheet", [], _END, iter(()), False, False)
        sheets = "".join(
            f'<sheet name="{escape(title, {chr(34): "&quot;"})}" sheetId="{n}" r:id="rId{n}"/>'
            for n, title in enumerate(self.titles, start=1)
        )
        self.zip.writestr(
            "xl/workbook.xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f"<sheets>{sheets}</sheets></workbook>",
        )
        relations = "".join(
            f'<Relationship Id="rId{n}" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
            f'Target="worksheets/sheet{n}.xml"/>'
            for n in range(1, len(self.titles) + 1)
        )
        styles = len(self.titles) + 1
        self.zip.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f"{relations}"
            f'<Relationship Id="rId{styles}" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
            'Target="styles.xml"/></Relationships>',
        )
        self.zip.close()
        self.closed = True

    def __enter__(self) -> "XlsxTables":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class CsvTables:
    """CSV: one table to one .csv (many=False), or several tables to a .zip of one .csv each (many=True)."""

    def __init__(self, target: Any, *, many: bool = False) -> None:
        self.many = many
        self.suffix = ".zip" if many else ".csv"
        self.rows = 0
        self.titles: list[str] = []
        self.closed = False
        self._owned = None
        if many:
            self.zip = zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL)
        else:
            self.zip = None
            if isinstance(target, str | bytes) or hasattr(target, "__fspath__"):
                target = self._owned = open(target, "wb")  # noqa: SIM115 (closed in close())
            self.target = target

    def sheet(
        self,
        title: str,
        headers: Iterable[Any],
        rows: Iterable[Iterable[Any]],
        *,
        converters: list[Callable[[Any], Any] | None] | None = None,
        **_options: Any,
    ) -> int:
        """Write one table; returns its number of data rows. converters: as XlsxTables.sheet's."""
        headers = list(headers)
        if converters is not None:
            if len(converters) != len(headers):
                raise ValueError("one converter per column")
            columns = [_Same() if c is None else _CsvColumn(c) for c in converters]
            rows = (map(_cell_of, columns, row) for row in rows)
        if not self.many and self.titles:
            raise ValueError("a single CSV file holds one table")
        name = str(title).translate(_TITLE_FORBIDDEN) or "table"
        while name in self.titles:
            name += "_"
        self.titles.append(name)
        raw = self.zip.open(f"{name}.csv", "w", force_zip64=True) if self.many else self.target
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="", write_through=False)
        counter = itertools.count()
        try:
            writer = csv.writer(text)
            writer.writerow([str(h) for h in headers])
            # csv writes None as an empty field; the callers' cells are text, numbers and dates already, so
            # the rows go to the C writer as they are (zip with the counter counts them on the way).
            writer.writerows(row for row, _n in zip(rows, counter, strict=False))
            text.flush()
        finally:
            if self.many:
                text.close()  # closes the zip entry
            else:
                text.detach()  # leaves the caller's file open
        count = next(counter)
        self.rows += count
        return count

    def close(self) -> None:
        if self.closed:
            return
        if self.many:
            self.zip.close()
        elif self._owned is not None:
            self._owned.close()
        self.closed = True

    def __enter__(self) -> "CsvTables":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


FORMATS = ("xlsx", "csv")


def open_tables(target: Any, file_format: str, *, many: bool = False) -> XlsxTables | CsvTables:
    """The writer of a download's format ("xlsx" or "csv"; many: CSV of several tables as a zip)."""
    if file_format == "csv":
        return CsvTables(target, many=many)
    if file_format == "xlsx":
        return XlsxTables(target)
    raise ValueError(f"unknown format {file_format!r}")
