"""Declaring a department as data, and reading declarations back as ``Department`` objects for the pipeline.

A declaration is a dict (the admin's form, or one entry of a declaration file, fixtures/departments/*.json)::

    {"slug": "vehicles", "name": "公安 机动车登记", "name_en": "Public security: vehicles",
     "description": "…", "full_snapshot": true,
     "columns": [{"column": "证件号码", "key": "id_number", "kind": "id_number", "required": true},
                 {"column": "号牌号码", "key": "plate", "kind": "text", "max_length": 20, "label_en": "Plate"},
                 {"column": "车辆类型", "key": "vehicle_type", "kind": "code", "codeset": "vehicle_type"},
                 {"column": "登记日期", "key": "registered_on", "kind": "date"}, …]}

``check_declaration`` lists everything wrong with one (all of it, in the user's language); ``declare_feed``
writes a valid one (new, or a new version of an existing feed), audited. No code and no migration: the records
go into DeclaredRecord.
"""

import json
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from exchange.declarations import REGISTRY, Department, FieldSpec, Kind
from exchange.feeds.models import KEY_PATTERN, SLUG_PATTERN, DeclaredRecord, DepartmentFeed, FeedColumn
from households.models import CodeSet
from povertycloud.audit.services import record_event

RESERVED_SLUGS = frozenset({"registry"})
KINDS = {kind.value for kind in Kind}
NUMERIC_KINDS = {Kind.AMOUNT.value, Kind.INTEGER.value}
# Keys that name the record table's or the staging table's own columns.
RESERVED_KEYS = frozenset(
    {"id", "row_number", "row_hash", "batch", "person", "region_code", "valid_from", "valid_to", "closed_by",
     "void", "department", "data"}
)
MAX_COLUMNS = 120
KEY_KINDS = {"id_number": Kind.ID_NUMBER.value, "period": Kind.PERIOD.value, "name": Kind.TEXT.value}


class DeclarationError(ValueError):
    """A declaration that cannot be used; ``messages`` says every reason."""

    def __init__(self, messages: list[str]):
        super().__init__("；".join(messages))
        self.messages = messages


class LocalizedName(str):
    """A declared name that reads in English when the page is in English and an English name was declared."""

    def __new__(cls, name: str, name_en: str = ""):
        made = super().__new__(cls, name)
        made.name_en = name_en
        return made

    def __str__(self) -> str:
        if self.name_en and (get_language() or "").startswith("en"):
            return self.name_en
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


# --- Checking --------------------------------------------------------------------------------------


