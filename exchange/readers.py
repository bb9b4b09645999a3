"""Reading a department file: format, encoding, header, and its rows in chunks of strings.

A CSV is UTF-8, UTF-8 with a byte-order mark, or GBK (decoded as GB18030, its superset); the encoding is
found from the bytes unless the caller names one. An XLSX is read with calamine, a native reader about ten
times faster than openpyxl here; it holds the sheet in compact native memory (an XLSX sheet has at most
1,048,576 rows) and hands rows over one at a time. Either way the rows come as pandas DataFrames of stripped
strings, one chunk at a time, so that Python's memory does not grow with the file.
"""

import codecs
import csv
import datetime as dt
import hashlib
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from exchange.declarations import Department

CHUNK_ROWS = 100_000
SNIFF_BYTES = 1 << 20
HASH_BLOCK = 1 << 22
ZIP_MAGIC = b"PK\x03\x04"

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
        raise FileRefused("不支持旧版 Excel（.xls）文件，请另存为 .xlsx 或 CSV 后再上传。")
    return "csv"


def normalise_encoding(name: str) -> str:
    key = name.strip().lower().replace("_", "-")
    if key in ENCODING_ALIASES:
        return ENCODING_ALIASES[key]
    try:
        return codecs.lookup(key).name
    except LookupError as exc:
        raise FileRefused(f"不认识的编码“{name}”。可用：UTF-8、UTF-8-SIG（带 BOM）、GBK。") from exc


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
            raise FileRefused(f"表头中的列“{text}”出现了不止一次，请删去重复的列。")
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
            f"文件缺少{department.name}数据的必填列：{'、'.join(missing)}。"
            f"请核对表头（第一行），应包含：{'、'.join(department.columns)}。"
        )
    known = set(positions.values())
    extra = [h for i, h in enumerate(headers) if i not in known and str(h).strip()]
    return HeaderMatch(positions=positions, headers=headers, extra=extra, absent_optional=absent)


class FileReader:
    """One department file: its format, encoding and header, and its rows as chunks of strings."""

    def __init__(self, path: Path, *, encoding: str | None = None, chunk_rows: int | None = None):
        self.path = Path(path)
        self.chunk_rows = chunk_rows or CHUNK_ROWS
        self.format = detect_format(self.path)
        self._loaded_sheet = None
        self.encoding = ""
        self.delimiter = ","
        if self.format == "csv":
            with self.path.open("rb") as handle:
                sample = handle.read(SNIFF_BYTES)
            self.encoding = normalise_encoding(encoding) if encoding else detect_encoding(sample)
            self.headers = self._csv_header(sample)
        else:
            self.headers = self._xlsx_header()

    # --- CSV -----------------------------------------------------------------------------------------

    def _csv_header(self, sample: bytes) -> list[str]:
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")
        text = decoder.decode(sample, final=False).lstrip("\ufeff")
        first_line = text.split("\n", 1)[0]
        if not first_line.strip():
            raise FileRefused("文件是空的，或第一行（表头）为空。")
        if "\ufffd" in first_line:
            raise FileRefused(
                f"表头不能按 {self.encoding} 编码读出，请确认文件编码（UTF-8 或 GBK），或在导入时指定编码。"
            )
        if first_line.count("\t") > first_line.count(","):
            self.delimiter = "\t"
        return [h.strip() for h in next(csv.reader([first_line], delimiter=self.delimiter))]

    def _csv_chunks(self) -> Iterator[pd.DataFrame]:
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
                f"文件中有不能按 {self.encoding} 编码读出的内容，请确认文件编码（UTF-8 或 GBK）后重新导出，"
                f"或在导入时指定编码。"
            ) from exc
        except pd.errors.ParserError as exc:
            raise FileRefused(f"CSV 格式错误，无法逐行读出：{exc}") from exc

    # --- XLSX ----------------------------------------------------------------------------------------

    def _sheet(self):
        """The first worksheet, read once (calamine reads a sheet whole, in compact native memory)."""
        if self._loaded_sheet is None:
            from python_calamine import CalamineWorkbook

            try:
                self._loaded_sheet = CalamineWorkbook.from_path(str(self.path)).get_sheet_by_index(0)
            except Exception as exc:  # calamine raises several kinds (zip, XML, password) for a damaged workbook
                raise FileRefused(f"无法打开 Excel 文件：{exc}") from exc
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
        raise FileRefused("Excel 文件的第一个工作表是空的。")

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
