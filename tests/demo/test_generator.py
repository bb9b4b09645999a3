"""The synthetic demo county: valid, deterministic, with believable income paths, a consistent status
history and department files whose faults are exactly those their manifests declare."""

import csv
import datetime as dt
import io
import json
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from openpyxl import load_workbook

from demo.county import assumptions as A
from demo.county.department_files import CIVIL_AFFAIRS, EDUCATION, HEALTH, parse_date
from demo.county.generator import generate_county, load_county
from demo.county.registry_files import FILE_NAMES as REGISTRY_FILE_NAMES
from households.codes import codebook
from households.models import Household, IncomeRecord, Person, StatusChange
from households.validation import (
    household_issues,
    household_member_issues,
    parse_resident_id,
    person_issues,
    split_codes,
)
from povertycloud.audit.models import AuditEvent
from povertycloud.regions.models import Region

pytestmark = pytest.mark.django_db

SMALL = 300
INCOME_FIELDS = IncomeRecord.INCOME_FIELDS
NOT_COMPARED = {
    "id",
    "household",
    "created_at",
    "updated_at",
    "recorded_at",
    "net_income",
    "per_capita_net_income",
}


def generate(out: Path, *, persons: int = SMALL, seed: int = 7, load: bool = True):
    """Generate the county's files and, unless told not to, import its registry export as a county would."""
    summary = generate_county(persons=persons, seed=seed, out_dir=out)
    if load:
        batch = load_county(summary_or_dir=out)
        assert batch.rejected_rows == 0, list(batch.rejected.values_list("reasons", flat=True)[:5])
    return summary


def file_bytes(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in REGISTRY_FILE_NAMES.values()}


def _values(model, order: tuple[str, ...]) -> list[tuple]:
    names = [f.name for f in model._meta.concrete_fields if f.name not in NOT_COMPARED]
    return [tuple(row) for row in model.objects.order_by(*order).values_list(*order[:1], *names)]


def snapshot() -> dict[str, list]:
    """Everything generated except row ids and timestamps, keyed by household number."""
    return {
        "households": _values(Household, ("number",)),
        "persons": _values(Person, ("id_number",)),
        "incomes": _values(IncomeRecord, ("household__number", "year")),
        "status": _values(StatusChange, ("household__number", "effective_date", "event")),
    }


def per_capita(record: IncomeRecord) -> Decimal:
    net = sum(getattr(record, name) for name in INCOME_FIELDS) - record.production_cost
    return net / record.household_size


def income_paths() -> dict[int, dict[int, IncomeRecord]]:
    paths: dict[int, dict[int, IncomeRecord]] = defaultdict(dict)
    for record in IncomeRecord.objects.all():
        paths[record.household_id][record.year] = record
    return paths


def below(record: IncomeRecord) -> bool:
    return per_capita(record) < A.MONITORING_THRESHOLDS[record.year]


# --- Files -------------------------------------------------------------------------------------------


def read_csv(path: Path, encoding: str) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding=encoding, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def read_xlsx(path: Path) -> tuple[list[str], list[list]]:
    book = load_workbook(path, read_only=True)
    rows = [["" if v is None else v for v in row] for row in book.active.iter_rows(values_only=True)]
    width = len(rows[0])
    return [str(v) for v in rows[0]], [row + [""] * (width - len(row)) for row in rows[1:]]


def read_department_file(out: Path, spec) -> tuple[dict, list[dict]]:
    manifest = json.loads((out / f"{spec.filename}.manifest.json").read_text(encoding="utf-8"))
    if spec is EDUCATION:
        header, rows = read_xlsx(out / spec.filename)
    else:
        header, rows = read_csv(out / spec.filename, "gbk" if spec is CIVIL_AFFAIRS else "utf-8-sig")
    assert header == list(spec.columns)
    return manifest, [dict(zip(header, row, strict=True)) for row in rows]


def faulty_rows(manifest: dict) -> dict[int, str]:
    return {row: fault for fault, rows in manifest["fault_rows"].items() for row in rows}


def is_iso_date(value) -> bool:
    """A real date cell, or text written 2025-03-01 (not 20250301, which Python would also read)."""
    return isinstance(value, dt.date) or re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)) is not None


ALLOWED_CODES = {
    CIVIL_AFFAIRS.key: {"", "城市低保", "农村低保"},
    HEALTH.key: {"城乡居民", "城镇职工"},
    EDUCATION.key: {"学前", "小学", "初中", "高中", "中职", "高职高专", "本科", "研究生"},
}


