"""Outcome indicators over time (成效): derived from the household file, the income surveys and the
department records, each observation dated and traced to its source.

- 人均纯收入: one observation per income survey (dated by its survey date, else 31 December of its year),
  against that year's monitoring threshold of the household's region.
- 务工就业人数: working-age members (16–60, not in school) who worked away or hold a public-welfare job,
  out of those with labour.
- 义务教育阶段适龄儿童在校: children aged 6–15 in school; an education department record valid on the date
  (控辍保学 = not in school) outranks the household file.
- 全员参加基本医疗保险: members insured; a health department record valid on the date outranks the file.
- 住房安全 (not a C or D grade dilapidated house) and 饮水安全: from the household file.

The household file keeps only its current values, so observations that rest on it are made only for
today; for an earlier date only the dated sources (income surveys, department records) are observed.
Work is set-based: a fixed number of queries for any number of households.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from exchange.departments import EducationRecord, HealthRecord
from households.models import Household, IncomeRecord, Person, StatusChange
from households.monitoring import MonitoringThreshold, ancestor_codes
from households.validation import age_on
from povertycloud.accounts.permissions import is_auditor
from povertycloud.audit.services import record_event
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import is_active_user, user_may_see_code
from resources.models import AssistanceMeasure, EliminationCase, OutcomeObservation

Indicator = OutcomeObservation.Indicator
Source = OutcomeObservation.Source

WORKING_AGE = (16, 60)
COMPULSORY_AGE = (6, 15)
LABOUR_SKILLS = ("1", "2", "3")  # 普通劳动力, 技能劳动力, 弱劳动力或半劳动力
NOT_IN_SCHOOL = ("", "01")  # no school status, 学龄前儿童
UNSAFE_HOUSING = ("C", "D")


@dataclass
class Observed:
    household_id: int
    region_code: str
    indicator: str
    observed_on: dt.date
    value: Decimal
    base: Decimal | None
    target_met: bool | None
    detail: str
    source: str
    source_model: str = ""
    source_record_id: int | None = None
    batch_id: int | None = None


@dataclass
class ObservedCounts:
    households: int = 0
    observations: int = 0
    returns: int = 0


def thresholds_by_village(village_codes: set[str]) -> dict[str, dict[int, Decimal]]:
    """{village: {year: amount}}: each year's threshold from the most specific region that sets it, for
    many villages in one query (households.monitoring.thresholds_for does one region at a time)."""
    ancestors = {code: ancestor_codes(code) for code in village_codes}
    wanted = {code for chain in ancestors.values() for code in chain}
    by_region: dict[str, dict[int, Decimal]] = defaultdict(dict)
    for region_id, year, amount in MonitoringThreshold.objects.filter(region_id__in=wanted).values_list(
        "region_id", "year", "amount"
    ):
        by_region[region_id][year] = amount
    result: dict[str, dict[int, Decimal]] = {}
    for village, chain in ancestors.items():
        years: dict[int, Decimal] = {}
        for code in reversed(chain):  # least specific first, so the more specific overwrite
            years.update(by_region.get(code, {}))
        result[village] = years
    return result


def income_date(year: int, survey_date: dt.date | None) -> dt.date:
    return survey_date or dt.date(year, 12, 31)


def _current_records(model, households: QuerySet[Household], on: dt.date, fields: tuple[str, ...]):
    """{person_id: row} of the department record versions valid on the date (the latest if several)."""
    rows = (
        model.objects.filter(person__household__in=households, valid_from__lte=on)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=on))
        .order_by("person_id", "valid_from", "id")
        .values_list("person_id", "pk", "batch_id", *fields)
    )
    return {row[0]: row for row in rows}


def derive(households: QuerySet[Household], *, as_of: dt.date, today: dt.date | None = None) -> list[Observed]:
    """The observations the data supports for these households on as_of (income: every survey up to it)."""
    today = today or timezone.localdate()
    file_is_current = as_of >= today
    homes = {pk: (village, grade, water) for pk, village, grade, water in households.values_list(
        "pk", "village_id", "housing_grade", "safe_drinking_water"
    )}
    observed: list[Observed] = []
    thresholds = thresholds_by_village({village for village, _, _ in homes.values()})

    incomes = IncomeRecord.objects.filter(household__in=households).values_list(
        "pk", "household_id", "year", "survey_date", "per_capita_net_income"
    )
    by_date: dict[tuple[int, dt.date], Observed] = {}
    for pk, household_id, year, survey_date, per_capita in incomes.order_by("household_id", "year"):
        on = income_date(year, survey_date)
        if on > as_of:
            continue
        village = homes[household_id][0]
        threshold = thresholds.get(village, {}).get(year)
        by_date[(household_id, on)] = Observed(
            household_id=household_id,
            region_code=village,
            indicator=Indicator.PER_CAPITA_INCOME,
            observed_on=on,
            value=Decimal(per_capita).quantize(Decimal("0.01")),
            base=threshold,
            target_met=None if threshold is None else per_capita >= threshold,
            detail=(
                _("%(year)s 年收支调查，监测标准 %(threshold)s 元") % {"year": year, "threshold": f"{threshold:,.0f}"}
                if threshold is not None
                else _("%(year)s 年收支调查，无当年监测标准") % {"year": year}
            ),
            source=Source.INCOME_SURVEY,
            source_model=IncomeRecord._meta.label_lower,
            source_record_id=pk,
        )
    observed.extend(by_date.values())

    members: dict[int, list[tuple]] = defaultdict(list)
    for row in Person.objects.filter(household__in=households).values_list(
        "pk", "household_id", "birth_date", "labour_skill", "school_status", "months_worked_away",
        "public_welfare_job", "resident_medical_insurance", "employee_medical_insurance",
    ):
        members[row[1]].append(row)
    health = _current_records(HealthRecord, households, as_of, ("insured",))
    education = _current_records(EducationRecord, households, as_of, ("dropout", "enrolment_status"))

    for household_id, (village, grade, water) in homes.items():
        people = members.get(household_id, [])
        common = {"household_id": household_id, "region_code": village, "observed_on": as_of}
        observed += _schooling(people, education, as_of, file_is_current, common)
        observed += _insurance(people, health, file_is_current, common)
        if not file_is_current:
            continue
        working_age = [
            p for p in people
            if WORKING_AGE[0] <= age_on(p[2], as_of) <= WORKING_AGE[1] and p[3] in LABOUR_SKILLS and p[4] == ""
        ]
        working = [p for p in working_age if p[5] > 0 or p[6]]
        observed.append(Observed(
            **common, indicator=Indicator.MEMBERS_WORKING, value=Decimal(len(working)),
            base=Decimal(len(working_age)), target_met=(len(working) > 0) if working_age else None,
            detail=_("有劳动能力的适龄成员 %(members)s 人，其中务工或公益性岗位 %(working)s 人")
            % {"members": len(working_age), "working": len(working)},
            source=Source.HOUSEHOLD_FILE, source_model=Household._meta.label_lower, source_record_id=household_id,
        ))
        safe_house = grade not in UNSAFE_HOUSING
        observed.append(Observed(
            **common, indicator=Indicator.HOUSING_SAFE, value=Decimal(int(safe_house)), base=None,
            target_met=safe_house, detail=_("危房等级 %(grade)s") % {"grade": grade or _("未评定")},
            source=Source.HOUSEHOLD_FILE, source_model=Household._meta.label_lower, source_record_id=household_id,
        ))
        observed.append(Observed(
            **common, indicator=Indicator.WATER_SAFE, value=Decimal(int(bool(water))), base=None,
            target_met=bool(water), detail=_("饮水安全") if water else _("饮水不安全"),
            source=Source.HOUSEHOLD_FILE, source_model=Household._meta.label_lower, source_record_id=household_id,
        ))
    return observed


def _traced(batches: list[int], record_ids: list[int], model, common: dict) -> dict:
    """The source of a household-level indicator: the department when any member's value came from one
    (its latest batch), else the household file."""
    if batches:
        return {
            "source": Source.DEPARTMENT, "source_model": model._meta.label_lower,
            "source_record_id": record_ids[-1], "batch_id": max(batches),
        }
    return {
        "source": Source.HOUSEHOLD_FILE, "source_model": Household._meta.label_lower,
        "source_record_id": common["household_id"],
    }


def _schooling(people, education, as_of, file_is_current, common) -> list[Observed]:
    children = [p for p in people if COMPULSORY_AGE[0] <= age_on(p[2], as_of) <= COMPULSORY_AGE[1]]
    if not children:
        return []
    enrolled, batches, records = 0, [], []
    for child in children:
        record = education.get(child[0])
        if record is not None:
            _valid, pk, batch_id, dropout, _status = record
            enrolled += 0 if dropout else 1
            batches.append(batch_id)
            records.append(pk)
        elif not file_is_current:
            return []  # the file cannot say whether this child was in school on an earlier date
        else:
            enrolled += 0 if child[4] in NOT_IN_SCHOOL else 1
    return [Observed(
        **common, indicator=Indicator.CHILDREN_ENROLLED, value=Decimal(enrolled), base=Decimal(len(children)),
        target_met=enrolled == len(children),
        detail=_("义务教育阶段适龄儿童 %(children)s 人，在校 %(enrolled)s 人")
        % {"children": len(children), "enrolled": enrolled},
        **_traced(batches, records, EducationRecord, common),
    )]


def _insurance(people, health, file_is_current, common) -> list[Observed]:
    if not people:
        return []
    insured, batches, records = 0, [], []
    for person in people:
        record = health.get(person[0])
        if record is not None:
            _valid, pk, batch_id, is_insured = record
            insured += 1 if is_insured else 0
            batches.append(batch_id)
            records.append(pk)
        elif not file_is_current:
            return []
        else:
            insured += 1 if (person[7] or person[8]) else 0
    return [Observed(
        **common, indicator=Indicator.MEDICAL_INSURANCE, value=Decimal(insured), base=Decimal(len(people)),
        target_met=insured == len(people),
        detail=_("家庭成员 %(members)s 人，参加基本医疗保险 %(insured)s 人")
        % {"members": len(people), "insured": insured},
        **_traced(batches, records, HealthRecord, common),
    )]


def observed_households(region: Region) -> QuerySet[Household]:
    """The households of a region whose outcomes are followed: monitored now, assisted, or ever through
    an elimination review."""
    households = Household.objects.filter(village__pk__startswith=region.prefix)
    assisted = AssistanceMeasure.objects.filter(household__village__pk__startswith=region.prefix)
    reviewed = EliminationCase.objects.filter(region_code__startswith=region.prefix)
    return households.filter(
        ~Q(monitoring_type="") | Q(pk__in=assisted.values("household_id")) | Q(pk__in=reviewed.values("household_id"))
    )


def _require_observer(by: Any, region_code: str) -> None:
    if by is None:
        return  # the system itself (demo build, scheduled jobs)
    if not is_active_user(by) or is_auditor(by):
        raise PermissionDenied(_("审计人员只能查看，不能记录成效观测。"))
    if not user_may_see_code(by, region_code):
        raise PermissionDenied(_("不能观测本辖区以外的户。"))


@transaction.atomic
def observe_outcomes(
    *, household: Household | None = None, region: Region | None = None, as_of: dt.date, by: Any
) -> ObservedCounts:
    """Derive and store the observations of one household or of a region's followed households on as_of.
    Observing the same day again replaces that day's values (one observation per household, indicator
    and date). Also records returns to monitoring after an elimination."""
    from resources.elimination import record_returns

    if (household is None) == (region is None):
        raise ValueError("observe_outcomes takes a household or a region")
    today = timezone.localdate()
    if as_of > today:
        raise ValidationError({"as_of": _("观测日期不能晚于今天。")})
    region_code = household.village_id if household is not None else region.code
    _require_observer(by, region_code)
    households = (
        Household.objects.filter(pk=household.pk) if household is not None else observed_households(region)
    )
    rows = derive(households, as_of=as_of, today=today)
    actor = by if getattr(by, "is_authenticated", False) else None
    OutcomeObservation.objects.bulk_create(
        [
            OutcomeObservation(
                household_id=r.household_id, region_code=r.region_code, indicator=r.indicator,
                observed_on=r.observed_on, value=r.value, base=r.base, target_met=r.target_met,
                detail=r.detail[:200], source=r.source, source_model=r.source_model,
                source_record_id=r.source_record_id, batch_id=r.batch_id, recorded_by=actor,
            )
            for r in rows
        ],
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["household", "indicator", "observed_on"],
        update_fields=[
            "region_code", "value", "base", "target_met", "detail", "source", "source_model",
            "source_record_id", "batch", "recorded_by", "recorded_at",
        ],
    )
    counts = ObservedCounts(
        households=len({r.household_id for r in rows}), observations=len(rows),
        returns=record_returns(households=households),
    )
    record_event(
        actor=by,
        action="create",
        entity=OutcomeObservation._meta.label_lower,
        object_pk=household.pk if household is not None else region.code,
        object_repr=_("成效观测 %(date)s") % {"date": f"{as_of:%Y-%m-%d}"},
        region_code=region_code,
        household_id=household.pk if household is not None else None,
        changes={"households": counts.households, "observations": counts.observations, "returns": counts.returns},
        note=_("截至 %(date)s 观测 %(households)s 户、%(observations)s 项指标。")
        % {"date": f"{as_of:%Y-%m-%d}", "households": counts.households, "observations": counts.observations},
    )
    return counts


def entered_monitoring_dates(households: QuerySet[Household]) -> dict[int, list[dt.date]]:
    """Dates of each household's 纳入监测 / 返贫致贫 status changes (for marking the timeline)."""
    found: dict[int, list[dt.date]] = defaultdict(list)
    for household_id, day in StatusChange.objects.filter(
        household__in=households, event__in=("03", "06")
    ).values_list("household_id", "effective_date").order_by("effective_date"):
        found[household_id].append(day)
    return found
