"""The files of a performance report: XLSX (one sheet per section, numbers stored as numbers, a definitions
sheet and the manifest), PDF (matplotlib with a CJK font: charts, tables and the definitions) and CSV ledgers.
Every text cell a spreadsheet would run as a formula is neutralised."""

import csv
import io
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import pandas as pd
from django.utils.translation import gettext as _
from matplotlib import font_manager
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from households.charts import NO_DATA, has_data
from households.spreadsheets import neutralise_formula
from reports.performance import HEADLINE, TABLE_LABELS, Chart, Ledger, PerformanceReport, Section, key_values

# Fonts that cover simplified Chinese, best first; fonts-noto-cjk provides the first two.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Serif CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
)
A4 = (8.27, 11.69)
TABLE_ROWS_PER_PAGE = 28


class NoChineseFont(RuntimeError):
    pass


@lru_cache(maxsize=1)
def cjk_font() -> str:
    """The family name of an installed font that draws Chinese, for matplotlib."""
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in installed:
            return family
    for name in sorted(installed):
        if "CJK" in name and ("SC" in name or "JP" in name):
            return name
    raise NoChineseFont(_("没有找到可显示中文的字体（请安装 fonts-noto-cjk）。"))


def chart_style() -> dict[str, Any]:
    return {
        "font.family": [cjk_font()],
        "font.size": 9,
        "axes.unicode_minus": False,
        # TrueType outlines embedded (subsetted): the PDF shows and copies the Chinese text as text.
        "pdf.fonttype": 42,
    }


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, int | float):
        return value
    return neutralise_formula(str(value))


def _sheet_title(title: str, used: set[str]) -> str:
    name = "".join(c for c in title if c not in "[]:*?/\\")[:28] or "Sheet"
    candidate, n = name, 2
    while candidate in used:
        candidate, n = f"{name}{n}", n + 1
    used.add(candidate)
    return candidate


# --- XLSX ---------------------------------------------------------------------------------------------


def tr(value: Any) -> Any:
    """A report's text in the active language: the content keeps its Chinese source strings (it is cached and
    shared), and the files translate them as they write them. Data (names, codes, numbers) passes through."""
    return _(value) if isinstance(value, str) and value else value


def table_label(name: str) -> str:
    return tr(TABLE_LABELS.get(name, name))


def chart_title(chart: Chart) -> str:
    return tr(chart.title) % chart.params if chart.params else tr(chart.title)


def manifest_rows(manifest: dict[str, Any]) -> list[tuple[str, Any]]:
    parameters = manifest.get("parameters", {})
    rows: list[tuple[str, Any]] = [
        (_("报告编号"), manifest.get("report")),
        (_("生成人"), manifest.get("generated_by")),
        (_("生成时间"), manifest.get("generated_at")),
        (_("区划"), f"{parameters.get('region_name', '')}（{parameters.get('region', '')}）"),
        (_("统计期"), _("%(start)s 至 %(end)s") % {"start": parameters.get("start"), "end": parameters.get("end")}),
        (_("收入年度"), parameters.get("income_year") or "—"),
        (_("所读数据 SHA-256"), manifest.get("data_sha256")),
    ]
    rows += [
        (_("读取行数：%(table)s") % {"table": table_label(name)}, count)
        for name, count in sorted(manifest.get("row_counts", {}).items())
    ]
    return rows


