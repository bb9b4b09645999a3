"""Pull: a department reads the datasets it is entitled to, and only that.

Each dataset (exchange.api.datasets) has one selector here: the rule that picks its persons, scoped to the
client's region. A page is one query over that selector, in person id order after the cursor, reading only
the columns the rows are built from; codebook labels are read once per request. Every page answered,
empty or not, is recorded as a share (exchange.api.shares) in the transaction that builds it.

The cursor is signed: it carries the last person id and the date the walk began on (the day ages are
counted on), so a walk that spans midnight applies one rule to every page, and a caller cannot move that date
to read persons the rule does not give it today.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.core import signing
from django.db import transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange.api.auth import require_scope
from exchange.api.datasets import DATASETS, Dataset
from exchange.api.errors import ApiError
from exchange.api.services import readable_fields
from exchange.api.shares import SharedRecord, record_share
from exchange.api.views import ERRORS
from exchange.quality import planned_for_oltp
from households.codes import codebook
from households.models import Household, Person, StatusChange
from households.validation import CodeBook, age_on
from povertycloud.regions.scoping import scope_for_user

LIFTED = "1"  # household_type 脱贫户
COMPULSORY_AGES = (6, 15)  # 义务教育阶段, counted on the day of the pull
SENIOR_SECONDARY = ("31", "32", "33", "41", "42", "43")  # school_status 普通高中 and 中职, years 1–3
# Status events that make a household a monitoring object: 纳入监测, 返贫致贫; and a file opened (建档) already
# monitored, as the registry import opens a household first seen with a monitoring type.
EVENT_CREATED, EVENT_MONITORED, EVENT_RETURNED = "01", "03", "06"
IDENTIFYING = Q(event__in=(EVENT_MONITORED, EVENT_RETURNED)) | Q(event=EVENT_CREATED) & ~Q(monitoring_type="")

PAGE_SIZE, MAX_PAGE_SIZE = 500, 2000
FEW_CHANGES = 5_000  # up to this many changes, an incremental pull reads them through their indexes
CURSOR_SALT = "exchange.api.pull.cursor"
CURSOR_MAX_AGE = dt.timedelta(days=1)
MAX_ID = 2**63 - 1

# What a row is built from: one SELECT of these columns (person, household, village) per page.
COLUMNS = (
    "pk", "household_id", "id_number", "name", "sex", "birth_date", "relation", "school_status", "dibao", "tekun",
    "resident_medical_insurance", "household__number", "household__household_type", "household__monitoring_type",
    "household__risk_types", "household__village_id", "household__village__name",
)

# 资助类别, in priority order: a person is given the first that applies.
PREMIUM_CATEGORIES = (
    ("tekun", gettext_lazy("特困供养人员")),
    ("dibao", gettext_lazy("低保对象")),
    ("monitored", pgettext_lazy("premium category of a person", "监测对象")),
    ("lifted", gettext_lazy("脱贫人口")),
)


# --- Selectors: who each dataset gives ------------------------------------------------------------------------


def years_before(on: dt.date, years: int) -> dt.date:
    try:
        return on.replace(year=on.year - years)
    except ValueError:  # 29 February, in a common year
        return on.replace(year=on.year - years, day=28)


def _entitled_household() -> Q:
    """A member of a 脱贫户 or of a household currently monitored (its monitoring type set)."""
    return Q(household__household_type=LIFTED) | ~Q(household__monitoring_type="")


def _few(queryset: QuerySet, limit: int = FEW_CHANGES) -> bool:
    """Whether the query gives at most ``limit`` rows, read through a LIMIT (it stops at limit + 1 rows)."""
    return len(queryset[: limit + 1]) <= limit


def _changed_since(since: dt.datetime | None) -> Q:
    """Persons changed at or after ``since``, or members of households changed then.

    The usual incremental pull asks for few changes: those persons are found through the two updated_at indexes
    (an OR across the join read both tables whole on every page: 0.4–0.9 s at 1,000,000 people). When most of the
    region changed (after a registry import), the walk in id order with the OR finds a page's rows at once,
    where gathering every changed id on each page would take seconds."""
    if since is None:
        return Q()
    changed = Person.everyone.filter(updated_at__gte=since).order_by().values("pk")
    in_changed_households = Person.everyone.filter(household__updated_at__gte=since).order_by().values("pk")
    if _few(changed.union(in_changed_households, all=True)):
        return Q(pk__in=changed.union(in_changed_households))
    return Q(updated_at__gte=since) | Q(household_id__in=Household.objects.filter(updated_at__gte=since).values("pk"))


def education_pupils(user: Any, *, on: dt.date, changed_since: dt.datetime | None = None) -> QuerySet[Person]:
    """Present members of lifted or monitored households who are of compulsory-education age (6–15 on ``on``)
    or in senior secondary school (普通高中, 中职). With ``changed_since``: those whose record or household
    changed at or after it."""
    youngest, oldest = COMPULSORY_AGES
    compulsory_age = Q(birth_date__lte=years_before(on, youngest), birth_date__gt=years_before(on, oldest + 1))
    return scope_for_user(Person.objects.all(), user).filter(
        _entitled_household(), compulsory_age | Q(school_status__in=SENIOR_SECONDARY), _changed_since(changed_since)
    )


def health_premium(user: Any, *, on: dt.date, changed_since: dt.datetime | None = None) -> QuerySet[Person]:
    """Present members entitled to subsidised resident medical insurance premiums: members of lifted or
    monitored households, and persons with 低保 or 特困供养 in any household."""
    del on  # the rule does not depend on the day
    return scope_for_user(Person.objects.all(), user).filter(
        _entitled_household() | ~Q(dibao="") | Q(tekun=True), _changed_since(changed_since)
    )


def identifying_changes() -> QuerySet[StatusChange]:
    """A household's status changes that made it a monitoring object, latest (by effective date) first."""
    return StatusChange.objects.filter(IDENTIFYING, household=OuterRef("household_id")).order_by(
        "-effective_date", "-id"
    )


