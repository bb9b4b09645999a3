"""Dashboard charts drawn on the server as inline SVG (the same small-chart style as households.charts):
horizontal bars by township, grouped columns by month."""

import math
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from households.charts import WIDTH, has_data, nice_ceiling

LABEL_WIDTH = 76
# The site's stylesheet sets chart text to 15 px in viewBox units: a Chinese character is about 15 wide, a
# digit or a dash about 8.5. Margins and label spacing are sized from these so that nothing is clipped or
# drawn over its neighbour.
CJK_CHAR, DIGIT = 15, 8.5
ROW_HEIGHT = 22
TOP = 8
COLUMN_HEIGHT = 200
COLUMN_LEFT, COLUMN_BOTTOM = 44, 34
SERIES_CLASSES = ("series-a", "series-b", "series-c")
# The units the charts are given (Chinese source strings, also the keys of the number formats) as shown.
UNITS = {"户": gettext_noop("户"), "元": gettext_noop("元"), "件": gettext_noop("件")}


@dataclass
class BarRow:
    label: str
    value: float
    text: str
    y: float
    width: float


@dataclass
class BarChart:
    width: int
    height: int
    label_width: int
    rows: list[BarRow]
    unit: str
    unit_label: str = ""


def _text(value: float, unit: str) -> str:
    if unit == "元":
        return f"{value:,.0f}"
    if unit == "%":
        return f"{value:.1f}%"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def bar_chart(labels: list[str], values: list[float], *, unit: str = "") -> BarChart | None:
    """Horizontal bars, one per label; None (the page says 暂无数据) when there is nothing but zeros."""
    if not labels or not has_data(values):
        return None
    top = max([float(v) for v in values] + [0.0]) or 1.0
    label_width = max(LABEL_WIDTH, round(CJK_CHAR * max(len(label) for label in labels) + 10))
    room = WIDTH - label_width - 70
    rows = [
        BarRow(
            label,
            float(value),
            _text(float(value), unit),
            TOP + i * ROW_HEIGHT,
            round(max(float(value), 0) / top * room, 1),
        )
        for i, (label, value) in enumerate(zip(labels, values, strict=True))
    ]
    unit_label = _(UNITS[unit]) if unit in UNITS else unit
    return BarChart(WIDTH, TOP * 2 + len(rows) * ROW_HEIGHT, label_width, rows, unit, unit_label)


@dataclass
class Column:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass
class ColumnChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_bottom: int
    columns: list[Column]
    ticks: list[tuple[str, float]]
    labels: list[tuple[str, float]]
    legend: list[tuple[str, str]] = field(default_factory=list)


def column_chart(labels: list[str], series: dict[str, list[float]]) -> ColumnChart | None:
    """Grouped columns: one group per label (a month), one column per series."""
    if not labels or not has_data(*series.values()):
        return None
    top = nice_ceiling(Decimal(str(max([max(values, default=0) for values in series.values()] + [1]))))
    bottom = COLUMN_HEIGHT - COLUMN_BOTTOM
    plot_height = bottom - TOP
    ticks = [(_text(top * i // 4, ""), round(bottom - plot_height * i / 4, 1)) for i in range(5)]
    left = max(COLUMN_LEFT, round(DIGIT * max(len(text) for text, _ in ticks) + 10))
    slot = (WIDTH - left - 8) / len(labels)
    width = min(slot * 0.8 / len(series), 18)
    columns: list[Column] = []
    for s, (name, values) in enumerate(series.items()):
        css = SERIES_CLASSES[s % len(SERIES_CLASSES)]
        for i, value in enumerate(values):
            height = round(max(float(value), 0) / top * plot_height, 1)
            x = left + slot * i + slot / 2 - width * len(series) / 2 + s * width
            columns.append(
                Column(
                    round(x, 1),
                    round(bottom - height, 1),
                    round(width, 1),
                    height,
                    css,
                    f"{labels[i]} {name}：{_text(float(value), '')}",
                )
            )
    label_room = DIGIT * max(len(label) for label in labels) + 10
    step = max(1, math.ceil(label_room / slot))
    return ColumnChart(
        width=WIDTH,
        height=COLUMN_HEIGHT,
        plot_left=left,
        plot_right=WIDTH - 8,
        plot_bottom=bottom,
        columns=columns,
        ticks=ticks,
        labels=[(label, round(left + slot * i + slot / 2, 1)) for i, label in enumerate(labels) if i % step == 0],
        legend=[(name, SERIES_CLASSES[s % len(SERIES_CLASSES)]) for s, name in enumerate(series)],
    )