def xlsx_bytes(report: PerformanceReport, manifest: dict[str, Any]) -> bytes:
    book = Workbook()
    used: set[str] = set()
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    cover = book.active
    cover.title = _sheet_title(_("报告清单"), used)
    cover.append([_cell(_("成效考核报告：%(region)s") % {"region": report.region_name}), None])
    cover["A1"].font = Font(bold=True, size=14)
    for label, value in manifest_rows(manifest):
        cover.append([_cell(label), _cell(value)])
    cover.column_dimensions["A"].width = 34
    cover.column_dimensions["B"].width = 70

    for section in report.sections:
        sheet = book.create_sheet(_sheet_title(tr(section.title), used))
        sheet.append([_cell(tr(section.title))])
        sheet["A1"].font = Font(bold=True, size=13)
        sheet.append([_cell(_("定义")), _cell(tr(section.definition))])
        sheet["B2"].alignment = wrap
        sheet.row_dimensions[2].height = 90
        for caption, frame in section.tables:
            sheet.append([])
            sheet.append([_cell(tr(caption))])
            sheet.cell(row=sheet.max_row, column=1).font = bold
            sheet.append([_cell(tr(c)) for c in frame.columns])
            for cell in sheet[sheet.max_row]:
                cell.font = bold
            for row in frame.itertuples(index=False):
                sheet.append([_cell(tr(v)) for v in row])
        sheet.column_dimensions["A"].width = 34
        for column in "BCDEFGHI":
            sheet.column_dimensions[column].width = 16
        sheet.column_dimensions["B"].width = (
            60 if section.tables and list(section.tables[0][1].columns) == ["指标", "数值"] else 16
        )

    definitions = book.create_sheet(_sheet_title(_("指标定义"), used))
    definitions.append([_cell(_("指标")), _cell(_("定义"))])
    for cell in definitions[1]:
        cell.font = bold
    for section in report.sections:
        definitions.append([_cell(tr(section.title)), _cell(tr(section.definition))])
        definitions.cell(row=definitions.max_row, column=2).alignment = wrap
    definitions.column_dimensions["A"].width = 24
    definitions.column_dimensions["B"].width = 100
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- CSV ledgers --------------------------------------------------------------------------------------


