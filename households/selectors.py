"""Reads of the household file for pages and exports. Every queryset is narrowed to the user's region."""

import operator
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import reduce
from typing import Any

from django.apps import apps as django_apps
from django.core.exceptions import FieldDoesNotExist
from django.db import connection
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.lookups import IsNull
from django.utils import timezone
from django.utils.translation import gettext as _

from households.codes import codebook, labels_of
from households.models import Household, IncomeRecord, Person, PersonNameGram, StatusChange
from households.monitoring import thresholds_for
from households.sensitive import HEALTH_FIELDS, HIDDEN, SENSITIVE_FIELDS, can_see_health, mask, mask_text, shown
from households.validation import RELATION_HEAD, age_on
from povertycloud.accounts.permissions import can_reveal_sensitive
from povertycloud.audit.models import AuditEvent
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import code_range, region_prefix_of, scope_for_user, sees_everything
from povertycloud.regions.selectors import villages_of

PAGE_SIZE = 50

def monitoring_thresholds_of(region_code: str) -> dict[int, Decimal]:
    """{year: monitoring threshold} for a village, from the threshold table (the most specific region that
    sets a year wins). A year the table does not hold is absent: pages say so rather than guess."""
    return thresholds_for(region_code)


def villages_for_user(user: Any) -> QuerySet[Region]:
    if sees_everything(user):
        return Region.objects.filter(level=Region.Level.VILLAGE)
    region = getattr(user, "region", None)
    if region is None:
        return Region.objects.none()
    return villages_of(region)


# --- The household list ------------------------------------------------------------------------------


def search_range_of(user: Any) -> tuple[str, str] | None:
    """The codes a user's searches are limited to, or None for one who sees everything (and for no user: the
    queryset the caller gives is then the only limit)."""
    if user is None or sees_everything(user):
        return None
    prefix = region_prefix_of(user)
    # A user with no region sees nothing (scope_for_user says so); an empty range says the same here.
    return code_range(prefix) if prefix else ("1", "0")


def households_for(user: Any) -> QuerySet[Household]:
    """The user's households, through the scoping helper (a range of village codes, which the village index
    seeks and the planner estimates well)."""
    return scope_for_user(Household.objects.all(), user)


# A whole resident ID (18 characters, or a 15-digit first-generation one), and a name with the ID's last four
# characters (王大山 123X, or 123X 王大山).
FULL_ID = re.compile(r"^(\d{17}[\dX]|\d{15})$")
NAME_AND_TAIL = (
    re.compile(r"^(?P<name>[^\d\s]+?)\s*(?P<tail>\d{3}[\dX])$"),
    re.compile(r"^(?P<tail>\d{3}[\dX])\s*(?P<name>[^\d\s]+)$"),
)


def _members_in(codes: tuple[str, str] | None, **lookups: Any) -> QuerySet[Person]:
    """Present members matching ``lookups``, limited to the region's members before anything else is read.

    region_code is the household's village copied on the member (index (region_code, name)); a blank one
    (written in bulk, not filled yet) is taken too: the caller ties each member to a household of the
    user's scope, so such a member is still found in its own region and nowhere else."""
    people = Person.objects.filter(**lookups)
    if codes is not None:
        first, last = codes
        in_region = Q(region_code__gte=first, region_code__lte=last)
        # Blank codes are looked for only when there are any (one index probe): with the OR, PostgreSQL can
        # no longer read names from the index alone and fetches every member of the region from the table.
        if Person.objects.filter(region_code="").exists():
            in_region |= Q(region_code="")
        people = people.filter(in_region)
    return people


def _has_member(codes: tuple[str, str] | None, **lookups: Any) -> Exists:
    """EXISTS a present member of the row's household matching ``lookups``.

    Correlated rather than IN (...): inside the search's OR an IN list becomes a subplan that PostgreSQL
    hashes only while it fits in work_mem; a common surname (杨, a seventh of a county) does not, and the
    fallback reads the whole list once per household. EXISTS lets the planner either probe each household's
    members while walking the list in page order (a common name: the first page fills after a few hundred
    households) or hash the region's matches from the (region_code, name) index (a rare name)."""
    return Exists(_members_in(codes, household_id=OuterRef("pk"), **lookups))


