"""The outcome timeline as inline SVG drawn on the server (the same small-chart style as households.charts):
per-capita net income against the monitoring threshold, a strip per yes/no indicator, and the measures
marked on the shared time axis."""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext_lazy

from households.charts import HEIGHT, LEFT, RIGHT, TOP, WIDTH, has_data, nice_ceiling
from resources.models import OutcomeObservation

Indicator = OutcomeObservation.Indicator
STRIP_INDICATORS = (
    Indicator.MEMBERS_WORKING,
    Indicator.CHILDREN_ENROLLED,
    Indicator.MEDICAL_INSURANCE,
    Indicator.HOUSING_SAFE,
    Indicator.WATER_SAFE,
)
STRIP_LABELS = {
    Indicator.MEMBERS_WORKING: gettext_lazy("务工就业"),
    Indicator.CHILDREN_ENROLLED: gettext_lazy("义务教育"),
    Indicator.MEDICAL_INSURANCE: gettext_lazy("基本医保"),
    Indicator.HOUSING_SAFE: gettext_lazy("住房安全"),
    Indicator.WATER_SAFE: gettext_lazy("饮水安全"),
}
BOTTOM = 48  # room for the year labels and the measure numbers under the axis
STRIP_LEFT = 76
ROW_HEIGHT = 26


@dataclass
class Point:
    x: float
    y: float
    value: Decimal
    day: dt.date
    below: bool


@dataclass
class Marker:
    number: int
    x: float
    label: str
    day: dt.date
    implemented: bool
    dy: int = 30  # below the axis; markers close together step down so their numbers stay readable


@dataclass
class Tick:
    value: int
    y: float


@dataclass
class YearTick:
    year: int
    x: float


@dataclass
class Axis:
    start: dt.date
    end: dt.date
    left: float
    right: float

    def x(self, day: dt.date) -> float:
        span = max((self.end - self.start).days, 1)
        return round(self.left + (day - self.start).days / span * (self.right - self.left), 1)

    def years(self) -> list[YearTick]:
        return [YearTick(year, self.x(dt.date(year, 1, 1))) for year in range(self.start.year + 1, self.end.year + 1)]


@dataclass
class IncomeTimeline:
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    points: list[Point]
    line: str
    threshold_line: str
    ticks: list[Tick]
    years: list[YearTick]
    markers: list[Marker]
    entered: list[float]


@dataclass
class StripSegment:
    x: float
    width: float
    met: bool | None
    title: str


@dataclass
class StripRow:
    label: object  # a lazy translation
    y: float
    segments: list[StripSegment] = field(default_factory=list)


@dataclass
class IndicatorStrips:
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_bottom: float
    rows: list[StripRow]
    years: list[YearTick]
    markers: list[Marker]


def _axis(days: list[dt.date], left: float, right: float) -> Axis:
    start, end = min(days), max(days)
    start = dt.date(start.year, 1, 1)
    end = max(end, start + dt.timedelta(days=180))
    return Axis(start, end + dt.timedelta(days=15), left, right)


MARKER_FIRST = 30  # the first row of measure numbers under the axis (the year labels sit above it)
MARKER_STEP = 13  # each further row of numbers, for measures that start close together
DIGIT_HALF = 4  # half the width of a digit at the numbers' 12 px


def _markers(measures: list, axis: Axis, labels: dict[int, str]) -> list[Marker]:
    """Each measure at its start date, numbered in date order. A number goes on the first row under the axis
    where it keeps clear of the numbers already there, so numbers of measures that start close together stand
    apart instead of drawn over each other; the list under the chart names each number."""
    markers: list[Marker] = []
    row_ends: list[float] = []  # the right edge of the last number on each row
    for index, m in enumerate(sorted(measures, key=lambda m: (m.start_date, m.pk)), start=1):
        x = axis.x(m.start_date)
        half = DIGIT_HALF * len(str(index)) + 3
        row = next((r for r, end in enumerate(row_ends) if x - half >= end), len(row_ends))
        if row == len(row_ends):
            row_ends.append(x + half)
        else:
            row_ends[row] = x + half
        markers.append(
            Marker(
                index,
                x,
                labels.get(m.pk, ""),
                m.start_date,
                m.status == "implemented",
                dy=MARKER_FIRST + row * MARKER_STEP,
            )
        )
    return markers