# --- Determinism and validity ------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_county_and_files(regions, tmp_path):
    generate(tmp_path / "a", load=False)
    generate(tmp_path / "b", load=False)
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")
    for spec in (CIVIL_AFFAIRS, HEALTH):
        assert (tmp_path / "a" / spec.filename).read_bytes() == (tmp_path / "b" / spec.filename).read_bytes()
    assert read_xlsx(tmp_path / "a" / EDUCATION.filename) == read_xlsx(tmp_path / "b" / EDUCATION.filename)

    generate(tmp_path / "c", seed=8, load=False)
    assert file_bytes(tmp_path / "c")["成员信息.csv"] != file_bytes(tmp_path / "a")["成员信息.csv"]


def test_the_generated_export_loads_whole_and_a_second_load_changes_nothing(regions, tmp_path):
    generate(tmp_path)
    first = snapshot()
    again = load_county(summary_or_dir=tmp_path)
    assert again.already_imported
    assert snapshot() == first


def test_it_generates_exactly_the_people_asked_for(regions, tmp_path):
    summary = generate(tmp_path)
    assert Person.objects.count() == SMALL == summary.persons
    assert Household.objects.count() == summary.households
    assert IncomeRecord.objects.count() == summary.households * len(A.YEARS)
    assert StatusChange.objects.count() == summary.status_changes
    sizes = [h.members.count() for h in Household.objects.all()]
    assert min(sizes) >= 1 and max(sizes) <= 8
    assert 3.0 <= sum(sizes) / len(sizes) <= 4.6


def test_every_person_and_household_passes_the_validators(regions, tmp_path):
    generate(tmp_path)
    codes = codebook()
    person_fields = [f.name for f in Person._meta.concrete_fields]
    household_fields = [f.name for f in Household._meta.concrete_fields]
    errors = []
    for household in Household.objects.prefetch_related("members"):
        members = [{name: getattr(p, name) for name in person_fields} for p in household.members.all()]
        issues = [i for m in members for i in person_issues(m, codes=codes, on=A.AS_OF)]
        issues += household_member_issues(members, codes=codes)
        issues += household_issues({name: getattr(household, name) for name in household_fields}, codes=codes)
        errors += [f"{household.number}: {i.message}" for i in issues if i.is_error]
    assert errors == []


def test_ids_are_unique_valid_and_match_sex_and_birth_date(regions, tmp_path):
    generate(tmp_path)
    people = list(Person.objects.all())
    assert len({p.id_number for p in people}) == len(people)
    for person in people:
        resident = parse_resident_id(person.id_number, today=A.AS_OF)
        assert resident.region_code == "522634"
        assert resident.birth_date == person.birth_date
        assert resident.sex == person.sex
        if person.disability_certificate:
            assert (
                person.disability_certificate
                == person.id_number + person.disability_category + person.disability_grade
            )


def test_heads_and_spouses_are_adults_of_the_other_sex(regions, tmp_path):
    generate(tmp_path)
    for household in Household.objects.prefetch_related("members"):
        members = list(household.members.all())
        heads = [m for m in members if m.relation == "01"]
        spouses = [m for m in members if m.relation == "02"]
        assert len(heads) == 1 and len(spouses) <= 1
        assert heads[0].birth_date <= dt.date(A.AS_OF.year - 18, 12, 31)
        if spouses:
            assert spouses[0].sex != heads[0].sex
        for child in (m for m in members if m.relation in {"03", "04"}):
            assert child.birth_date > heads[0].birth_date


# --- Income paths and status history ----------------------------------------------------------------


def test_income_paths_fall_below_the_threshold_recover_and_return(regions, tmp_path):
    generate(tmp_path, persons=3000)
    fell = recovered = returned = persistent = 0
    for path in income_paths().values():
        low = [below(path[year]) for year in A.YEARS]
        fell += any(low)
        persistent += all(low)
        first_low = low.index(True) if any(low) else None
        if first_low is not None and not all(low[first_low:]):
            recovered += 1
            back_up = first_low + low[first_low:].index(False)
            returned += any(low[back_up:])
    assert fell > 0 and recovered > 0 and returned > 0 and persistent > 0
    assert fell < len(income_paths()) / 2  # most households are never below the threshold


