"""The generator writes any county's files: the county, villages and ID region of a region list, and only the
income years asked for; the demo county stays what it was by default."""

import csv
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from demo.county import assumptions as A
from demo.county.generator import GenerationError, generate_county
from demo.county.registry_files import FILE_NAMES
from povertycloud.regions.models import Region

pytestmark = pytest.mark.django_db
BADONG = Path(settings.BASE_DIR) / "fixtures" / "regions_badong.csv"


def rows(out: Path, table: str) -> list[dict[str, str]]:
    with (out / FILE_NAMES[table]).open(encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def test_a_region_list_gives_that_county_its_villages_and_its_id_region(tmp_path):
    summary = generate_county(persons=400, seed=3, out_dir=tmp_path, regions_file=BADONG, income_years=[2024, 2025])
    assert (summary.county_code, summary.county_name) == ("422823000000", "巴东县")
    assert not Region.objects.exists()  # the files are written without touching the region tree
    households = rows(tmp_path, "households")
    assert len(households) == summary.households
    assert {row["行政区划代码"][:6] for row in households} == {"422823"}
    assert {row["户编号"][:6] for row in households} == {"422823"}
    members = rows(tmp_path, "members")
    assert len(members) == summary.persons == 400
    assert {row["证件号码"][:6] for row in members} == {"422823"}
    incomes = rows(tmp_path, "incomes")
    assert sorted({row["年度"] for row in incomes}) == ["2024", "2025"]
    assert len(incomes) == summary.incomes == 2 * summary.households
    text = "".join(path.read_bytes().decode("utf-8-sig") for path in tmp_path.glob("*.csv") if "civil" not in path.name)
    assert "雷山" not in text and "522634" not in text
    assert "巴东县" in text  # people who work at home work in their own county


def test_the_demo_county_is_the_default(regions, tmp_path):
    summary = generate_county(persons=200, seed=3, out_dir=tmp_path)
    assert summary.county_code == A.COUNTY_CODE and summary.income_years == A.YEARS
    assert {row["年度"] for row in rows(tmp_path, "incomes")} == {str(year) for year in A.YEARS}


def test_one_income_year_keeps_the_same_households_as_all_years(regions, tmp_path):
    generate_county(persons=300, seed=5, out_dir=tmp_path / "all")
    generate_county(persons=300, seed=5, out_dir=tmp_path / "one", income_years=[2025])
    for table in ("households", "members", "status"):
        assert rows(tmp_path / "all", table) == rows(tmp_path / "one", table)
    latest = [row for row in rows(tmp_path / "all", "incomes") if row["年度"] == "2025"]
    assert latest == rows(tmp_path / "one", "incomes")


@pytest.mark.parametrize("years", [[2019], [2025, 2026], []])
def test_income_years_outside_the_simulation_are_refused(tmp_path, years):
    with pytest.raises(GenerationError, match="收支年度须在 2021–2025 之间"):
        generate_county(persons=10, seed=1, out_dir=tmp_path, regions_file=BADONG, income_years=years)


def test_a_region_list_without_one_county_is_refused(tmp_path):
    two = tmp_path / "two.csv"
    two.write_text(
        "code,name\n420000000000,湖北省\n422800000000,恩施州\n422823000000,巴东县\n422822000000,建始县\n",
        encoding="utf-8",
    )
    with pytest.raises(GenerationError, match="恰好包含一个县级区划"):
        generate_county(persons=10, seed=1, out_dir=tmp_path / "out", regions_file=two)
    bare = tmp_path / "bare.csv"
    bare.write_text("code,name\n420000000000,湖北省\n422800000000,恩施州\n422823000000,巴东县\n", encoding="utf-8")
    with pytest.raises(GenerationError, match="没有村级区划"):
        generate_county(persons=10, seed=1, out_dir=tmp_path / "out", regions_file=bare)


def test_the_command_takes_a_region_list_and_income_years(tmp_path, capsys):
    call_command(
        "generate_county", "--persons", "150", "--seed", "2", "--out", str(tmp_path),
        "--regions-file", str(BADONG), "--income-years", "2025", verbosity=0,
    )
    out = capsys.readouterr().out
    assert "巴东县（422823000000" in out
    assert {row["年度"] for row in rows(tmp_path, "incomes")} == {"2025"}
    with pytest.raises(CommandError, match="收支年度"):
        call_command("generate_county", "--persons", "5", "--out", str(tmp_path), "--income-years", "2030")
