"""Small charts drawn on the server as inline SVG: no JavaScript library, readable on a phone."""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy

from households.models import IncomeRecord
from households.selectors import monitoring_thresholds_of

# Small user units with large type, so the labels stay readable when a phone shrinks the chart.
WIDTH, HEIGHT = 420, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 22, 28
# What an empty chart says, on the pages and in the PDF.
NO_DATA = gettext_lazy("暂无数据")


def has_data(*series: Iterable) -> bool:
    """Whether a chart has anything to draw: at least one value that is a number other than zero. Every chart
    of the site (the household's income, the outcome timeline, the dashboard, the report's PDF) asks here; one
    with nothing to draw is not drawn (its axis would only span round zero, −0.04 to 0.04 in the PDF) and says
    NO_DATA instead."""
    for values in series:
        for value in values:
            if value is None or isinstance(value, bool):
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if number != 0 and not math.isnan(number):
                return True
    return False


@dataclass
class Bar:
    year: int
    value: Decimal
    x: float
    y: float
    width: float
    height: float
    label_x: float
    below_threshold: bool


@dataclass
class Tick:
    value: int
    y: float


@dataclass
class IncomeChart:
    width: int
    height: int
    bars: list[Bar]
    threshold_points: str
    threshold_marks: list[tuple[float, float]]
    ticks: list[Tick]
    plot_left: int
    plot_right: int
    plot_bottom: int


def nice_ceiling(value: Decimal) -> int:
    """The axis maximum: a round number (1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6 or 8 × 10^n) at or above value."""
    value = max(value, Decimal(100))
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (Decimal("1"), Decimal("1.2"), Decimal("1.6"), 2, Decimal("2.4"), 3, 4, 5, 6, 8):
        if value <= step * magnitude:
            return int(step * magnitude)
    return 10 * magnitude


def income_chart(incomes: list[IncomeRecord], *, region_code: str) -> IncomeChart | None:
    """Bars of 人均纯收入 per year and a line of each year's monitoring threshold."""
    if not incomes:
        return None
    records = sorted(incomes, key=lambda r: r.year)
    known = monitoring_thresholds_of(region_code)
    thresholds = {r.year: known.get(r.year) for r in records}
    values = [max(r.per_capita_net_income or Decimal(0), Decimal(0)) for r in records]
    if not has_data(values, thresholds.values()):
        return None
    top = nice_ceiling(max([*values, *(t for t in thresholds.values() if t is not None)]))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / len(records)
    bar_width = min(slot * 0.6, 56)

    def y_of(amount: Decimal | int) -> float:
        return round(TOP + plot_height - float(amount) / top * plot_height, 1)

    bars, points = [], []
    for index, (record, value) in enumerate(zip(records, values, strict=True)):
        centre = LEFT + slot * index + slot / 2
        y = y_of(value)
        threshold = thresholds[record.year]
        bars.append(
            Bar(
                year=record.year,
                value=record.per_capita_net_income,
                x=round(centre - bar_width / 2, 1),
                y=y,
                width=round(bar_width, 1),
                height=round(TOP + plot_height - y, 1),
                label_x=round(centre, 1),
                below_threshold=threshold is not None and record.per_capita_net_income < threshold,
            )
        )
        if threshold is not None:
            points.append((round(centre, 1), y_of(threshold)))
    ticks = [Tick(value=top * i // 4, y=y_of(top * i // 4)) for i in range(5)]
    return IncomeChart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        threshold_points=" ".join(f"{x},{y}" for x, y in points),
        threshold_marks=points,
        ticks=ticks,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_bottom=TOP + plot_height,
    )
