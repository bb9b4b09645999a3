"""What a department said about a person on a date, and which batch said it."""

import datetime as dt

import pytest

from exchange.history import dibao_on, record_history, records_on
from exchange.pipeline import import_department_file
from tests.exchange.files import CIVIL_COLUMNS, civil_row, write_csv
from tests.factories import COUNTY, resident_id

pytestmark = pytest.mark.django_db
A = resident_id(dt.date(1960, 3, 4), sex="2", sequence=31)
B = resident_id(dt.date(1948, 7, 9), sex="1", sequence=32)


def civil_batch(tmp_path, name: str, rows):
    path = write_csv(tmp_path / name, CIVIL_COLUMNS, rows, encoding="gbk")
    return import_department_file(department="civil_affairs", path=path, by=None, region_code=COUNTY)


@pytest.fixture
def two_periods(regions, tmp_path):
    """February: A on rural 低保 since 2024-06, B only for 临时救助. April: A's 低保 stopped 2025-03-15."""
    dibao = {"低保类别": "农村低保", "低保开始日期": "2024-06-01", "低保月保障金额（元）": "330"}
    february = civil_batch(
        tmp_path,
        "feb.csv",
        [
            civil_row(A, "龙妹", 统计期="2025-02", **dibao),
            civil_row(B, "杨发", 统计期="2025-02", 本年临时救助次数="1"),
        ],
    )
    april = civil_batch(
        tmp_path,
        "apr.csv",
        [
            civil_row(A, "龙妹", 统计期="2025-04", 低保停止日期="2025/3/15", **dibao),
            civil_row(B, "杨发", 统计期="2025-04", 本年临时救助次数="1"),
        ],
    )
    return february, april


def test_the_version_current_on_a_date_comes_with_its_batch(two_periods):
    february, april = two_periods
    [march] = records_on(department="civil_affairs", id_number=A, on=dt.date(2025, 3, 1))
    assert march.batch == february and march.dibao_stop is None
    [may] = records_on(department="civil_affairs", id_number=A, on=dt.date(2025, 5, 1))
    assert may.batch == april and may.dibao_stop == dt.date(2025, 3, 15)
    assert records_on(department="civil_affairs", id_number=A, on=dt.date(2025, 1, 31)) == []
    # B did not change in April: the February version still holds.
    [b] = records_on(department="civil_affairs", id_number=B, on=dt.date(2025, 5, 1))
    assert b.batch == february
    assert [v.batch for v in record_history(department="civil_affairs", id_number=A)] == [february, april]


def test_dibao_on_a_date_says_whether_and_which_batch_said_so(two_periods):
    february, april = two_periods
    on_march_first = dibao_on(id_number=A, on=dt.date(2025, 3, 1))
    assert on_march_first.receiving is True and on_march_first.batch == february
    assert "2025-02" in on_march_first.said_by
    after_stop = dibao_on(id_number=A, on=dt.date(2025, 4, 10))
    assert after_stop.receiving is False and after_stop.batch == april
    assert dibao_on(id_number=B, on=dt.date(2025, 3, 1)).receiving is False
    before_any = dibao_on(id_number=A, on=dt.date(2025, 1, 1))
    assert before_any.record is None and before_any.said_by == "当日没有民政记录"


def test_a_person_dropped_from_the_list_has_no_current_version_after(regions, tmp_path):
    civil_batch(
        tmp_path, "feb.csv", [civil_row(A, "龙妹", 统计期="2025-02"), civil_row(B, "杨发", 统计期="2025-02")]
    )
    civil_batch(tmp_path, "apr.csv", [civil_row(B, "杨发", 统计期="2025-04")])
    assert records_on(department="civil_affairs", id_number=A, on=dt.date(2025, 3, 31))
    assert records_on(department="civil_affairs", id_number=A, on=dt.date(2025, 4, 1)) == []