def check_declaration(declaration: dict[str, Any], *, existing: DepartmentFeed | None = None) -> list[str]:
    """Every reason the declaration cannot be used (empty when it can)."""
    import re

    from exchange.readers import header_key

    errors: list[str] = []
    slug = str(declaration.get("slug") or "").strip()
    if not re.match(SLUG_PATTERN, slug):
        errors.append(
            _("部门代码“%(slug)s”无效：应由小写字母、数字和下划线组成，以字母开头，2–40 个字符。") % {"slug": slug}
        )
    elif slug in REGISTRY or slug in RESERVED_SLUGS:
        errors.append(_("部门代码“%(slug)s”已被系统内置的部门使用。") % {"slug": slug})
    elif existing is None and DepartmentFeed.objects.filter(slug=slug).exists():
        errors.append(_("部门代码“%(slug)s”已经声明过。") % {"slug": slug})
    if not str(declaration.get("name") or "").strip():
        errors.append(_("请填写部门名称。"))
    columns = declaration.get("columns") or []
    if not isinstance(columns, list) or not columns:
        errors.append(_("至少要声明一列。"))
        return errors
    if len(columns) > MAX_COLUMNS:
        errors.append(_("一个部门至多声明 %(n)s 列。") % {"n": MAX_COLUMNS})
        return errors
    known_codesets = set(CodeSet.objects.values_list("slug", flat=True))
    keys: dict[str, str] = {}
    headers: set[str] = set()
    for number, column in enumerate(columns, start=1):
        if not isinstance(column, dict):
            errors.append(_("第 %(n)s 列的声明无效。") % {"n": number})
            continue
        header = str(column.get("column") or "").strip()
        key = str(column.get("key") or "").strip()
        kind = str(column.get("kind") or Kind.TEXT.value)
        where = header or _("第 %(n)s 列") % {"n": number}
        if not header:
            errors.append(_("第 %(n)s 列没有列名。") % {"n": number})
        elif header_key(header) in headers:
            errors.append(_("列名“%(column)s”重复。") % {"column": header})
        headers.add(header_key(header))
        if not re.match(KEY_PATTERN, key):
            errors.append(_("列“%(column)s”的字段代码“%(key)s”无效。") % {"column": where, "key": key})
        elif key in RESERVED_KEYS:
            errors.append(_("字段代码“%(key)s”是系统保留的，请换一个。") % {"key": key})
        elif key in keys:
            errors.append(_("字段代码“%(key)s”重复（列“%(a)s”和“%(b)s”）。") % {"key": key, "a": keys[key], "b": where})
        keys[key] = where
        if kind not in KINDS:
            errors.append(_("列“%(column)s”的类型“%(kind)s”未知。") % {"column": where, "kind": kind})
        elif key in KEY_KINDS and kind != KEY_KINDS[key]:
            errors.append(_("字段代码“%(key)s”只能用于对应类型的列。") % {"key": key})
        elif kind == Kind.ID_NUMBER.value and key != "id_number":
            errors.append(_("证件号码列的字段代码应为 id_number。"))
        elif kind == Kind.PERIOD.value and key != "period":
            errors.append(_("统计期列的字段代码应为 period。"))
        codeset = str(column.get("codeset") or "").strip()
        if kind == Kind.CODE.value and not codeset:
            errors.append(_("列“%(column)s”是代码类型，请指定代码集。") % {"column": where})
        elif codeset and codeset not in known_codesets:
            errors.append(
                _("列“%(column)s”的代码集“%(codeset)s”不在数据字典中。") % {"column": where, "codeset": codeset}
            )
        elif codeset and kind != Kind.CODE.value:
            errors.append(_("列“%(column)s”不是代码类型，不能指定代码集。") % {"column": where})
        low, high = _number(column.get("min_value")), _number(column.get("max_value"))
        if (column.get("min_value") not in (None, "") and low is None) or (
            column.get("max_value") not in (None, "") and high is None
        ):
            errors.append(_("列“%(column)s”的上下限应为数字。") % {"column": where})
        elif (low is not None or high is not None) and kind not in NUMERIC_KINDS:
            errors.append(_("列“%(column)s”不是金额或整数，不能设上下限。") % {"column": where})
        elif low is not None and high is not None and low > high:
            errors.append(_("列“%(column)s”的下限大于上限。") % {"column": where})
        length = column.get("max_length", 100)
        if not isinstance(length, int) or not 1 <= length <= 500:
            errors.append(_("列“%(column)s”的最大长度应为 1–500 的整数。") % {"column": where})
    kinds = {str(c.get("key")): str(c.get("kind") or Kind.TEXT.value) for c in columns if isinstance(c, dict)}
    if kinds.get("id_number") != Kind.ID_NUMBER.value:
        errors.append(_("必须有一列证件号码（字段代码 id_number），按它把记录关联到人。"))
    for column in columns:
        if not isinstance(column, dict) or not column.get("required_when"):
            continue
        if kinds.get(str(column["required_when"])) != Kind.FLAG.value:
            errors.append(
                _("列“%(column)s”的“何时必填”应指向一个是/否列的字段代码，“%(key)s”不是。")
                % {"column": column.get("column"), "key": column["required_when"]}
            )
    return errors


def _number(value) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# --- Writing ---------------------------------------------------------------------------------------


@transaction.atomic
def declare_feed(*, declaration: dict[str, Any], by) -> DepartmentFeed:
    """Create the feed, or replace an existing one's declaration (a new version); refused with every reason."""
    slug = str(declaration.get("slug") or "").strip()
    existing = DepartmentFeed.objects.select_for_update().filter(slug=slug).first()
    errors = check_declaration(declaration, existing=existing)
    if errors:
        raise DeclarationError(errors)
    before = declaration_of(existing) if existing else None
    feed = existing or DepartmentFeed(slug=slug)
    feed.name = str(declaration["name"]).strip()
    feed.name_en = str(declaration.get("name_en") or "").strip()
    feed.description = str(declaration.get("description") or "").strip()
    feed.full_snapshot = bool(declaration.get("full_snapshot", True))
    feed.active = bool(declaration.get("active", True))
    feed.updated_by = by if getattr(by, "is_authenticated", False) else None
    if existing:
        feed.version += 1
    feed.save()
    feed.columns.all().delete()
    codesets = {c.slug: c for c in CodeSet.objects.all()}
    FeedColumn.objects.bulk_create(
        [
            FeedColumn(
                feed=feed,
                position=position,
                column=str(column["column"]).strip(),
                label_en=str(column.get("label_en") or "").strip(),
                key=str(column["key"]).strip(),
                kind=str(column.get("kind") or Kind.TEXT.value),
                required=bool(column.get("required", False)) or column["key"] == "id_number",
                codeset=codesets.get(str(column.get("codeset") or "").strip()),
                min_value=_number(column.get("min_value")),
                max_value=_number(column.get("max_value")),
                max_length=int(column.get("max_length", 100)),
                required_when=str(column.get("required_when") or ""),
                sensitive=bool(column.get("sensitive", False)),
            )
            for position, column in enumerate(declaration["columns"], start=1)
        ]
    )
    after = declaration_of(feed)
    record_event(
        actor=by,
        action="update" if existing else "create",
        entity=DepartmentFeed._meta.label_lower,
        object_pk=feed.pk,
        object_repr=str(feed),
        changes={"declaration": [before, after]} if existing else {"declaration": after},
        note=_("部门声明第 %(version)s 版") % {"version": feed.version},
    )
    return feed


