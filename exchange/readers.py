"""Reading a department file: format, encoding, header, and its rows in chunks of strings.

A CSV is UTF-8, UTF-8 with a byte-order mark, or GBK (decoded as GB18030, its superset); the encoding is
found from the bytes unless the caller names one. An XLSX is read with calamine, a native reader about ten
times faster than openpyxl here; it holds the sheet in compact native memory (an XLSX sheet has at most
1,048,576 rows) and hands rows over one at a time. Either way the rows come as pandas DataFrames of stripped
strings, one chunk at a time, so that Python's memory does not grow with the file.

Bad input is bounded and worded, never a traceback:
- An XLSX whose first sheet declares (its <dimension>) more rows than the limit is refused before calamine
  reads it (calamine sizes its grid from the declaration). ``peek_header`` reads a file's header during a
  web request from a bounded number of bytes (CSV: the first megabyte; XLSX: a streamed parse of the first
  rows of the sheet and the first shared strings), never the whole sheet.
- A CSV is split into lines by this module, block by block, each line read up to MAX_LINE_BYTES. A line with
  a NUL byte, a line longer than the limit, or a quoted field that does not close within MAX_RECORD_LINES
  lines (an unbalanced quote, which would otherwise swallow the rest of the file) is one rejected row with
  its reason; the other rows are read as before (pandas' C parser for blocks with no quotes, the csv module
  for the rest). Such rows come in the chunk as their raw text in the first column, their reasons in
  ``frame.attrs["reader_rejects"]`` (position in the chunk → reason), for the validator to keep.
"""

import codecs
import csv
import datetime as dt
import hashlib
import io
import re
import unicodedata
import zipfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path, PurePosixPath
from xml.etree.ElementTree import ParseError, XMLPullParser, fromstring

import pandas as pd
from django.utils.translation import gettext as _

from exchange.declarations import Department

CHUNK_ROWS = 100_000
SNIFF_BYTES = 1 << 20
HASH_BLOCK = 1 << 22
ZIP_MAGIC = b"PK\x03\x04"
READ_BLOCK = 1 << 23  # bytes read at a time when splitting a CSV into lines
MAX_LINE_BYTES = 100_000  # one CSV line (a record); below the csv module's default field limit (131,072)
MAX_RECORD_LINES = 20  # a quoted field may run over this many lines at most (cells with line breaks)
SHOWN_RAW_CHARS = 500  # of a rejected line's raw text, kept in the rejected row
XLSX_MAX_COLUMNS = 1_000
XLSX_HEAD_BYTES = 1 << 16  # of a sheet's XML, where <dimension> is (it comes before the data)
HEADER_XML_BYTES = 1 << 20  # of a sheet's XML parsed for the header during a request
SHARED_STRINGS_BYTES = 1 << 22  # of the shared strings parsed for the header during a request
HEADER_SEARCH_ROWS = 50
DEFAULT_XLSX_MAX_ROWS = 500_000

# Names a caller may give for an encoding, and the decoder used for each.
ENCODING_ALIASES = {
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "utf8-sig": "utf-8-sig",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "gb18030": "gb18030",
    "cp936": "gb18030",
}


class FileRefused(Exception):
    """The file as a whole cannot be imported; the message says why, in Chinese, for the uploader."""


@dataclass(frozen=True)
class FileFacts:
    sha256: str
    size_bytes: int
    line_count: int  # newline characters (CSV); an upper bound of the data rows + 1


def file_facts(path: Path) -> FileFacts:
    """SHA-256, size and newline count in one pass over the bytes."""
    digest = hashlib.sha256()
    size = lines = 0
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
            size += len(block)
            lines += block.count(b"\n")
    return FileFacts(digest.hexdigest(), size, lines)


