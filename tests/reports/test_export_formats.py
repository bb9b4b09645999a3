"""The auditors' exports in both formats (reports.exports, povertycloud.downloads.tables): the user picks XLSX or
CSV on the export form; CSV is a zip of one UTF-8 file per table holding what the workbook holds; a table longer
than an Excel sheet continues on sheets named （续2）, （续3）… with the header again."""

import csv
import io
import zipfile

import pytest
from django.test import TestCase
from django.urls import reverse
from openpyxl import load_workbook

from households.codes import codebook
from povertycloud.accounts.models import Role, User
from povertycloud.downloads import services, tables
from povertycloud.downloads.models import Download
from povertycloud.regions.models import Region
from reports import exports
from reports.forms import ExportForm
from tests.conftest import PASSWORD
from tests.factories import COUNTY, TOWNSHIP_A, TOWNSHIP_B
from tests.reports.builders import END, START, small_county

pytestmark = pytest.mark.django_db
EXPORTS = reverse("reports:exports")


@pytest.fixture
def county(regions):
    return small_county()


def workbook_rows(content: bytes) -> dict[str, list[tuple]]:
    book = load_workbook(io.BytesIO(content))
    return {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}


def csv_tables(content: bytes) -> dict[str, list[list[str]]]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        found = {}
        for name in archive.namelist():
            raw = archive.read(name)
            assert raw.startswith(b"\xef\xbb\xbf")  # Excel opens UTF-8 Chinese text only with the mark
            found[name] = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        return found


def as_text(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "date") and hasattr(value, "hour"):
        return value.date().isoformat() if (value.hour, value.minute, value.second) == (0, 0, 0) else str(value)
    return str(value)


def export(user, kind="households", file_format="xlsx", region=COUNTY, **extra):
    return exports.export(
        user=user,
        kind=kind,
        region=Region.objects.get(code=region),
        start=START,
        end=END,
        file_format=file_format,
        **extra,
    )


@pytest.mark.parametrize("kind", ["households", "assistance", "decisions", "audit"])
def test_the_csv_export_holds_what_the_workbook_holds(county, auditor, kind):
    xlsx_name, xlsx = export(auditor, kind)
    csv_name, zipped = export(auditor, kind, file_format="csv")
    assert xlsx_name.endswith(".xlsx") and csv_name == xlsx_name.removesuffix(".xlsx") + ".zip"
    workbook = workbook_rows(xlsx)
    files = csv_tables(zipped)
    assert list(files) == [f"{title}.csv" for title in workbook]
    for title, rows in workbook.items():
        assert files[f"{title}.csv"] == [[as_text(v) for v in row] for row in rows]


def test_the_household_export_masks_and_neutralises_in_csv_too(county, auditor):
    person = county.h1.members.first()
    person.name = "=HYPERLINK(1)"
    person.save(update_fields=["name"])
    _name, zipped = export(auditor, file_format="csv")
    members = csv_tables(zipped)["家庭成员.csv"]
    ids = [row[2] for row in members[1:]]
    assert ids and all(value.endswith("********") for value in ids if value)
    assert "'=HYPERLINK(1)" in [row[1] for row in members]
    assert not any("1234" in value for row in csv_tables(zipped)["户.csv"][1:] for value in row[9:11])


def test_a_table_longer_than_a_sheet_continues_on_named_sheets(county, auditor, monkeypatch):
    monkeypatch.setattr(tables, "XLSX_MAX_ROWS", 4)  # the header and three rows a sheet
    _name, content = export(auditor)
    sheets = workbook_rows(content)
    members = [name for name in sheets if name.startswith("家庭成员")]
    assert members[:2] == ["家庭成员", "家庭成员（续2）"]
    assert all(sheets[name][0] == sheets["家庭成员"][0] for name in members)
    assert all(len(sheets[name]) <= 4 for name in sheets)
    people = sum(len(sheets[name]) - 1 for name in members)
    households = sum(len(sheets[name]) - 1 for name in sheets if name.startswith("户"))
    assert (households, people) == (5, 12)


def test_the_csv_export_looks_each_label_up_once(county, auditor, monkeypatch):
    book = codebook()
    calls = []
    original = type(book).label

    def counting(self, codeset, code):
        calls.append((codeset, code))
        return original(self, codeset, code)

    monkeypatch.setattr(type(book), "label", counting)
    export(auditor, file_format="csv")
    assert calls and len(calls) == len(set(calls))


def test_the_form_offers_both_formats_defaults_to_the_workbook_and_refuses_others(county, auditor):
    def form(**extra):
        data = {"region": COUNTY, "start": START.isoformat(), "end": END.isoformat(), "kind": "households", **extra}
        return ExportForm(data, user=auditor)

    default = form()
    assert default.is_valid() and default.cleaned_data["file_format"] == "xlsx"
    chosen = form(file_format="csv")
    assert chosen.is_valid() and chosen.cleaned_data["file_format"] == "csv"
    # The download records a format only when it is not the workbook (older downloads have none: XLSX).
    assert chosen.format_parameters() == {"format": "csv"} and default.format_parameters() == {}
    refused = form(file_format="pdf")
    assert not refused.is_valid() and refused.errors["file_format"] == ["请选择 Excel（XLSX）或 CSV。"]


def test_the_export_page_shows_the_format_choice(client, county, auditor):
    client.force_login(auditor)
    page = client.get(EXPORTS).content.decode()
    assert 'name="file_format"' in page and 'value="csv"' in page and "1,048,576" in page


def test_a_csv_download_is_prepared_in_the_background_and_served_as_a_zip(client, county, auditor):
    with TestCase.captureOnCommitCallbacks(execute=True):
        download = services.request_download(
            by=auditor,
            kind=exports.DOWNLOAD_KIND,
            region_code=COUNTY,
            parameters={
                "kind": "households",
                "region": COUNTY,
                "start": START.isoformat(),
                "end": END.isoformat(),
                "format": "csv",
            },
        )
    download.refresh_from_db()
    assert download.status == Download.Status.SUCCEEDED, download.error
    assert download.file_name.endswith(".zip")
    client.force_login(auditor)
    response = client.get(reverse("downloads:file", args=[download.pk]))
    assert response["Content-Type"] == "application/zip"
    assert set(csv_tables(b"".join(response.streaming_content))) == {"户.csv", "家庭成员.csv"}
    assert "CSV" in client.get(reverse("downloads:list")).content.decode()


def test_another_users_csv_download_and_another_regions_export_are_refused(client, county, auditor, official_b):
    with TestCase.captureOnCommitCallbacks(execute=True):
        download = services.request_download(
            by=auditor,
            kind=exports.DOWNLOAD_KIND,
            region_code=COUNTY,
            parameters={"kind": "audit", "region": COUNTY, "start": "2024-01-01", "end": "2024-12-31", "format": "csv"},
        )
    client.force_login(official_b)
    assert client.get(reverse("downloads:file", args=[download.pk])).status_code == 404
    township_auditor = User.objects.create_user(
        "auditor_fmt", password=PASSWORD, role=Role.AUDITOR, region_id=TOWNSHIP_A
    )
    client.force_login(township_auditor)
    data = {"region": TOWNSHIP_B, "start": START.isoformat(), "end": END.isoformat(), "kind": "households"}
    response = client.post(EXPORTS, {**data, "file_format": "csv"})
    assert response.status_code == 200 and "不在您的辖区内" in response.content.decode()
    assert not Download.objects.filter(requested_by=township_auditor).exists()
