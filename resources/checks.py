"""Checks of the assistance plans of a region's households, listed per township (domain.md §2, §5).

- 必须落实的措施缺失: a monitored household lacks a measure its risk types make mandatory (住房安全保障 for
  因安全住房, 饮水安全保障 for 因安全饮水, 残疾人两项补贴 where a member has a grade one or two disability).
- 有劳动力但无开发式帮扶: a monitored household with working-age labour has no development-type measure
  (产业, 就业, 金融, 公益岗位) a month after it entered monitoring; 综合保障 alone is named as such.
- 低保/特困与综合保障不一致: a monitored household receives 低保 or 特困供养 (by its household file or the
  civil-affairs record valid today) without an implemented measure of that kind, or a household has such
  a measure in force while neither source says it receives it.

Set-based: a fixed number of queries whatever the number of households.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from exchange.departments import CivilAffairsRecord
from households.models import Household, Person
from resources.catalogue import CATEGORY_SOCIAL_PROTECTION, SUBTYPE_DIBAO, SUBTYPE_TEKUN, catalogue
from resources.matching import match_households
from resources.models import AssistanceMeasure
from resources.outcomes import LABOUR_SKILLS, WORKING_AGE
from resources.services import add_months

MANDATORY_MISSING = "mandatory_missing"
NO_DEVELOPMENT = "no_development"
PROTECTION_MISMATCH = "protection_mismatch"
KIND_LABELS = {
    MANDATORY_MISSING: gettext_lazy("必须落实的措施缺失"),
    NO_DEVELOPMENT: gettext_lazy("有劳动力但无开发式帮扶"),
    PROTECTION_MISMATCH: gettext_lazy("低保/特困与综合保障不一致"),
}
DEVELOPMENT_GRACE_MONTHS = 1
TOWNSHIP_DIGITS = 9


@dataclass
class PlanIssue:
    household_id: int
    number: str
    village_id: str
    kind: str
    message: str

    @property
    def township_code(self) -> str:
        return self.village_id[:TOWNSHIP_DIGITS].ljust(12, "0")

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]


def households_with_labour(households: QuerySet[Household], as_of: dt.date) -> set[int]:
    youngest, oldest = WORKING_AGE
    born_after = add_months(as_of, -12 * (oldest + 1))  # still 60 until the 61st birthday
    born_by = add_months(as_of, -12 * youngest)
    return set(
        Person.objects.filter(
            household__in=households,
            birth_date__gt=born_after,
            birth_date__lte=born_by,
            labour_skill__in=LABOUR_SKILLS,
            school_status="",
        )
        .values_list("household_id", flat=True)
        .distinct()
    )


def protection_status(households: QuerySet[Household], as_of: dt.date) -> dict[str, dict[int, str]]:
    """{"dibao"|"tekun": {household_id: where it is recorded}} from the household file and the civil-affairs
    records valid on the date."""
    status: dict[str, dict[int, str]] = {"dibao": {}, "tekun": {}}
    for household_id, dibao, tekun in Person.objects.filter(household__in=households).filter(
        ~Q(dibao="") | Q(tekun=True)
    ).values_list("household_id", "dibao", "tekun"):
        if dibao:
            status["dibao"].setdefault(household_id, _("户档案"))
        if tekun:
            status["tekun"].setdefault(household_id, _("户档案"))
    records = (
        CivilAffairsRecord.objects.filter(person__household__in=households, valid_from__lte=as_of)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=as_of))
        .filter(~Q(dibao_type="") | Q(tekun=True))
        .values_list("person__household_id", "dibao_type", "dibao_stop", "tekun", "batch_id")
    )
    for household_id, dibao_type, dibao_stop, tekun, batch_id in records:
        if dibao_type and (dibao_stop is None or dibao_stop > as_of):
            status["dibao"].setdefault(household_id, _("民政数据（批次 %(batch)s）") % {"batch": batch_id})
        if tekun:
            status["tekun"].setdefault(household_id, _("民政数据（批次 %(batch)s）") % {"batch": batch_id})
    return status


def measures_in_force(households: QuerySet[Household], subtypes: tuple[str, ...], as_of: dt.date) -> dict[str, set]:
    found: dict[str, set[int]] = defaultdict(set)
    for household_id, subtype in (
        AssistanceMeasure.objects.filter(
            household__in=households, subtype_id__in=subtypes, status=AssistanceMeasure.Status.IMPLEMENTED,
            start_date__lte=as_of,
        )
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=as_of))
        .values_list("household_id", "subtype_id")
    ):
        found[subtype].add(household_id)
    return found


def plan_checks(households: QuerySet[Household], *, as_of: dt.date) -> list[PlanIssue]:
    """Every plan issue of the households (a region's, already scoped to the user)."""
    book = catalogue()
    monitored = households.exclude(monitoring_type="")
    numbers = dict(households.values_list("pk", "number"))
    villages = dict(households.values_list("pk", "village_id"))
    matches = match_households(monitored)
    issues: list[PlanIssue] = []

    def add(household_id: int, kind: str, message: str) -> None:
        issues.append(PlanIssue(household_id, numbers[household_id], villages[household_id], kind, message))

    for household_id, matched in matches.items():
        for expectation in matched.mandatory_missing:
            add(
                household_id, MANDATORY_MISSING,
                _("风险类型“%(risk)s”须落实“%(measure)s”，尚未安排。")
                % {"risk": expectation.risk_label, "measure": expectation.expectation.name},
            )

    development = book.development_categories
    labour = households_with_labour(monitored, as_of)
    for household_id in sorted(labour & set(matches)):
        matched = matches[household_id]
        identified = matched.identified_on
        if identified is None or add_months(identified, DEVELOPMENT_GRACE_MONTHS) >= as_of:
            continue
        if any(m.category in development for m in matched.measures):
            continue
        only_protection = bool(matched.measures) and all(
            m.category == CATEGORY_SOCIAL_PROTECTION for m in matched.measures
        )
        what = _("仅有综合保障措施") if only_protection else _("没有开发式帮扶措施")
        add(
            household_id, NO_DEVELOPMENT,
            _("%(date)s 纳入监测，家中有劳动力，满一个月仍%(what)s（产业、就业、金融或公益岗位）。")
            % {"date": f"{identified:%Y-%m-%d}", "what": what},
        )

    status = protection_status(households, as_of)
    in_force = measures_in_force(households, (SUBTYPE_DIBAO, SUBTYPE_TEKUN), as_of)
    monitored_ids = set(matches)
    for kind, subtype in (("dibao", SUBTYPE_DIBAO), ("tekun", SUBTYPE_TEKUN)):
        name = book.label(CATEGORY_SOCIAL_PROTECTION, subtype)
        receiving, measured = status[kind], in_force.get(subtype, set())
        for household_id in sorted(set(receiving) & monitored_ids - measured):
            add(
                household_id, PROTECTION_MISMATCH,
                _("%(source)s显示享受%(name)s，但没有已实施的“%(name)s”综合保障措施。")
                % {"source": receiving[household_id], "name": name},
            )
        for household_id in sorted(measured - set(receiving)):
            add(
                household_id, PROTECTION_MISMATCH,
                _("有已实施的“%(name)s”综合保障措施，但户档案和民政数据均未显示享受%(name)s。") % {"name": name},
            )
    issues.sort(key=lambda issue: (issue.village_id, issue.number, issue.kind))
    return issues