def test_status_history_follows_the_incomes(regions, tmp_path):
    generate(tmp_path, persons=3000)
    paths = income_paths()
    events = defaultdict(list)
    for change in StatusChange.objects.order_by("household_id", "effective_date", "id"):
        events[change.household_id].append(change)
    seen = defaultdict(int)
    for household in Household.objects.all():
        history = events[household.pk]
        assert history[0].event == "01"
        last = history[-1]
        assert (last.monitoring_type, last.risk_types) == (household.monitoring_type, household.risk_types)
        entered: dt.date | None = None
        eliminated_before = False
        for change in history:
            seen[change.event] += 1
            year = change.effective_date.year
            if change.event in {"03", "06"}:
                record = paths[household.pk][year]
                assert entered is None
                assert change.event == ("06" if eliminated_before else "03")
                assert change.monitoring_type and change.risk_types
                if change.monitoring_type == "3":
                    spending = record.compliant_medical_spending + record.compliant_education_spending
                    previous = paths[household.pk].get(year - 1)
                    dropped = previous is not None and per_capita(record) < per_capita(previous) * Decimal(
                        "0.6"
                    )
                    assert spending >= A.HARDSHIP_SPENDING or dropped, change.reason
                else:
                    assert below(record), change.reason
                    assert change.monitoring_type == ("1" if household.household_type == "1" else "2")
                if "01" in split_codes(change.risk_types):
                    assert record.compliant_medical_spending > 0
                if "03" in split_codes(change.risk_types):
                    assert record.compliant_education_spending > A.EDUCATION_RISK_SPENDING
                entered = change.effective_date
            elif change.event == "05":
                assert entered is not None
                assert (change.effective_date - entered).days >= 183
                assert not below(paths[household.pk][year])
                assert change.monitoring_type == "" and change.risk_types == ""
                entered, eliminated_before = None, True
            elif change.event == "04":
                assert entered is not None
        assert bool(household.monitoring_type) == (entered is not None)
    assert seen["03"] > 0 and seen["05"] > 0 and seen["06"] > 0


def test_monitored_households_have_risk_types_and_disaster_subtypes_where_needed(regions, tmp_path):
    generate(tmp_path, persons=3000)
    monitored = Household.objects.exclude(monitoring_type="")
    assert monitored.exists()
    for household in monitored:
        codes = split_codes(household.risk_types)
        assert 1 <= len(codes) <= 5
        assert bool(household.disaster_subtype) == ("04" in codes)
    assert not Household.objects.filter(monitoring_type="").exclude(risk_types="").exists()


# --- The run itself -----------------------------------------------------------------------------------


def test_one_audit_event_records_the_registry_import(regions, tmp_path):
    summary = generate(tmp_path)
    events = AuditEvent.objects.filter(action="import")
    assert events.count() == 1
    event = events.get()
    assert event.region_code == A.COUNTY_CODE
    tables = event.changes["tables"]
    assert tables["members"]["accepted"] == SMALL and tables["households"]["new"] == summary.households


def test_generating_writes_files_only(regions, tmp_path):
    summary = generate(tmp_path, load=False)
    assert not Household.objects.exists() and not Person.objects.exists()
    assert {path.name for path in summary.registry_paths} == set(REGISTRY_FILE_NAMES.values())
    assert summary.registry_files["members"]["rows"] == SMALL


def test_it_loads_the_region_tree_when_it_is_missing(db, tmp_path):
    assert not Region.objects.exists()
    summary = generate(tmp_path, persons=50)
    assert summary.regions_loaded
    assert Region.objects.filter(level=Region.Level.VILLAGE, code__startswith="522634").count() > 40


def test_the_command_writes_the_export_and_the_department_files(regions, tmp_path):
    out = io.StringIO()
    call_command("generate_county", persons=40, seed=3, out=str(tmp_path), stdout=out, stderr=io.StringIO())
    assert "40 人" in out.getvalue() and "成员信息.csv: 40 行" in out.getvalue()
    assert not Household.objects.exists()
    with pytest.raises(CommandError, match="至少为 1"):
        call_command("generate_county", persons=0, out=str(tmp_path), stdout=io.StringIO(), stderr=io.StringIO())


# --- Department files ----------------------------------------------------------------------------------


def test_department_files_come_in_their_encodings(regions, tmp_path):
    generate(tmp_path)
    civil = (tmp_path / CIVIL_AFFAIRS.filename).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        civil.decode("utf-8")
    assert civil.decode("gbk").startswith("统计期,")
    health = (tmp_path / HEALTH.filename).read_bytes()
    assert health.startswith(b"\xef\xbb\xbf")
    assert health.decode("utf-8-sig").startswith("统计期,")
    header, rows = read_xlsx(tmp_path / EDUCATION.filename)
    assert header == list(EDUCATION.columns) and rows