# A name search first reads, from the index of name pieces (PersonNameGram), the households of the members of
# the region whose name matches, stopping after COMMON_NAME of them. Fewer: the page reads only those
# households (by primary key). More: the name is common across the region, and the page walks the households
# in its own order, one index probe each, until it is full (杨, a seventh of a county: a few hundred probes).
# The planner is not asked to guess which: a guess that walks the county for a rare name (clustered in a few
# villages at the end of the list) reads every household. At a million people the two cost the same near
# 2,000 matches in a county (about 20 ms each: reading 2,000 households by key, or walking ~6,000 households
# with a probe each to find a page of a name held by 1% of them); a township's walk is shorter.
COMMON_NAME = 2000
# A longer text is looked up by its rarest two-character piece among its first few, each counted up to
# COMMON_NAME + 1 (an index-only range that stops there).
PIECES_COMPARED = 6


def _name_pieces(codes: tuple[str, str] | None, gram: str) -> QuerySet[PersonNameGram]:
    pieces = PersonNameGram.objects.filter(gram=gram).order_by()
    if codes is not None:
        pieces = pieces.filter(region_code__gte=codes[0], region_code__lte=codes[1])
    return pieces


def _villages_holding(gram: str, codes: tuple[str, str] | None) -> list[str]:
    """The villages (in ``codes``) where some member's name holds the piece, one index probe each: the next
    village code after the previous one, as a recursive query (PostgreSQL 15 does not skip through an index
    by itself; a county has a few dozen to a few hundred villages)."""
    table = connection.ops.quote_name(PersonNameGram._meta.db_table)
    first, last = codes if codes is not None else ("0" * 12, "9" * 12)
    sql = (
        f"WITH RECURSIVE v(code) AS ("
        f"SELECT (SELECT min(region_code) FROM {table} WHERE gram = %s AND region_code >= %s AND region_code <= %s) "
        f"UNION ALL SELECT (SELECT min(region_code) FROM {table} WHERE gram = %s AND region_code > v.code "
        f"AND region_code <= %s) FROM v WHERE v.code IS NOT NULL"
        f") SELECT code FROM v WHERE code IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [gram, first, last, gram, last])
        return [code for (code,) in cursor.fetchall()]


def _name_search(text: str, codes: tuple[str, str] | None) -> Q | None:
    """Households with a present member whose name holds ``text``, in ``codes``; None when there is none.

    One or two characters are a piece themselves (members who left have none). A longer text is looked up by
    its rarest piece, and the member's whole name is then checked (present members only: Person.objects)."""
    if len(text) <= 2:
        gram = text
        pieces = _name_pieces(codes, text)
    else:
        rarest = None
        for gram in list(dict.fromkeys(text[i : i + 2] for i in range(len(text) - 1)))[:PIECES_COMPARED]:
            count = _name_pieces(codes, gram)[: COMMON_NAME + 1].count()
            if count == 0:
                return None  # no member's name holds this piece, so none holds the text
            if rarest is None or count < rarest[0]:
                rarest = (count, gram)
        gram = rarest[1]
        pieces = _name_pieces(codes, gram).filter(
            Exists(Person.objects.filter(pk=OuterRef("person_id"), name__contains=text))
        )
    found = list(pieces.values_list("household_id", flat=True)[: COMMON_NAME + 1])
    if not found:
        return None
    if len(found) <= COMMON_NAME:
        return Q(pk__in=sorted(set(found)))
    # A common name: each household of the page is probed by its village and id (the pieces' index), as a
    # scalar subquery (one of its pieces, or NULL). Said as EXISTS, PostgreSQL would turn it into a join that
    # reads every household of the name first (its estimate of how many there are is far too low). Only the
    # villages that hold the piece are walked: a surname of a few villages at the end of the county's list
    # (蒙, 4,930 members in 4 of 44 villages) would otherwise be looked for in every household before them.
    first = pieces.filter(household_id=OuterRef("pk"), region_code=OuterRef("village_id")).values("household_id")
    return Q(village_id__in=_villages_holding(gram, codes)) & Q(
        IsNull(Subquery(first[:1]), False)
    )


def _search(text: str, *, by_id_number: bool, codes: tuple[str, str] | None = None) -> Q:
    """Digits find household numbers by prefix (their index serves it); words find member names and village
    names anywhere in the name. Members are searched within ``codes`` (the user's region) only.

    An ID number is found only whole, or by its last four characters together with the member's full name,
    and only by users who may reveal ID numbers: a prefix (5226341980…) would let anyone who sees the masked
    number (5226341980********) find the rest a digit at a time, and for a role that sees only masked
    numbers any ID search would do the same a guess at a time.

    Only the alternatives that can match are put in the condition: a name held by no member of the region
    (a village's name, say) is left out after one look at the name pieces (see _name_search), and a name
    search is then the households found, or for a common name one EXISTS that walks the list in page
    order. Under an OR with other alternatives that walk could not stop at the first page: PostgreSQL would
    hash every matching member of the region before the first row (for 杨, a seventh of the county).
    """
    compact = unicodedata.normalize("NFKC", text).upper().replace(" ", "")
    alternatives: list[Q] = []

    def numbers_starting(prefix: str) -> None:
        # An index probe decides whether a household number can match at all (for a name or an ID number,
        # none does): the OR is then left out and the other alternative planned on its own.
        numbers = Household.objects.filter(number__startswith=prefix)
        if codes is not None:
            numbers = numbers.filter(village_id__gte=codes[0], village_id__lte=codes[1])
        if numbers.exists():
            alternatives.append(Q(number__startswith=prefix))

    if compact.isdigit() or FULL_ID.match(compact):
        numbers_starting(compact)
        if by_id_number and FULL_ID.match(compact):
            alternatives.append(Q(_has_member(codes, id_number=compact)))
        return reduce(operator.or_, alternatives) if alternatives else Q(pk__in=[])
    numbers_starting(text)
    villages = Region.objects.filter(level=Region.Level.VILLAGE, name__contains=text)
    if codes is not None:
        villages = villages.filter(code__gte=codes[0], code__lte=codes[1])
    if villages.exists():
        alternatives.append(Q(village__in=villages))
    normalised = unicodedata.normalize("NFKC", text).strip().upper()
    tail_match = next((m for m in (p.match(normalised) for p in NAME_AND_TAIL) if m), None)
    if tail_match is None:
        by_name = _name_search(text, codes)
        if by_name is not None:
            alternatives.append(by_name)
    elif by_id_number:
        # A name with the last four of an ID number (names hold no digits: text with digits is not a name).
        name, tail = tail_match.group("name").strip(), tail_match.group("tail")
        alternatives.append(Q(_has_member(codes, name=name, id_number__endswith=tail)))
    if not alternatives:
        return Q(pk__in=[])
    return reduce(operator.or_, alternatives)


def filter_households(
    queryset: QuerySet[Household], filters: Mapping[str, Any], *, user: Any = None
) -> QuerySet[Household]:
    """Search text (name, ID number, household number, village name) and the list's filters.

    ID numbers are searched (whole, or the last four with a name) only for a user who may reveal them; without
    a user, never. Members are searched within the user's region only."""
    text = (filters.get("q") or "").strip()
    if text:
        by_id_number = user is not None and can_reveal_sensitive(user)
        queryset = queryset.filter(_search(text, by_id_number=by_id_number, codes=search_range_of(user)))
    if filters.get("village"):
        queryset = queryset.filter(village_id=filters["village"])
    if filters.get("household_type"):
        queryset = queryset.filter(household_type=filters["household_type"])
    monitoring = filters.get("monitoring_type")
    # Each "has a type" condition is said as "<> ''" too, which is what makes the partial indexes on
    # (village, number) of the monitored and at-risk households usable (household_monitored_idx,
    # household_at_risk_idx): a rare type is then found among a tenth of the households, in page order.
    if monitoring == "any":
        queryset = queryset.exclude(monitoring_type="")
    elif monitoring == "none":
        queryset = queryset.filter(monitoring_type="")
    elif monitoring:
        queryset = queryset.filter(monitoring_type=monitoring).exclude(monitoring_type="")
    if filters.get("risk_type"):
        queryset = queryset.exclude(risk_types="").filter(risk_types__contains=f",{filters['risk_type']},")
    return queryset


@dataclass
class HouseholdRow:
    household: Household
    head_name: str
    type_label: str
    monitoring_label: str
    risk_labels: list[str]


@dataclass
class KeysetPage:
    rows: list[HouseholdRow]
    next_key: str | None = None
    previous_key: str | None = None
    is_first: bool = True


def page_key(household: Household) -> str:
    return f"{household.village_id}:{household.number}"


def _parse_key(key: str | None) -> tuple[str, str] | None:
    if not key or ":" not in key:
        return None
    village, number = key.split(":", 1)
    return (village, number) if village and number else None


def _key_compare(operator: str, village: str, number: str) -> RawSQL:
    """(village_id, number) > (key): a row comparison, which an index on (village_id, number) can seek to,
    unlike the equivalent OR of two conditions. SQLite and PostgreSQL both understand it."""
    table = connection.ops.quote_name(Household._meta.db_table)
    columns = ", ".join(f"{table}.{connection.ops.quote_name(name)}" for name in ("village_id", "number"))
    return RawSQL(f"({columns}) {operator} (%s, %s)", (village, number), output_field=BooleanField())


def household_page(
    queryset: QuerySet[Household],
    *,
    after: str | None = None,
    before: str | None = None,
    size: int = PAGE_SIZE,
) -> KeysetPage:
    """One page ordered by (village, number), found by key rather than by offset: no COUNT(*).

    Reads size + 1 rows; the extra row only says whether another page follows.
    """
    queryset = queryset.select_related("village")
    after_key, before_key = _parse_key(after), _parse_key(before)
    if before_key is not None:
        village, number = before_key
        earlier = queryset.filter(_key_compare("<", village, number))
        found = list(earlier.order_by("-village_id", "-number")[: size + 1])
        has_more = len(found) > size
        households = list(reversed(found[:size]))
        page = KeysetPage(rows=[], is_first=not has_more)
        page.previous_key = page_key(households[0]) if has_more and households else None
        page.next_key = page_key(households[-1]) if households else None
    else:
        if after_key is not None:
            village, number = after_key
            queryset = queryset.filter(_key_compare(">", village, number))
        found = list(queryset.order_by("village_id", "number")[: size + 1])
        households = found[:size]
        page = KeysetPage(rows=[], is_first=after_key is None)
        page.next_key = page_key(households[-1]) if len(found) > size else None
        page.previous_key = page_key(households[0]) if after_key is not None and households else None
    page.rows = household_rows(households)
    return page


def head_names(household_ids: list[int]) -> dict[int, str]:
    """The 户主's name of each household, in one query."""
    return dict(
        Person.objects.filter(household_id__in=household_ids, relation=RELATION_HEAD).values_list(
            "household_id", "name"
        )
    )


def household_rows(households: list[Household]) -> list[HouseholdRow]:
    book = codebook()
    heads = head_names([h.pk for h in households]) if households else {}
    return [
        HouseholdRow(
            household=h,
            head_name=heads.get(h.pk, ""),
            type_label=book.label("household_type", h.household_type),
            monitoring_label=book.label("monitoring_type", h.monitoring_type) if h.monitoring_type else "",
            risk_labels=[book.label("risk_type", code) for code in h.risk_type_codes],
        )
        for h in households
    ]


# --- The household file ------------------------------------------------------------------------------


def members_of(household: Household, user: Any) -> list[Person]:
    people = scope_for_user(Person.objects.filter(household=household), user)
    return list(people.order_by("relation", "birth_date"))


def members_left_of(household: Household, user: Any) -> list[dict[str, Any]]:
    """The household's members who left (closed, not deleted): name, relation, when and why, newest first."""
    book = codebook()
    people = scope_for_user(Person.everyone.filter(household=household, left_on__isnull=False), user)
    return [
        {
            "name": name, "relation": book.label("relation", relation), "left_on": left_on, "reason": reason,
            "source_batch": batch,
        }
        for name, relation, left_on, reason, batch in people.order_by("-left_on", "pk").values_list(
            "name", "relation", "left_on", "left_reason", "source_batch"
        )
    ]


def incomes_of(household: Household, user: Any) -> list[IncomeRecord]:
    return list(scope_for_user(IncomeRecord.objects.filter(household=household), user).order_by("year"))


def status_history_of(household: Household, user: Any) -> list[StatusChange]:
    return list(
        scope_for_user(StatusChange.objects.filter(household=household), user)
        .select_related("recorded_by")
        .order_by("-effective_date", "-id")
    )


@dataclass
class Fact:
    label: str
    value: Any
    name: str = ""  # set for masked values, which carry an element id and maybe a reveal button
    reveal_field: str = ""


def _yes_no(value: bool) -> str:
    return _("是") if value else _("否")


def household_facts(household: Household, user: Any, *, revealed: set[str] = frozenset()) -> list[Fact]:
    """Facts as (label, value): codes as labels, phone and bank account masked unless revealed."""
    book = codebook()

    def label(codeset: str, value: str) -> str:
        return "、".join(book.label(codeset, code) for code in value.split(",") if code) or "—"

    def secret(name: str) -> Fact:
        value = getattr(household, name)
        is_revealed = f"household:{name}" in revealed
        return Fact(
            label=str(Household._meta.get_field(name).verbose_name),
            value=shown(user, name, value, revealed=is_revealed) or "—",
            name=name,
            reveal_field=name if value and not is_revealed and can_reveal_sensitive(user) else "",
        )

    verbose = {f.name: str(f.verbose_name) for f in Household._meta.fields}
    return [
        Fact(verbose["number"], household.number),
        Fact(verbose["group_name"], household.group_name or "—"),
        secret("phone"),
        secret("bank_account"),
        Fact(verbose["household_type"], label("household_type", household.household_type)),
        Fact(verbose["poverty_attribute"], label("poverty_attribute", household.poverty_attribute)),
        Fact(verbose["lifted_year"], household.lifted_year or "—"),
        Fact(verbose["monitoring_type"], label("monitoring_type", household.monitoring_type)),
        Fact(verbose["whole_household_unable_to_work"], _yes_no(household.whole_household_unable_to_work)),
        Fact(verbose["risk_types"], label("risk_type", household.risk_types)),
        Fact(verbose["disaster_subtype"], label("disaster_subtype", household.disaster_subtype)),
        Fact(verbose["main_poverty_cause"], label("poverty_cause", household.main_poverty_cause)),
        Fact(verbose["other_poverty_causes"], label("poverty_cause", household.other_poverty_causes)),
        Fact(verbose["housing_grade"], label("housing_grade", household.housing_grade)),
        Fact(verbose["safe_drinking_water"], _yes_no(household.safe_drinking_water)),
        Fact(verbose["sanitary_toilet"], _yes_no(household.sanitary_toilet)),
        Fact(verbose["road_to_door"], _yes_no(household.road_to_door)),
        Fact(verbose["fuel"], label("fuel", household.fuel)),
        Fact(verbose["cultivated_land_mu"], household.cultivated_land_mu),
        Fact(verbose["forest_land_mu"], household.forest_land_mu),
    ]


INSURANCE_FIELDS = (
    "resident_medical_insurance",
    "employee_medical_insurance",
    "critical_illness_insurance",
    "pension_insurance",
)


@dataclass
class MemberRow:
    person: Person
    id_number: str
    id_revealable: bool
    certificate: str
    certificate_revealable: bool
    relation: str
    sex: str
    age: int
    ethnicity: str
    health: str
    disability: str
    labour: str
    schooling: str
    work: str
    insurance: str
    protection: str


def member_rows(members: list[Person], user: Any, *, revealed: set[str] = frozenset()) -> list[MemberRow]:
    book = codebook()
    today = timezone.localdate()
    may_reveal = can_reveal_sensitive(user)
    sees_health = can_see_health(user)
    rows = []
    for person in members:
        id_key = f"person:{person.pk}:id_number"
        certificate_key = f"person:{person.pk}:disability_certificate"
        disability = ""
        if person.disability_category or person.disability_grade:
            disability = f"{book.label('disability_category', person.disability_category)}"
            disability += f" {book.label('disability_grade', person.disability_grade)}".rstrip()
        insurance = [
            str(Person._meta.get_field(name).verbose_name)
            for name in INSURANCE_FIELDS
            if getattr(person, name)
        ]
        protection = []
        if person.dibao:
            protection.append(f"{book.label('dibao_type', person.dibao)}")
        if person.tekun:
            protection.append(_("特困供养"))
        work = []
        if person.months_worked_away:
            work.append(_("务工 %(months)s 个月") % {"months": person.months_worked_away})
            if person.work_place:
                work.append(person.work_place)
        if person.public_welfare_job:
            work.append(_("公益性岗位 %(months)s 个月") % {"months": person.public_welfare_months})
        rows.append(
            MemberRow(
                person=person,
                id_number=shown(user, "id_number", person.id_number, revealed=id_key in revealed),
                id_revealable=may_reveal and id_key not in revealed,
                certificate=shown(
                    user, "disability_certificate", person.disability_certificate,
                    revealed=certificate_key in revealed,
                ),
                certificate_revealable=bool(person.disability_certificate) and may_reveal and sees_health
                and certificate_key not in revealed,
                relation=book.label("relation", person.relation),
                sex=book.label("sex", person.sex),
                age=age_on(person.birth_date, today),
                ethnicity=book.label("ethnicity", person.ethnicity),
                health=labels_of("health", person.health) if sees_health else HIDDEN,
                disability=(disability or "—") if sees_health else HIDDEN,
                labour=book.label("labour_skill", person.labour_skill),
                schooling=(
                    book.label("education", person.education) if person.education
                    else book.label("school_status", person.school_status) if person.school_status else "—"
                ),
                work="，".join(str(w) for w in work) or "—",
                insurance="、".join(insurance) or "—",
                protection="、".join(str(p) for p in protection) or "—",
            )
        )
    return rows


@dataclass
class IncomeRow:
    record: IncomeRecord
    wages: Decimal
    business: Decimal
    property: Decimal
    transfers: Decimal
    cost: Decimal
    net: Decimal
    per_capita: Decimal
    threshold: Decimal | None
    below_threshold: bool
    not_counted: Decimal


BUSINESS_FIELDS = ("farming_income", "livestock_income", "forestry_income", "other_business_income")
TRANSFER_FIELDS = (
    "dibao_income", "tekun_income", "pension_income", "eco_compensation_income",
    "disability_allowance_income", "other_transfer_income",
)


def income_rows(incomes: list[IncomeRecord], *, region_code: str) -> list[IncomeRow]:
    thresholds = monitoring_thresholds_of(region_code)
    rows = []
    for record in incomes:
        threshold = thresholds.get(record.year)
        per_capita = record.per_capita_net_income
        rows.append(
            IncomeRow(
                record=record,
                wages=record.wage_income,
                business=sum((getattr(record, name) for name in BUSINESS_FIELDS), Decimal(0)),
                property=record.property_income,
                transfers=sum((getattr(record, name) for name in TRANSFER_FIELDS), Decimal(0)),
                cost=record.production_cost,
                net=record.net_income,
                per_capita=per_capita,
                threshold=threshold,
                below_threshold=threshold is not None and per_capita is not None and per_capita < threshold,
                not_counted=sum((getattr(record, n) for n in IncomeRecord.NON_INCOME_FIELDS), Decimal(0)),
            )
        )
    return rows


@dataclass
class StatusRow:
    entry: StatusChange
    event: str
    household_type: str
    monitoring_type: str
    risk_types: str


def status_rows(entries: list[StatusChange]) -> list[StatusRow]:
    book = codebook()
    return [
        StatusRow(
            entry=entry,
            event=book.label("status_event", entry.event),
            household_type=book.label("household_type", entry.household_type),
            monitoring_type=labels_of("monitoring_type", entry.monitoring_type) or "—",
            risk_types=labels_of("risk_type", entry.risk_types) or "—",
        )
        for entry in entries
    ]


ENTITY_MODELS = {
    "households.household": Household,
    "households.person": Person,
    "households.incomerecord": IncomeRecord,
}
CODED_FIELDS = {
    "household_type": "household_type",
    "poverty_attribute": "poverty_attribute",
    "monitoring_type": "monitoring_type",
    "risk_types": "risk_type",
    "disaster_subtype": "disaster_subtype",
    "main_poverty_cause": "poverty_cause",
    "other_poverty_causes": "poverty_cause",
    "housing_grade": "housing_grade",
    "fuel": "fuel",
    "sex": "sex",
    "ethnicity": "ethnicity",
    "relation": "relation",
    "health": "health",
    "disability_category": "disability_category",
    "disability_grade": "disability_grade",
    "labour_skill": "labour_skill",
    "education": "education",
    "school_status": "school_status",
    "dibao": "dibao_type",
}


@dataclass
class Change:
    label: str
    before: Any
    after: Any


@dataclass
class AuditEntry:
    event: AuditEvent
    changes: list[Change]
    revealed_field: str = ""


BOOKKEEPING = {"created_at", "updated_at", "version", "household", "id", "region_code"}
EMPTY = (None, "", False, 0, "0", "0.00")


def _entity_model(entity: str) -> Any:
    """The model an audit event names ("risk.riskcase"): looked up by label, so later apps need no import here."""
    model = ENTITY_MODELS.get(entity)
    if model is None:
        try:
            model = django_apps.get_model(entity)
        except (LookupError, ValueError):
            return None
    return model


def _entity_field(entity: str, name: str) -> Any:
    model = _entity_model(entity)
    if model is None:
        return None
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def _field_order(entity: str, name: str) -> int:
    model = _entity_model(entity)
    names = [field.name for field in model._meta.concrete_fields] if model is not None else []
    return names.index(name) if name in names else len(names)


def _field_label(entity: str, name: str) -> str:
    field = _entity_field(entity, name)
    return str(getattr(field, "verbose_name", name)) if field is not None else name


def _choice_label(entity: str, name: str, value: Any) -> Any:
    """A value of a field with choices (a case's status, say) as its label; other values as they are."""
    field = _entity_field(entity, name)
    choices = dict(getattr(field, "flatchoices", None) or ())
    return choices.get(value, value) if choices and isinstance(value, str) else value


def _display(user: Any, name: str, value: Any) -> Any:
    """A value from the audit trail as a page shows it: coded values as labels, sensitive values masked."""
    if value in (None, ""):
        return "—"
    if name in HEALTH_FIELDS and not can_see_health(user):
        return _("（已隐藏）")
    if name in SENSITIVE_FIELDS:
        return mask(name, value)
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if name in CODED_FIELDS and isinstance(value, str):
        book = codebook()
        return "、".join(book.label(CODED_FIELDS[name], code) for code in value.split(",") if code) or "—"
    return mask_text(value)  # an ID or mobile number typed into free text is masked too


def audit_trail(household: Household, user: Any, *, limit: int | None = 50) -> list[AuditEntry]:
    """Who did what to this household file and when, newest first, with changed fields before → after."""
    events = scope_for_user(AuditEvent.objects.filter(household_id=household.pk), user).select_related("actor")
    events = events.order_by("-at", "-id")
    if limit is not None:
        events = events[:limit]
    entries = []
    for event in events:
        if event.action == AuditEvent.Action.REVEAL:
            name = (event.changes or {}).get("field", "")
            label = _field_label(event.entity, name)
            entries.append(AuditEntry(event=event, changes=[], revealed_field=label))
            continue
        changes = []
        ordered = sorted((event.changes or {}).items(), key=lambda item: _field_order(event.entity, item[0]))
        for name, change in ordered:
            if name in BOOKKEEPING or not isinstance(change, dict):
                continue
            before, after = change.get("before"), change.get("after")
            # A new record lists its filled-in values only; a removed one, the values it had.
            if event.action == AuditEvent.Action.CREATE and after in EMPTY:
                continue
            if event.action == AuditEvent.Action.DELETE and before in EMPTY:
                continue
            changes.append(
                Change(
                    label=_field_label(event.entity, name),
                    before=None
                    if event.action == AuditEvent.Action.CREATE
                    else _display(user, name, _choice_label(event.entity, name, before)),
                    after=None
                    if event.action == AuditEvent.Action.DELETE
                    else _display(user, name, _choice_label(event.entity, name, after)),
                )
            )
        entries.append(AuditEntry(event=event, changes=changes))
    return entries