def detect_format(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(4)
    if head == ZIP_MAGIC:
        return "xlsx"
    if path.suffix.lower() in {".xls"}:
        raise FileRefused(_("不支持旧版 Excel（.xls）文件，请另存为 .xlsx 或 CSV 后再上传。"))
    return "csv"


def normalise_encoding(name: str) -> str:
    key = name.strip().lower().replace("_", "-")
    if key in ENCODING_ALIASES:
        return ENCODING_ALIASES[key]
    try:
        return codecs.lookup(key).name
    except LookupError as exc:
        raise FileRefused(
            _("不认识的编码“%(name)s”。可用：UTF-8、UTF-8-SIG（带 BOM）、GBK。") % {"name": name}
        ) from exc


def detect_encoding(sample: bytes) -> str:
    """BOM; else strict UTF-8 over the sample (an incomplete last character allowed); else GB18030."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")(errors="strict").decode(sample, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def header_key(text: str) -> str:
    """Headers match whatever their width or spacing: 金额（元） and 金额(元) are the same column."""
    return "".join(unicodedata.normalize("NFKC", str(text)).split()).lower()


@dataclass
class HeaderMatch:
    """How the file's header maps onto the declaration."""

    positions: dict[str, int]  # declared field name → column position in the file
    headers: list[str]  # the file's header, as written
    extra: list[str] = field(default_factory=list)  # columns the declaration does not know (ignored)
    absent_optional: list[str] = field(default_factory=list)


def match_header(department: Department, headers: list[str]) -> HeaderMatch:
    keys = [header_key(h) for h in headers]
    seen: set[str] = set()
    for key, text in zip(keys, headers, strict=True):
        if key and key in seen:
            raise FileRefused(_("表头中的列“%(column)s”出现了不止一次，请删去重复的列。") % {"column": text})
        seen.add(key)
    positions: dict[str, int] = {}
    missing: list[str] = []
    absent: list[str] = []
    for spec in department.fields:
        key = header_key(spec.column)
        if key in keys:
            positions[spec.name] = keys.index(key)
        elif spec.required:
            missing.append(spec.column)
        else:
            absent.append(spec.column)
    if missing:
        raise FileRefused(
            _("文件缺少%(department)s数据的必填列：%(missing)s。请核对表头（第一行），应包含：%(columns)s。")
            % {"department": department.name, "missing": "、".join(missing), "columns": "、".join(department.columns)}
        )
    known = set(positions.values())
    extra = [h for i, h in enumerate(headers) if i not in known and str(h).strip()]
    return HeaderMatch(positions=positions, headers=headers, extra=extra, absent_optional=absent)


class FileReader:
    """One department file: its format, encoding and header, and its rows as chunks of strings."""

    def __init__(
        self,
        path: Path,
        *,
        encoding: str | None = None,
        chunk_rows: int | None = None,
        max_xlsx_rows: int | None = None,
    ):
        self.path = Path(path)
        self.chunk_rows = chunk_rows or CHUNK_ROWS
        self.format = detect_format(self.path)
        self._loaded_sheet = None
        self.encoding = ""
        self.delimiter = ","
        self.max_xlsx_rows = max_xlsx_rows or DEFAULT_XLSX_MAX_ROWS
        if self.format == "csv":
            with self.path.open("rb") as handle:
                sample = handle.read(SNIFF_BYTES)
            self.encoding = normalise_encoding(encoding) if encoding else detect_encoding(sample)
            self.headers = self._csv_header(sample)
        else:
            check_xlsx_dimensions(self.path, max_rows=self.max_xlsx_rows)
            self.headers = self._xlsx_header()

    # --- CSV -----------------------------------------------------------------------------------------

    def _csv_header(self, sample: bytes) -> list[str]:
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")
        text = decoder.decode(sample, final=False).lstrip("\ufeff")
        first_line = text.split("\n", 1)[0]
        if not first_line.strip():
            raise FileRefused(_("文件是空的，或第一行（表头）为空。"))
        if "\ufffd" in first_line:
            raise FileRefused(
                _("表头不能按 %(encoding)s 编码读出，请确认文件编码（UTF-8 或 GBK），或在导入时指定编码。")
                % {"encoding": self.encoding}
            )
        return self._header_fields(first_line)

    def _header_fields(self, first_line: str) -> list[str]:
        if "\x00" in first_line:
            raise FileRefused(_("表头（第一行）中有空字符（NUL），文件可能已损坏，请重新导出后再上传。"))
        if len(first_line) > MAX_LINE_BYTES:
            raise FileRefused(
                _("表头（第一行）超过 %(n)s 个字符，不是部门数据文件的表头，请核对文件。") % {"n": MAX_LINE_BYTES}
            )
        if first_line.count("\t") > first_line.count(","):
            self.delimiter = "\t"
        try:
            return [h.strip() for h in next(csv.reader([first_line], delimiter=self.delimiter))]
        except (csv.Error, StopIteration) as exc:
            raise FileRefused(_("表头（第一行）不能按 CSV 格式读出，请核对引号和分隔符。")) from exc

    def _csv_chunks(self) -> Iterator[pd.DataFrame]:
        if self.encoding.startswith("utf-16"):
            yield from self._csv_chunks_pandas()
            return
        width = len(self.headers)
        try:
            for records in _csv_records(self.path, self.chunk_rows, width=width, sep=self.delimiter):
                yield self._csv_frame(records, width)
        except UnicodeDecodeError as exc:
            raise FileRefused(
                _(
                    "文件中有不能按 %(encoding)s 编码读出的内容，请确认文件编码（UTF-8 或 GBK）后重新导出，"
                    "或在导入时指定编码。"
                )
                % {"encoding": self.encoding}
            ) from exc

    def _csv_frame(self, records: list, width: int) -> pd.DataFrame:
        """One chunk of records (bytes, or _Bad for a line refused as it was read) as a frame of strings."""
        names = [f"c{i}" for i in range(width)]
        encoding, sep = self.encoding, self.delimiter
        if not any(isinstance(r, _Bad) for r in records):
            data = b"\n".join(records) + b"\n"
            if b'"' not in data:
                # No quotes: pandas' C parser, one record per line, as fast as reading the file directly.
                frame = self._pandas_frame(data.decode(encoding), names)
                if len(frame) == len(records):
                    return frame
        rows: list[list[str]] = []
        rejects: dict[int, str] = {}
        for position, record in enumerate(records):
            if isinstance(record, _Bad):
                rejects[position] = record.reason
                rows.append(_raw_row(record.raw.decode(encoding, errors="replace"), width))
                continue
            text = record.decode(encoding)
            try:
                fields = next(csv.reader([text.rstrip("\r")], delimiter=sep), [])
            except csv.Error:
                rejects[position] = _("本行不能按 CSV 格式读出（引号或字段长度有误）。")
                rows.append(_raw_row(text, width))
                continue
            fields = fields[:width]
            fields.extend([""] * (width - len(fields)))
            rows.append(fields)
        frame = pd.DataFrame(rows, columns=names, dtype=object)
        if rejects:
            frame.attrs["reader_rejects"] = rejects
        return frame

    def _pandas_frame(self, text: str, names: list[str]) -> pd.DataFrame:
        try:
            return pd.read_csv(
                io.StringIO(text),
                sep=self.delimiter,
                header=None,
                names=names,
                usecols=range(len(names)),
                dtype=object,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=False,
                engine="c",
                on_bad_lines="error",
            )
        except pd.errors.EmptyDataError:
            return pd.DataFrame(columns=names, dtype=object)
        except pd.errors.ParserError as exc:
            raise FileRefused(_("CSV 格式错误，无法逐行读出：%(error)s") % {"error": exc}) from exc

    def _csv_chunks_pandas(self) -> Iterator[pd.DataFrame]:
        names = [f"c{i}" for i in range(len(self.headers))]
        try:
            reader = pd.read_csv(
                self.path,
                sep=self.delimiter,
                header=None,
                skiprows=1,
                names=names,
                usecols=range(len(names)),
                dtype=object,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=False,
                encoding=self.encoding,
                encoding_errors="strict",
                chunksize=self.chunk_rows,
                engine="c",
                on_bad_lines="error",
            )
            with reader:
                yield from reader
        except UnicodeDecodeError as exc:
            raise FileRefused(
                _(
                    "文件中有不能按 %(encoding)s 编码读出的内容，请确认文件编码（UTF-8 或 GBK）后重新导出，"
                    "或在导入时指定编码。"
                )
                % {"encoding": self.encoding}
            ) from exc
        except pd.errors.ParserError as exc:
            raise FileRefused(_("CSV 格式错误，无法逐行读出：%(error)s") % {"error": exc}) from exc

    # --- XLSX ----------------------------------------------------------------------------------------

    def _sheet(self):
        """The first worksheet, read once (calamine reads a sheet whole, in compact native memory)."""
        if self._loaded_sheet is None:
            from python_calamine import CalamineWorkbook

            try:
                self._loaded_sheet = CalamineWorkbook.from_path(str(self.path)).get_sheet_by_index(0)
            except Exception as exc:  # calamine raises several kinds (zip, XML, password) for a damaged workbook
                raise FileRefused(_("无法打开 Excel 文件：%(error)s") % {"error": exc}) from exc
            if self._loaded_sheet.height > self.max_xlsx_rows + 1:  # a sheet that declared no dimension
                raise FileRefused(_too_many_rows(self._loaded_sheet.height, self.max_xlsx_rows))
        return self._loaded_sheet

    def _xlsx_rows(self) -> Iterator[list]:
        """The sheet's rows from the header row on (blank rows above it skipped)."""
        rows = self._sheet().iter_rows()
        for row in rows:
            if any(cell not in (None, "") for cell in row):
                yield row
                break
        yield from rows

    def _xlsx_header(self) -> list[str]:
        for row in self._xlsx_rows():
            headers = [cell_text(cell) for cell in row]
            while headers and not headers[-1]:
                headers.pop()
            return headers
        raise FileRefused(_("Excel 文件的第一个工作表是空的。"))

    def _xlsx_chunks(self) -> Iterator[pd.DataFrame]:
        width = len(self.headers)
        names = [f"c{i}" for i in range(width)]
        rows = self._xlsx_rows()
        next(rows, None)  # the header
        block: list[list[str]] = []
        for row in rows:
            values = [cell_text(cell) for cell in row[:width]]
            values.extend([""] * (width - len(values)))
            block.append(values)
            if len(block) >= self.chunk_rows:
                yield pd.DataFrame(block, columns=names, dtype=object)
                block = []
        if block:
            yield pd.DataFrame(block, columns=names, dtype=object)

    def xlsx_row_count(self) -> int:
        return max(self._sheet().height - 1, 0)

    # --- Either --------------------------------------------------------------------------------------

    def chunks(self) -> Iterator[pd.DataFrame]:
        """Chunks of the data rows (header excluded), columns c0…cN in the file's order, values stripped."""
        source = self._csv_chunks() if self.format == "csv" else self._xlsx_chunks()
        for frame in source:
            for position in range(frame.shape[1]):
                column = frame.iloc[:, position]
                if needs_strip(column):
                    frame.isetitem(position, column.str.strip())
            yield frame


# --- CSV lines and records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bad:
    """A CSV line refused as it was read: its raw bytes (cut short) and why."""

    raw: bytes
    reason: str


def _raw_row(text: str, width: int) -> list[str]:
    """A refused line as a row: its raw text (NUL shown as ␀, cut short) in the first column."""
    shown = text.rstrip("\r\n").replace("\x00", "\u2400") or "\u2400"
    if len(shown) > SHOWN_RAW_CHARS:
        shown = shown[:SHOWN_RAW_CHARS] + "…"
    return [shown] + [""] * (width - 1)


def _line_blocks(path: Path) -> Iterator[tuple[list[bytes | _Bad], bool]]:
    """The file's lines after the header (without their newline), a block at a time, and whether the block
    is clean (no quote, no NUL, no over-long line). A line longer than MAX_LINE_BYTES is skipped to its end
    and given as _Bad, so that memory stays bounded whatever the file."""
    with path.open("rb") as handle:
        carry, header, skipping = b"", True, False
        while True:
            block = handle.read(READ_BLOCK)
            if not block:
                break
            data = carry + block if carry else block
            cut = data.rfind(b"\n")
            complete, carry = (data[: cut + 1], data[cut + 1 :]) if cut >= 0 else (b"", data)
            if complete and (skipping or header):
                complete = complete[complete.find(b"\n") + 1 :]  # the rest of a long line, or the header
                skipping = header = False
            if complete:
                lines = complete.split(b"\n")
                lines.pop()  # after the last newline
                long = max(map(len, lines), default=0) > MAX_LINE_BYTES
                clean = not long and b'"' not in complete and b"\x00" not in complete
                if long:
                    lines = [
                        _Bad(line[: SHOWN_RAW_CHARS * 4], _too_long()) if len(line) > MAX_LINE_BYTES else line
                        for line in lines
                    ]
                yield lines, clean
            if len(carry) > MAX_LINE_BYTES:
                if header:
                    raise FileRefused(_("表头（第一行）过长，不是部门数据文件的表头，请核对文件。"))
                if not skipping:
                    yield [_Bad(carry[: SHOWN_RAW_CHARS * 4], _too_long())], False
                skipping, carry = True, b""
        if carry and not skipping and not header:
            yield [carry], b'"' not in carry and b"\x00" not in carry


def _field_count(record: bytes, sep: str) -> int:
    """Fields of a record joined over several lines (the encodings read here keep ASCII bytes as they are)."""
    try:
        text = record.decode("latin-1")
        return len(next(csv.reader([text], delimiter=sep), []))
    except csv.Error:
        return -1


def _too_long() -> str:
    return _("本行超过 %(n)s 个字节，过长，未读取（可能缺少换行或有未闭合的引号）。") % {"n": MAX_LINE_BYTES}


def _unbalanced() -> str:
    return _("本行的引号不成对（有开始的引号而没有结束的引号），本行未读取；其余各行照常读取。")


def _csv_records(path: Path, chunk_rows: int, *, width: int, sep: str) -> Iterator[list[bytes | _Bad]]:
    """Chunks of records: a record is a line, or several joined by newlines when a quoted field holds line
    breaks.

    Clean blocks (no quote, no NUL, no long line) pass whole. Otherwise, line by line: a line with an odd
    number of quotes opens a quoted field; the following lines join it until the quotes balance, within
    MAX_RECORD_LINES lines and MAX_LINE_BYTES, into a record of exactly the header's number of fields. If
    they do not, the line alone is a rejected record (unbalanced quote) and reading goes on with the next
    line: one bad quote costs one row."""
    waiting: deque[bytes | _Bad] = deque()  # lines not yet made into records
    records: list[bytes | _Bad] = []

    def settle(final: bool) -> None:
        # Keep MAX_RECORD_LINES lines of look-ahead until the end of the file.
        while waiting and (final or len(waiting) >= MAX_RECORD_LINES):
            line = waiting.popleft()
            if isinstance(line, _Bad) or (b"\x00" not in line and not line.count(b'"') % 2):
                records.append(line)
                continue
            if b"\x00" in line:
                reason = _("本行含有空字符（NUL），文件可能已损坏，本行未读取。")
                records.append(_Bad(line[: SHOWN_RAW_CHARS * 4], reason))
                continue
            quotes, size, joined = line.count(b'"'), len(line), [line]
            for following in list(islice(waiting, MAX_RECORD_LINES - 1)):
                if isinstance(following, _Bad) or b"\x00" in following:
                    break
                joined.append(following)
                quotes += following.count(b'"')
                size += len(following) + 1
                if size > MAX_LINE_BYTES or not quotes % 2:
                    break
            record = b"\n".join(joined)
            if not quotes % 2 and size <= MAX_LINE_BYTES and _field_count(record, sep) == width:
                for _line in joined[1:]:
                    waiting.popleft()
                records.append(record)
            else:
                records.append(_Bad(line[: SHOWN_RAW_CHARS * 4], _unbalanced()))

    for lines, clean in _line_blocks(path):
        if clean and not waiting:
            records.extend(lines)
        else:
            waiting.extend(lines)
            settle(final=False)
        while len(records) >= chunk_rows:
            yield records[:chunk_rows]
            del records[:chunk_rows]
    settle(final=True)
    while records:
        yield records[:chunk_rows]
        del records[:chunk_rows]


# --- XLSX without reading the sheet ----------------------------------------------------------------------


_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"\$?([A-Z]{1,3})\$?(\d+)(?::\$?([A-Z]{1,3})\$?(\d+))?\"")
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


