"""Empty charts say 暂无数据: one helper (households.charts.has_data) decides for every chart of the site, so
none draws an axis round zero (the PDF's −0.04 to 0.04) for a chart with nothing but zeros."""

from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.urls import reverse
from matplotlib.figure import Figure

from households.charts import NO_DATA, has_data, income_chart
from reports import charts
from reports.files import _chart, chart_style
from reports.performance import Chart, Section
from tests.factories import COUNTY, TOWNSHIP_B


def test_has_data_is_true_only_for_a_number_other_than_zero():
    assert has_data([0, 1.5])
    assert has_data([], [Decimal("0.01")])
    assert has_data([-3])
    assert not has_data()
    assert not has_data([], [])
    assert not has_data([0, 0.0, Decimal(0), None])
    assert not has_data([float("nan"), "abc", True])


def test_dashboard_charts_of_zeros_are_not_drawn():
    assert charts.bar_chart(["西江镇", "郎德镇"], [0, 0], unit="户") is None
    assert charts.bar_chart([], [], unit="户") is None
    assert charts.column_chart(["2024-01", "2024-02"], {"新识别": [0, 0], "风险消除": [0, 0]}) is None
    drawn = charts.column_chart(["2024-01", "2024-02"], {"新识别": [0, 2], "风险消除": [0, 0]})
    assert drawn is not None and len(drawn.columns) == 4
    bars = charts.bar_chart(["西江镇"], [3], unit="户")
    assert bars is not None and bars.unit_label == "户"


def test_a_household_with_zero_income_and_no_threshold_has_no_chart(regions):
    records = [SimpleNamespace(year=2024, per_capita_net_income=Decimal(0))]
    assert income_chart(records, region_code=COUNTY) is None
    assert income_chart([], region_code=COUNTY) is None


def pdf_texts(figure: Figure) -> list[str]:
    return [t.get_text() for t in figure.texts]


def test_the_pdf_writes_no_data_instead_of_an_axis_round_zero():
    import matplotlib

    empty = Section(
        "x", "标题", "定义", chart=Chart("bar", "监测户数（按乡镇）", ["西江镇", "郎德镇"], {"户数": [0.0, 0.0]})
    )
    with matplotlib.rc_context(chart_style()):
        figure = Figure()
        _chart(figure, 0.9, empty)
        assert figure.axes == []
        assert f"监测户数（按乡镇）：{NO_DATA}" in pdf_texts(figure)
        drawn = Section("y", "标题", "定义", chart=Chart("bar", "监测户数", ["西江镇"], {"户数": [2.0]}))
        figure = Figure()
        _chart(figure, 0.9, drawn)
        (axes,) = figure.axes
        low, high = axes.get_xlim()
        assert low <= 0 and high >= 2  # a real axis, not −0.04 to 0.04


@pytest.mark.django_db
def test_a_region_with_no_data_shows_no_data_on_the_dashboard(client, county_staff):
    client.force_login(county_staff)
    response = client.get(reverse("reports:dashboard"), {"region": COUNTY, "start": "2024-01-01", "end": "2024-12-31"})
    html = response.content.decode()
    assert response.status_code == 200
    for chart in ("chart-township-monitored", "chart-township-amount", "chart-monthly-flows", "chart-monthly-amount"):
        assert f'data-testid="{chart}-empty">暂无数据<' in html, chart
        assert '<svg class="chart" viewBox="0 0 420' not in html.split(f'data-testid="{chart}-empty"')[0][-400:]


@pytest.mark.django_db
def test_another_regions_dashboard_stays_refused(client, official_a):
    client.force_login(official_a)
    url = reverse("reports:dashboard") + f"?region={TOWNSHIP_B}&start=2024-01-01&end=2024-12-31"
    assert client.get(url).status_code == 404
