"""The outcome chart on 帮扶与成效: points at their real dates on a time axis, measure numbers that never
overlap (with the list under the chart naming them), and 暂无数据 instead of an axis round zero."""

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest

from resources import charts
from resources.models import OutcomeObservation

Indicator = OutcomeObservation.Indicator


def income(day, value, base=Decimal("6000")):
    return SimpleNamespace(
        indicator=Indicator.PER_CAPITA_INCOME,
        observed_on=day,
        value=Decimal(value),
        base=base,
        target_met=Decimal(value) >= base if base is not None else None,
        detail="",
    )


def measure(pk, day, status="implemented"):
    return SimpleNamespace(pk=pk, start_date=day, status=status)


def test_points_sit_at_their_real_dates_not_evenly_spaced():
    days = [dt.date(2023, 1, 1), dt.date(2023, 2, 1), dt.date(2025, 1, 1)]
    chart = charts.income_timeline([income(d, 5000 + i * 1000) for i, d in enumerate(days)], [], entered=[], labels={})
    xs = [p.x for p in chart.points]
    assert xs == sorted(xs)
    # One month apart, then almost two years: the gaps are in proportion to the time between, within rounding.
    first_gap, second_gap = xs[1] - xs[0], xs[2] - xs[1]
    ratio = (days[2] - days[1]).days / (days[1] - days[0]).days
    assert second_gap / first_gap == pytest.approx(ratio, rel=0.02)
    # The year ticks fall where 1 January of each year is on the same axis.
    by_year = {t.year: t.x for t in chart.years}
    assert by_year[2025] == pytest.approx(xs[2], abs=0.2)


def test_measure_numbers_that_start_close_together_stand_on_separate_rows():
    start = dt.date(2024, 3, 1)
    measures = [measure(pk, start + dt.timedelta(days=pk)) for pk in range(1, 6)]
    labels = {pk: f"措施{pk}" for pk in range(1, 6)}
    chart = charts.income_timeline(
        [income(dt.date(2023, 1, 1), 5000), income(dt.date(2025, 6, 1), 9000)], measures, entered=[], labels=labels
    )
    markers = chart.markers
    assert [m.number for m in markers] == [1, 2, 3, 4, 5] and [m.label for m in markers] == list(labels.values())
    for a in markers:
        for b in markers:
            if a is not b and a.dy == b.dy:
                assert abs(a.x - b.x) >= 2 * (charts.DIGIT_HALF + 3)
    assert len({m.dy for m in markers}) == 5
    # The chart grows to hold every row of numbers.
    assert chart.height >= chart.plot_bottom + max(m.dy for m in markers)


def test_measure_numbers_far_apart_share_the_first_row():
    measures = [measure(1, dt.date(2023, 3, 1)), measure(2, dt.date(2024, 9, 1))]
    chart = charts.income_timeline(
        [income(dt.date(2023, 1, 1), 5000), income(dt.date(2025, 1, 1), 9000)], measures, entered=[], labels={}
    )
    assert {m.dy for m in chart.markers} == {charts.MARKER_FIRST}
    assert chart.height == charts.HEIGHT


def test_no_income_or_only_zeros_draws_no_chart():
    assert charts.income_timeline([], [], entered=[], labels={}) is None
    zeros = [income(dt.date(2024, 1, 1), 0, base=None), income(dt.date(2025, 1, 1), 0, base=None)]
    assert charts.income_timeline(zeros, [], entered=[], labels={}) is None
    # Zero income against a threshold is something to show: the household is below the line.
    assert charts.income_timeline([income(dt.date(2025, 1, 1), 0)], [], entered=[], labels={}) is not None


@pytest.mark.django_db
def test_the_page_names_each_numbered_measure_under_the_chart(client, official_a, official_b, regions):
    from django.urls import reverse

    from tests.resources.builders import income as survey
    from tests.resources.builders import measure as add_measure
    from tests.resources.builders import monitored, set_thresholds, today

    set_thresholds()
    household = monitored(risk_types=",07,09,", housing_grade="D")
    survey(household, today().year - 2, 6000)
    survey(household, today().year - 1, 9000)
    add_measure(household, category="02", subtype="0204", helper_name="杨帮扶", helper_phone="13912345678")
    client.force_login(official_a)
    assert client.post(reverse("resources:observe", args=[household.pk])).status_code == 302
    html = client.get(reverse("resources:household", args=[household.pk])).content.decode()
    listed = html.split('data-testid="measure-marker-list"', 1)[1].split("</ol>", 1)[0]
    assert listed.count('data-testid="measure-marker-item"') == html.count('data-testid="measure-number"') == 1
    assert 'value="1"' in listed
    client.force_login(official_b)
    assert client.get(reverse("resources:household", args=[household.pk])).status_code == 404
