"""Assistance on the generated demo county: measures matched to the monitored households' risks, outcome
observations, and a few households taken through the risk elimination steps.

Run after the county's risk cases are decided (the measures follow each household's entry into
monitoring) and after the demo users exist (the elimination steps are taken by a township official of
the household's township and by county staff, as on the pages; without them those steps are skipped).
Measures are written in bulk, with one audit event for the batch; the elimination steps go through the
same services as the pages.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from households.models import Household, IncomeRecord, Person
from households.validation import age_on
from povertycloud.accounts.models import Role, User
from povertycloud.audit.services import record_event
from povertycloud.regions.models import Region
from resources import elimination
from resources.catalogue import SUBTYPE_DIBAO, SUBTYPE_TEKUN, catalogue
from resources.checks import households_with_labour, protection_status
from resources.matching import match_households
from resources.models import AssistanceMeasure, EliminationCase
from resources.outcomes import COMPULSORY_AGE, observe_outcomes, thresholds_by_village
from resources.services import add_months

# The sub-type the demo records for an expectation, by (category, required sub-type or ""), and the amount
# range in yuan. Expectations that name a sub-type use it.
SUBTYPE_FOR_CATEGORY = {
    "01": "0101", "02": "0204", "03": "0301", "04": "0401", "05": "0503", "06": "0601", "07": "0702",
    "08": "0804", "09": "0901", "10": "", "11": "1104",
}
AMOUNTS = {
    "0101": (2000, 6000), "0204": (1000, 3000), "0301": (30000, 50000), "0401": (4800, 9600),
    "0503": (0, 0), "0501": (2000, 8000), "0601": (500, 1500), "0702": (1500, 3000), "0801": (3000, 6000),
    "0802": (6000, 9000), "0803": (1200, 2400), "0804": (1000, 3000), "0901": (20000, 35000),
    "0902": (5000, 15000), "": (500, 2000), "1104": (2000, 10000),
}
UNITS = {
    "01": "县农业农村局", "02": "县人力资源和社会保障局", "03": "县农村信用合作联社", "04": "县人力资源和社会保障局",
    "05": "县医疗保障局", "06": "县教育局", "07": "县教育局", "08": "县民政局", "09": "县住房和城乡建设局",
    "10": "县水务局", "11": "县乡村振兴局",
}
FUNDING = ("财政衔接推进乡村振兴补助资金", "行业部门资金", "东西部协作资金", "社会帮扶资金")
HELPERS = ("杨光明", "吴秀珍", "龙志强", "李国华", "王春燕", "张德明", "潘玉兰", "唐文军")
MISSING_SHARE = 0.08  # expectations left without a measure, so that the plan checks have something to show
PLANNED_SHARE = 0.12
ELIMINATION_STEPS = 6  # households put through the chain: 2 applied, 2 township-approved, 2 approved


def _members(households) -> dict[int, list[Person]]:
    found: dict[int, list[Person]] = defaultdict(list)
    for person in Person.objects.filter(household__in=households).order_by("household_id", "relation", "birth_date"):
        found[person.household_id].append(person)
    return found


def _person_for(subtype: str, people: list[Person], today: dt.date) -> Person | None:
    if subtype == "0803":
        return next((p for p in people if p.disability_grade in ("1", "2") and ",4," in p.health), None)
    if subtype == "0601":
        return next((p for p in people if COMPULSORY_AGE[0] <= age_on(p.birth_date, today) <= COMPULSORY_AGE[1]
                     and p.school_status not in ("", "01")), None)
    if subtype == "0702":
        return next((p for p in people if p.school_status and p.school_status >= "31"), None)
    if subtype == "0401":
        return next((p for p in people if 16 <= age_on(p.birth_date, today) <= 60 and p.labour_skill in ("1", "2", "3")
                     and not p.school_status), None)
    return None


@transaction.atomic
def _record_measures(region: Region, rng: np.random.Generator, today: dt.date) -> int:
    book = catalogue()
    households = Household.objects.filter(village__pk__startswith=region.prefix).exclude(monitoring_type="")
    already = set(AssistanceMeasure.objects.filter(household__in=households).values_list("household_id", flat=True))
    matches = match_households(households)
    members = _members(households)
    risks = dict(households.values_list("pk", "risk_types"))
    status = protection_status(households, today)
    labour = households_with_labour(households, today)
    development = book.development_categories
    new: list[AssistanceMeasure] = []

    def add(
        household_id: int, category: str, subtype: str, start: dt.date, risk: str, person: Person | None,
        *, may_be_planned: bool = True,
    ) -> None:
        low, high = AMOUNTS.get(subtype, AMOUNTS[""])
        amount = Decimal(int(rng.integers(low, high + 1)) // 100 * 100)
        planned = (may_be_planned and rng.random() < PLANNED_SHARE) or start > today
        months = 36 if subtype == "0301" else int(rng.integers(6, 25))
        new.append(AssistanceMeasure(
            household_id=household_id, person=person, person_name=person.name if person else "",
            category_id=category, subtype_id=subtype or None, amount=amount,
            funding_source=FUNDING[int(rng.integers(len(FUNDING)))], start_date=start,
            end_date=add_months(start, months) if subtype in ("0301", "0101", "0401", "0804", "0901", "0902") else None,
            responsible_unit=UNITS.get(category, "乡镇人民政府"),
            helper_name=HELPERS[int(rng.integers(len(HELPERS)))], helper_unit="乡镇人民政府",
            helper_phone=f"139{int(rng.integers(10_000_000, 99_999_999))}",
            risk_types=f",{risk}," if risk and f",{risk}," in risks[household_id] else "",
            status=AssistanceMeasure.Status.PLANNED if planned else AssistanceMeasure.Status.IMPLEMENTED,
        ))

    for household_id, matched in matches.items():
        if household_id in already:
            continue
        identified = matched.identified_on or add_months(today, -3)
        people = members.get(household_id, [])
        chosen: set[str] = set()
        for expectation in matched.expectations:
            if not expectation.applies or rng.random() < MISSING_SHARE:
                continue
            category = expectation.expectation.categories[0]
            named = expectation.expectation.subtypes
            subtype = named[0] if named else SUBTYPE_FOR_CATEGORY[category]
            if category == "08" and not expectation.expectation.subtypes:
                subtype = (
                    SUBTYPE_DIBAO if household_id in status["dibao"]
                    else SUBTYPE_TEKUN if household_id in status["tekun"] else "0804"
                )
            if subtype in chosen or (category, subtype) in chosen:
                continue
            person = _person_for(subtype, people, today)
            if book.subtypes.get(subtype) is not None and book.subtypes[subtype].person_required and person is None:
                continue
            chosen.add(subtype)
            start = min(identified + dt.timedelta(days=int(rng.integers(5, 40))), today)
            add(
                household_id, category, subtype, start, expectation.expectation.risk_type, person,
                may_be_planned=subtype not in (SUBTYPE_DIBAO, SUBTYPE_TEKUN),
            )
        # 低保 and 特困供养 that civil affairs already pays are recorded as 综合保障 measures in force.
        for kind, subtype in (("dibao", SUBTYPE_DIBAO), ("tekun", SUBTYPE_TEKUN)):
            if household_id in status[kind] and subtype not in chosen and rng.random() > MISSING_SHARE:
                chosen.add(subtype)
                add(household_id, "08", subtype, min(identified, today), "", None, may_be_planned=False)
        has_development = any(m.category in development for m in matched.measures) or any(
            book.subtypes.get(s) is not None and book.subtypes[s].category in development for s in chosen
        )
        if household_id in labour and not has_development and rng.random() > MISSING_SHARE:
            category = "01" if rng.random() < 0.5 else "02"
            start = min(identified + dt.timedelta(days=int(rng.integers(7, 28))), today)
            add(household_id, category, SUBTYPE_FOR_CATEGORY[category], start, "", None)
    AssistanceMeasure.objects.bulk_create(new, batch_size=2000)
    if new:
        record_event(
            actor=None, action="create", entity=AssistanceMeasure._meta.label_lower, object_pk=region.code,
            object_repr=f"演示帮扶措施 {region.name}", region_code=region.code,
            changes={"measures": len(new)}, note=f"为 {region.name} 的监测户生成演示帮扶措施 {len(new)} 项。",
        )
    return len(new)


def _reviewers(region: Region) -> tuple[dict[str, User], User | None]:
    officials: dict[str, User] = {}
    for user in User.objects.filter(
        role=Role.TOWNSHIP_OFFICIAL, is_active=True, region__pk__startswith=region.prefix
    ).order_by("pk"):
        officials.setdefault(user.region_id, user)  # the township's first official applies; another reviews
    county = User.objects.filter(
        role=Role.COUNTY_STAFF, is_active=True, region_id=region.code[:6].ljust(12, "0")
    ).order_by("pk").first()
    return officials, county


def _likely_eligible(households, today: dt.date) -> list[int]:
    """Households that pass the cheap conditions (six months monitored, a measure implemented, latest income
    above its threshold), found set-based; the full conditions are then checked one by one."""
    matches = match_households(households)
    since = add_months(today, -elimination.MONITORED_MONTHS)
    passing = {
        pk for pk, m in matches.items()
        if m.identified_on is not None and m.identified_on <= since and any(x.implemented for x in m.measures)
    }
    villages = dict(households.values_list("pk", "village_id"))
    thresholds = thresholds_by_village(set(villages.values()))
    latest: dict[int, tuple[int, Decimal]] = {}
    for household_id, year, per_capita in IncomeRecord.objects.filter(household_id__in=passing).values_list(
        "household_id", "year", "per_capita_net_income"
    ).order_by("household_id", "year"):
        latest[household_id] = (year, per_capita)
    return sorted(
        pk for pk, (year, per_capita) in latest.items()
        if (threshold := thresholds[villages[pk]].get(year)) is not None and per_capita >= threshold
    )


def _eliminate_some(region: Region, today: dt.date) -> dict[str, int]:
    counts = {"eliminations_applied": 0, "eliminations_township_approved": 0, "eliminations_approved": 0}
    officials, county = _reviewers(region)
    if not officials or county is None:
        return counts
    open_or_done = EliminationCase.objects.filter(region_code__startswith=region.prefix).values("household_id")
    candidates = (
        Household.objects.filter(village__pk__startswith=region.prefix, whole_household_unable_to_work=False)
        .exclude(monitoring_type="")
        .exclude(pk__in=open_or_done)
        .order_by("pk")
    )
    likely = _likely_eligible(candidates, today)
    chosen = []
    for household in candidates.filter(pk__in=likely).iterator():
        official = officials.get(household.village_id[:9].ljust(12, "0"))
        if official is None:
            continue
        if elimination.all_met(elimination.elimination_conditions(household, as_of=today)):
            chosen.append((household, official))
        if len(chosen) >= ELIMINATION_STEPS:
            break
    for index, (household, official) in enumerate(chosen):
        visit = today - dt.timedelta(days=14)
        case = elimination.apply_for_elimination(
            by=official, household=household, method=EliminationCase.Method.ASSISTED, visit_date=visit,
            reason="入户核实：收入稳定高于监测标准，“三保障”和饮水安全有保障，无新增风险。",
        )
        counts["eliminations_applied"] += 1
        if index < 2:
            continue
        # Separation of duties: the applicant cannot pass the township review; another official of the
        # township (the demo has two in each) does.
        reviewer = (
            User.objects.filter(role=Role.TOWNSHIP_OFFICIAL, is_active=True, region_id=official.region_id)
            .exclude(pk=official.pk).order_by("pk").first()
        )
        if reviewer is None:
            continue
        elimination.township_review(
            by=reviewer, case=case, approve=True, reason="经村级民主评议和公示无异议，乡镇审核同意。",
            notice_from=today - dt.timedelta(days=12), notice_to=today - dt.timedelta(days=6),
        )
        counts["eliminations_township_approved"] += 1
        if index < 4:
            continue
        elimination.county_decision(by=county, case=case, approve=True, reason="县级审定同意风险消除。")
        counts["eliminations_approved"] += 1
    return counts


def record_demo_assistance(*, region_code: str, seed: int) -> dict[str, Any]:
    """Measures for the region's monitored households, outcome observations as of today, and a few
    households through the elimination steps. Returns counts. Running it again adds nothing for
    households that already have measures."""
    region = Region.objects.get(code=region_code)
    rng = np.random.default_rng(seed)
    today = timezone.localdate()
    measures = _record_measures(region, rng, today)
    observed = observe_outcomes(region=region, as_of=today, by=None)
    counts: dict[str, Any] = {
        "measures": measures,
        "observed_households": observed.households,
        "observations": observed.observations,
        "returns": observed.returns,
    }
    counts.update(_eliminate_some(region, today))
    return counts
