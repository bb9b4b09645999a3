"""The household-list export at speed (households.spreadsheets.write_workbook) writes exactly what the resource's
export_field makes of each value: masking per role, health details hidden from auditors without access, codes as
labels, formulas neutralised. The writer converts each distinct value of a column once, with the converters of
export_converters; these tests hold those converters to export_field, and the whole file to the rows the
import-export dataset makes (sheet_rows), for each role, in both formats."""

import csv
import datetime as dt
import io
from decimal import Decimal
from types import SimpleNamespace

import openpyxl
import pytest
from import_export.formats.base_formats import XLSX

from households.models import Household, Person
from households.spreadsheets import HouseholdMemberResource, export_converters, sheet_rows, write_workbook
from povertycloud.accounts.models import Role, User
from povertycloud.audit.models import AuditEvent
from povertycloud.regions.scoping import scope_for_user
from tests.factories import COUNTY, VILLAGE_A2, VILLAGE_B, make_household, make_person
from tests.households.pages import add_spouse, make_file

pytestmark = pytest.mark.django_db

# Values of every kind a column holds, with the awkward ones: formulas, empty, missing, codes known and not.
SAMPLES = [
    None,
    "",
    "=SUM(A1)",
    "+86 138",
    "-2+3",
    "@cmd",
    "\tTab",
    "王大山",
    "13812345678",
    "0855-1234567",
    "6222020200112233",
    "52263419800517123X",
    "52263419800517123X42",
    "522634800517123",
    ",1,",
    ",2,3,",
    "1",
    "02",
    "A",
    True,
    False,
    7,
    0,
    Decimal("3.50"),
    dt.date(1980, 5, 17),
]


def nested(attribute: str, value):
    """An object on which import-export's Field finds `value` at `attribute` (household__village__name…)."""
    parts = attribute.split("__")
    inner = value
    for part in reversed(parts):
        inner = SimpleNamespace(**{part: inner})
    return inner


@pytest.fixture
def users(official_a, county_staff, auditor, admin_user):
    trusted = User.objects.create(username="auditor_trusted", role=Role.AUDITOR, region_id=COUNTY,
                                  sensitive_data_access=True)
    return [official_a, county_staff, auditor, trusted, admin_user]


@pytest.mark.parametrize("include_sensitive", [False, True])
def test_each_converter_makes_of_a_value_what_export_field_makes_of_it(users, include_sensitive):
    for user in users:
        resource = HouseholdMemberResource(user=user, include_sensitive=include_sensitive)
        fields = resource.get_export_fields()
        converters = export_converters(resource)
        assert len(converters) == len(fields) == len(resource.get_export_headers())
        for field, convert in zip(fields, converters, strict=True):
            for value in SAMPLES:
                if convert is None and isinstance(value, str | bool):
                    continue  # a number or date column (written as stored) never holds text
                try:
                    expected = resource.export_field(field, nested(field.attribute, value))
                except (TypeError, ValueError, AttributeError):
                    continue  # a value this column never holds (a date for a code…)
                cell = value if convert is None else convert(value)
                assert cell == expected, (user.username, include_sensitive, field.column_name, value)
                assert type(cell) is type(expected)


def test_the_masks_and_hiding_depend_on_the_role_and_the_request(users):
    official_a, county_staff, auditor, trusted, _admin = users
    id_column, health_column = "证件号码", "健康状况"

    def cell(user, header, value, include_sensitive):
        resource = HouseholdMemberResource(user=user, include_sensitive=include_sensitive)
        position = resource.get_export_headers().index(header)
        return export_converters(resource)[position](value)

    assert cell(official_a, id_column, "52263419800517123X", False) == "5226341980********"
    assert cell(official_a, id_column, "52263419800517123X", True) == "52263419800517123X"
    assert cell(auditor, id_column, "52263419800517123X", True) == "5226341980********"  # may not reveal
    assert cell(trusted, id_column, "52263419800517123X", True) == "52263419800517123X"
    assert cell(auditor, health_column, ",2,", False) == "（已隐藏）"
    assert cell(auditor, health_column, "", False) == ""
    assert cell(county_staff, health_column, ",2,", False) != "（已隐藏）"