def csv_bytes(ledger: Ledger) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise_formula(tr(c)) for c in ledger.columns])
    translated: dict[str, str] = {}  # a ledger repeats a few labels (events, methods) over many rows

    def cell(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value not in translated:
            translated[value] = neutralise_formula(tr(value))
        return translated[value]

    for row in ledger.rows:
        writer.writerow([cell(v) for v in row])
    # UTF-8 with a byte order mark: Excel opens it as UTF-8 rather than the local code page.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# --- PDF ----------------------------------------------------------------------------------------------


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def wrap_text(text: str, width: int) -> list[str]:
    """Lines of at most `width` columns, a Chinese character counting two."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for char in paragraph:
            if display_width(line + char) > width:
                lines.append(line)
                line = char
            else:
                line += char
        lines.append(line)
    return lines


def _page(title: str) -> tuple[Figure, float]:
    figure = Figure(figsize=A4)
    figure.text(0.08, 0.95, title, fontsize=15, weight="bold", va="top")
    return figure, 0.91


def _paragraph(figure: Figure, top: float, text: str, *, size: float = 9, width: int = 92) -> float:
    lines = wrap_text(text, width)
    figure.text(0.08, top, "\n".join(lines), fontsize=size, va="top", linespacing=1.5)
    return top - len(lines) * size * 1.5 / 72 / A4[1] - 0.015


def _format(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(figure: Figure, top: float, caption: str, frame: pd.DataFrame) -> float:
    figure.text(0.08, top, caption, fontsize=10, weight="bold", va="top")
    top -= 0.02
    rows = [[_format(tr(v)) for v in row] for row in frame.itertuples(index=False)]
    height = 0.022 * (len(rows) + 1)
    axes = figure.add_axes((0.08, top - height, 0.84, height))
    axes.axis("off")
    if rows:
        table = axes.table(
            cellText=rows, colLabels=[str(tr(c)) for c in frame.columns], loc="upper center", cellLoc="left"
        )
        table.auto_set_font_size(False)
        table.set_fontsize(8)
        table.scale(1, 1.1)
    else:
        axes.text(0, 0.5, _("（无数据）"), fontsize=9)
    return top - height - 0.03


def _chart(figure: Figure, top: float, section: Section) -> float:
    chart = section.chart
    if chart is None:
        return top
    if not chart.labels or not has_data(*chart.series.values()):
        # Nothing but zeros: no axis round zero (−0.04 to 0.04), the chart's title and 暂无数据.
        figure.text(
            0.08,
            top,
            _("%(title)s：%(no_data)s") % {"title": chart_title(chart), "no_data": NO_DATA},
            fontsize=10,
            va="top",
        )
        return top - 0.04
    height = 0.24
    axes = figure.add_axes((0.14, top - height, 0.78, height - 0.03))
    axes.set_title(chart_title(chart), fontsize=10)
    positions = range(len(chart.labels))
    if chart.kind == "line":
        for name, values in chart.series.items():
            axes.plot(list(positions), values, marker="o", label=tr(name))
        axes.legend(fontsize=8)
        step = max(1, len(chart.labels) // 12)
        axes.set_xticks(list(positions)[::step], [tr(x) for x in chart.labels[::step]], rotation=45, fontsize=7)
    else:
        ((name, values),) = chart.series.items()
        axes.barh(list(positions), values, color="#2f6f9f", label=tr(name))
        axes.set_yticks(list(positions), [tr(x) for x in chart.labels], fontsize=8)
        axes.invert_yaxis()
    if chart.unit:
        (axes.set_ylabel if chart.kind == "line" else axes.set_xlabel)(tr(chart.unit), fontsize=8)
    axes.grid(axis="x" if chart.kind != "line" else "y", alpha=0.3)
    return top - height - 0.04


def report_figures(report: PerformanceReport, manifest: dict[str, Any]) -> Iterator[Figure]:
    """The PDF's pages, one figure each: the cover with the manifest, each section, the definitions."""
    figure, top = _page(_("成效考核报告：%(region)s") % {"region": report.region_name})
    lines = [f"{label}：{value}" for label, value in manifest_rows(manifest)]
    top = _paragraph(figure, top, "\n".join(lines), size=9)
    _table(figure, top, _("主要指标（定义见各节和最后的“指标定义”）"), key_values(report.numbers, list(HEADLINE)))
    yield figure
    for section in report.sections:
        figure, top = _page(tr(section.title))
        top = _paragraph(figure, top, _("定义：") + tr(section.definition), size=8.5)
        top = _chart(figure, top, section)
        for caption, frame in section.tables:
            for offset in range(0, max(len(frame), 1), TABLE_ROWS_PER_PAGE):
                part = frame.iloc[offset : offset + TABLE_ROWS_PER_PAGE]
                needed = 0.022 * (len(part) + 1) + 0.06
                if top - needed < 0.04:
                    yield figure
                    figure, top = _page(_("%(title)s（续）") % {"title": tr(section.title)})
                shown = tr(caption) if offset == 0 else _("%(title)s（续）") % {"title": tr(caption)}
                top = _table(figure, top, shown, part)
        yield figure
    figure, top = _page(_("指标定义"))
    for section in report.sections:
        text = _("%(title)s：%(definition)s") % {"title": tr(section.title), "definition": tr(section.definition)}
        needed = len(wrap_text(text, 92)) * 8.5 * 1.5 / 72 / A4[1] + 0.02
        if top - needed < 0.04:
            yield figure
            figure, top = _page(_("指标定义（续）"))
        top = _paragraph(figure, top, text, size=8.5)
    yield figure


def pdf_bytes(report: PerformanceReport, manifest: dict[str, Any]) -> bytes:
    import matplotlib

    out = io.BytesIO()
    metadata = {"Title": _("成效考核报告 %(region)s") % {"region": report.region_name}, "CreationDate": None}
    with matplotlib.rc_context(chart_style()), PdfPages(out, metadata=metadata) as pdf:
        for figure in report_figures(report, manifest):
            pdf.savefig(figure)
    return out.getvalue()


def ledger_file_name(ledger: Ledger) -> str:
    return f"ledger-{ledger.name}.csv"