@pytest.mark.parametrize("spec", [CIVIL_AFFAIRS, HEALTH, EDUCATION], ids=lambda s: s.key)
def test_department_files_have_exactly_the_declared_faults(regions, tmp_path, spec):
    generate(tmp_path, persons=2000)
    manifest, rows = read_department_file(tmp_path, spec)
    assert manifest["rows"] == len(rows)
    assert manifest["faults"] == {fault: len(r) for fault, r in manifest["fault_rows"].items()}
    assert manifest["faulty_rows_total"] > 0
    known = set(Person.objects.values_list("id_number", flat=True))
    faults = faulty_rows(manifest)
    for number, row in enumerate(rows, start=1):
        fault = faults.get(number, "")
        number_text = str(row["证件号码"])
        blank = [c for c in spec.required if row[c] in ("", None)]
        odd_dates = [c for c in spec.date_columns if row[c] not in ("", None) and not is_iso_date(row[c])]
        code_ok = row[spec.code_column] in ALLOWED_CODES[spec.key]
        if fault == "bad_check_character":
            with pytest.raises(ValidationError) as error:
                parse_resident_id(number_text)
            assert error.value.code == "id_check"
        elif fault == "unknown_id":
            parse_resident_id(number_text)
            assert number_text not in known
        elif fault == "duplicate_row":
            assert row == rows[number - 2]
        elif fault == "blank_required":
            assert blank
        elif fault == "unknown_code":
            assert not code_ok
        elif fault == "mixed_date_format":
            assert len(odd_dates) == 1 and parse_date(row[odd_dates[0]]).year >= 1900
        else:
            assert number_text in known and not blank and code_ok and not odd_dates, (number, row)


def _clean(rows: list[dict], manifest: dict) -> list[dict]:
    faults = faulty_rows(manifest)
    return [row for n, row in enumerate(rows, start=1) if faults.get(n, "") in ("", "mixed_date_format")]


def test_clean_department_rows_agree_with_the_household_file(regions, tmp_path):
    generate(tmp_path, persons=2000)
    people = {p.id_number: p for p in Person.objects.all()}
    incomes = {r.household_id: r for r in IncomeRecord.objects.filter(year=A.AS_OF.year)}

    manifest, rows = read_department_file(tmp_path, CIVIL_AFFAIRS)
    relief = defaultdict(int)
    for row in _clean(rows, manifest):
        person = people[row["证件号码"]]
        assert row["姓名"] == person.name
        stopped = parse_date(row["低保停止日期"])
        if row["低保类别"] and stopped is None:
            assert person.dibao == {"城市低保": "1", "农村低保": "2"}[row["低保类别"]]
        else:
            assert person.dibao == ""
        assert (row["特困供养"] == "是") == person.tekun
        if int(row["本年临时救助次数"] or 0):
            assert person.relation == "01"
            relief[person.household_id] += int(row["本年临时救助金额（元）"])
    assert relief
    for household_id, amount in relief.items():
        assert amount == incomes[household_id].temporary_relief
    assert_everyone_listed(rows, manifest, [p for p in people.values() if p.dibao or p.tekun])

    manifest, rows = read_department_file(tmp_path, HEALTH)
    self_pay = defaultdict(int)
    clean_members = defaultdict(int)
    for row in _clean(rows, manifest):
        person = people[row["证件号码"]]
        assert row["姓名"] == person.name
        assert row["参保类型"] == ("城镇职工" if person.employee_medical_insurance else "城乡居民")
        assert (row["大病保险"] == "是") == person.critical_illness_insurance
        assert bool(row["慢性病诊断"]) == ("2" in person.health_codes)
        assert bool(row["大病诊断"]) == ("3" in person.health_codes)
        self_pay[person.household_id] += int(row["年度累计自付费用（元）"])
        clean_members[person.household_id] += 1
    complete = [h for h, n in clean_members.items() if n == Person.objects.filter(household_id=h).count()]
    assert complete
    for household_id in complete:
        assert self_pay[household_id] == incomes[household_id].compliant_medical_spending

    manifest, rows = read_department_file(tmp_path, EDUCATION)
    codes = codebook()
    for row in _clean(rows, manifest):
        person = people[row["证件号码"]]
        assert row["姓名"] == person.name
        if row["在校状态"] == "辍学":
            assert person.school_status == "" and person.education and row["控辍保学"] == "是"
        else:
            assert row["年级"] == codes.label("school_status", person.school_status)
            assert row["学段"] == codes.attrs("school_status", person.school_status)["stage"]
    assert_everyone_listed(rows, manifest, [p for p in people.values() if p.school_status not in ("", "01")])


def assert_everyone_listed(rows: list[dict], manifest: dict, expected: list[Person]) -> None:
    """Each expected person has a row, unless a fault blanked or garbled their number."""
    listed = {str(row["证件号码"])[:17] for row in rows}
    missing = [p for p in expected if p.id_number[:17] not in listed]
    assert expected and len(missing) <= manifest["faults"]["blank_required"]