@pytest.fixture
def files(official_a):
    mine = make_file(official_a, head="王大山", number="A-0001", phone="13812345678", bank_account="6222020200112233")
    spouse = add_spouse(official_a, mine, name="@SUM(A1)", health=",2,", work_place="-2+3")
    Person.objects.filter(pk=spouse.pk).update(disability_certificate="52263419800517123X42")
    make_person(mine, name="=1+1", relation="03", birth_date=dt.date(2005, 1, 1), employer="\tTab")
    make_file(official_a, village=VILLAGE_A2, head="吴三", number="A-0002", group_name="一组<&>")
    make_household(number="A-0003", village_id=VILLAGE_A2, with_head=False)  # no members: one row
    left = make_file(official_a, village=VILLAGE_A2, head="离开者", number="A-0004")
    Person.everyone.filter(household=left).update(left_on=dt.date(2024, 1, 1))  # not present: one empty row
    make_household(number="B-0001", village_id=VILLAGE_B)


def expected_rows(user, include_sensitive: bool) -> list[tuple]:
    """What the import-export dataset (one SheetRow a member, export_field per cell) holds, read back as XLSX."""
    resource = HouseholdMemberResource(user=user, include_sensitive=include_sensitive)
    dataset = resource.export(queryset=sheet_rows(scope_for_user(Household.objects.all(), user), user))
    book = openpyxl.load_workbook(io.BytesIO(XLSX().export_data(dataset)))
    return list(book.worksheets[0].iter_rows(values_only=True))


def same_cell(text: str, value) -> bool:
    """A CSV field against what openpyxl read from the dataset's workbook (numbers as numbers, dates as times)."""
    if value is None:
        return text == ""
    if isinstance(value, dt.datetime):
        return text == value.date().isoformat()
    if isinstance(value, int | float):
        return Decimal(text) == Decimal(str(value))
    return text == value


@pytest.mark.parametrize("include_sensitive", [False, True])
def test_the_file_holds_the_datasets_rows_for_every_role_in_both_formats(users, files, include_sensitive):
    for user in users:
        expected = expected_rows(user, include_sensitive)
        out = io.BytesIO()
        count = write_workbook(out, user=user, households=Household.objects.all(), include_sensitive=include_sensitive)
        written = list(openpyxl.load_workbook(io.BytesIO(out.getvalue())).worksheets[0].iter_rows(values_only=True))
        assert written == expected, user.username
        assert count == len(expected) - 1
        out = io.BytesIO()
        write_workbook(out, user=user, households=Household.objects.all(), include_sensitive=include_sensitive,
                       file_format="csv")
        text = out.getvalue().decode("utf-8-sig")
        lines = list(csv.reader(io.StringIO(text)))
        assert len(lines) == len(expected)
        for line, row in zip(lines, expected, strict=True):
            assert len(line) == len(row)
            assert all(same_cell(t, v) for t, v in zip(line, row, strict=True)), (user.username, line, row)


def test_an_official_sees_their_township_and_the_order_is_village_number_relation_birth(official_a, files):
    out = io.BytesIO()
    write_workbook(out, user=official_a, households=Household.objects.all(), file_format="csv")
    rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    numbers = [row[0] for row in rows[1:]]
    assert numbers == ["A-0001", "A-0001", "A-0001", "A-0002", "A-0003", "A-0004"]
    assert [row[rows[0].index("姓名")] for row in rows[1:4]] == ["王大山", "'@SUM(A1)", "'=1+1"]
    assert rows[5][rows[0].index("姓名")] == ""  # the member who left is not written


def test_the_export_is_audited_with_its_row_count_and_progress_is_reported(official_a, files):
    reports = []
    count = write_workbook(io.BytesIO(), user=official_a, households=Household.objects.all(),
                           progress=lambda percent, stage: reports.append(percent), expected_households=4)
    assert count == 6
    event = AuditEvent.objects.filter(action="export").latest("pk")
    assert "6" in event.note and "脱敏" in event.note
    assert reports == [95]  # fewer rows than one progress step: only "saving the file"


def test_a_deactivated_user_exports_nothing(official_a, files):
    official_a.is_active = False
    out = io.BytesIO()
    assert write_workbook(out, user=official_a, households=Household.objects.all(), file_format="csv") == 0
    assert out.getvalue().decode("utf-8-sig").count("\n") == 1  # the header only