def new_monitoring(user: Any, *, on: dt.date, changed_since: dt.datetime | None = None) -> QuerySet[Person]:
    """Present members of households currently monitored, each with the date its household was identified
    (``identified_on``: the latest identifying change's effective date, None when the file has none). With
    ``changed_since``: those whose identifying change was recorded at or after it."""
    del on
    latest = identifying_changes()
    persons = scope_for_user(Person.objects.all(), user).filter(~Q(household__monitoring_type="")).annotate(
        identified_on=Subquery(latest.values("effective_date")[:1])
    )
    if changed_since is not None:
        # When few households were identified since then (the recorded_at index tells), the latest-change
        # subquery runs for their members only, not for every person of the county (2.3 s at 1,000,000).
        recent = StatusChange.objects.filter(IDENTIFYING, recorded_at__gte=changed_since).values("household_id")
        if _few(recent):
            persons = persons.filter(household_id__in=recent)
        persons = persons.annotate(
            identified_recorded_at=Subquery(latest.values("recorded_at")[:1])
        ).filter(identified_recorded_at__gte=changed_since)
    return persons


Selector = Callable[..., QuerySet[Person]]
SELECTORS: dict[str, Selector] = {
    "education_pupils": education_pupils,
    "health_premium": health_premium,
    "new_monitoring": new_monitoring,
}
EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {"new_monitoring": ("identified_on",)}


# --- Rows: the readable fields of each person ---------------------------------------------------------------


@dataclass(frozen=True)
class RowContext:
    book: CodeBook
    on: dt.date
    premium_labels: dict[str, str]


def _label(book: CodeBook, codeset: str, code: str) -> str | None:
    return book.label(codeset, code) if code else None