def _room_below(markers: list[Marker]) -> int:
    """Room under the plot for the year labels and every row of measure numbers."""
    return max([BOTTOM, *(m.dy + 8 for m in markers)])


def timeline_days(observations: list[OutcomeObservation], measures: list, entered: list[dt.date]) -> list[dt.date]:
    return [*(o.observed_on for o in observations), *(m.start_date for m in measures), *entered]


def income_timeline(
    observations: list[OutcomeObservation], measures: list, *, entered: list[dt.date], labels: dict[int, str]
) -> IncomeTimeline | None:
    """Per-capita net income over time (a line), each survey's threshold (a dashed line), measures as
    numbered vertical marks, and the dates the household entered monitoring."""
    incomes = sorted(
        (o for o in observations if o.indicator == Indicator.PER_CAPITA_INCOME), key=lambda o: o.observed_on
    )
    if not incomes or not has_data([o.value for o in incomes], [o.base for o in incomes]):
        return None
    days = timeline_days(observations, measures, entered)
    axis = _axis(days, LEFT, WIDTH - RIGHT)
    bottom = HEIGHT - BOTTOM
    markers = _markers(measures, axis, labels)
    top = nice_ceiling(max([o.value for o in incomes] + [o.base for o in incomes if o.base is not None]))

    def y_of(amount: Decimal | int) -> float:
        return round(bottom - float(max(amount, 0)) / top * (bottom - TOP), 1)

    points = [
        Point(axis.x(o.observed_on), y_of(o.value), o.value, o.observed_on, o.target_met is False) for o in incomes
    ]
    thresholds = [(axis.x(o.observed_on), y_of(o.base)) for o in incomes if o.base is not None]
    return IncomeTimeline(
        width=WIDTH,
        height=bottom + _room_below(markers),
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_bottom=bottom,
        points=points,
        line=" ".join(f"{p.x},{p.y}" for p in points),
        threshold_line=" ".join(f"{x},{y}" for x, y in thresholds),
        ticks=[Tick(top * i // 4, y_of(top * i // 4)) for i in range(5)],
        years=axis.years(),
        markers=markers,
        entered=[axis.x(day) for day in entered if axis.start <= day <= axis.end],
    )


def indicator_strips(
    observations: list[OutcomeObservation], measures: list, *, entered: list[dt.date], labels: dict[int, str]
) -> IndicatorStrips | None:
    """One row per yes/no indicator: each observation colours the time from its date to the next one
    (green met, red not met, grey not applicable)."""
    strips = [o for o in observations if o.indicator in STRIP_INDICATORS]
    if not strips:
        return None
    days = timeline_days(observations, measures, entered)
    axis = _axis(days, STRIP_LEFT, WIDTH - RIGHT)
    rows: list[StripRow] = []
    for index, indicator in enumerate(STRIP_INDICATORS):
        row = StripRow(STRIP_LABELS[indicator], TOP + index * ROW_HEIGHT)
        series = sorted((o for o in strips if o.indicator == indicator), key=lambda o: o.observed_on)
        for position, o in enumerate(series):
            start = axis.x(o.observed_on)
            end = axis.x(series[position + 1].observed_on) if position + 1 < len(series) else axis.right
            row.segments.append(
                StripSegment(start, round(max(end - start, 4), 1), o.target_met, f"{o.observed_on:%Y-%m-%d} {o.detail}")
            )
        rows.append(row)
    bottom = TOP + len(STRIP_INDICATORS) * ROW_HEIGHT
    markers = _markers(measures, axis, labels)
    return IndicatorStrips(
        width=WIDTH,
        height=bottom + _room_below(markers),
        plot_left=STRIP_LEFT,
        plot_right=WIDTH - RIGHT,
        plot_bottom=bottom,
        rows=rows,
        years=axis.years(),
        markers=markers,
    )