def declaration_of(feed: DepartmentFeed) -> dict[str, Any]:
    """The feed as a declaration dict (what a declaration file holds)."""
    return {
        "slug": feed.slug,
        "name": feed.name,
        "name_en": feed.name_en,
        "description": feed.description,
        "full_snapshot": feed.full_snapshot,
        "active": feed.active,
        "columns": [
            {
                "column": c.column,
                "label_en": c.label_en,
                "key": c.key,
                "kind": c.kind,
                "required": c.required,
                "codeset": c.codeset_id or "",
                "min_value": None if c.min_value is None else float(c.min_value),
                "max_value": None if c.max_value is None else float(c.max_value),
                "max_length": c.max_length,
                "required_when": c.required_when,
                "sensitive": c.sensitive,
            }
            for c in feed.columns.all()
        ],
    }


def read_declaration_file(path: Path) -> list[dict[str, Any]]:
    """A declaration file: one declaration, or {"departments": [...]}, in UTF-8 JSON."""
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        message = _("无法读取声明文件 %(file)s：%(error)s") % {"file": Path(path).name, "error": exc}
        raise DeclarationError([message]) from exc
    if isinstance(content, dict) and "departments" in content:
        content = content["departments"]
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list) or not all(isinstance(d, dict) for d in content):
        raise DeclarationError([_("声明文件 %(file)s 的格式不对。") % {"file": Path(path).name}])
    return content


def declare_from_file(*, path: Path, by) -> list[DepartmentFeed]:
    """Every declaration of a file, all or none."""
    declarations = read_declaration_file(path)
    with transaction.atomic():
        return [declare_feed(declaration=d, by=by) for d in declarations]


# --- Reading back ----------------------------------------------------------------------------------


def department_from_feed(feed: DepartmentFeed) -> Department:
    specs = tuple(
        FieldSpec(
            column=c.column,
            name=c.key,
            kind=Kind(c.kind),
            required=c.required,
            codeset=c.codeset_id or "",
            max_value=None if c.max_value is None else float(c.max_value),
            min_value=None if c.min_value is None else float(c.min_value),
            max_length=c.max_length,
            required_when=c.required_when,
        )
        for c in feed.columns.all()
    )
    labels = {c.key: LocalizedName(c.column, c.label_en) for c in feed.columns.all()}
    return Department(
        slug=feed.slug,
        name=LocalizedName(feed.name, feed.name_en),
        model=DeclaredRecord,
        fields=specs,
        full_snapshot=feed.full_snapshot,
        description=feed.description,
        extra={
            "feed_id": feed.pk,
            "labels": labels,
            "version": feed.version,
            "sensitive": frozenset(c.key for c in feed.columns.all() if c.sensitive),
        },
        declared_as_data=True,
    )


def declared_department(slug: str) -> Department | None:
    feed = DepartmentFeed.objects.filter(slug=slug, active=True).prefetch_related("columns").first()
    return department_from_feed(feed) if feed else None


def declared_departments() -> list[Department]:
    return [department_from_feed(f) for f in DepartmentFeed.objects.filter(active=True).prefetch_related("columns")]


def field_label(department: Department, name: str) -> str:
    """How a page names a field: the declared column (in English if declared) or the model field's name."""
    if department.declared_as_data:
        return str(department.extra["labels"].get(name, name))
    try:
        return str(department.model._meta.get_field(name).verbose_name)
    except Exception:
        return name