def _premium_category(row: dict, ctx: RowContext) -> str | None:
    applies = {
        "tekun": row["tekun"],
        "dibao": bool(row["dibao"]),
        "monitored": bool(row["household__monitoring_type"]),
        "lifted": row["household__household_type"] == LIFTED,
    }
    return next((ctx.premium_labels[key] for key, _text in PREMIUM_CATEGORIES if applies[key]), None)


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


FIELD_VALUES: dict[str, Callable[[dict, RowContext], Any]] = {
    "id_number": lambda row, ctx: row["id_number"],
    "name": lambda row, ctx: row["name"],
    "sex": lambda row, ctx: _label(ctx.book, "sex", row["sex"]),
    "birth_date": lambda row, ctx: _iso(row["birth_date"]),
    "age": lambda row, ctx: age_on(row["birth_date"], ctx.on),
    "relation": lambda row, ctx: _label(ctx.book, "relation", row["relation"]),
    "school_status": lambda row, ctx: _label(ctx.book, "school_status", row["school_status"]),
    "resident_medical_insurance": lambda row, ctx: row["resident_medical_insurance"],
    "premium_category": _premium_category,
    "household_number": lambda row, ctx: row["household__number"],
    "household_type": lambda row, ctx: _label(ctx.book, "household_type", row["household__household_type"]),
    "monitoring_type": lambda row, ctx: _label(ctx.book, "monitoring_type", row["household__monitoring_type"]),
    "risk_types": lambda row, ctx: "、".join(
        ctx.book.label("risk_type", code) for code in row["household__risk_types"].split(",") if code
    ),
    "village_code": lambda row, ctx: row["household__village_id"],
    "village_name": lambda row, ctx: row["household__village__name"],
    "identified_on": lambda row, ctx: _iso(row.get("identified_on")),
}


@dataclass(frozen=True)
class Page:
    rows: list[dict]  # the selected columns of each person on the page
    last_id: int | None  # the last person's id when more follow, else None
    on: dt.date


def read_page(dataset: str, user: Any, *, on: dt.date, changed_since: dt.datetime | None, after: int,
              size: int) -> Page:
    """One page of a dataset: at most ``size`` persons with an id above ``after``, in id order (one query)."""
    persons = SELECTORS[dataset](user, on=on, changed_since=changed_since)
    columns = COLUMNS + EXTRA_COLUMNS.get(dataset, ())
    rows = list(persons.filter(pk__gt=after).order_by("pk").values(*columns)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows=rows, last_id=rows[-1]["pk"] if more else None, on=on)


def build_rows(page: Page, fields: list[str]) -> list[dict]:
    """The rows as answered: only ``fields``, in the dataset's field order, labels in the active language."""
    ctx = RowContext(
        book=codebook(), on=page.on, premium_labels={key: str(label) for key, label in PREMIUM_CATEGORIES}
    )
    getters = [(name, FIELD_VALUES[name]) for name in fields]
    return [{name: value(row, ctx) for name, value in getters} for row in page.rows]


# --- Cursor and input ---------------------------------------------------------------------------------------


def make_cursor(dataset: str, *, after: int, on: dt.date) -> str:
    return signing.dumps({"d": dataset, "a": after, "o": on.isoformat()}, salt=CURSOR_SALT)


def read_cursor(dataset: str, value: str) -> tuple[int, dt.date]:
    """(after, on) from a cursor this endpoint gave; ValueError for anything else (forged, stale, another
    dataset's)."""
    try:
        data = signing.loads(value, salt=CURSOR_SALT, max_age=CURSOR_MAX_AGE)
    except (signing.BadSignature, UnicodeError, ValueError, TypeError) as exc:
        raise ValueError(value) from exc
    if not isinstance(data, dict) or data.get("d") != dataset:
        raise ValueError(value)
    after, on = data.get("a"), data.get("o")
    if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= MAX_ID or not isinstance(on, str):
        raise ValueError(value)
    return after, dt.date.fromisoformat(on)