def column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


def _too_many_rows(rows: int, limit: int) -> str:
    return _(
        "Excel 文件的工作表声明有 %(rows)s 行，超过了允许的 %(limit)s 行，未读取。"
        "请确认工作表没有多余的空行（可另存为 CSV），或分成几个文件上传。"
    ) % {"rows": f"{rows:,}", "limit": f"{limit:,}"}


def _open_workbook(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FileRefused(_("无法打开 Excel 文件：文件已损坏或不是 .xlsx 工作簿。")) from exc


def _read_bounded(book: zipfile.ZipFile, name: str, limit: int) -> bytes:
    with book.open(name) as handle:
        head = handle.read(limit)
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise FileRefused(_("Excel 文件中含有不允许的 XML 声明（DOCTYPE），未读取。"))
    return head


def _first_sheet(book: zipfile.ZipFile) -> tuple[str, str | None]:
    """The first worksheet's part name (as calamine picks it: the first <sheet> of the workbook), and the
    shared strings' part name if there is one."""
    try:
        workbook = _parse_small(_read_bounded(book, "xl/workbook.xml", 1 << 20))
        rels = _parse_small(_read_bounded(book, "xl/_rels/workbook.xml.rels", 1 << 20))
    except KeyError as exc:
        raise FileRefused(_("无法打开 Excel 文件：工作簿缺少必要的部分。")) from exc
    targets = {}
    shared = None
    for rel in rels.iter(f"{{{_PKG_REL_NS}}}Relationship"):
        target = rel.get("Target", "")
        path = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
        targets[rel.get("Id")] = path
        if rel.get("Type", "").endswith("/sharedStrings"):
            shared = path
    sheet = next(workbook.iter(f"{{{_MAIN_NS}}}sheet"), None)
    if sheet is None or targets.get(sheet.get(f"{{{_REL_NS}}}id")) not in book.namelist():
        raise FileRefused(_("Excel 文件中没有工作表。"))
    return targets[sheet.get(f"{{{_REL_NS}}}id")], shared if shared in book.namelist() else None


def _parse_small(data: bytes):
    try:
        return fromstring(data)
    except ParseError as exc:
        raise FileRefused(_("无法打开 Excel 文件：工作簿的结构无法读出。")) from exc


def xlsx_dimensions(path: Path) -> tuple[int, int] | None:
    """(rows, columns) the first sheet declares in its <dimension>, read from the sheet's first bytes only;
    None if it declares none."""
    with _open_workbook(path) as book:
        sheet, _shared = _first_sheet(book)
        head = _read_bounded(book, sheet, XLSX_HEAD_BYTES)
    match = _DIMENSION.search(head)
    if not match:
        return None
    first_col, first_row, last_col, last_row = match.groups()
    rows = int(last_row or first_row)
    columns = column_number((last_col or first_col).decode())
    return rows, columns


def check_xlsx_dimensions(path: Path, *, max_rows: int) -> None:
    """Refuse a workbook whose first sheet declares more rows (header included) or columns than allowed."""
    dimensions = xlsx_dimensions(path)
    if dimensions is None:
        return
    rows, columns = dimensions
    if rows > max_rows + 1:
        raise FileRefused(_too_many_rows(rows, max_rows))
    if columns > XLSX_MAX_COLUMNS:
        raise FileRefused(
            _("Excel 文件的工作表声明有 %(n)s 列，超过了允许的 %(limit)s 列，未读取。")
            % {"n": f"{columns:,}", "limit": f"{XLSX_MAX_COLUMNS:,}"}
        )


def _xlsx_header_bounded(path: Path) -> list[str] | None:
    """The first non-empty row of the first sheet, from at most HEADER_XML_BYTES of its XML and
    SHARED_STRINGS_BYTES of the shared strings; None if it is not found within those bounds."""
    with _open_workbook(path) as book:
        sheet, shared_name = _first_sheet(book)
        cells: dict[int, tuple[str, str]] = {}
        parser = XMLPullParser(events=("end",))
        seen_rows = 0
        found = False
        with book.open(sheet) as handle:
            read = 0
            while not found and read < HEADER_XML_BYTES:
                data = handle.read(min(1 << 15, HEADER_XML_BYTES - read))
                if not data:
                    break
                if read == 0 and (b"<!DOCTYPE" in data or b"<!ENTITY" in data):
                    raise FileRefused(_("Excel 文件中含有不允许的 XML 声明（DOCTYPE），未读取。"))
                read += len(data)
                try:
                    parser.feed(data)
                    for _event, element in parser.read_events():
                        if element.tag != f"{{{_MAIN_NS}}}row":
                            continue
                        seen_rows += 1
                        cells = _row_cells(element)
                        element.clear()
                        if any(value for _kind, value in cells.values()):
                            found = True
                            break
                        if seen_rows >= HEADER_SEARCH_ROWS:
                            return None
                except ParseError as exc:
                    raise FileRefused(_("无法打开 Excel 文件：工作表的内容无法读出。")) from exc
        if not found:
            return None
        wanted = {int(value) for kind, value in cells.values() if kind == "s" and value.isdigit()}
        strings = _shared_strings(book, shared_name, max(wanted)) if wanted else {}
        if strings is None:
            return None
    width = max(cells) if cells else 0
    headers = [""] * width
    for column, (kind, value) in cells.items():
        text = strings.get(int(value), "") if kind == "s" and value.isdigit() else value
        headers[column - 1] = cell_text(text)
    while headers and not headers[-1]:
        headers.pop()
    return headers


def _row_cells(row) -> dict[int, tuple[str, str]]:
    cells: dict[int, tuple[str, str]] = {}
    next_column = 1
    for cell in row.iter(f"{{{_MAIN_NS}}}c"):
        reference = cell.get("r", "")
        letters = "".join(ch for ch in reference if ch.isalpha())
        column = column_number(letters) if letters else next_column
        next_column = column + 1
        if column > XLSX_MAX_COLUMNS:
            break
        kind = cell.get("t", "n")
        if kind == "inlineStr":
            text = "".join(t.text or "" for t in cell.iter(f"{{{_MAIN_NS}}}t"))
            cells[column] = ("str", text)
        else:
            value = cell.find(f"{{{_MAIN_NS}}}v")
            text = value.text or "" if value is not None else ""
            if kind == "b":
                text = "是" if text == "1" else "否"
            elif kind == "n" and text:
                try:
                    number = float(text)
                    text = str(int(number)) if number.is_integer() else text
                except ValueError:
                    pass
            cells[column] = ("s" if kind == "s" else "str", text)
    return cells


def _shared_strings(book: zipfile.ZipFile, name: str | None, last: int) -> dict[int, str] | None:
    """Shared strings 0…last, streamed from at most SHARED_STRINGS_BYTES; None if not all were reached."""
    if name is None:
        return None
    parser = XMLPullParser(events=("end",))
    found: dict[int, str] = {}
    index = 0
    read = 0
    with book.open(name) as handle:
        while read < SHARED_STRINGS_BYTES:
            data = handle.read(min(1 << 15, SHARED_STRINGS_BYTES - read))
            if not data:
                break
            if read == 0 and (b"<!DOCTYPE" in data or b"<!ENTITY" in data):
                raise FileRefused(_("Excel 文件中含有不允许的 XML 声明（DOCTYPE），未读取。"))
            read += len(data)
            try:
                parser.feed(data)
                for _event, element in parser.read_events():
                    if element.tag != f"{{{_MAIN_NS}}}si":
                        continue
                    # Phonetic runs (<rPh>) are not part of the text.
                    parts = [t.text or "" for t in element.iter(f"{{{_MAIN_NS}}}t")]
                    phonetic = [t.text or "" for ph in element.iter(f"{{{_MAIN_NS}}}rPh") for t in ph]
                    text = "".join(parts)
                    for piece in phonetic:
                        text = text.replace(piece, "", 1)
                    found[index] = text
                    index += 1
                    element.clear()
                    if index > last:
                        return found
            except ParseError as exc:
                raise FileRefused(_("无法打开 Excel 文件：共享字符串无法读出。")) from exc
    return None


@dataclass
class HeaderPeek:
    format: str
    encoding: str
    headers: list[str] | None  # None: not found within the bounds (the background import reads it)


def peek_header(path: Path, *, encoding: str | None = None, max_xlsx_rows: int | None = None) -> HeaderPeek:
    """A file's format, encoding and header from a bounded read, for checks during a web request.

    CSV: the first SNIFF_BYTES. XLSX: the declared dimensions are checked, then the first rows of the first
    sheet are parsed as a stream (HEADER_XML_BYTES at most, shared strings SHARED_STRINGS_BYTES at most)."""
    path = Path(path)
    kind = detect_format(path)
    if kind == "csv":
        reader = FileReader.__new__(FileReader)
        reader.path, reader.delimiter, reader.format = path, ",", "csv"
        with path.open("rb") as handle:
            sample = handle.read(SNIFF_BYTES)
        reader.encoding = normalise_encoding(encoding) if encoding else detect_encoding(sample)
        return HeaderPeek("csv", reader.encoding, reader._csv_header(sample))
    check_xlsx_dimensions(path, max_rows=max_xlsx_rows or DEFAULT_XLSX_MAX_ROWS)
    headers = _xlsx_header_bounded(path)
    if headers is not None and not headers:
        raise FileRefused(_("Excel 文件的第一个工作表是空的。"))
    return HeaderPeek("xlsx", "", headers)


EDGE_SPACES = (" ", "\t", "\u3000", "\xa0", "\r", "\n")
_SEP = "\x1f"


def needs_strip(column: pd.Series) -> bool:
    """Whether any value starts or ends with a space, found by a few C-speed substring searches."""
    joined = _SEP + _SEP.join(column.to_numpy(dtype=object)) + _SEP
    return any(_SEP + space in joined or space + _SEP in joined for space in EDGE_SPACES)


def cell_text(value) -> str:
    """An XLSX cell as the text a department meant: 2025-03-01 for a date, 1200 for 1200.0."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value).strip()