def parse_changed_since(value: str) -> dt.datetime:
    """An ISO 8601 date (midnight, local time) or date-time (local time when it names no offset), in UTC."""
    try:
        moment = parse_datetime(value.strip())
        if moment is None:
            raise ValueError(value)
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return moment.astimezone(dt.UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(value) from exc


class PullQuerySerializer(serializers.Serializer):
    changed_since = serializers.CharField(
        required=False, max_length=40,
        help_text=gettext_lazy(
            "只读取此后有变化的人员：ISO 8601 日期（如 2026-01-01）或日期时间（如 2026-01-01T08:00:00+08:00）"
        ),
    )
    purpose = serializers.CharField(
        required=False, allow_blank=True, max_length=200,
        help_text=gettext_lazy("本次读取的用途，记入共享记录；不填时记客户端或数据集的用途"),
    )
    page_size = serializers.IntegerField(
        required=False, default=PAGE_SIZE, min_value=1, max_value=MAX_PAGE_SIZE,
        help_text=gettext_lazy("每页人数，1 到 2000，默认 500"),
    )
    cursor = serializers.CharField(
        required=False, max_length=500, help_text=gettext_lazy("上一页答复中 next 给出的游标；第一页不填"),
    )

    def validate_changed_since(self, value: str) -> dt.datetime:
        try:
            return parse_changed_since(value)
        except ValueError as exc:
            raise serializers.ValidationError(
                _("应为 ISO 8601 日期或日期时间，如 2026-01-01 或 2026-01-01T08:00:00+08:00。"), code="invalid"
            ) from exc

    def validate_cursor(self, value: str) -> tuple[int, dt.date]:
        try:
            return read_cursor(self.context["dataset"], value)
        except ValueError as exc:
            raise serializers.ValidationError(
                _("游标无效或已过期，请从第一页重新读取。"), code="invalid_cursor"
            ) from exc


# --- Views --------------------------------------------------------------------------------------------------


class DatasetFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()


class DatasetSerializer(serializers.Serializer):
    slug = serializers.CharField()
    label = serializers.CharField()
    purpose = serializers.CharField()
    fields = DatasetFieldSerializer(many=True, help_text=gettext_lazy("此客户端可读取的字段"))
    url = serializers.URLField(help_text=gettext_lazy("读取此数据集的地址"))


class DatasetListSerializer(serializers.Serializer):
    results = DatasetSerializer(many=True)


def describe(dataset: Dataset, client: Any, request) -> dict:
    return {
        "slug": dataset.slug,
        "label": str(dataset.label),
        "purpose": str(dataset.purpose),
        "fields": [{"name": name, "label": dataset.label_of(name)} for name in readable_fields(client, dataset.slug)],
        "url": request.build_absolute_uri(reverse("api:pull", args=[dataset.slug])),
    }


class DatasetListView(APIView):
    @extend_schema(
        summary=gettext_lazy("可读取的数据集"),
        description=gettext_lazy("此客户端有权读取的数据集：名称、用途、可读取的字段和读取地址。"),
        responses={200: DatasetListSerializer, **ERRORS},
        tags=["pull"],
        operation_id="datasets_list",
    )
    def get(self, request):
        client = request.user
        readable = [d for d in DATASETS.values() if client.has_scope(d.scope)]
        return Response({"results": [describe(d, client, request) for d in readable]})


class PullRowSerializer(serializers.Serializer):
    """Every field a dataset may give; a row carries only the fields the client may read."""

    id_number = serializers.CharField(required=False, help_text=gettext_lazy("证件号码，每行都有"))
    name = serializers.CharField(required=False)
    sex = serializers.CharField(required=False, allow_null=True)
    birth_date = serializers.DateField(required=False, allow_null=True)
    age = serializers.IntegerField(required=False)
    relation = serializers.CharField(required=False, allow_null=True)
    school_status = serializers.CharField(required=False, allow_null=True)
    resident_medical_insurance = serializers.BooleanField(required=False)
    premium_category = serializers.CharField(required=False, allow_null=True)
    household_number = serializers.CharField(required=False)
    household_type = serializers.CharField(required=False, allow_null=True)
    monitoring_type = serializers.CharField(required=False, allow_null=True)
    risk_types = serializers.CharField(required=False, help_text=gettext_lazy("风险类型名称，以“、”分隔"))
    village_code = serializers.CharField(required=False)
    village_name = serializers.CharField(required=False)
    identified_on = serializers.DateField(required=False, allow_null=True)


class PullAnswerSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    fields = serializers.ListField(child=serializers.CharField(), help_text=gettext_lazy("每行给出的字段"))
    next = serializers.URLField(allow_null=True, help_text=gettext_lazy("下一页的地址；最后一页为空"))
    results = PullRowSerializer(many=True)
    share = serializers.IntegerField(help_text=gettext_lazy("本次共享记录的编号"))


class PullView(APIView):
    @extend_schema(
        summary=gettext_lazy("读取数据集"),
        description=gettext_lazy(
            "按人员编号顺序分页读取一个数据集中本客户端有权读取的字段。沿 next 逐页读取，每人恰好出现一次；"
            "changed_since 只读取此后有变化的人员（增量读取）。每次答复都记入共享记录（去向可查）。"
        ),
        parameters=[
            OpenApiParameter("dataset", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(DATASETS)),
            PullQuerySerializer,
        ],
        responses={200: PullAnswerSerializer, **ERRORS},
        tags=["pull"],
        operation_id="pull_read",
    )
    def get(self, request, dataset: str):
        spec = DATASETS.get(dataset)
        if spec is None:
            raise ApiError(_("未找到。"), code="not_found", status_code=404)
        client = request.user
        require_scope(client, spec.scope)
        # A plain dict, not the QueryDict: a serializer reads an empty form value as "not given", and the schema
        # promises that an empty changed_since, cursor or page_size is refused, not ignored.
        given = {key: request.query_params.get(key) for key in request.query_params}
        query = PullQuerySerializer(data=given, context={"dataset": dataset})
        query.is_valid(raise_exception=True)
        values = query.validated_data
        after, on = values.get("cursor") or (0, timezone.localdate())
        since: dt.datetime | None = values.get("changed_since")
        fields = readable_fields(client, dataset)
        # Short index walks, not worth compiling: with PostgreSQL's default jit_above_cost a page's query was
        # JIT-compiled first, which took longer than running it (75 of 100 ms at 100,000 people).
        with transaction.atomic(), planned_for_oltp():
            page = read_page(dataset, client, on=on, changed_since=since, after=after, size=values["page_size"])
            results = build_rows(page, fields)
            share = record_share(
                client=client,
                token=request.auth,
                endpoint=request.path,
                dataset=dataset,
                purpose=values.get("purpose", ""),
                fields=fields,
                parameters={
                    "changed_since": since.isoformat() if since else None,
                    "page_size": values["page_size"],
                    "after": after,
                    "on": on.isoformat(),
                },
                persons=[
                    SharedRecord(row["pk"], row["household_id"], row["household__village_id"]) for row in page.rows
                ],
            )
        return Response(
            {
                "dataset": dataset,
                "fields": fields,
                "next": self.next_url(request, dataset, page) if page.last_id is not None else None,
                "results": results,
                "share": share.pk,
            }
        )

    @staticmethod
    def next_url(request, dataset: str, page: Page) -> str:
        kept = {key: request.query_params[key] for key in ("changed_since", "purpose", "page_size")
                if key in request.query_params}
        kept["cursor"] = make_cursor(dataset, after=page.last_id, on=page.on)
        return request.build_absolute_uri(f"{request.path}?{urlencode(kept)}")


urlpatterns = [
    path("v1/datasets/", DatasetListView.as_view(), name="datasets"),
    path("v1/pull/<str:dataset>/", PullView.as_view(), name="pull"),
]
